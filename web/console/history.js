// The history of closed chats (issue 22, item 6): search by visitor or words of the chat, agent, rating and date,
// newest first, in pages; a click opens the chat in the detail pane (its transcript, rating and timeline). Built from
// list-sessions' filters (status=closed, q, assignedAgent, rating, createdAfter/createdBefore), `list` being the
// page's call.
import { el } from "../shared/dom.js";
import { humanLabel } from "./desk.js";

// The query of one search: the form's values, as list-sessions takes them.
export function historyQuery({ q, agent, rating, from, to }, cursor) {
  const query = { status: "closed", sort: "lastSeen", order: "desc", summary: "false", limit: "20" };
  if (q && q.trim()) query.q = q.trim();
  if (agent) query.assignedAgent = agent.trim();
  if (rating) query.rating = rating;
  if (from) query.createdAfter = new Date(from + "T00:00:00").toISOString();
  if (to) query.createdBefore = new Date(new Date(to + "T00:00:00").getTime() + 86400000).toISOString();  // the day included
  if (cursor) query.cursor = cursor;
  return query;
}

// One closed chat: who, when, with whom, the rating.
export function historyItem(s, open) {
  const rating = s.rating ? `\u2605 ${s.rating.score}/5` : "not rated";
  return el("li", { class: "session", "data-session": s.sessionId, onclick: () => open(s.sessionId) },
    el("div", { class: "head" }, el("span", { class: "name", text: humanLabel(s) }),
      el("span", { class: "badge rating", text: rating })),
    s.firstWords ? el("div", { class: "first", text: `\u201c${s.firstWords}\u201d` }) : null,
    el("div", { class: "meta", text: `${new Date(s.closedAt || s.lastSeen).toLocaleString()} \u00b7 ${s.assignedAgentName || s.assignedAgent || "no agent"} \u00b7 ${s.messageCount} messages \u00b7 ${s.duration}` }));
}

// Wires the History section: `list(query)` answers a page, `open(sessionId)` shows a chat.
export function createHistory($, list, open, onError) {
  let cursor = null;
  async function search(more) {
    const form = { q: $("history-q").value, agent: $("history-agent").value, rating: $("history-rating").value,
                   from: $("history-from").value, to: $("history-to").value };
    try {
      const answer = await list(historyQuery(form, more ? cursor : null));
      cursor = answer.nextCursor;
      const items = answer.sessions.map((s) => historyItem(s, open));
      if (more) $("history").append(...items);
      else $("history").replaceChildren(...(items.length ? items : [el("li", { class: "empty", text: "No closed chat matches." })]));
      $("history-more").hidden = !cursor;
      $("history-count").textContent = `${$("history").querySelectorAll("li.session").length}${cursor ? "+" : ""}`;
    } catch (error) { onError(error); }
  }
  $("history-form").addEventListener("submit", (e) => { e.preventDefault(); search(false); });
  $("history-more").addEventListener("click", () => search(true));
  return { search };
}
