// web/widget/policy.js: how often the widget calls (docs/visitor-side.md, "Polling, and what a chat costs").
import assert from "node:assert/strict";
import { test } from "node:test";

import { POLICY, createBudget, heartbeatDue, nextDelay, retryDelay } from "../../web/widget/policy.js";

// The delays from a fresh activity, `count` checks long.
function schedule(count, { hidden = false, live = false } = {}) {
  const delays = [];
  let step = 0;
  for (let i = 0; i < count; i++) {
    const next = nextDelay({ hidden, step, live });
    delays.push(next.seconds);
    step = next.step;
  }
  return delays;
}

test("after the visitor does something: 2, 3, 5, 8, 13 s apart, then every 30 s with the bot", () => {
  assert.deepEqual(schedule(8), [2, 3, 5, 8, 13, 30, 30, 30]);
});

test("while waiting for or talking to an agent: the quick steps, then every 10 s", () => {
  assert.deepEqual(schedule(7, { live: true }), [2, 3, 5, 8, 13, 10, 10]);
});

test("a hidden tab checks once a minute and keeps its place in the steps for when it comes back", () => {
  assert.deepEqual(schedule(3, { hidden: true }), [60, 60, 60]);
  assert.deepEqual(nextDelay({ hidden: true, step: 2, live: false }), { seconds: 60, step: 2 });
  assert.deepEqual(nextDelay({ hidden: false, step: 2, live: false }), { seconds: 5, step: 3 });
});

test("a message is retried after 1, 2, 4, 8, 15, then every 30 s; a 429 says how long to wait", () => {
  const plain = { retryAfter: null };
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 50].map((n) => retryDelay(plain, n)),
                   [1000, 2000, 4000, 8000, 15000, 30000, 30000, 30000]);
  assert.equal(retryDelay({ retryAfter: 12 }, 0), 12000);
});

test("the heartbeat: only in front, five minutes after the visitor's last message or the last heartbeat", () => {
  const five = POLICY.heartbeat * 1000;
  assert.equal(heartbeatDue({ hidden: false, now: five, lastActivity: 0, lastHeartbeat: 0 }), true);
  assert.equal(heartbeatDue({ hidden: false, now: five - 1, lastActivity: 0, lastHeartbeat: 0 }), false);
  assert.equal(heartbeatDue({ hidden: false, now: five + 10, lastActivity: 10, lastHeartbeat: 0 }), true);
  assert.equal(heartbeatDue({ hidden: false, now: five + 10, lastActivity: 0, lastHeartbeat: 11 }), false);
  assert.equal(heartbeatDue({ hidden: true, now: 10 * five, lastActivity: 0, lastHeartbeat: 0 }), false);
});

test("the budget: 20 executions a minute, at most 12 of them checks; the visitor's own wait, checks are skipped", () => {
  const budget = createBudget();
  const checks = Array.from({ length: 14 }, (_, i) => budget.take(true, i));
  assert.deepEqual(checks, [...Array(12).fill(true), false, false]);
  const own = Array.from({ length: 9 }, (_, i) => budget.take(false, 100 + i));
  assert.deepEqual(own, [...Array(8).fill(true), 60000 - 108 + 10]);  // the 21st waits for the oldest to age out
  assert.equal(budget.take(true, 30000), false);  // a check never waits: skipped
  assert.equal(budget.take(false, 60000), true);   // a minute after the first, there is room again
  assert.equal(budget.take(true, 60001), true);
});

test("the budget counts any 60 s window, not calendar minutes", () => {
  const budget = createBudget();
  for (let i = 0; i < 20; i++) assert.equal(budget.take(false, 59_000 + i), true);
  assert.equal(typeof budget.take(false, 61_000), "number");  // 20 in the last 60 s: no room at 1:01
  assert.equal(budget.take(false, 119_000), true);
});
