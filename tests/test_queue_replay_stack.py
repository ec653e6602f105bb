"""How good is expectedWaitSeconds? A simulated working day replayed on the local stack (chat_core.queueing).

Visitors arrive as a Poisson process whose rate follows a day (quiet morning, busy late morning and lunch, a calmer
afternoon) and ask for a person at once; three agents with two slots each stay available all day; each chat lasts a
log-normal time (median 5 minutes). Everything goes through the functions over loopback HTTP: create-session and
escalate for an arrival, the agent's close-session when a chat ends (its freed slot auto-assigns the next visitor),
and the widget's poll (GET touch-session /messages) every minute while a visitor waits. The functions' clock is
simulated (chat_core.http.utcnow), so a day takes minutes.

Each estimate a waiting visitor was shown (at escalation, and at each poll) is compared with the wait that followed
(their session's assignedAt minus the moment they were told). The test fails if the estimate is useless: a median
error above half the median wait, or estimates missing while agents are available. Report for docs/reliability.md:
    QUEUE_REPLAY_HOURS=8 HARDENING_REPORT_DIR=.local .venv/bin/python -m pytest tests/test_queue_replay_stack.py -q -s
(QUEUE_REPLAY_HOURS: how much of the 8-hour day, default the hour around its peak for the suite;
QUEUE_RATE_MINUTES is the estimate's window.)
"""

from __future__ import annotations

import heapq
import json
import math
import os
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from chat_core.edge import http
from stack_support import OWN_BOT, Party, disable_functions, function_variables

from bench import ROOMY_BUDGETS
from devstack.server import Stack

pytestmark = pytest.mark.slow

DAY = 8.0  # hours
HOURS = min(DAY, float(os.environ.get("QUEUE_REPLAY_HOURS", "1")))
OPENING = max(0.0, min(DAY - HOURS, 3.5 - HOURS / 2))  # a shorter run replays the hours around the peak
REPORT_DIR = os.environ.get("HARDENING_REPORT_DIR")
AGENTS = ("agent-q0", "agent-q1", "agent-q2")
SLOTS = 2
SERVICE_MEDIAN, SERVICE_SIGMA = 300.0, 0.6  # seconds; log-normal: mean about 6 minutes
POLL = 60  # seconds between the widget's checks while waiting (POLICY.pollLive is 10 s; a minute keeps it short)
ENV = {**ROOMY_BUDGETS, "AUTO_ASSIGN": "on", "AGENT_CAPACITY": str(SLOTS), "AGENT_AWAY_SECONDS": "86400"}
START = datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)


def arrivals_per_minute(hour: float) -> float:
    """The day's shape, by hours since opening: a ramp, a peak around 2.5 to 4.5 h, a calmer afternoon. The six
    slots serve about one chat a minute, so the peak builds a queue and the rest drains it."""
    return 0.45 + 0.9 * math.exp(-((hour - 3.5) / 1.1) ** 2) + 0.25 * math.exp(-((hour - 6.5) / 0.8) ** 2)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with function_variables({**ENV, **OWN_BOT}), \
            Stack(data_dir=tmp_path_factory.mktemp("queue-replay"), port=0, run_scheduler=False) as running:
        disable_functions(running, "bot")
        for agent in AGENTS:
            running.add_user(agent, agent, ["agent"])
        yield running


def day(rng: random.Random) -> list[float]:
    """Arrival times in seconds since the replay starts (a non-homogeneous Poisson process, by thinning)."""
    peak = max(arrivals_per_minute(h / 10) for h in range(int(DAY * 10) + 1)) / 60
    times, t = [], 0.0
    while True:
        t += rng.expovariate(peak)
        if t > HOURS * 3600:
            return times
        if rng.random() < arrivals_per_minute(OPENING + t / 3600) / 60 / peak:
            times.append(t)


def test_the_expected_wait_on_a_simulated_day(stack, monkeypatch):
    clock = Clock()
    monkeypatch.setattr(http, "utcnow", clock)
    rng = random.Random(2026)
    for agent in AGENTS:
        assert Party(stack, user=agent).run("assign-agent", {"availability": "available"}, path="/availability")[0] \
            == 200
    events: list[tuple[float, int, str, str]] = []
    order = 0

    def at(t: float, kind: str, sid: str = "") -> None:
        nonlocal order
        order += 1
        heapq.heappush(events, (t, order, kind, sid))

    for t in day(rng):
        at(t, "arrive")
    tokens, assigned, told = {}, {}, []  # told: (sid, when, estimate) shown to waiting visitors
    nulls_while_available = 0

    def shown(sid: str, t: float, session: dict) -> None:
        nonlocal nulls_while_available
        queue = session.get("queue")
        if session["status"] != "active" or queue is None:
            return
        if queue["expectedWaitSeconds"] is None:
            nulls_while_available += queue["availableAgents"] > 0
            return
        told.append((sid, t, queue["expectedWaitSeconds"], queue["position"]))

    def collect(t: float) -> None:
        """Sessions the functions assigned since the last look: each chat ends after its service time."""
        for row in stack.engine.list_rows("chat", "sessions", [json.dumps({"method": "equal", "attribute": "status",
                                                                           "values": ["agent_assigned"]}),
                                                               json.dumps({"method": "limit", "values": [5000]})])[
                                                                   "rows"]:
            if row["$id"] not in assigned:
                when = (datetime.fromisoformat(row["assignedAt"]) - START).total_seconds()
                assigned[row["$id"]] = (when, row["assignedAgent"])
                at(max(t, when) + rng.lognormvariate(math.log(SERVICE_MEDIAN), SERVICE_SIGMA), "close", row["$id"])

    executions = 0
    while events:
        t, _, kind, sid = heapq.heappop(events)
        clock.now = START + timedelta(seconds=t)
        if kind == "arrive":
            status, created = Party(stack, key=False).run("create-session", {})
            assert status == 201, created
            sid = created["sessionId"]
            tokens[sid] = {"x-session-token": created["token"]}
            status, answer = Party(stack, key=False).run("escalate", {"sessionId": sid}, headers=tokens[sid])
            assert status == 200, answer
            executions += 2
            shown(sid, t, answer["session"])
            if answer["session"]["status"] == "active":
                at(t + POLL, "poll", sid)
        elif kind == "poll":
            if sid in assigned:
                continue
            status, answer = Party(stack, key=False).run("touch-session", path=f"/messages?sessionId={sid}",
                                                         method="GET", headers=tokens[sid])
            assert status == 200, answer
            executions += 1
            shown(sid, t, answer["session"])
            if answer["session"]["status"] == "active":
                at(t + POLL, "poll", sid)
        else:
            agent = assigned[sid][1]
            status, answer = Party(stack, user=agent).run("close-session", {"sessionId": sid})
            assert status == 200, answer
            executions += 1
        collect(t)

    errors = [estimate - (assigned[sid][0] - t) for sid, t, estimate, _ in told]
    waits = [assigned[sid][0] - t for sid, t, _, _ in told]
    absolute = sorted(abs(e) for e in errors)
    relative = sorted(abs(e) / max(w, 60) for e, w in zip(errors, waits, strict=True))  # a minute's floor
    arrivals = len(tokens)
    figures = {
        "hours": HOURS, "from_hour": OPENING, "arrivals": arrivals, "agents": len(AGENTS), "slots_each": SLOTS,
        "window_minutes": int(os.environ.get("QUEUE_RATE_MINUTES", "30")), "executions": executions,
        "visitors_who_waited": len({sid for sid, *_ in told}), "estimates_shown": len(told),
        "estimates_null_while_an_agent_was_available": nulls_while_available,
        "wait_seconds": {"median": _q(sorted(waits), 0.5), "p90": _q(sorted(waits), 0.9),
                         "max": max(waits, default=0)},
        "abs_error_seconds": {"median": _q(absolute, 0.5), "p90": _q(absolute, 0.9)},
        "signed_error_seconds_median": _q(sorted(errors), 0.5),
        "relative_abs_error": {"median": _q(relative, 0.5), "p90": _q(relative, 0.9)},
    }
    print(f"\nqueue replay: {json.dumps(figures, sort_keys=True)}")
    if REPORT_DIR:
        Path(REPORT_DIR).mkdir(parents=True, exist_ok=True)
        (Path(REPORT_DIR) / "queue-replay.json").write_text(json.dumps(figures, indent=2, sort_keys=True))

    assert len(assigned) == arrivals  # everyone was served in the end
    assert len(told) >= 20, "the day built no queue: nothing was measured"
    assert nulls_while_available == 0
    assert figures["abs_error_seconds"]["median"] <= 0.5 * figures["wait_seconds"]["median"]


def _q(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    return round(values[min(len(values) - 1, int(q * len(values)))], 1)

