// web/console/desk.js: the visitor as a person, messages by who wrote them, the offline banner, the remembered
// availability (issue 22, items 5 and 7).
import assert from "node:assert/strict";
import { test } from "node:test";

import { author, firstWords, humanLabel, offlineBanner, rememberChoice, rememberedChoice,
         shortNumber } from "../../web/console/desk.js";
import { agentName, detailRows, label, statusLabel, timelineText } from "../../web/console/format.js";
import { memoryStorage } from "./fake-dom.mjs";

const ID = "s_0996d3df2f6a06829342d3e65b7c8aa0";

test("a visitor is named by the site's name or e-mail, else by the page and a short number", () => {
  assert.equal(shortNumber(ID), "2454");
  assert.equal(humanLabel({ sessionId: ID, userMeta: { name: " Vic ", page: "/pricing" } }), "Vic");
  assert.equal(humanLabel({ sessionId: ID, userMeta: { email: "v@example.com" } }), "v@example.com");
  assert.equal(humanLabel({ sessionId: ID, userMeta: { page: "/pricing" } }), "Visitor 2454 on /pricing");
  assert.equal(humanLabel({ sessionId: ID }), "Visitor 2454");
  assert.equal(label({ sessionId: ID, userMeta: { page: "/pricing" } }), "Visitor 2454 on /pricing");
  assert.equal(firstWords({ firstWords: "Where is my order?" }), "\u201cWhere is my order?\u201d");
  assert.equal(firstWords({}), "");
});

test("messages are labelled Visitor, Bot and the agent", () => {
  assert.equal(author({ role: "user" }, "agent-alice", "Alice"), "Visitor");
  assert.equal(author({ role: "bot" }, "agent-alice", "Alice"), "Bot");
  assert.equal(author({ role: "agent", authorId: "agent-alice" }, "agent-alice", "Alice"), "Alice");
  assert.equal(author({ role: "agent", authorId: "agent-bob" }, "agent-alice", "Alice"), "agent-bob");
  assert.equal(author({ role: "agent", authorId: "agent-bob", authorName: "Bob" }, "agent-alice", "Alice"), "Bob");
  assert.equal(author({ role: "agent", authorId: "agent-alice", authorName: "Alice M" }, "agent-alice", null), "Alice M");
  assert.equal(author({ role: "system" }, "agent-alice"), "System");
});

test("the banner: visitors wait and I am not available", () => {
  assert.equal(offlineBanner(0, { availability: "offline", chosen: "offline" }), null);
  assert.equal(offlineBanner(2, { availability: "available", chosen: "available" }), null);
  assert.equal(offlineBanner(2, null), null);
  assert.match(offlineBanner(1, { availability: "offline", chosen: "offline" }), /^1 visitor is waiting and you are Offline/);
  assert.match(offlineBanner(3, { availability: "away", chosen: "away" }), /^3 visitors are waiting and you are Away/);
  assert.match(offlineBanner(1, { availability: "away", chosen: "available" }), /counted as away/);
});

test("an agent's availability is remembered per agent, only as one of the three", () => {
  const storage = memoryStorage();
  assert.equal(rememberedChoice(storage, "agent-alice"), null);
  rememberChoice(storage, "agent-alice", "available");
  rememberChoice(storage, "agent-alice", "bogus");
  assert.equal(rememberedChoice(storage, "agent-alice"), "available");
  assert.equal(rememberedChoice(storage, "agent-bob"), null);
});

test("the figures say what they measure: open for, or duration once closed", () => {
  const open = detailRows({ status: "active", lastSeenAgo: "under 5 minutes ago", duration: "4 minutes", messageCount: 1 }, "a");
  assert.deepEqual(open.slice(2, 4), [["Visitor active", "under 5 minutes ago"], ["Open for", "4 minutes"]]);
  const closed = detailRows({ status: "closed", lastSeenAgo: "1 hour ago", duration: "4 minutes", messageCount: 1 }, "a");
  assert.deepEqual(closed.slice(2, 4), [["Visitor last active", "1 hour ago"], ["Duration", "4 minutes"]]);
});

test("the history's search is list-sessions' filters on closed chats, newest first, the last day included", async () => {
  const { historyQuery } = await import("../../web/console/history.js");
  assert.deepEqual(historyQuery({}), { status: "closed", sort: "lastSeen", order: "desc", summary: "false", limit: "20" });
  const q = historyQuery({ agent: " agent-bob ", rating: "1,2", from: "2026-12-01", to: "2026-12-01" }, "s_next");
  assert.equal(q.assignedAgent, "agent-bob");
  assert.equal(q.rating, "1,2");
  assert.equal(Date.parse(q.createdBefore) - Date.parse(q.createdAfter), 86400000);
  assert.equal(q.cursor, "s_next");
});

test("other agents by name: the session's agent, its status, the detail and the timeline", () => {
  const s = { status: "agent_assigned", assignedAgent: "agent-bob", assignedAgentName: "Bob Stone" };
  assert.equal(agentName(s), "Bob Stone");
  assert.equal(agentName({ assignedAgent: "agent-bob", assignedAgentName: "" }), "agent-bob");
  assert.equal(statusLabel(s, "agent-alice"), "With Bob Stone");
  assert.deepEqual(detailRows(s, "agent-alice").find(([k]) => k === "Agent"), ["Agent", "Bob Stone"]);
  assert.equal(timelineText({ actor: "agent:agent-bob", actorName: "Bob Stone", action: "claim", to: "agent_assigned" }).who,
               "Bob Stone");
  assert.equal(timelineText({ actor: "agent:agent-bob", actorName: "", action: "claim", to: "agent_assigned" }).who,
               "agent-bob");
});
