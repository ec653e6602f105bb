// A waiting visitor's place, counted from the queue's row (docs/assignment.md, "What a waiting visitor is told"):
// the same count as the functions' (chat_core/domain/queue.py), so the widget shows the place the next check would
// answer, at the moment the queue moves, without an execution. Pure (tests/js/widget-queue.test.mjs).
//
// The row's `line` holds the first waiters in the order they started waiting, each as when it started (ms: `from`
// plus `at[i]`) and whether its visitor is signed in (`guests` lists the others), and how many wait. Nothing in it
// says who. The queue serves signed-in visitors first, then guests, each in the order they asked.
//
// When: the row's `at` is when its line was read, an answer's `queue.asOf` when its figures were counted. A row
// whose write failed or landed late can arrive after fresher figures: the widget keeps whichever is newer
// (`placed`, `behind`). A time missing (a row or an answer from before times were carried) orders nothing.

// The line a row holds: {waiting, entries: [[ms, signedIn], ...], asOf: ms or null}, or null (no line, or not
// readable). `at`: the row's `at` (ISO), when the line was read.
export function readLine(raw, at) {
  try {
    const data = typeof raw === "string" ? JSON.parse(raw) : null;
    const from = Number(data && data.from), waiting = Number(data && data.waiting);
    if (!Number.isInteger(from) || !Number.isInteger(waiting) || !Array.isArray(data.at)) return null;
    const guests = new Set(Array.isArray(data.guests) ? data.guests : []);
    const entries = data.at.map((at, n) => [from + Number(at), !guests.has(n)]);
    return entries.every(([at]) => Number.isInteger(at)) ? { waiting, entries, asOf: timeOf(at) } : null;
  } catch (error) {
    return null;
  }
}

// A time the functions wrote (ISO), in ms; null when missing or not readable.
function timeOf(value) {
  const ms = typeof value === "string" ? Date.parse(value) : NaN;
  return Number.isFinite(ms) ? ms : null;
}

// Whether time `a` is before time `b` (ms), both known.
const before = (a, b) => a != null && b != null && a < b;

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

// The figures to show: `told` (an answer's, or those shown) at the place `line` says for the visitor `own`
// ({escalatedAt, signedIn}), then as of that line's read; `told` as it is when there is no line, the line does
// not hold the visitor, or it was read before `told` was counted (an answer newer than the row stands).
export function placed(told, line, own) {
  if (!told || !line || before(line.asOf, timeOf(told.asOf))) return told;
  const spot = placeIn(line, own);
  if (!spot) return told;
  // asOf: the place's time (the line's); countedAt: when the rest (agents, expected wait) was counted, which
  // `fresher` compares an answer with.
  const countedAt = told.countedAt || told.asOf;
  return { ...follow(told, spot), asOf: line.asOf == null ? null : new Date(line.asOf).toISOString(),
    ...(countedAt ? { countedAt } : {}) };
}

// Whether a queue row's `line` (readLine) was read before the line held (`held`) or before the figures shown
// (`told`) were counted: a row a failed or late write left behind, which the widget ignores. Times unknown: no.
export function behind(line, held, told) {
  return Boolean(line) && (before(line.asOf, held && held.asOf) || before(line.asOf, told && timeOf(told.asOf)));
}

// The figures an answer brings, or those shown when they were counted later for the same wait (`sameWait`: the
// session still waits since the same escalatedAt): an answer slower than a newer one, or a message's answer with the
// figures kept at the escalation after a check told a newer place. Matters most without a queue row (a guest, or a
// socket down), where no row orders them. A time unknown on either side: the answer's.
export function fresher(shown, told, sameWait) {
  if (!shown || !told || !sameWait) return told;
  return before(timeOf(told.asOf), timeOf(shown.countedAt || shown.asOf)) ? shown : told;
}
