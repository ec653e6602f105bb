// web/widget/queue.js: the waiting visitor's place counted from the queue's row, as the functions count it
// (chat_core/domain/queue.py; tests/test_queue_line.py encodes the same LINE below and asserts the same places).
import assert from "node:assert/strict";
import { test } from "node:test";

import { behind, follow, fresher, placeIn, placed, readLine } from "../../web/widget/queue.js";

// Four waiting: a signed-in visitor at 12:00:00, a guest at +1.5 s, a signed-in visitor at +3 s, a guest at +4 s.
export const LINE = '{"waiting":4,"from":1796644800000,"at":[0,1500,3000,4000],"guests":[1,3]}';
const at = (seconds) => new Date(1796644800000 + seconds * 1000).toISOString();

test("signed-in visitors come first, then guests, each in the order they asked", () => {
  const line = readLine(LINE);
  assert.deepEqual(placeIn(line, { escalatedAt: at(0), signedIn: true }), { position: 0, waiting: 4 });
  assert.deepEqual(placeIn(line, { escalatedAt: at(3), signedIn: true }), { position: 1, waiting: 4 });
  assert.deepEqual(placeIn(line, { escalatedAt: at(1.5), signedIn: false }), { position: 2, waiting: 4 });
  assert.deepEqual(placeIn(line, { escalatedAt: at(4), signedIn: false }), { position: 3, waiting: 4 });
});

test("the place moves when someone ahead leaves, not when someone behind does", () => {
  const mine = { escalatedAt: at(3), signedIn: true };
  const firstLeft = readLine('{"waiting":3,"from":1796644801500,"at":[0,1500,2500],"guests":[0,2]}');
  assert.deepEqual(placeIn(firstLeft, mine), { position: 0, waiting: 3 });
  const behindLeft = readLine('{"waiting":3,"from":1796644800000,"at":[0,1500,3000],"guests":[1]}');
  assert.deepEqual(placeIn(behindLeft, mine), { position: 1, waiting: 3 });
});

test("a signed-in visitor who starts waiting goes ahead of a waiting guest", () => {
  const guest = { escalatedAt: at(1.5), signedIn: false };
  const before = readLine('{"waiting":2,"from":1796644800000,"at":[0,1500],"guests":[1]}');
  const after = readLine('{"waiting":3,"from":1796644800000,"at":[0,1500,9000],"guests":[1]}');
  assert.deepEqual([placeIn(before, guest).position, placeIn(after, guest).position], [1, 2]);
});

test("a chat handed back waits again from when it was handed back: the line with its old key does not hold it", () => {
  const line = readLine(LINE);
  assert.equal(placeIn(line, { escalatedAt: at(60), signedIn: true }), null); // the row predates the new wait
  const later = readLine('{"waiting":5,"from":1796644800000,"at":[0,1500,3000,4000,60000],"guests":[1,3]}');
  assert.deepEqual(placeIn(later, { escalatedAt: at(60), signedIn: true }), { position: 2, waiting: 5 });
});

test("beyond the line the row cannot tell: the figures told stand", () => {
  const full = readLine('{"waiting":250,"from":1796644800000,"at":[0,1000],"guests":[]}'); // a line of 2, 250 wait
  assert.deepEqual(placeIn(full, { escalatedAt: at(1), signedIn: true }), { position: 1, waiting: 250 });
  assert.equal(placeIn(full, { escalatedAt: at(5), signedIn: true }), null);  // beyond it
  const guestIn = readLine('{"waiting":250,"from":1796644800000,"at":[0,1000],"guests":[0]}');
  assert.equal(placeIn(guestIn, { escalatedAt: at(0), signedIn: false }), null); // signed-in visitors beyond go first
});

test("a row without a line, or with a broken one, tells nothing", () => {
  assert.equal(readLine(undefined), null);
  assert.equal(readLine("not json"), null);
  assert.equal(readLine('{"waiting":1}'), null);
  assert.equal(placeIn(null, { escalatedAt: at(0), signedIn: true }), null);
});

test("the expected wait follows the place at the same rate", () => {
  const told = { position: 3, waiting: 5, availableAgents: 1, expectedWaitSeconds: 800 };
  assert.deepEqual(follow(told, { position: 1, waiting: 3 }),
                   { position: 1, waiting: 3, availableAgents: 1, expectedWaitSeconds: 400 });
  assert.equal(follow({ ...told, expectedWaitSeconds: null }, { position: 0, waiting: 1 }).expectedWaitSeconds, null);
  assert.equal(follow({ ...told, position: 1, expectedWaitSeconds: 5 }, { position: 0, waiting: 1 }).expectedWaitSeconds, 3);
});

// --- when: the row's `at` (its line's read) and the answer's `queue.asOf` (its figures') -----------------------
// A third visitor (signed in, at +3 s) waits. The first visitor is served at +10 s: a line without them.
const mine = { escalatedAt: at(3), signedIn: true };
const SERVED = '{"waiting":3,"from":1796644801500,"at":[0,1500,2500],"guests":[0,2]}';
const told = (seconds, position, waiting) =>
  ({ position, waiting, availableAgents: 1, expectedWaitSeconds: 60 * (position + 1), asOf: at(seconds) });

test("the row's at is when its line was read; a row without one says nothing of when", () => {
  assert.equal(readLine(LINE, at(9)).asOf, 1796644809000);
  assert.equal(readLine(LINE).asOf, null);
  assert.equal(readLine(LINE, "not a time").asOf, null);
});

test("an old row arriving after a fresher answer is ignored: the answer's place stands", () => {
  // The move at +10 s wrote no row (its write failed); the 60 s check at +20 s answers the place after it.
  const fresh = told(20, 0, 3);
  const old = readLine(LINE, at(4)); // the row from before the move, delivered again
  assert.equal(behind(old, null, fresh), true);
  assert.equal(placed(fresh, old, mine), fresh); // not moved back to place 1 of 4
  const served = readLine(SERVED, at(10));
  assert.equal(behind(old, served, null), true); // two rows landed out of order: the older one is ignored too
});

test("a fresher row after an older answer wins, and the figures are then as of that row", () => {
  const answer = told(5, 1, 4);
  const served = readLine(SERVED, at(10));
  assert.equal(behind(served, readLine(LINE, at(4)), answer), false);
  // The place as of the row; the agents and the wait as the answer counted them (`countedAt`).
  assert.deepEqual(placed(answer, served, mine), { position: 0, waiting: 3, availableAgents: 1,
                                                   expectedWaitSeconds: 60, asOf: at(10), countedAt: at(5) });
  // An answer counted before the row the widget holds (a send under way since before the move): the row's place.
  assert.deepEqual(placed(told(8, 1, 4), served, mine), { position: 0, waiting: 3, availableAgents: 1,
                                                          expectedWaitSeconds: 60, asOf: at(10), countedAt: at(8) });
});

test("a row or an answer without its time keeps the behaviour from before times were carried", () => {
  const untimed = readLine(SERVED); // a row from an older deployment: no at
  assert.equal(behind(untimed, readLine(LINE, at(4)), told(20, 1, 4)), false);
  assert.equal(placed(told(20, 1, 4), untimed, mine).position, 0); // the row's place, as before
  const { asOf, ...older } = told(20, 1, 4); // an answer from an older deployment: no asOf
  assert.equal(asOf, at(20));
  assert.equal(behind(readLine(LINE, at(4)), null, older), false);
  assert.deepEqual(placed(older, readLine(LINE, at(4)), mine), { ...older, asOf: at(4) }); // the row's place, as before
});

test("an answer counted before the figures shown does not take their place while the wait is the same", () => {
  const shown = { position: 1, waiting: 2, availableAgents: 0, expectedWaitSeconds: null, asOf: at(20) };
  const older = { position: 2, waiting: 3, availableAgents: 0, expectedWaitSeconds: null, asOf: at(10) };
  const newer = { ...older, position: 0, waiting: 1, asOf: at(30) };
  assert.equal(fresher(shown, older, true), shown); // a message's answer with the figures kept at the escalation
  assert.equal(fresher(shown, newer, true), newer);
  assert.equal(fresher(shown, older, false), older); // a new wait: its own figures, whatever their time
  assert.equal(fresher(shown, { ...older, asOf: undefined }, true).position, 2); // no time: the answer's
  assert.equal(fresher(null, older, true), older);
  assert.equal(fresher(shown, null, true), null); // no figures in the answer: none shown, as before
});

test("a row's place does not make the agents and the wait it carried look newer than they are", () => {
  const line = readLine('{"waiting":2,"from":1796644800000,"at":[0,3000],"guests":[]}', at(20));
  const own = { escalatedAt: at(3), signedIn: true };
  const shown = placed({ position: 1, waiting: 2, availableAgents: 0, expectedWaitSeconds: null, asOf: at(10) },
    line, own); // the place as of the row (:20), the agents as counted at :10
  assert.equal(shown.asOf, at(20));
  const late = { position: 1, waiting: 2, availableAgents: 1, expectedWaitSeconds: 120, asOf: at(15) };
  const next = placed(fresher(shown, late, true), line, own); // counted at :15: newer agents than :10
  assert.deepEqual([next.availableAgents, next.expectedWaitSeconds, next.asOf], [1, 120, at(20)]);
  const stale = { ...late, availableAgents: 3, asOf: at(5) };
  assert.equal(fresher(next, stale, true), next); // older than what the figures were counted from: kept
});
