// What a support desk says on its first day (issue 22): the visitor as a person, the messages by who wrote them, and
// the warning an agent needs while visitors wait and they are not available. Pure functions of their arguments, and
// the agent's remembered availability (tests/js/desk.test.mjs).

// A number short enough to say ("visitor 4821"), from the session ID; the ID chip beside it tells two apart.
export function shortNumber(sessionId) {
  const n = parseInt(String(sessionId || "").replace(/^s_/, "").slice(0, 4), 16);
  return Number.isFinite(n) ? String(n) : "?";
}

// The name or e-mail the site passed in userMeta; else "Visitor 4821 on /pricing".
export function humanLabel(session) {
  const meta = session.userMeta || {};
  for (const key of ["name", "email"]) if (typeof meta[key] === "string" && meta[key].trim()) return meta[key].trim();
  const page = typeof meta.page === "string" && meta.page.trim() ? ` on ${meta.page.trim()}` : "";
  return `Visitor ${shortNumber(session.sessionId)}${page}`;
}

// The visitor's first words, quoted, for rows and alerts ("" before they wrote).
export function firstWords(session) {
  return session.firstWords ? `\u201c${session.firstWords}\u201d` : "";
}

// Who wrote a message: Visitor, Bot, the agent by name (list-sessions' `authorName`; mine from my account), System.
export function author(message, me, myName) {
  if (message.role === "user") return "Visitor";
  if (message.role === "bot") return "Bot";
  if (message.role === "agent") {
    if (message.authorId && message.authorId === me && myName) return myName;
    return message.authorName || message.authorId || "Agent";
  }
  return "System";
}

// The banner while visitors wait and nobody assigns them to me: null when there is nothing to say.
export function offlineBanner(waiting, agent) {
  if (!agent || !(waiting > 0) || agent.availability === "available") return null;
  const who = waiting === 1 ? "1 visitor is" : `${waiting} visitors are`;
  const state = agent.chosen === "available" ? "counted as away (this console was silent)" : `${agent.chosen === "away" ? "Away" : "Offline"}`;
  return `${who} waiting and you are ${state}: no chat is assigned to you, and with nobody available visitors are told no agent is available right now.`;
}

// An agent's availability choice, kept in this browser across sign-ins (signing out sets the server's to offline).
const KEY = "console.availability.";
export function rememberChoice(storage, agentId, choice) {
  if (agentId && ["available", "away", "offline"].includes(choice)) storage.setItem(KEY + agentId, choice);
}
export function rememberedChoice(storage, agentId) {
  const choice = agentId ? storage.getItem(KEY + agentId) : null;
  return ["available", "away", "offline"].includes(choice) ? choice : null;
}
