"""The audit trail on the local stack, over loopback HTTP through the SDK, with transitions racing.

Agents claim, transfer and unassign a few sessions from several threads at once, an admin transfers and unassigns
them too, and the fold's schedule (which moves the trail to the `audit` table) fires again and again meanwhile.
Afterwards every session's timeline holds exactly the transitions that were answered as made (`changed: true`),
each once, chained from one state to the next, all moved to the table with none left behind. Run twice: with the
column's real size, and with one so small that writes keep storing what it holds before they add to it.

AUDIT_ROUNDS sets the rounds per racer (default 4).
"""

from __future__ import annotations

import os
import random
import threading
from collections import Counter

import pytest
from chat_core.ops import audit
from hardening_support import audit_violations, rows, timeline
from stack_support import OWN_BOT, Party, at_once, disable_functions, function_variables

from bench import ROOMY_BUDGETS
from devstack.server import Stack

ROUNDS = int(os.environ.get("AUDIT_ROUNDS", "4"))
SESSIONS = 3
ADMIN_SECRET = "audit-stack-admin-secret"
AGENTS = ("agent-a0", "agent-a1", "agent-a2", "agent-a3")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with function_variables({"ADMIN_SECRET": ADMIN_SECRET, "BOT_SECRET": "audit-stack-bot", **ROOMY_BUDGETS,
                             **OWN_BOT}), \
            Stack(data_dir=tmp_path_factory.mktemp("audit"), port=0, run_scheduler=False) as running:
        disable_functions(running, "bot")
        for agent in AGENTS:
            running.add_user(agent, agent, ["agent"])
        yield running


def persist(party: Party, path: str, body: dict) -> tuple[int, dict]:
    """assign-agent, with a 409 concurrent_update retried as a caller does."""
    while True:
        status, answer = party.run("assign-agent", body, path=path)
        if answer.get("error", {}).get("code") != "concurrent_update":
            return status, answer


def agent_racer(stack: Stack, agent: str, sessions: list[str], made: Counter, seed: int):
    def race() -> None:
        me, pick = Party(stack, user=agent), random.Random(seed)
        for _ in range(ROUNDS):
            for sid in pick.sample(sessions, len(sessions)):
                status, answer = persist(me, "/claim", {"sessionId": sid})
                if status != 200:
                    continue
                made[sid] += answer["changed"]
                if pick.random() < 0.5:
                    status, answer = persist(me, "/unassign", {"sessionId": sid})
                else:
                    other = pick.choice([a for a in AGENTS if a != agent])
                    status, answer = persist(me, "/transfer", {"sessionId": sid, "agentId": other})
                if status == 200:
                    made[sid] += answer["changed"]
    return race


def admin_racer(stack: Stack, sessions: list[str], made: Counter, seed: int):
    def race() -> None:
        admin, pick = Party(stack, headers={"X-Chat-Secret": ADMIN_SECRET}), random.Random(seed)
        for _ in range(ROUNDS * 2):
            sid = pick.choice(sessions)
            if pick.random() < 0.5:
                status, answer = persist(admin, "/unassign", {"sessionId": sid})
            else:
                status, answer = persist(admin, "/transfer", {"sessionId": sid, "agentId": pick.choice(AGENTS)})
            if status == 200:
                made[sid] += answer["changed"]
    return race


def mover(stack: Stack):
    def move() -> None:
        for _ in range(ROUNDS * 2):
            stack.fire_schedule("list-sessions")  # queued: it runs while the racers race
            stack.wait_idle(30)
    return move


@pytest.mark.parametrize("capacity", ["real", "tiny"])
def test_racing_transitions_lose_no_audit_entry_and_write_none_twice(stack, monkeypatch, capacity):
    if capacity == "tiny":  # a staff write stores what the column holds once it passes ~4 entries
        monkeypatch.setattr(audit, "CAPACITY", audit.RESERVE + 600)
    stored_by_writes = count_stores_by_writes(monkeypatch)
    widget = Party(stack, key=False)
    sessions, tokens = [], {}
    for _ in range(SESSIONS):
        status, created = widget.run("create-session", {})
        assert status == 201, created
        sessions.append(created["sessionId"])
        tokens[created["sessionId"]] = {"x-session-token": created["token"]}
        assert widget.run("escalate", {"sessionId": sessions[-1]}, headers=tokens[sessions[-1]])[0] == 200
    made = Counter({sid: 1 for sid in sessions})  # the escalation
    # With the tiny column, the racers run without the minute's mover: a mover that happens to run between every
    # few writes keeps the column from filling, and the full-column path this variant is for would not run (seen in
    # about one run in six). With the real column, the mover races them.
    movers = [mover(stack)] if capacity == "real" else []
    at_once(*(agent_racer(stack, agent, sessions, made, seed) for seed, agent in enumerate(AGENTS)),
            admin_racer(stack, sessions, made, 99), *movers, timeout=600)
    for sid in sessions:
        status, answer = widget.run("close-session", {"sessionId": sid, "rating": {"score": 4}}, headers=tokens[sid])
        assert status == 200 and answer["closed"] and answer["rated"], answer
        made[sid] += 2
    stack.fire_schedule("list-sessions")
    assert stack.wait_idle(60)

    stored = {r["$id"]: r for r in rows(stack, "sessions")}
    moved = Counter(r["sessionId"] for r in rows(stack, "audit"))
    admin = Party(stack, headers={"X-Chat-Secret": ADMIN_SECRET})
    for sid in sessions:
        row = stored[sid]
        assert row["auditSeq"] == made[sid], (sid, row["auditSeq"], made[sid])
        assert (row["auditPending"], row["transitions"]) == (False, ""), row  # everything moved
        assert moved[sid] == made[sid]  # each transition stored once
        assert [e.seq for e in timeline(stack, row)] == list(range(1, made[sid] + 1))
        status, answer = admin.run("list-sessions", method="GET", path=f"/{sid}/history?limit=100")
        assert status == 200 and [e["seq"] for e in answer["history"]][:3] == [0, 1, 2]
    assert audit_violations(stack) == []
    assert sum(made.values()) > SESSIONS * 3  # the racers did make transitions
    assert bool(stored_by_writes) == (capacity == "tiny"), stored_by_writes  # the full-column path ran, or not


def count_stores_by_writes(monkeypatch) -> list[int]:
    """How many entries each session write stored because its column was full (audit.stamp's own store)."""
    counts, inside = [], threading.local()
    stamp, store_all = audit.stamp, audit._store_all

    def stamping(*args):
        inside.on = True
        try:
            return stamp(*args)
        finally:
            inside.on = False

    def storing(core, entries):
        if getattr(inside, "on", False):
            counts.append(len(entries))
        return store_all(core, entries)
    monkeypatch.setattr(audit, "stamp", stamping)
    monkeypatch.setattr(audit, "_store_all", storing)
    return counts
