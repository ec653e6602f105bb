// A minimal Appwrite Realtime client (docs/platform.md, "Realtime"): one WebSocket to
// `<endpoint>/realtime?project=<id>`, authenticated with the account session's secret (the `authentication`
// message, what the Web SDK sends from its cookie fallback) or a JWT (`&jwt=`), subscribed to the given channels,
// kept with a ping every 20 s, reopened after a drop. No dependency, no executions: what a client does with an
// event (fetch through the functions, or show the signal) is its own business.
//
//   const rt = createRealtime({ endpoint, project, channels, credentials, onEvent, onLive, onDown });
//   rt.start();  await rt.ready(2000);  rt.live();  rt.watch("queue", [...]);  rt.unwatch("queue");  rt.stop();
//
// `channels` is the main subscription; `watch` adds another by name (kept across reconnects), `unwatch` ends it.
//
// `credentials()` answers {session} (sent in the `authentication` message unless the cookie already made the
// connection a user), {jwt} (in the URL: never with a session cookie, which Appwrite refuses with 403), {cookie: true}
// (the browser's own Appwrite cookie, on the endpoint's site) or null (no account: `onDown("unavailable")`).
// `onLive({first, user})` once subscribed (first: the first time for this client; after a drop it is false and
// the caller catches up with one fetch); `onDown(reason)` when it stops being live; `onEvent(payload, data)`.
// `watch(id, channels, queries)`: `queries` (Appwrite query strings, e.g. `equal("sessionId", [...])`) filter what
// that subscription receives; the same ID again with other queries replaces them.
//
// Messages arrive as their own rows (`MESSAGES`: the `messages` table has row security, each row readable by its
// session's owner and the staff, docs/security.md); `messageFromRow` shows one exactly as the functions' answers do.

export const REALTIME = Object.freeze({
  ping: 20,                    // seconds, as the Web SDK's heartbeat (Appwrite closes silent sockets)
  reconnect: [1, 2, 5, 10, 30], // seconds before each new attempt after a drop; then every 30 s
  // Appwrite allows 32 messages a minute per connection and 128 connections a minute per IP (app/realtime.php):
  // a ping every 20 s, one authentication and one subscription stay far below, and so do these reconnects.
});

export const MESSAGES = "tablesdb.chat.tables.messages.rows";

// An Appwrite query string (Query.equal's JSON form), for watch().
export function equalQuery(attribute, values) { return JSON.stringify({ method: "equal", attribute, values }); }

// Whether an event is a message row's (its channels name the messages table), not a signal's.
export function isMessageEvent(data) {
  return Boolean(data && Array.isArray(data.channels) && data.channels.includes(MESSAGES));
}

// A message row, as received, in the form the functions' answers give a message (list-sessions' and touch-session's
// `messages`: edge/views.py owner_message_view): an agent's carries `authorName`, `nameOf(authorId)` or "" (the
// answers' "" for an agent without a name). null for what is not a message row.
export function messageFromRow(row, nameOf = () => "") {
  if (!row || typeof row !== "object" || typeof row.$id !== "string" || typeof row.text !== "string") return null;
  const message = { messageId: row.$id, sessionId: row.sessionId, role: String(row.role), text: row.text,
                    handoff: Boolean(row.handoff), authorId: row.authorId ?? null,
                    clientMessageId: row.clientMessageId ?? null, createdAt: row.$createdAt ?? null };
  if (message.role === "agent") {
    const name = message.authorId ? nameOf(message.authorId) : "";
    message.authorName = typeof name === "string" ? name : "";
  }
  return message;
}

// `run` after events: `quiet` ms after a burst, never sooner than `every` ms after the last run, and at the latest
// `every` ms after the first event not yet run for, so that a steady stream (events never `quiet` apart) runs it
// once every `every` ms, and a busy one never more often. `ran()`: it ran by other means (a timer, an action).
export function coalesce(run, { quiet, every, timers = globalThis, now = Date.now }) {
  let timer = null, since = null, last = -Infinity;
  function ran() { timers.clearTimeout(timer); timer = null; since = null; last = now(); }
  function fire() { ran(); run(); }
  return {
    event() {
      const t = now();
      if (since === null) since = t;
      timers.clearTimeout(timer);
      const due = Math.max(last + every, Math.min(t + quiet, since + every));
      timer = timers.setTimeout(fire, Math.max(0, due - t));
    },
    ran,
  };
}

export function realtimeUrl(endpoint, project, jwt) {
  const url = new URL(endpoint.replace(/\/+$/, "") + "/realtime");
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  url.searchParams.set("project", project);
  if (jwt) url.searchParams.set("jwt", jwt);
  return url.toString();
}

// The account session's secret in a kept X-Fallback-Cookies value (`{"a_session_<project>": "<secret>"}`), which
// the `authentication` message carries; null when there is none.
export function fallbackSecret(fallback, project) {
  try {
    const secret = JSON.parse(fallback)[`a_session_${project}`];
    return typeof secret === "string" && secret ? secret : null;
  } catch (error) {
    return null;
  }
}

export function reconnectDelay(failures) {
  return REALTIME.reconnect[Math.min(failures, REALTIME.reconnect.length - 1)] * 1000;
}

export function createRealtime({ endpoint, project, channels, credentials, onEvent = () => {}, onLive = () => {},
                                 onDown = () => {}, WebSocketImpl = globalThis.WebSocket, timers = globalThis }) {
  let socket = null, pinger = null, retry = null, stopped = true, live = false, everLive = false, failures = 0;
  let opening = false; // subscribed yet on this socket? (later subscribe answers are for watch())
  const extra = new Map(); // subscriptionId -> {channels, queries}, from watch()
  let waiters = [];

  function settle(value) { const w = waiters; waiters = []; for (const resolve of w) resolve(value); }

  function down(reason) {
    const was = live;
    live = false;
    timers.clearInterval(pinger);
    pinger = null;
    settle(false);
    if (was || reason !== "closed") onDown(reason);
  }

  function send(message) {
    try { socket.send(JSON.stringify(message)); } catch (error) { /* closing: the close handler follows */ }
  }

  function item(subscriptionId, { channels: c, queries }) {
    return queries && queries.length ? { subscriptionId, channels: c, queries } : { subscriptionId, channels: c };
  }

  function subscribe() {
    send({ type: "subscribe", data: [{ subscriptionId: "signals", channels },
                                     ...[...extra].map(([subscriptionId, w]) => item(subscriptionId, w))] });
  }

  async function connect() {
    retry = null;
    if (stopped) return;
    let auth = null, who = null;
    try { auth = await credentials(); } catch (error) { auth = null; }
    if (stopped) return;
    if (!auth || !(auth.session || auth.jwt || auth.cookie)) { stopped = true; down("unavailable"); return; }
    let ws;
    try {
      ws = new WebSocketImpl(realtimeUrl(endpoint, project, auth.jwt));
    } catch (error) { // blocked (a Content-Security-Policy without the endpoint in connect-src), or no WebSocket
      down("blocked");
      again();
      return;
    }
    socket = ws;
    opening = true;
    ws.onmessage = (message) => {
      if (socket !== ws) return;
      let m;
      try { m = JSON.parse(message.data); } catch (error) { return; }
      const data = (m && m.data) || {};
      if (m.type === "connected") {
        who = data.user || null;
        if (data.user) subscribe();
        else if (auth.session) send({ type: "authentication", data: { session: auth.session } });
        else fail("unauthenticated"); // a guest receives nothing: the caller polls
      } else if (m.type === "response" && data.to === "authentication") {
        if (data.success) { who = data.user || null; subscribe(); } else fail("refused");
      } else if (m.type === "response" && data.to === "subscribe") {
        if (!opening) return; // a watch() added
        opening = false;
        if (!data.success) { fail("refused"); return; }
        const first = !everLive;
        live = true; everLive = true; failures = 0;
        timers.clearInterval(pinger);
        pinger = timers.setInterval(() => send({ type: "ping" }), REALTIME.ping * 1000);
        settle(true);
        onLive({ first, user: who });
      } else if (m.type === "event") {
        if (live) onEvent(data.payload || {}, data);
      } else if (m.type === "error") {
        // 1008 (origin, project), 401 (a refused JWT, guests denied), 1003 (a session that is not valid): asking
        // again will not help; 1013 (too many) will, later.
        const code = Number(data.code);
        if (code !== 1013) fail("refused");
      }
    };
    ws.onclose = () => {
      if (socket !== ws) return;
      socket = null;
      down("closed");
      again();
    };
    ws.onerror = () => {}; // a close follows
  }

  function fail(reason) { // refused for good: the caller polls
    stopped = true;
    const ws = socket;
    socket = null;
    down(reason);
    try { if (ws) ws.close(); } catch (error) { /* already closed */ }
  }

  function again() {
    if (stopped) return;
    timers.clearTimeout(retry);
    retry = timers.setTimeout(connect, reconnectDelay(failures++));
  }

  return {
    start() { if (!stopped) return; stopped = false; failures = 0; connect(); },
    stop() {
      stopped = true;
      timers.clearTimeout(retry);
      const ws = socket;
      socket = null;
      live = false;
      timers.clearInterval(pinger);
      settle(false);
      try { if (ws) ws.close(); } catch (error) { /* already closed */ }
    },
    live: () => live,
    watch(id, more, queries = []) {
      const was = extra.get(id);
      if (was && JSON.stringify([was.channels, was.queries]) === JSON.stringify([more, queries])) return;
      extra.set(id, { channels: more, queries });
      if (live) send({ type: "subscribe", data: [item(id, extra.get(id))] });
    },
    unwatch(id) {
      if (extra.delete(id) && live) send({ type: "unsubscribe", data: [{ subscriptionId: id }] });
    },
    // Resolves true once live, false when it goes down or `ms` pass first.
    ready(ms) {
      if (live) return Promise.resolve(true);
      if (stopped) return Promise.resolve(false);
      return new Promise((resolve) => {
        const t = timers.setTimeout(() => { waiters = waiters.filter((w) => w !== done); resolve(false); }, ms);
        const done = (value) => { timers.clearTimeout(t); resolve(value); };
        waiters.push(done);
      });
    },
  };
}
