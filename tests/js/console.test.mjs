// web/console/: what the console says (format.js), the parts it builds from answers (views.js: escaping), the
// drafts, and its calls (api.js: the JWT, renewed once when Appwrite refuses it).
import assert from "node:assert/strict";
import { test } from "node:test";

import { createApi } from "../../web/console/api.js";
import { createDrafts } from "../../web/console/drafts.js";
import { arrivalText, canClose, detailRows, label, others, refreshPeriod, short, span, statusLabel, timelineText,
         waited } from "../../web/console/format.js";
import { messageItem, pairs, timelineItem } from "../../web/console/views.js";
import { executed, installDocument, memoryStorage, reply, scriptedFetch } from "./fake-dom.mjs";

installDocument();
const ID = "s_0996d3df2f6a06829342d3e65b7c8aa0";

test("durations in the largest whole unit, as the CLI says them", () => {
  assert.deepEqual([0, 1, 59, 60, 119, 3600, 86399, 86400 * 3, -5, 12.9].map(span),
    ["0 seconds", "1 second", "59 seconds", "1 minute", "1 minute", "1 hour", "23 hours", "3 days", "0 seconds",
     "12 seconds"]);
  const session = { escalatedAt: "2026-01-01T00:00:00Z", createdAt: "2025-01-01T00:00:00Z" };
  assert.equal(waited(session, Date.parse("2026-01-01T00:03:10Z")), "3 minutes");
});

test("the refresh period: ?refresh=N within the function's range, else its default", () => {
  const config = { refreshSeconds: 5, refreshRange: [1, 3600] };
  assert.equal(refreshPeriod(config, ""), 5000);
  assert.equal(refreshPeriod(config, "?refresh=2"), 2000);
  assert.equal(refreshPeriod(config, "?refresh=0.001"), 1000);
  assert.equal(refreshPeriod(config, "?refresh=99999999999"), 3600 * 1000);  // setTimeout would overflow
  assert.equal(refreshPeriod(config, "?refresh=abc"), 5000);
  assert.equal(refreshPeriod({}, ""), 5000);
});

test("sessions are named by their visitor and the first 14 characters of their ID", () => {
  assert.equal(short(ID), "s_0996d3df2f6a…");
  assert.equal(short("s_short"), "s_short");
  assert.equal(label({ sessionId: ID, userMeta: { name: "  Vic " } }), "Vic (s_0996d3df2f6a…)");
  assert.equal(label({ sessionId: ID, userMeta: { email: "v@example.com", name: 7 } }), "v@example.com (s_0996d3df2f6a…)");
  assert.equal(label({ sessionId: ID }), "Visitor 2454");
});

test("a session's state in words, as the agent sees it; who may close it", () => {
  const me = "agent-alice";
  assert.equal(statusLabel({ status: "active", needsHuman: true }, me), "Waiting for a human");
  assert.equal(statusLabel({ status: "active" }, me), "With the bot");
  assert.equal(statusLabel({ status: "agent_assigned", assignedAgent: me }, me), "With you");
  assert.equal(statusLabel({ status: "agent_assigned", assignedAgent: "agent-bob" }, me), "With agent-bob");
  assert.equal(statusLabel({ status: "closed", assignedAgent: me }, me), "Closed");
  assert.equal(canClose({ status: "active" }, me), true);
  assert.equal(canClose({ status: "agent_assigned", assignedAgent: "agent-bob" }, me), false);
  assert.equal(canClose({ status: "closed" }, me), false);
});

test("each session is listed once: the other active ones are those neither waiting nor mine", () => {
  const s = (id) => ({ sessionId: id });
  assert.deepEqual(others([s("a"), s("b"), s("c"), s("d")], [s("a")], [s("c")]).map((x) => x.sessionId), ["b", "d"]);
});

test("the detail rows, the timeline and the arrivals in words", () => {
  const rows = detailRows({ status: "closed", assignedAgent: "agent-bob", assignedBy: "admin", overCapacity: true,
                            closeReason: "answered", escalationReason: "hidden once closed", messageCount: 4,
                            rating: { score: 4, comment: "Bob fixed it." } }, "agent-alice");
  assert.deepEqual(rows.slice(5), [["Assigned", "by an admin (over capacity)"], ["Closed", "answered"],
                                   ["Rating", "4 / 5 \u2014 \u201cBob fixed it.\u201d"]]);
  assert.deepEqual(timelineText({ actor: "agent:agent-bob", action: "transfer", from: "assigned:agent-bob",
                                  to: "assigned:agent-alice" }),
                   { who: "agent-bob", action: "agent-bob transferred", move: "assigned:agent-bob \u2192 assigned:agent-alice" });
  assert.equal(timelineText({ actor: "visitor", action: "open", to: "active" }).move, "active");
  assert.equal(timelineText({ actor: "system", action: "new_kind", to: "x" }).action, "System new_kind");
  assert.equal(arrivalText([{ sessionId: ID, assignedBy: "transfer", userMeta: { name: "Vic" } }]),
               "Vic (s_0996d3df2f6a…) was transferred to you.");
  assert.equal(arrivalText([{ sessionId: "s_a", assignedBy: "auto" }, { sessionId: "s_b", assignedBy: "admin" }]),
               "2 visitors were assigned to you: Visitor 10, Visitor 11.");
});

test("what a visitor wrote is text in the console, never markup", () => {
  const hostile = "<script>alert(1)</script><img src=x onerror=alert(2)>";
  const message = messageItem({ messageId: "m_1", role: "user", text: hostile, createdAt: "2026-01-01T00:00:00Z" });
  assert.equal(message.byClass("text")[0].outerHTML,
               '<div class="text">&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;</div>');
  assert.equal(message.getAttribute("data-message"), "m_1");
  const entry = timelineItem({ seq: 3, at: "2026-01-01T00:00:00Z", actor: "visitor", action: "escalate",
                               from: "active", to: "waiting", why: `visitor asked: "${hostile}"` });
  assert.equal(entry.byClass("why")[0].textContent, ` \u2014 visitor asked: "${hostile}"`);
  assert.ok(!entry.outerHTML.includes("<script>") && !entry.outerHTML.includes("<img"));
  const visitor = pairs([["<b>name</b>", hostile], ["cart", { items: ["<i>"] }]], { class: "visitor" });
  assert.equal(visitor.outerHTML, '<dl class="visitor"><dt>&lt;b&gt;name&lt;/b&gt;</dt><dd>&lt;script&gt;alert(1)' +
    '&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;</dd><dt>cart</dt><dd>{"items":["&lt;i&gt;"]}</dd></dl>');
});

test("drafts per kind and session survive a new page; a full storage loses nothing in the page", () => {
  const storage = memoryStorage();
  const drafts = createDrafts(storage, "console.drafts");
  drafts.set("reply", "s_1", "half a reply");
  drafts.set("transfer", "s_1", "agent-b");
  assert.equal(createDrafts(storage, "console.drafts").get("reply", "s_1"), "half a reply");
  drafts.set("reply", "s_1", "");
  assert.equal(createDrafts(storage, "console.drafts").get("reply", "s_1"), "");
  assert.equal(drafts.get("reply", "toString"), "");  // only its own keys
  drafts.clear();
  assert.equal(storage.getItem("console.drafts"), null);
  const full = createDrafts(memoryStorage({ "console.drafts": "{broken" }, { failing: true }), "console.drafts");
  full.set("reply", "s_2", "kept here");
  assert.equal(full.get("reply", "s_2"), "kept here");
});

const CONFIG = { endpoint: "https://appwrite.example/v1", project: "p",
                 functions: { list: "list-sessions", assign: "assign-agent" } };

test("calls carry the agent's JWT twice; a JWT Appwrite refuses is renewed once, then the error stands", async () => {
  const { fetch, calls } = scriptedFetch(
    reply(201, { jwt: "j1" }),
    reply(401, { message: "expired", type: "user_jwt_invalid", code: 401 }),
    reply(201, { jwt: "j2" }),
    executed(200, { sessions: [] }),
    reply(401, { message: "expired", type: "user_jwt_invalid", code: 401 }),
    reply(201, { jwt: "j3" }),
    reply(401, { message: "still", type: "user_jwt_invalid", code: 401 }));
  const api = createApi(CONFIG, { storage: memoryStorage({ "console.fallbackCookies": "cookie" }), fetch });
  assert.deepEqual(await api.list({ needsHuman: "true" }), { sessions: [] });
  assert.equal(calls[0].headers["x-fallback-cookies"], "cookie");
  assert.equal(calls[3].headers["x-appwrite-jwt"], "j2");
  assert.equal(calls[3].json.headers["X-Chat-JWT"], "j2");
  assert.equal(calls[3].credentials, "omit");  // never the session cookie next to the JWT (403 on Appwrite)
  assert.equal(calls[3].json.path, "/?summary=false&limit=100&needsHuman=true");
  await assert.rejects(api.call("assign", "POST", "/claim", { sessionId: "s" }), (e) => e.message === "still");
});

test("a function's refusal is not retried, and keeps its detail", async () => {
  const { fetch, calls } = scriptedFetch(reply(201, { jwt: "j" }), executed(409, { error: {
    code: "at_capacity", message: "full", load: 3, capacity: 3 } }));
  const api = createApi(CONFIG, { storage: memoryStorage(), fetch });
  await assert.rejects(api.call("assign", "POST", "/claim", {}),
                       (e) => e.code === "at_capacity" && e.detail.load === 3 && e.status === 409);
  assert.equal(calls.length, 2);
});

test("signing in keeps Appwrite's fallback cookie; a refusal says why; signing out forgets it", async () => {
  const storage = memoryStorage();
  const { fetch } = scriptedFetch(reply(401, { message: "Invalid credentials" }),
                                  reply(201, {}, { "x-fallback-cookies": "c" }), reply(204, {}));
  const api = createApi(CONFIG, { storage, fetch });
  assert.equal(await api.signIn("a@example.com", "wrong"), "Invalid credentials");
  assert.equal(await api.signIn("a@example.com", "right"), null);
  assert.equal(storage.getItem("console.fallbackCookies"), "c");
  await api.signOut();
  assert.equal(storage.getItem("console.fallbackCookies"), null);
});
