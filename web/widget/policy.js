// How often the widget calls the functions (docs/visitor-side.md, "Polling, and what a chat costs"): the schedule
// of checks, the heartbeat, the retries of a message and the per-minute budget. Pure: the time comes in as an
// argument (tests/js/widget-policy.test.mjs).
//
// After the visitor does something (sends, asks for a person, comes back to the tab) it checks 2, 3, 5, 8 and 13 s
// apart, then every 10 s while the visitor waits for or talks to an agent and every 30 s otherwise; every 60 s
// while the tab is hidden; never without an open session. A tab makes at most 20 executions a minute, at most 12 of
// them checks and heartbeats.

export const POLICY = Object.freeze({
  perMinute: 20,            // executions per minute per open tab, everything included
  backgroundPerMinute: 12,  // of which polls and heartbeats: beyond, they are skipped
  pollSteps: [2, 3, 5, 8, 13], // seconds between checks after the visitor did something (sent, asked, came back)
  pollLive: 10,             // then: while waiting for, or talking to, an agent
  pollQuiet: 30,            // then: otherwise (the bot answers within the steps)
  pollHidden: 60,           // while the tab is in the background
  heartbeat: 300,           // keeps the visitor's lastSeen fresh while the tab is in front (idle close)
  retry: [1, 2, 4, 8, 15, 30], // seconds between attempts of a message that could not be sent
  pageSize: 50,
  transcriptPage: 100,      // messages per execution of a transcript download (the most the function gives)
  keep: 200,                // messages kept in the page's storage
});

// Seconds until the next check, and the step after it. `step` counts the quick checks since the visitor's last
// action; `live`: waiting for, or talking to, an agent.
export function nextDelay({ hidden, step, live }) {
  if (hidden) return { seconds: POLICY.pollHidden, step };
  if (step < POLICY.pollSteps.length) return { seconds: POLICY.pollSteps[step], step: step + 1 };
  return { seconds: live ? POLICY.pollLive : POLICY.pollQuiet, step };
}

// Milliseconds before the next attempt of a message (attempt 0 is the first retry): a 429's retryAfter, else the
// backoff, which stays at its last step.
export function retryDelay(error, attempt) {
  if (error.retryAfter) return error.retryAfter * 1000;
  return POLICY.retry[Math.min(attempt, POLICY.retry.length - 1)] * 1000;
}

// Whether a check should be preceded by a heartbeat: only in front, and only when the visitor sent nothing (and no
// heartbeat went) for POLICY.heartbeat seconds.
export function heartbeatDue({ hidden, now, lastActivity, lastHeartbeat }) {
  return !hidden && now - Math.max(lastActivity, lastHeartbeat) >= POLICY.heartbeat * 1000;
}

// The per-minute budget of one tab: `take(background, now)` answers true (start now), false (skip: a background
// call over its budget) or a number (the visitor's own call waits that many ms, then asks again).
export function createBudget() {
  const started = { all: [], background: [] }; // when each execution of the last minute started
  function inLastMinute(list, now) {
    while (list.length && now - list[0] >= 60000) list.shift();
    return list.length;
  }
  return {
    take(background, now) {
      const used = inLastMinute(started.all, now);
      if (background && (used >= POLICY.perMinute ||
                         inLastMinute(started.background, now) >= POLICY.backgroundPerMinute)) return false;
      if (used < POLICY.perMinute) {
        started.all.push(now);
        if (background) started.background.push(now);
        return true;
      }
      return started.all[0] + 60000 - now + 10; // the visitor's own actions wait for the window
    },
  };
}
