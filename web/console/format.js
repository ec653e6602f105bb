// What the console says about sessions, agents and time: pure functions of their arguments, no page, no state
// (tests/js/console.test.mjs).
import { humanLabel } from "./desk.js";

// The refresh period in milliseconds: `?refresh=N` (seconds) or the function's default, clamped to the range the
// function sends (past 2**31-1 ms, 24.8 days, a browser's setTimeout overflows and fires at once).
export function refreshPeriod(config, search) {
  const [min, max] = config.refreshRange || [1, 3600];
  const asked = Number(new URLSearchParams(search || "").get("refresh"));
  return Math.min(max, Math.max(min, asked || config.refreshSeconds || 5)) * 1000;
}

// "3 minutes", "1 hour", "0 seconds": the largest whole unit, as the CLI says it.
export function span(seconds) {
  seconds = Math.max(0, Math.floor(seconds));
  for (const [name, size] of [["day", 86400], ["hour", 3600], ["minute", 60], ["second", 1]]) {
    if (seconds >= size) { const n = Math.floor(seconds / size); return `${n} ${name}${n === 1 ? "" : "s"}`; }
  }
  return "0 seconds";
}

// How long a waiting session has waited, at `now` (ms).
export function waited(session, now) {
  return span((now - Date.parse(session.escalatedAt || session.createdAt)) / 1000);
}

// The first 14 characters, as the CLI's tables show them (the CLI takes any unique prefix).
export function short(id) { return id && id.length > 16 ? id.slice(0, 14) + "…" : id || ""; }

export function visitorName(session) {
  const meta = session.userMeta || {};
  for (const key of ["name", "email"]) if (typeof meta[key] === "string" && meta[key].trim()) return meta[key].trim();
  return "";
}

// "Vic (s_0996d3df2f6a…)" in notices, or "Visitor 2454 on /pricing" for a visitor the site did not name; the full
// ID is one click away (copy).
export function label(session) {
  const name = visitorName(session);
  return name ? `${name} (${short(session.sessionId)})` : humanLabel(session);
}

// The session's agent as people call them: their name (the Appwrite user's), else their ID.
export function agentName(session) {
  return session.assignedAgentName || session.assignedAgent || "";
}

// The session's state in words, as `me` sees it.
export function statusLabel(session, me) {
  if (session.status === "closed") return "Closed";
  if (session.status === "agent_assigned") {
    return session.assignedAgent === me ? "With you" : `With ${agentName(session) || "an agent"}`;
  }
  return session.needsHuman ? "Waiting for a human" : "With the bot";
}

export function canClose(session, me) {
  return session.status !== "closed" && (!session.assignedAgent || session.assignedAgent === me);
}

// "All active" minus what the queue and my sessions already show: each session is listed once.
export function others(active, ...shown) {
  const seen = new Set(shown.flat().map((s) => s.sessionId));
  return active.filter((s) => !seen.has(s.sessionId));
}

export function stars(average) { return `${Number(average).toFixed(1)} / 5`; }

export const ASSIGNED_BY = { auto: "automatically", claim: "claimed", admin: "by an admin", transfer: "by a transfer" };

// The detail pane's rows: [name, value] pairs.
export function detailRows(s, me) {
  // "Duration" from the start to the close; while open, how long it has been open. The visitor's last activity
  // moves with their messages and the widget's 5-minute heartbeat, so "under 5 minutes ago" is as fine as it gets.
  const rows = [["Status", statusLabel(s, me)], ["Agent", agentName(s) || "-"],
    [s.status === "closed" ? "Visitor last active" : "Visitor active", s.lastSeenAgo],
    [s.status === "closed" ? "Duration" : "Open for", s.duration], ["Messages", String(s.messageCount)]];
  if (s.escalationReason && s.status !== "closed") rows.push(["Escalation", s.escalationReason]);
  if (s.assignedBy && s.assignedAgent) rows.push(["Assigned", ASSIGNED_BY[s.assignedBy] + (s.overCapacity ? " (over capacity)" : "")]);
  if (s.status === "closed" && s.closeReason) rows.push(["Closed", s.closeReason]);
  if (s.rating) rows.push(["Rating", `${s.rating.score} / 5` + (s.rating.comment ? ` \u2014 \u201c${s.rating.comment}\u201d` : "")]);
  return rows;
}

// A visitor's detail (userMeta) value as text.
export function valueText(value) {
  return typeof value === "string" ? value : JSON.stringify(value);
}

export const ACTIONS = { open: "opened", escalate: "asked for a human", claim: "claimed", assign: "assigned",
                         auto_assign: "assigned automatically", transfer: "transferred", unassign: "put back in the queue",
                         close: "closed", idle_close: "closed as idle", empty_close: "closed as empty", rate: "rated",
                         withdraw: "escalation taken back" };

// A timeline entry ({actor, action, from, to, why}) in words: {who, action, move}.
export function timelineText(entry) {
  const who = entry.actor === "visitor" ? "Visitor" : entry.actor === "system" ? "System"
    : entry.actor === "bot" ? "Bot" : entry.actor === "admin" ? "Admin" : entry.actorName || entry.actor.replace(/^agent:/, "");
  return { who, action: `${who} ${ACTIONS[entry.action] || entry.action}`,
           move: entry.from ? `${entry.from} \u2192 ${entry.to}` : entry.to };
}

// The notice for sessions that became mine without my click.
export function arrivalText(fresh) {
  const how = (s) => s.assignedBy === "transfer" ? "was transferred to you" : s.assignedBy === "admin"
    ? "was assigned to you by an admin" : "was assigned to you";
  return fresh.length === 1 ? `${label(fresh[0])} ${how(fresh[0])}.`
    : `${fresh.length} visitors were assigned to you: ${fresh.map(label).join(", ")}.`;
}
