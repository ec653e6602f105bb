// The widget's calls: the only code that talks to Appwrite. Every call is one synchronous execution
// (shared/execution.js) within the tab's per-minute budget (policy.js); create-session also carries the visitor's
// Appwrite identity.
import { ApiError, execute as run } from "../shared/execution.js";
import { fallbackSecret } from "../shared/realtime.js";
import { jwtUser } from "./live.js";
import { POLICY, createBudget } from "./policy.js";

export const FUNCTIONS = Object.freeze({ create: "create-session", touch: "touch-session", escalate: "escalate",
                                         close: "close-session" });

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export function createApi({ endpoint, project }, { storage = globalThis.localStorage, fetch = globalThis.fetch } = {}) {
  const budget = createBudget();

  async function slot(background) {
    for (;;) {
      const answer = budget.take(background, Date.now());
      if (typeof answer === "boolean") return answer;
      await sleep(answer);
    }
  }

  // The visitor's Appwrite identity, so that they get budgets of their own instead of sharing the guests'
  // (docs/security.md): an anonymous account session, one per browser, whose secret is kept in localStorage as
  // the Web SDK keeps its cookie fallback (a third-party cookie may be blocked), then a JWT from it, which
  // create-session verifies. Two Account requests for a new visitor, one for a returning one; not executions.
  // If it fails (anonymous sessions off in the project, Appwrite's 50 an hour per IP), the visitor is a guest.
  const accountKey = `chat-widget-account:${project}:${endpoint}`;

  // One Account request; its answer read whole (the body, and the fallback cookie a new session comes with).
  async function account(path, fallback) {
    const headers = { "content-type": "application/json", "x-appwrite-project": project };
    if (fallback) headers["x-fallback-cookies"] = fallback;
    const response = await fetch(`${endpoint}/account/${path}`, {
      method: "POST", credentials: "include", cache: "no-store", headers, body: "{}" });
    const body = await response.json().catch(() => null);
    if (!response.ok) throw new ApiError(response.status, "account", `Appwrite answered ${response.status}`);
    return { body: body || {}, fallback: response.headers.get("x-fallback-cookies") || "" };
  }

  async function visitorJwt() {
    try {
      let fallback = null;
      try { fallback = storage.getItem(accountKey); } catch (error) { /* private mode */ }
      if (fallback) {
        try { return (await account("jwts", fallback)).body.jwt || null; }
        catch (error) { if (error.status !== 401) return null; } // 401: that session is gone, sign in anew
      }
      fallback = (await account("sessions/anonymous", null)).fallback;
      try { storage.setItem(accountKey, fallback); } catch (error) { /* private mode: a guest next time */ }
      return (await account("jwts", fallback)).body.jwt || null;
    } catch (error) {
      return null;
    }
  }

  // One execution, once the budget allows it.
  async function execute(functionId, { method = "POST", path = "/", body, token, jwt, background = false }) {
    if (!(await slot(background))) throw new ApiError(0, "budget", "skipped: the minute's budget is used", { skipped: true });
    const headers = {};
    if (token) headers["X-Session-Token"] = token;
    if (jwt) headers["X-Chat-JWT"] = jwt;
    return run({ endpoint, project, functionId, method, path, body, headers, fetch });
  }

  return {
    // The socket's credentials: the visitor's account session (Realtime's `authentication` message), or null.
    socketCredentials: () => {
      let fallback = null;
      try { fallback = storage.getItem(accountKey); } catch (error) { /* private mode */ }
      const session = fallback ? fallbackSecret(fallback, project) : null;
      return session ? { session } : null;
    },
    // Only create-session needs the JWT: the session remembers its owner, whose budget its messages then use.
    createSession: async (theme, userMeta) => {
      const jwt = await visitorJwt();
      try {
        // `owner`: the visitor's user, who may receive the session's signals over Realtime (live.js).
        return { ...(await execute(FUNCTIONS.create, { body: { theme, userMeta }, jwt })), owner: jwt ? jwtUser(jwt) : null };
      } catch (error) { // a JWT refused (its session revoked meanwhile): start as a guest rather than not at all
        if (!jwt || error.status !== 401) throw error;
        return execute(FUNCTIONS.create, { body: { theme, userMeta } });
      }
    },
    send: (session, text, id) => execute(FUNCTIONS.touch, { body: { sessionId: session.id, message: { text, id } },
                                                            token: session.token }),
    messages: (session, cursor) => execute(FUNCTIONS.touch, {
      method: "GET", token: session.token, background: true,
      path: "/messages?" + new URLSearchParams({ sessionId: session.id, limit: String(POLICY.pageSize),
                                                 ...(cursor ? { cursor } : {}) }).toString() }),
    heartbeat: (session) => execute(FUNCTIONS.touch, { body: { sessionId: session.id }, token: session.token,
                                                       background: true }),
    escalate: (session) => execute(FUNCTIONS.escalate, { token: session.token,
      body: { sessionId: session.id, reason: "the visitor asked for a person (widget)" } }),
    close: (session) => execute(FUNCTIONS.close, { token: session.token,
      body: { sessionId: session.id, reason: "ended by the visitor" } }),
    transcript: (session, cursor) => execute(FUNCTIONS.touch, {
      method: "GET", token: session.token,
      path: "/export?" + new URLSearchParams({ sessionId: session.id, format: "csv",
                                               limit: String(POLICY.transcriptPage), ...(cursor ? { cursor } : {}) }).toString() }),
    rate: (session, rating) => execute(FUNCTIONS.close, { path: "/rate", token: session.token,
      body: { sessionId: session.id, rating } }),
  };
}
