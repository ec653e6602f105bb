// A waiting visitor's place, counted from the queue's row (docs/assignment.md, "What a waiting visitor is told"):
// the same count as the functions' (chat_core/domain/queue.py), so the widget shows the place the next check would
// answer, at the moment the queue moves, without an execution. Pure (tests/js/widget-queue.test.mjs).
//
// The row's `line` holds the first waiters in the order they started waiting, each as when it started (ms: `from`
// plus `at[i]`) and whether its visitor is signed in (`guests` lists the others), and how many wait. Nothing in it
// says who. The queue serves signed-in visitors first, then guests, each in the order they asked.

// The line a row holds: {waiting, entries: [[ms, signedIn], ...]}, or null (no line, or not readable).
export function readLine(raw) {
  try {
    const data = typeof raw === "string" ? JSON.parse(raw) : null;
    const from = Number(data && data.from), waiting = Number(data && data.waiting);
    if (!Number.isInteger(from) || !Number.isInteger(waiting) || !Array.isArray(data.at)) return null;
    const guests = new Set(Array.isArray(data.guests) ? data.guests : []);
    const entries = data.at.map((at, n) => [from + Number(at), !guests.has(n)]);
    return entries.every(([at]) => Number.isInteger(at)) ? { waiting, entries } : null;
  } catch (error) {
    return null;
  }
}

// {position, waiting} of the wait that started at `escalatedAt` (ISO), or null when the line does not hold it
// (beyond the line, or a line from before the wait) or a guest's place depends on signed-in visitors beyond it.
export function placeIn(line, { escalatedAt, signedIn }) {
  const own = Date.parse(escalatedAt || "");
  if (!line || !Number.isFinite(own)) return null;
  const signed = Boolean(signedIn);
  if (!line.entries.some(([at, s]) => at === own && s === signed)) return null;
  const ahead = (keep) => line.entries.filter(keep).length;
  if (signed) return { position: ahead(([at, s]) => s && at < own), waiting: line.waiting };
  if (line.waiting > line.entries.length) return null;
  return { position: ahead(([, s]) => s) + ahead(([at, s]) => !s && at < own), waiting: line.waiting };
}

// The figures told before, moved to a new place: the expected wait follows the sessions still to leave the queue
// at the same rate (as chat_core/domain/queue.py `follow`).
export function follow(told, { position, waiting }) {
  let expected = told.expectedWaitSeconds;
  if (expected) expected = Math.round(expected * (position + 1) / (Number(told.position) + 1));
  return { ...told, position, waiting, expectedWaitSeconds: expected };
}
