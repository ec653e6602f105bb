// The widget over Appwrite Realtime (docs/visitor-side.md, "Live"): what a signal row says, as the answer of a
// check would say it, and how often the widget still checks while the socket is live. Pure (tests/js/realtime.test.mjs).
//
// The session's signal row (docs/security.md) holds its public state, written when that state changes; messages
// arrive as their own rows (web/shared/realtime.js, messageFromRow). The widget shows both exactly as it shows a
// check's answer, so the visitor reads the same text either way.

export const LIVE = Object.freeze({
  waiting: 60,   // seconds between checks while live and waiting for a person: the queue's place and wait
  quiet: 300,    // otherwise: the safety net, with the heartbeat (POLICY.heartbeat) that keeps lastSeen fresh
  ready: 2000,   // ms a new chat's first message waits for the socket, so that no reply comes before it listens
});

export function signalChannel(sessionId) { return `tablesdb.chat.tables.signals.rows.${sessionId}`; }

// The queue's row (docs/security.md): it moved. Watched only while the visitor waits.
export const QUEUE_ROW = "queue";

// The signal row as the session a check's answer holds (without the queue: a signal does not carry it, so the
// caller keeps the place it knows while the session still waits, nor the message count: messages come as rows).
export function signalAnswer(payload) {
  const p = payload && typeof payload === "object" ? payload : {};
  return { sessionId: p.sessionId, status: p.status, botShouldReply: Boolean(p.botShouldReply),
           needsHuman: Boolean(p.needsHuman), assignedAgent: p.assignedAgent || null,
           // (a name that reads as an Appwrite operator is stored behind U+2063: chat_core/infra/signals.py)
           ...(typeof p.agentName === "string" ? { agentName: p.agentName.replace(/^\u2063/, "") } : {}),
           escalatedAt: p.escalatedAt || null, closedAt: p.closedAt || null };
}

// Seconds until the next check while the socket is live.
export function liveDelay({ needsHuman }) { return needsHuman ? LIVE.waiting : LIVE.quiet; }

// The user a JWT belongs to (its payload's userId), or null: the owner of the sessions created with it.
export function jwtUser(jwt) {
  try {
    const part = String(jwt).split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const payload = JSON.parse(atob(part + "=".repeat((4 - (part.length % 4)) % 4)));
    return typeof payload.userId === "string" ? payload.userId : null;
  } catch (error) {
    return null;
  }
}
