// web/widget/: the theme's checks, what the widget says, what survives a reload, and its calls (api.js).
import assert from "node:assert/strict";
import { test } from "node:test";

import { FUNCTIONS, createApi } from "../../web/widget/api.js";
import { freshState, restore, snapshot } from "../../web/widget/store.js";
import { launcherName, metaText, queueText, statusText } from "../../web/widget/text.js";
import { DEFAULT_THEME, cleanTheme, pageTheme, readableOn, themeVars } from "../../web/widget/theme.js";
import { executed, memoryStorage, reply, scriptedFetch } from "./fake-dom.mjs";

test("a theme keeps only plain texts within their limits and #rgb/#rrggbb colours", () => {
  const theme = cleanTheme({ title: "  <img src=x onerror=alert(1)> Help ", greeting: "Hej! ".repeat(200),
                             accent: "url(https://evil.test/t.png)", background: "#101418", extra: "x" });
  assert.deepEqual(Object.keys(theme), ["title", "greeting", "accent", "background"]);
  assert.equal(theme.title, "<img src=x onerror=alert(1)> Help");  // text: shown with textContent
  assert.equal(theme.greeting.length, 499);  // 500 characters, trailing space trimmed
  assert.equal(theme.accent, DEFAULT_THEME.accent);
  assert.equal(theme.background, "#101418");
  assert.deepEqual(cleanTheme(["#fff"]), { ...DEFAULT_THEME });
  assert.equal(cleanTheme({ title: "x".repeat(80) }).title.length, 60);
  assert.equal(cleanTheme({ accent: "#abc" }).accent, "#abc");
  assert.equal(cleanTheme({ accent: "#abcd" }).accent, DEFAULT_THEME.accent);
});

test("the page's theme is what the tag asks for beyond the defaults", () => {
  assert.deepEqual(pageTheme({ title: "Trailhead help", accent: "#24463a", background: "#ffffff", project: "p" }),
                   { title: "Trailhead help", accent: "#24463a" });
  assert.deepEqual(pageTheme({ accent: "red", title: "   " }), {});
});

test("text colours are picked for contrast", () => {
  assert.equal(readableOn("#ffffff"), "#111418");
  assert.equal(readableOn("#101418"), "#ffffff");
  assert.equal(readableOn("#2856d8"), "#ffffff");
  assert.equal(readableOn("#ff0"), "#111418");
  assert.equal(themeVars(cleanTheme({ background: "#101418" }))["--cw-text"], "#ffffff");
});

test("the status line: the queue's place and wait, an agent, the end, a connection problem", () => {
  assert.equal(statusText({ status: "active", needsHuman: true, queue: { position: 2, waiting: 3, availableAgents: 1,
                                                                         expectedWaitSeconds: 240 } }),
               "Waiting for an agent. 2 people ahead of you. Expected wait: about 4 min.");
  assert.deepEqual(queueText({ position: 0, availableAgents: 0, expectedWaitSeconds: null }),
                   ["You're next.", "No agent is available right now; you keep your place."]);
  assert.deepEqual(queueText({ position: 1, expectedWaitSeconds: 20 }), ["1 person ahead of you.",
                                                                         "Expected wait: under a minute."]);
  assert.deepEqual(queueText({ position: -1, expectedWaitSeconds: Infinity }), []);
  assert.deepEqual(queueText("garbage"), []);
  assert.equal(statusText({ status: "agent_assigned" }), "You're chatting with an agent.");
  assert.equal(statusText({ status: "closed", trouble: true }), "This chat has ended. Connection problem: retrying…");
  assert.equal(statusText({ status: "active", needsHuman: false, trouble: true }), "Connection problem: retrying…");
  assert.equal(statusText({ status: null }), "");
});

test("a message's state and the launcher's name", () => {
  assert.equal(metaText({ state: "sending" }), "Sending…");
  assert.equal(metaText({ state: "retrying" }), "Not sent yet: retrying…");
  assert.equal(metaText({ state: "failed", error: "session closed" }), "Not sent: session closed");
  assert.equal(metaText({ state: "failed" }), "Not sent: refused");
  assert.equal(metaText({}), "");
  assert.equal(launcherName("Help", 0, false), "Help");
  assert.equal(launcherName("Help", 1, false), "Help, 1 new message");
  assert.equal(launcherName("Help", 3, false), "Help, 3 new messages");
  assert.equal(launcherName("Help", 3, true), "Help");
});

test("a reload resumes what storage holds, checked: broken entries dropped, interrupted sends marked", () => {
  const saved = {
    session: { id: "s_1", token: "t" }, theme: { accent: "javascript:alert(1)" }, cursor: "m2", seen: "2",
    status: "active", needsHuman: 1, open: true, unread: "3",
    items: [{ key: "a", role: "user", text: "hi", state: "sending", cid: "w-1" }, { role: "bot" }, null,
            { key: "b", role: "user", text: "lost", state: "retrying", cid: "w-2" }],
    outbox: [{ cid: "w-1", text: "hi" }, { cid: 5 }],
  };
  const state = restore(freshState({}), saved);
  assert.deepEqual(state.session, { id: "s_1", token: "t" });
  assert.equal(state.theme.accent, DEFAULT_THEME.accent);
  assert.deepEqual([state.seen, state.needsHuman, state.open, state.unread], [2, true, true, 3]);
  assert.deepEqual(state.items.map((i) => [i.text, i.state]), [["hi", "sending"], ["lost", "failed"]]);
  assert.deepEqual(state.outbox, [{ cid: "w-1", text: "hi" }]);
  assert.equal(restore(freshState({}), { ...saved, agentName: "Alice Martin" }).agentName, "Alice Martin");
  assert.equal(restore(freshState({}), { ...saved, agentName: { x: 1 } }).agentName, "");
  assert.equal(snapshot(restore(freshState({}), { ...saved, agentName: "Bo" })).agentName, "Bo");
  const closed = restore(freshState({}), { ...saved, status: "closed" });
  assert.deepEqual(closed.outbox, []);
  assert.equal(restore(freshState({}), { session: { id: 1 } }).session, null);
  const many = { ...freshState({}), items: Array.from({ length: 250 }, (_, i) => ({ text: String(i), role: "bot" })) };
  assert.equal(snapshot(many).items.length, 200);
  assert.equal(snapshot(many).items[0].text, "50");
});

const CONFIG = { endpoint: "https://appwrite.example/v1", project: "p" };

test("a new visitor signs in anonymously, and create-session carries the JWT", async () => {
  const storage = memoryStorage();
  const { fetch, calls } = scriptedFetch(
    reply(201, { $id: "sess" }, { "X-Fallback-Cookies": '{"a_session_p":"secret"}' }),
    reply(201, { jwt: "jwt-1" }),
    executed(201, { sessionId: "s_1", token: "tok", status: "active" }));
  const api = createApi(CONFIG, { storage, fetch });
  const answer = await api.createSession({ title: "Hi" }, { page: "/" });
  assert.equal(answer.sessionId, "s_1");
  assert.deepEqual(calls.map((c) => c.url), ["https://appwrite.example/v1/account/sessions/anonymous",
    "https://appwrite.example/v1/account/jwts", `https://appwrite.example/v1/functions/${FUNCTIONS.create}/executions`]);
  assert.equal(calls[1].headers["x-fallback-cookies"], '{"a_session_p":"secret"}');
  assert.equal(calls[2].json.headers["X-Chat-JWT"], "jwt-1");
  assert.equal(calls[2].credentials, "omit");
  assert.deepEqual(JSON.parse(calls[2].json.body), { theme: { title: "Hi" }, userMeta: { page: "/" } });
  assert.equal(storage.getItem("chat-widget-account:p:https://appwrite.example/v1"), '{"a_session_p":"secret"}');
});

test("a visitor who cannot sign in chats as a guest; a refused JWT starts as a guest too", async () => {
  const refused = scriptedFetch(reply(501, { message: "anonymous sessions are disabled" }),
                                executed(201, { sessionId: "s_2", token: "t" }));
  await createApi(CONFIG, { storage: memoryStorage(), fetch: refused.fetch }).createSession({}, {});
  assert.equal(refused.calls[1].json.headers["X-Chat-JWT"], undefined);

  const stale = scriptedFetch(reply(201, { jwt: "old" }),
                              executed(401, { error: { code: "invalid_jwt", message: "revoked" } }),
                              executed(201, { sessionId: "s_3", token: "t" }));
  const storage = memoryStorage({ "chat-widget-account:p:https://appwrite.example/v1": "cookie" });
  const answer = await createApi(CONFIG, { storage, fetch: stale.fetch }).createSession({}, {});
  assert.equal(answer.sessionId, "s_3");
  assert.equal(stale.calls[2].json.headers["X-Chat-JWT"], undefined);
});

test("a message is sent with the session's token and its own id; a 429's wait comes back on the error", async () => {
  const { fetch, calls } = scriptedFetch(
    executed(429, { error: { code: "rate_limited", message: "too many", retryAfterSeconds: 9 } }));
  const api = createApi(CONFIG, { storage: memoryStorage(), fetch });
  await assert.rejects(api.send({ id: "s_1", token: "tok" }, "hello", "w-1"),
                       (e) => e.retryable && e.retryAfter === 9 && e.code === "rate_limited");
  assert.equal(calls[0].json.headers["X-Session-Token"], "tok");
  assert.deepEqual(JSON.parse(calls[0].json.body), { sessionId: "s_1", message: { text: "hello", id: "w-1" } });
});

test("checks ask for the next page from the cursor", async () => {
  const { fetch, calls } = scriptedFetch(executed(200, { messages: [], session: {} }));
  await createApi(CONFIG, { storage: memoryStorage(), fetch }).messages({ id: "s_1", token: "t" }, "m_9");
  assert.equal(calls[0].json.method, "GET");
  assert.equal(calls[0].json.path, "/messages?sessionId=s_1&limit=50&cursor=m_9");
});
