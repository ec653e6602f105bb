// web/shared/realtime.js (the Realtime client) and web/widget/live.js (the widget's reading of a signal), against a
// fake socket and fake timers: the protocol of docs/platform.md ("Realtime"), reconnects, refusals.
import assert from "node:assert/strict";
import { test } from "node:test";

import { MESSAGES, REALTIME, coalesce, createRealtime, equalQuery, fallbackSecret, isMessageEvent, messageFromRow,
         realtimeUrl, reconnectDelay } from "../../web/shared/realtime.js";
import { LIVE, jwtUser, liveDelay, signalAnswer, signalChannel } from "../../web/widget/live.js";

function fakeTimers() {
  let now = 0, next = 1;
  const due = new Map(); // id -> {at, fn, every}
  const add = (fn, ms, every) => { const id = next++; due.set(id, { at: now + ms, fn, every: every ? ms : 0 }); return id; };
  return {
    now: () => now, setTimeout: (fn, ms) => add(fn, ms, false), setInterval: (fn, ms) => add(fn, ms, true),
    clearTimeout: (id) => due.delete(id), clearInterval: (id) => due.delete(id),
    run(ms) {
      const end = now + ms;
      for (;;) {
        const [id, t] = [...due.entries()].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at)[0] || [];
        if (!t) break;
        now = t.at;
        if (t.every) t.at += t.every; else due.delete(id);
        t.fn();
      }
      now = end;
    },
  };
}

function fakeSockets() {
  const made = [];
  class Socket {
    constructor(url) { this.url = url; this.sent = []; this.closed = false; made.push(this); }
    send(text) { this.sent.push(JSON.parse(text)); }
    close() { this.closed = true; }
    server(message) { this.onmessage({ data: JSON.stringify(message) }); }
    drop() { this.onclose({ code: 1006 }); }
  }
  return { Socket, made };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

function client(credentials, extra = {}) {
  const timers = fakeTimers(), { Socket, made } = fakeSockets(), seen = { live: [], down: [], events: [] };
  const rt = createRealtime({
    endpoint: "https://chat.example/v1", project: "p1", channels: ["tablesdb.chat.tables.signals.rows.s1"],
    credentials, WebSocketImpl: Socket, timers,
    onLive: (info) => seen.live.push(info), onDown: (why) => seen.down.push(why),
    onEvent: (payload) => seen.events.push(payload), ...extra });
  return { rt, timers, made, seen };
}

async function live(socket, user = { $id: "u1" }) {
  socket.server({ type: "connected", data: { channels: [], subscriptions: [], user: null } });
  assert.deepEqual(socket.sent.at(-1), { type: "authentication", data: { session: "secret" } });
  socket.server({ type: "response", data: { to: "authentication", success: true, user } });
  assert.deepEqual(socket.sent.at(-1), { type: "subscribe", data: [
    { subscriptionId: "signals", channels: ["tablesdb.chat.tables.signals.rows.s1"] }] });
  socket.server({ type: "response", data: { to: "subscribe", success: true, subscriptions: [] } });
}

test("the socket's URL: ws for http, wss for https, the project, a JWT when given", () => {
  assert.equal(realtimeUrl("https://cloud.appwrite.io/v1/", "p1"), "wss://cloud.appwrite.io/v1/realtime?project=p1");
  assert.equal(realtimeUrl("http://127.0.0.1:8787/v1", "p1", "j.w.t"),
               "ws://127.0.0.1:8787/v1/realtime?project=p1&jwt=j.w.t");
  assert.equal(fallbackSecret('{"a_session_p1":"abc"}', "p1"), "abc");
  assert.equal(fallbackSecret("not json", "p1"), null);
  assert.equal(fallbackSecret('{"a_session_other":"abc"}', "p1"), null);
});

test("connect, authenticate with the session, subscribe; then events, and a ping every 20 s", async () => {
  const { rt, timers, made, seen } = client(() => ({ session: "secret" }));
  rt.start();
  await tick();
  assert.equal(made.length, 1);
  assert.equal(made[0].url, "wss://chat.example/v1/realtime?project=p1");
  const ready = rt.ready(2000);
  await live(made[0]);
  assert.equal(await ready, true);
  assert.deepEqual(seen.live, [{ first: true, user: { $id: "u1" } }]);
  made[0].server({ type: "event", data: { payload: { sessionId: "s1" } } });
  assert.deepEqual(seen.events, [{ sessionId: "s1" }]);
  timers.run(REALTIME.ping * 1000 * 3);
  assert.deepEqual(made[0].sent.slice(2).map((m) => m.type), ["ping", "ping", "ping"]);
});

test("a cookie that made the connection a user: it subscribes at once", async () => {
  const { rt, made, seen } = client(() => ({ cookie: true }));
  rt.start();
  await tick();
  made[0].server({ type: "connected", data: { user: { $id: "agent-alice" } } });
  assert.equal(made[0].sent[0].type, "subscribe");
  made[0].server({ type: "response", data: { to: "subscribe", success: true } });
  assert.deepEqual(seen.live, [{ first: true, user: { $id: "agent-alice" } }]);
});

test("a drop: down at once, reconnects after 1, 2, 5 s..., and is live again (not first: catch up)", async () => {
  const { rt, timers, made, seen } = client(() => ({ session: "secret" }));
  rt.start();
  await tick();
  await live(made[0]);
  made[0].drop();
  assert.deepEqual(seen.down, ["closed"]);
  assert.equal(rt.live(), false);
  timers.run(999);
  await tick();
  assert.equal(made.length, 1);
  timers.run(1);
  await tick();
  assert.equal(made.length, 2);
  made[1].drop(); // refused again before it was live
  timers.run(2000);
  await tick();
  assert.equal(made.length, 3);
  await live(made[2]);
  assert.deepEqual(seen.live.map((l) => l.first), [true, false]);
  assert.deepEqual([0, 1, 2, 3, 4, 5, 9].map(reconnectDelay), [1000, 2000, 5000, 10000, 30000, 30000, 30000]);
});

test("a refusal (origin, project, a session not valid) ends it: no reconnect, the caller polls", async () => {
  const { rt, timers, made, seen } = client(() => ({ session: "secret" }));
  rt.start();
  await tick();
  made[0].server({ type: "error", data: { code: 1008, message: "Invalid Origin." } });
  assert.equal(made[0].closed, true);
  assert.deepEqual(seen.down, ["refused"]);
  timers.run(120000);
  await tick();
  assert.equal(made.length, 1);
  assert.equal(await rt.ready(10), false);
});

test("too many messages (1013) is not a refusal; a guest without credentials never connects", async () => {
  const one = client(() => ({ session: "secret" }));
  one.rt.start();
  await tick();
  await live(one.made[0]);
  one.made[0].server({ type: "error", data: { code: 1013, message: "Too many messages." } });
  assert.equal(one.rt.live(), true);
  const guest = client(() => null);
  guest.rt.start();
  await tick();
  assert.deepEqual([guest.made.length, guest.seen.down], [0, ["unavailable"]]);
  const blocked = client(() => ({ session: "s" }), { WebSocketImpl: class { constructor() { throw new Error("CSP"); } } });
  blocked.rt.start();
  await tick();
  assert.deepEqual(blocked.seen.down, ["blocked"]);
});

test("ready() gives up after its time; stop() closes and ends the reconnects", async () => {
  const { rt, timers, made } = client(() => ({ session: "secret" }));
  rt.start();
  await tick();
  const ready = rt.ready(2000);
  timers.run(2000);
  assert.equal(await ready, false);
  rt.stop();
  assert.equal(made[0].closed, true);
  timers.run(60000);
  await tick();
  assert.equal(made.length, 1);
});

test("a signal as a check's answer: the session's state (messages come as their own rows)", () => {
  const session = signalAnswer({ sessionId: "s1", status: "agent_assigned", botShouldReply: false, needsHuman: false,
                                 assignedAgent: "agent-alice", agentName: "Alice", escalatedAt: null, closedAt: null,
                                 at: "2026-01-01T00:00:00.000+00:00", $permissions: ['read("user:u1")'] });
  assert.deepEqual(session, { sessionId: "s1", status: "agent_assigned", botShouldReply: false, needsHuman: false,
                              assignedAgent: "agent-alice", agentName: "Alice", escalatedAt: null, closedAt: null });
  assert.equal(signalAnswer(null).status, undefined);
  // A name shaped like an Appwrite operator is stored shielded (chat_core/infra/signals.py) and shown as given.
  assert.equal(signalAnswer({ agentName: '\u2063{"method":"toggle"}' }).agentName, '{"method":"toggle"}');
  assert.equal(signalChannel("s1"), "tablesdb.chat.tables.signals.rows.s1");
  assert.equal(liveDelay({ needsHuman: true }), LIVE.waiting);
  assert.equal(liveDelay({ needsHuman: false }), LIVE.quiet);
});

// A message row as Realtime sends it (the row, whole: every column and Appwrite's own) and the same message as a
// check's answer gives it (touch-session and list-sessions: edge/views.py owner_message_view).
const ROW = { $id: "m_2", $sequence: "7", $tableId: "messages", $databaseId: "chat",
              $createdAt: "2026-01-01T00:00:01.000+00:00", $updatedAt: "2026-01-01T00:00:01.000+00:00",
              $permissions: ['read("user:u1")', 'read("label:agent")', 'read("label:admin")'], sessionId: "s1",
              role: "agent", text: "Hi, Alice here", handoff: false, authorId: "agent-alice", clientMessageId: "c-9",
              admission: "a1b2c3d4e5" };
const ANSWERED = { messageId: "m_2", sessionId: "s1", role: "agent", text: "Hi, Alice here", handoff: false,
                   authorId: "agent-alice", clientMessageId: "c-9", createdAt: "2026-01-01T00:00:01.000+00:00",
                   authorName: "Alice" };

test("a message row is shown exactly as the same message from a check's answer", () => {
  const names = { "agent-alice": "Alice" };
  assert.deepEqual(messageFromRow(ROW, (id) => names[id]), ANSWERED);
  assert.deepEqual(messageFromRow(ROW), { ...ANSWERED, authorName: "" }); // a name not known: the answers' ""
  const bot = messageFromRow({ ...ROW, role: "bot", authorId: null, clientMessageId: "re-m_1", handoff: true });
  assert.deepEqual(bot, { messageId: "m_2", sessionId: "s1", role: "bot", text: "Hi, Alice here", handoff: true,
                          authorId: null, clientMessageId: "re-m_1", createdAt: ROW.$createdAt }); // no authorName
  assert.equal("admission" in bot, false);
  assert.equal(messageFromRow({ sessionId: "s1", status: "active" }), null); // a signal row is no message
  assert.equal(messageFromRow(null), null);
  assert.equal(isMessageEvent({ channels: ["rows", MESSAGES, `${MESSAGES}.m_2`] }), true);
  assert.equal(isMessageEvent({ channels: ["rows", "tablesdb.chat.tables.signals.rows"] }), false);
  assert.equal(isMessageEvent(undefined), false);
});

test("coalesce: one run per burst, never two within `every`, and once every `every` under a steady stream", () => {
  const timers = fakeTimers();
  let runs = 0;
  const c = coalesce(() => { runs += 1; }, { quiet: 100, every: 5000, timers, now: timers.now });
  for (let i = 0; i < 5; i++) { c.event(); timers.run(10); }
  timers.run(100);
  assert.equal(runs, 1); // a burst: one run, 100 ms after its last event
  c.event();
  timers.run(4000);
  assert.equal(runs, 1); // another event soon after: it waits for 5 s since the last run
  timers.run(1000);
  assert.equal(runs, 2);
  timers.run(60000);
  for (let i = 0; i < 2000; i++) { c.event(); timers.run(5); } // 200 events a second for 10 s: never 100 ms apart
  assert.equal(runs, 4); // at 5 s and 10 s since the stream began
  for (let i = 0; i < 40; i++) { c.event(); timers.run(150); } // 150 ms apart for 6 s: still one each 5 s
  assert.equal(runs, 5);
  c.event();
  c.ran(); // a refresh by other means covers it
  timers.run(60000);
  assert.equal(runs, 5);
});

test("watch() with queries: sent with the subscription, replaced when they change", async () => {
  const { rt, made } = client(() => ({ session: "secret" }));
  rt.start();
  await tick();
  made[0].server({ type: "connected", data: { user: { $id: "u1" } } });
  made[0].server({ type: "response", data: { to: "subscribe", success: true } });
  rt.watch("messages", [MESSAGES], [equalQuery("sessionId", ["s1"])]);
  assert.deepEqual(made[0].sent.at(-1), { type: "subscribe", data: [{ subscriptionId: "messages", channels: [MESSAGES],
    queries: ['{"method":"equal","attribute":"sessionId","values":["s1"]}'] }] });
  rt.watch("messages", [MESSAGES], [equalQuery("sessionId", ["s1"])]); // the same: nothing sent
  rt.watch("messages", [MESSAGES], [equalQuery("sessionId", ["s1", "s2"])]);
  const subscribes = made[0].sent.filter((m) => m.type === "subscribe");
  assert.equal(subscribes.length, 3);
  assert.deepEqual(subscribes.at(-1).data[0].queries, ['{"method":"equal","attribute":"sessionId","values":["s1","s2"]}']);
});

test("the owner a JWT names", () => {
  const part = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  assert.equal(jwtUser(`${part({ typ: "JWT" })}.${part({ userId: "u_9", sessionId: "x" })}.sig`), "u_9");
  assert.equal(jwtUser("garbage"), null);
  assert.equal(jwtUser(null), null);
});

test("watch() adds a subscription (kept across a reconnect), unwatch() ends it; neither is taken for going live", async () => {
  const { rt, timers, made, seen } = client(() => ({ session: "secret" }));
  rt.watch("queue", ["tablesdb.chat.tables.signals.rows.queue"]); // before it is live: sent with the first subscribe
  rt.start();
  await tick();
  made[0].server({ type: "connected", data: { user: { $id: "u1" } } });
  assert.deepEqual(made[0].sent[0].data.map((s) => s.subscriptionId), ["signals", "queue"]);
  made[0].server({ type: "response", data: { to: "subscribe", success: true } });
  rt.unwatch("queue");
  assert.deepEqual(made[0].sent.at(-1), { type: "unsubscribe", data: [{ subscriptionId: "queue" }] });
  rt.watch("queue", ["tablesdb.chat.tables.signals.rows.queue"]);
  rt.watch("queue", ["tablesdb.chat.tables.signals.rows.queue"]); // the same again: nothing sent
  assert.equal(made[0].sent.filter((m) => m.type === "subscribe").length, 2);
  made[0].server({ type: "response", data: { to: "subscribe", success: true } });
  assert.equal(seen.live.length, 1);
  made[0].drop();
  timers.run(1000);
  await tick();
  made[1].server({ type: "connected", data: { user: { $id: "u1" } } });
  assert.deepEqual(made[1].sent[0].data.map((s) => s.subscriptionId), ["signals", "queue"]);
});
