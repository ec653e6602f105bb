"""Auto-assignment under contention on the local stack, over loopback HTTP through the SDK (chat_core.assignment).

Four agents with 1, 2, 2 and 3 slots. Each round runs at once: four visitors start waiting (two by HTTP escalation,
two by a message asking for a person, whose event executions then run too), three agents close a session they hold
(freeing slots), one agent goes away or comes back, and every other round an agent claims the longest-waiting
session by hand and one hands a session back to the queue. Visitors who wait too long leave.

Every committed write to a session or agent row is recorded in commit order (inside the engine's write lock) and
replayed: at no point does an agent hold more sessions than their capacity, or more than their slots row counts;
no session is ever given to an agent while another holds it. At the end: each agent's load equals the sessions they
hold (no slot leaked), nobody waits while an available agent has a free slot (but the one who just handed that
session back), and the counters and message counts are exact.

ASSIGN_RACE_ROUNDS sets the rounds (default 12: a few seconds). For the figures in docs/reliability.md:
    ASSIGN_RACE_ROUNDS=1000 HARDENING_REPORT_DIR=.local \\
        .venv/bin/python -m pytest tests/test_assignment_race_stack.py -q -s
They are printed and written to .local/assignment-race.json.
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from functools import partial
from pathlib import Path

import pytest
from hardening_support import violations
from stack_support import OWN_BOT, Party, at_once, disable_functions, function_variables

from bench import ROOMY_BUDGETS
from devstack.server import Stack

ROUNDS = int(os.environ.get("ASSIGN_RACE_ROUNDS", "12"))
REPORT_DIR = os.environ.get("HARDENING_REPORT_DIR")
ADMIN_SECRET = "assign-race-admin-secret"
CAPACITY = {"agent-r0": 1, "agent-r1": 2, "agent-r2": 2, "agent-r3": 3}
AGENTS = tuple(CAPACITY)
ENV = {**ROOMY_BUDGETS, "ADMIN_SECRET": ADMIN_SECRET, "MAX_MESSAGES_PER_MINUTE": "100000", "AUTO_ASSIGN": "on",
       "AGENT_CAPACITY": "2", "AGENT_AWAY_SECONDS": "3600"}
MAX_WAITING = 6  # beyond, the longest waiting visitors leave (the queue stays short, the rounds keep racing)


class WriteLog:
    """Every committed write to `sessions` and `agents`, in commit order: recorded inside the engine's write lock."""

    def __init__(self, stack: Stack) -> None:
        self.entries: list[dict] = []
        engine = stack.engine
        original = engine._write

        def recording(work):
            def logged():
                result, events = work()
                self.entries.extend(e for e in events if e["tableId"] in ("sessions", "agents"))
                return result, events
            return original(logged)
        engine._write = recording


def replay(entries: list[dict]) -> dict:
    """Walk the writes in order; count every moment an invariant breaks."""
    holder: dict[str, str | None] = {}
    held, load, available = Counter(), Counter(), {}
    found = Counter()
    for entry in entries:
        row = entry["row"]
        if entry["tableId"] == "agents":
            if not row["$id"].startswith("a_"):
                continue  # presence rows
            agent = row["agentId"]
            load[agent], available[agent] = row["load"], row["availability"] == "available"
            if held[agent] > load[agent]:
                found["held_more_than_its_load"] += 1
            continue
        if entry["action"] == "delete":
            continue
        sid = row["$id"]
        now = row["assignedAgent"] if row["status"] == "agent_assigned" else None
        before = holder.get(sid)
        if now == before:
            continue
        holder[sid] = now
        if before is not None:
            held[before] -= 1
        if now is None:
            continue
        held[now] += 1
        found["assignments"] += 1
        found[f"assigned by {row['assignedBy']}"] += 1
        if before is not None:
            found["double_assignment"] += 1  # taken from one agent straight to another (no transfers here)
        if held[now] > CAPACITY[now]:
            found["above_capacity"] += 1
        if held[now] > load[now]:
            found["held_more_than_its_load"] += 1
        if row["assignedBy"] == "auto" and not available.get(now):
            found["auto_to_an_agent_away_at_that_write"] += 1  # allowed: it took its slot while available
    found["max_held"] = max(held.values(), default=0)
    for broken in ("above_capacity", "double_assignment", "held_more_than_its_load"):
        found.setdefault(broken, 0)  # reported even when zero
    return dict(found)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with function_variables({**ENV, **OWN_BOT}), \
            Stack(data_dir=tmp_path_factory.mktemp("assign-race"), port=0, run_scheduler=False) as running:
        disable_functions(running, "bot")  # the visitors here ask for a person; the bot would only add writes
        for agent in AGENTS:
            running.add_user(agent, agent, ["agent"])
        running.log = WriteLog(running)
        yield running
        assert running.wait_idle(120)


def party(stack: Stack, agent: str) -> Party:
    return Party(stack, user=agent)


def rows(stack: Stack, table: str, **equal) -> list[dict]:
    """Rows straight from the engine (the test's own view, not a request of the functions), every page."""
    found, cursor = [], []
    filters = [json.dumps({"method": "equal", "attribute": k, "values": [v]}) for k, v in equal.items()]
    while True:
        page = stack.engine.list_rows("chat", table, [*filters, json.dumps({"method": "limit", "values": [1000]}),
                                                      *cursor])["rows"]
        found += page
        if len(page) < 1000:
            return found
        cursor = [json.dumps({"method": "cursorAfter", "values": [page[-1]["$id"]]})]


def test_no_agent_above_capacity_and_no_session_assigned_twice(stack):
    admin = Party(stack, headers={"x-chat-secret": ADMIN_SECRET})
    for agent, slots in CAPACITY.items():
        assert admin.run("assign-agent", {"agentId": agent, "capacity": slots}, path="/capacity")[0] == 200
        assert party(stack, agent).run("assign-agent", {"availability": "available"}, path="/availability")[0] == 200
    rng = random.Random(12)
    tally, tokens = Counter(), {}
    away: set[str] = set()

    for round_ in range(ROUNDS):
        visitors = []
        for _ in range(4):
            status, created = Party(stack, key=False).run("create-session", {})
            assert status == 201, created
            tokens[created["sessionId"]] = created["token"]
            visitors.append(created["sessionId"])
        by_agent: dict[str, list[str]] = {}
        for s in rows(stack, "sessions", status="agent_assigned"):
            by_agent.setdefault(s["assignedAgent"], []).append(s["$id"])
        waiting = sorted(rows(stack, "sessions", needsHuman=True), key=lambda s: s["escalatedAt"])

        def escalate(sid: str, by_message: bool) -> None:
            me = {"x-session-token": tokens[sid]}
            if by_message:
                status, answer = Party(stack, key=False).run("touch-session", {"sessionId": sid, "message": {
                    "text": "I want to talk to a human"}}, headers=me)
            else:
                status, answer = Party(stack, key=False).run("escalate", {"sessionId": sid}, headers=me)
            assert status == 200, answer
            tally["waiting at once" if answer["session"]["status"] == "active" else "assigned at once"] += 1

        def close(agent: str, sid: str) -> None:
            status, answer = party(stack, agent).run("close-session", {"sessionId": sid})
            tally[f"close {int(status)} {answer.get('error', {}).get('code', 'ok')}"] += 1

        def flip(agent: str) -> None:
            going = agent not in away
            status, _ = party(stack, agent).run("assign-agent", {"availability": "away" if going else "available"},
                                                path="/availability")
            assert status == 200
            (away.add if going else away.discard)(agent)
            tally["went away" if going else "came back"] += 1

        def claim(agent: str, sid: str) -> None:
            status, answer = party(stack, agent).run("assign-agent", {"sessionId": sid}, path="/claim")
            tally[f"claim {int(status)} {answer.get('error', {}).get('code', 'ok')}"] += 1

        def unassign(agent: str, sid: str) -> None:
            status, answer = party(stack, agent).run("assign-agent", {"sessionId": sid}, path="/unassign")
            tally[f"unassign {int(status)} {answer.get('error', {}).get('code', 'ok')}"] += 1

        actions = [partial(escalate, sid, i % 2 == 1) for i, sid in enumerate(visitors)]
        holders = [a for a in AGENTS if by_agent.get(a)]
        for agent in rng.sample(holders, min(3, len(holders))):
            actions.append(partial(close, agent, rng.choice(by_agent[agent])))
        actions.append(partial(flip, AGENTS[round_ % len(AGENTS)]))
        if round_ % 2 and waiting:
            actions.append(partial(claim, rng.choice(AGENTS), waiting[0]["$id"]))
            spare = [a for a in holders if len(by_agent[a]) > 1]
            if spare:
                agent = rng.choice(spare)
                actions.append(partial(unassign, agent, by_agent[agent][0]))
        at_once(*actions)
        still = sorted(rows(stack, "sessions", needsHuman=True), key=lambda s: s["escalatedAt"])
        for s in still[:max(0, len(still) - MAX_WAITING)]:  # the longest waiting give up
            status, _ = Party(stack, key=False).run("close-session", {"sessionId": s["$id"]},
                                                    headers={"x-session-token": tokens[s["$id"]]})
            tally[f"visitor left {int(status)}"] += 1
        tally["rounds"] += 1

    for agent in list(away):  # everyone back, so the last pass can assign whatever waits
        assert party(stack, agent).run("assign-agent", {"availability": "available"}, path="/availability")[0] == 200
    assert stack.wait_idle(120)
    stack.fire_schedule("list-sessions")  # the minute's pass
    assert stack.wait_idle(120)

    found = replay(stack.log.entries)
    sessions = rows(stack, "sessions")
    held = Counter(s["assignedAgent"] for s in sessions if s["status"] == "agent_assigned")
    loads = {r["agentId"]: r["load"] for r in rows(stack, "agents") if r["$id"].startswith("a_")}
    free = {a for a in AGENTS if CAPACITY[a] > held[a]}
    # Nobody waits beside a free slot, except of the agent who just put that session back (a cool-off).
    beside_a_free_slot = [s["$id"] for s in sessions if s["needsHuman"]
                          and free - {(s["escalatedBy"] or "").removeprefix("agent:")}]
    left_waiting = sum(1 for s in sessions if s["needsHuman"])
    figures = {"rounds": ROUNDS, "agents": CAPACITY, "calls": dict(sorted(tally.items())), "replay": found,
               "final": {"held": dict(held), "loads": loads, "waiting": left_waiting}}
    print(f"\nassignment race: {json.dumps(figures, sort_keys=True)}")
    if REPORT_DIR:
        Path(REPORT_DIR).mkdir(parents=True, exist_ok=True)
        (Path(REPORT_DIR) / "assignment-race.json").write_text(json.dumps(figures, indent=2, sort_keys=True))

    assert found.get("above_capacity", 0) == 0
    assert found.get("double_assignment", 0) == 0
    assert found.get("held_more_than_its_load", 0) == 0
    assert found["assignments"] > ROUNDS  # the rounds did assign
    assert {a: loads.get(a, 0) for a in AGENTS} == {a: held[a] for a in AGENTS}  # no slot leaked
    assert beside_a_free_slot == [], (beside_a_free_slot, free)
    assert violations(stack) == []
