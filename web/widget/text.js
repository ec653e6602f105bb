// What the widget says: the status line, a message's state and author, the launcher's name, the "new message" cue.
// Pure (tests/js/widget.test.mjs); `T` is the texts in the visitor's language (i18n.js), English by default.
import { EN, fill } from "./i18n.js";

// Who wrote a message, as its label says: the agent's name when the answer gave one, the bot's configured name.
export function who(role, T = EN, name = "") {
  if (role === "agent") return name || T.agent;
  if (role === "user") return T.you;
  if (role === "bot") return T.bot;
  return T.system;
}

// "Alice Martin" -> "AM", "bob" -> "B", "Alice (agent)" -> "A", "Ørjan Ås" -> "ØÅ": the first letter of the first
// two words that start with a letter (or digit), upper-cased; "" when there is none.
export function initials(name) {
  if (typeof name !== "string") return "";
  const words = name.trim().split(/\s+/).filter((w) => /^[\p{L}\p{N}]/u.test(w));
  return words.slice(0, 2).map((w) => [...w][0].toLocaleUpperCase()).join("");
}

// Why a message was not sent: the widget's own reasons by key (older pages stored them in English), else the
// server's words.
const REASONS = { interrupted: "interrupted", chatEnded: "chatEnded", chatGone: "chatGone",
                  "the chat has ended": "chatEnded", "the chat is no longer available": "chatGone" };

export function metaText(item, T = EN) {
  if (item.state === "sending") return T.sending;
  if (item.state === "retrying") return T.retrying;
  if (item.state === "failed") {
    const reason = item.error ? (REASONS[item.error] ? T[REASONS[item.error]] : item.error) : T.refused;
    return fill(T.failed, { reason });
  }
  return "";
}

// The waiting visitor's place: queue {position, waiting, availableAgents, expectedWaitSeconds} (docs/assignment.md).
export function queueText(queue, T = EN) {
  if (!queue || typeof queue !== "object") return [];
  const parts = [];
  const position = Number(queue.position);
  if (Number.isInteger(position) && position >= 0) {
    parts.push(position === 0 ? T.next : position === 1 ? T.aheadOne : fill(T.aheadMany, { n: position }));
  }
  const wait = queue.expectedWaitSeconds;
  if (typeof wait === "number" && Number.isFinite(wait) && wait >= 0) {
    parts.push(wait < 60 ? T.waitShort : fill(T.waitAbout, { minutes: Math.round(wait / 60) }));
  } else if (wait === null && queue.availableAgents === 0) {
    parts.push(T.noAgent);
  }
  return parts;
}

export function statusText({ status, needsHuman, queue, trouble, agentName }, T = EN) {
  let text = "";
  if (status === "closed") text = T.statusClosed;
  else if (status === "agent_assigned") text = agentName ? fill(T.statusAgentNamed, { name: agentName }) : T.statusAgent;
  else if (needsHuman) text = [T.statusWaiting, ...queueText(queue, T)].join(" ");
  if (trouble) text = `${text} ${T.trouble}`.trim();
  return text;
}

export function joinedText(agentName, T = EN) {
  return agentName ? fill(T.joined, { name: agentName }) : T.agentJoined;
}

export function launcherName(title, unread, open, T = EN) {
  if (!unread || open) return title;
  return fill(unread === 1 ? T.unreadOne : T.unreadMany, { title, n: unread });
}

export function cueText(count, T = EN) {
  return count > 1 ? fill(T.newMany, { n: count }) : T.newOne;
}
