"""Availability, capacity, auto-assignment and the queue (chat_core.availability, assignment, queueing), on the fake
Appwrite: what agents, admins and waiting visitors see. The races run on the local stack:
tests/test_assignment_race_stack.py."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from chat_core.domain.model import iso, parse_time
from chat_core.edge import http
from chat_core.errors import UpstreamUnavailable
from chat_core.infra.sessions import Sessions
from conftest import ADMIN_SECRET, BOT_SECRET, Widget, deliver, execute, row, rows
from hardening_support import load_violations, violations
from test_consistency import meanwhile

AGENTS = ("agent-alice", "agent-bob")


@pytest.fixture
def team(appwrite, monkeypatch):
    """Capacity 2 each, auto-assignment on, the clock under the test's hand."""
    monkeypatch.setenv("AGENT_CAPACITY", "2")
    monkeypatch.setenv("AGENT_AWAY_SECONDS", "90")
    clock = Clock()
    monkeypatch.setattr(http, "utcnow", clock)
    return clock


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def tick(self, seconds: float = 1) -> None:
        self.now += timedelta(seconds=seconds)


def availability(agent: str, value: str | None = None, **body):
    if value is not None:
        body["availability"] = value
    return execute("assign-agent", body, path="/availability", user=agent)


def capacity(agent: str, value):
    return execute("assign-agent", {"agentId": agent, "capacity": value}, path="/capacity", secret=ADMIN_SECRET)


def waiting_visitor(clock: Clock | None = None) -> tuple[Widget, dict]:
    if clock:
        clock.tick()
    w = Widget()
    answer = execute("escalate", {"sessionId": w.session_id}, token=w.token)
    assert answer.status == 200, answer
    return w, answer.json


def agent_row(appwrite, agent: str) -> dict:
    return next(r for r in rows(appwrite, "agents") if r["agentId"] == agent and r["$id"].startswith("a_"))


def claim(session_id: str, agent: str):
    return execute("assign-agent", {"sessionId": session_id}, path="/claim", user=agent)


# --- availability ----------------------------------------------------------------------------------

def test_an_agent_sets_availability_and_admins_see_it_everywhere(team, appwrite):
    answer = availability("agent-alice", "available")
    assert answer.status == 200, answer
    assert answer.json["agent"] == {**answer.json["agent"], "agentId": "agent-alice", "availability": "available",
                                    "capacity": 2, "capacityIsDefault": True, "load": 0, "freeSlots": 2}
    availability("agent-bob", "away")
    team_now = execute("list-sessions", method="GET", path="/agents", secret=ADMIN_SECRET).json
    assert {a["agentId"]: a["availability"] for a in team_now["agents"]} == {"agent-alice": "available",
                                                                              "agent-bob": "away"}
    summary = execute("list-sessions", method="GET", secret=ADMIN_SECRET).json["summary"]
    assert summary["team"]["agent-alice"]["availability"] == "available"
    assert "team" not in execute("list-sessions", method="GET", user="agent-bob").json["summary"]  # admins only


def test_a_silent_console_counts_as_away_until_its_next_heartbeat(team, appwrite):
    availability("agent-alice", "available")
    team.tick(91)
    listed = execute("list-sessions", method="GET", path="/agents", user="agent-alice").json["agents"]
    assert listed[0]["availability"] == "away" and listed[0]["chosen"] == "available"
    w, answer = waiting_visitor(team)
    assert answer["session"]["status"] == "active"  # not given to a console nobody watches
    assert answer["session"]["queue"]["availableAgents"] == 0
    beat = availability("agent-alice")  # the console is back: a heartbeat alone
    assert beat.json["agent"]["availability"] == "available" and beat.json["assigned"] == [w.session_id]


def test_who_may_set_what(team, appwrite):
    assert availability("agent-alice", "asleep").error == "invalid_availability"
    assert availability("agent-alice", "away", agentId="agent-bob").error == "not_an_admin"
    assert execute("assign-agent", {"availability": "away"}, path="/availability",
                   secret=ADMIN_SECRET).error == "no_agent"
    by_admin = execute("assign-agent", {"availability": "offline", "agentId": "agent-bob"}, path="/availability",
                       secret=ADMIN_SECRET)
    assert by_admin.status == 200 and by_admin.json["agent"]["availability"] == "offline"
    assert execute("assign-agent", {"agentId": "agent-bob", "capacity": 3}, path="/capacity",
                   user="agent-alice").error == "not_an_admin"
    assert capacity("agent-bob", 1001).error == "invalid_value"
    assert capacity("agent-bob", "3").error == "invalid_type"
    assert capacity("visitor-vic", 3).error == "invalid_agent"
    assert capacity("agent-bob", 3).json["agent"]["capacity"] == 3
    assert capacity("agent-bob", None).json["agent"] == {**capacity("agent-bob", None).json["agent"], "capacity": 2,
                                                         "capacityIsDefault": True}
    assert execute("assign-agent", {"availability": "away"}, path="/availability").error == "unauthorized"


# --- auto-assignment -------------------------------------------------------------------------------

def test_an_escalation_goes_to_the_least_loaded_available_agent_at_once(team, appwrite):
    availability("agent-alice", "available")
    availability("agent-bob", "available")
    first, answer = waiting_visitor(team)
    assert answer["session"]["status"] == "agent_assigned" and answer["session"]["queue"] is None
    taker = answer["session"]["assignedAgent"]
    other = next(a for a in AGENTS if a != taker)
    _, second = waiting_visitor(team)
    assert second["session"]["assignedAgent"] == other  # the lower load
    _, third = waiting_visitor(team)
    assert third["session"]["assignedAgent"] == taker  # loads equal: the one assigned longest ago
    stored = row(appwrite, "sessions", first.session_id)
    assert (stored["assignedBy"], stored["overCapacity"]) == ("auto", False)
    assert {a: agent_row(appwrite, a)["load"] for a in AGENTS} == {taker: 2, other: 1}
    assert violations(appwrite) == []


def test_nobody_above_capacity_the_rest_wait_in_order_and_a_freed_slot_takes_the_longest_waiting(team, appwrite):
    availability("agent-alice", "available")
    held = [waiting_visitor(team)[0] for _ in range(2)]
    late = [waiting_visitor(team) for _ in range(3)]
    assert [a["session"]["status"] for _, a in late] == ["active"] * 3
    assert [a["session"]["queue"]["position"] for _, a in late] == [0, 1, 2]
    assert agent_row(appwrite, "agent-alice")["load"] == 2
    closed = execute("close-session", {"sessionId": held[0].session_id}, user="agent-alice")
    assert closed.status == 200
    assert row(appwrite, "sessions", late[0][0].session_id)["assignedAgent"] == "agent-alice"
    assert row(appwrite, "sessions", late[1][0].session_id)["status"] == "active"
    def poll():
        return execute("touch-session", method="GET", path=f"/messages?sessionId={late[2][0].session_id}",
                       token=late[2][0].token).json["session"]["queue"]
    # The place follows the queue at once (docs/assignment.md): the close's auto-assignment wrote the queue's row,
    # and the poll counts from it; no minute's pass needed.
    assert (poll()["position"], poll()["waiting"], poll()["availableAgents"]) == (1, 2, 1)
    execute("list-sessions", trigger="schedule")
    assert (poll()["position"], poll()["waiting"], poll()["availableAgents"]) == (1, 2, 1)
    assert agent_row(appwrite, "agent-alice")["load"] == 2
    assert violations(appwrite) == []


def test_an_unassigned_session_goes_to_someone_else(team, appwrite):
    availability("agent-alice", "available")
    w, answer = waiting_visitor(team)
    assert answer["session"]["assignedAgent"] == "agent-alice"
    availability("agent-bob", "available")
    team.tick()
    back = execute("assign-agent", {"sessionId": w.session_id}, path="/unassign", user="agent-alice")
    assert back.status == 200
    assert row(appwrite, "sessions", w.session_id)["assignedAgent"] == "agent-bob"  # not straight back to alice
    assert (agent_row(appwrite, "agent-alice")["load"], agent_row(appwrite, "agent-bob")["load"]) == (0, 1)


def test_a_session_handed_back_returns_to_the_same_agent_only_after_a_cool_off(team, appwrite):
    availability("agent-alice", "available")
    w, _ = waiting_visitor(team)
    team.tick()
    assert execute("assign-agent", {"sessionId": w.session_id}, path="/unassign", user="agent-alice").status == 200
    assert row(appwrite, "sessions", w.session_id)["status"] == "active"  # she has room, but she just gave it back
    team.tick(4 * 60)
    availability("agent-alice")
    assert execute("list-sessions", trigger="schedule").json["autoAssigned"] == 0
    team.tick(61)
    availability("agent-alice")
    assert execute("list-sessions", trigger="schedule").json["autoAssigned"] == 1  # five minutes on: hers again
    assert row(appwrite, "sessions", w.session_id)["assignedAgent"] == "agent-alice"


def test_becoming_available_takes_the_longest_waiting(team, appwrite):
    ids = [waiting_visitor(team)[0].session_id for _ in range(3)]
    answer = availability("agent-bob", "available")
    assert answer.json["assigned"] == ids[:2] and answer.json["agent"]["load"] == 2
    assert row(appwrite, "sessions", ids[2])["status"] == "active"
    assert capacity("agent-bob", 3).json["assigned"] == ids[2:]  # more room: the next one too
    assert violations(appwrite) == []


def test_a_message_asking_for_a_person_is_assigned_in_the_same_answer(team, appwrite):
    availability("agent-alice", "available")
    w = Widget()
    answer = w.say("I want to talk to a human")
    assert answer.status == 200 and answer.json["session"]["assignedAgent"] == "agent-alice"
    assert answer.json["session"]["botShouldReply"] is False
    message = appwrite.engine.get_row("chat", "messages", answer.json["message"]["messageId"])
    assert deliver(message).json["ignored"] == "agent_assigned"  # the event finds nothing left to do


def test_an_escalation_by_event_alone_is_assigned_by_the_event(team, appwrite):
    availability("agent-alice", "available")
    w = Widget()
    bot = execute("touch-session", {"sessionId": w.session_id, "message": {"role": "bot", "text": "hm"}},
                  secret=BOT_SECRET)
    stored = appwrite.engine.create_row("chat", "messages", "m_direct", {  # a row stored some other way
        "sessionId": w.session_id, "role": "user", "text": "get me a human"})
    assert bot.status == 200
    result = deliver(stored)
    assert result.json["escalated"] is True and result.json["autoAssigned"] == 1
    assert row(appwrite, "sessions", w.session_id)["assignedAgent"] == "agent-alice"


def test_the_minute_pass_assigns_what_an_event_missed(team, appwrite, monkeypatch):
    monkeypatch.setenv("AUTO_ASSIGN", "off")
    availability("agent-alice", "available")
    w, answer = waiting_visitor(team)
    assert answer["session"]["status"] == "active"
    monkeypatch.setenv("AUTO_ASSIGN", "on")  # as if the escalation's pump had failed
    assert execute("list-sessions", trigger="schedule").json["autoAssigned"] == 1
    assert row(appwrite, "sessions", w.session_id)["assignedAgent"] == "agent-alice"


def test_switched_off_it_leaves_the_manual_flow(team, appwrite, monkeypatch):
    monkeypatch.setenv("AUTO_ASSIGN", "off")
    availability("agent-alice", "available")
    w, answer = waiting_visitor(team)
    assert answer["session"]["status"] == "active"
    assert availability("agent-bob", "available").json == {**availability("agent-bob").json, "assigned": [],
                                                           "autoAssign": False}
    assert claim(w.session_id, "agent-alice").status == 200


def test_an_agent_going_away_while_its_slot_is_taken_is_skipped(team, appwrite):
    """Alice is listed available, but goes away between the pump's read and its increment: the increment sees the
    row under its lock, so the slot goes back and Bob gets the visitor."""
    availability("agent-alice", "available")
    availability("agent-bob", "available")
    execute("assign-agent", {"agentId": "agent-bob", "capacity": 2}, path="/capacity", secret=ADMIN_SECRET)
    waiting_visitor(team)  # alice and bob: one each now, alice the more recently assigned... or bob
    loads = {a: agent_row(appwrite, a)["load"] for a in AGENTS}
    first = min(AGENTS, key=lambda a: (loads[a], a == "agent-alice"))  # the one the pump will try first
    second = next(a for a in AGENTS if a != first)
    going = meanwhile(appwrite, lambda m, p: p.endswith("/load/increment"),
                      lambda: availability(first, "away"))
    w, answer = waiting_visitor(team)
    assert going and going[0].status == 200
    assert answer["session"]["assignedAgent"] == second
    assert agent_row(appwrite, first)["load"] == loads[first]  # its slot went back
    assert violations(appwrite) == []


# --- manual claims and transfers respect capacity ----------------------------------------------------------------

def test_claims_and_transfers_respect_capacity_and_an_admin_override_is_marked(team, appwrite, monkeypatch):
    monkeypatch.setenv("AUTO_ASSIGN", "off")
    capacity("agent-alice", 1)
    a, _ = waiting_visitor(team)
    b, _ = waiting_visitor(team)
    assert claim(a.session_id, "agent-alice").status == 200
    full = claim(b.session_id, "agent-alice")
    assert (full.status, full.error) == (409, "at_capacity")
    assert (full.json["error"]["load"], full.json["error"]["capacity"]) == (1, 1)
    assert agent_row(appwrite, "agent-alice")["load"] == 1  # the refused slot went back
    assert claim(b.session_id, "agent-bob").status == 200
    refused = execute("assign-agent", {"sessionId": b.session_id, "agentId": "agent-alice"}, path="/transfer",
                      user="agent-bob")
    assert refused.error == "at_capacity"
    assert execute("assign-agent", {"sessionId": b.session_id, "agentId": "agent-alice", "overCapacity": True},
                   path="/transfer", user="agent-bob").error == "not_an_admin"
    forced = execute("assign-agent", {"sessionId": b.session_id, "agentId": "agent-alice", "overCapacity": True},
                     path="/transfer", secret=ADMIN_SECRET)
    assert forced.status == 200 and (forced.json["session"]["assignedBy"], forced.json["session"]["overCapacity"]) \
        == ("transfer", True)
    assert {a: agent_row(appwrite, a)["load"] for a in AGENTS} == {"agent-alice": 2, "agent-bob": 0}
    c, _ = waiting_visitor(team)
    within = execute("assign-agent", {"sessionId": c.session_id, "agentId": "agent-bob", "overCapacity": True},
                     path="/assign", secret=ADMIN_SECRET)
    assert within.json["session"]["overCapacity"] is False  # no override needed: not marked
    assert violations(appwrite) == []


def test_a_refused_claim_writes_nothing(team, appwrite):
    w, _ = waiting_visitor(team)
    assert claim(w.session_id, "agent-alice").status == 200
    appwrite.reset_counts()
    assert claim(w.session_id, "agent-bob").error == "already_assigned"
    assert claim(w.session_id, "agent-alice").json["detail"] == "already_yours"
    assert [m for m, _ in appwrite.requests if m != "GET"] == []  # decided on the session before taking a slot
    assert agent_row(appwrite, "agent-alice")["load"] == 1
    assert not [r for r in rows(appwrite, "agents") if r["agentId"] == "agent-bob"]


# --- the queue the visitor sees ------------------------------------------------------------------------------

def test_every_answer_a_waiting_visitor_reads_carries_the_queue(team, appwrite):
    created = execute("create-session", {})
    assert created.json["queue"] is None  # not waiting
    ahead, _ = waiting_visitor(team)
    w, answer = waiting_visitor(team)
    # Nobody available: no estimate. As of when they were counted: the escalation's read of the line, its row's at.
    escalated = parse_time(row(appwrite, "signals", "queue")["at"])
    assert answer["session"]["queue"] == {"position": 1, "waiting": 2, "availableAgents": 0,
                                          "expectedWaitSeconds": None, "asOf": iso(escalated)}
    beat = execute("touch-session", {"sessionId": w.session_id}, token=w.token).json["session"]["queue"]
    said = w.say("still there?").json["session"]["queue"]
    polled = execute("touch-session", method="GET", path=f"/messages?sessionId={w.session_id}",
                     token=w.token).json["session"]["queue"]
    assert beat == said == polled == answer["session"]["queue"]
    bot = execute("touch-session", {"sessionId": w.session_id, "message": {"role": "bot", "text": "one moment"}},
                  secret=BOT_SECRET)
    assert bot.json["session"]["queue"] is None  # the bot never shows it: it costs nothing there
    execute("close-session", {"sessionId": ahead.session_id}, token=ahead.token)
    assert w.say("and now?").json["session"]["queue"]["position"] == 1  # as of the minute's last pass
    execute("list-sessions", trigger="schedule")
    assert w.say("and now?").json["session"]["queue"]["position"] == 0


def test_the_expected_wait_follows_the_recent_rate_and_is_null_when_nobody_is_available(team, appwrite):
    capacity("agent-alice", 1)
    availability("agent-alice", "available")
    for _ in range(3):  # three sessions taken from the queue in the window, each closed
        w, answer = waiting_visitor(team)
        assert answer["session"]["assignedAgent"] == "agent-alice"
        team.tick(60)
        availability("agent-alice")  # her console's heartbeat
        execute("close-session", {"sessionId": w.session_id}, user="agent-alice")
    busy, _ = waiting_visitor(team)  # alice takes it: she is full again
    queue = [waiting_visitor(team)[1]["session"]["queue"] for _ in range(2)]
    # 4 taken in the last 30 minutes: one every 450 s; position 0 needs 1, position 1 needs 2
    assert [q["expectedWaitSeconds"] for q in queue] == [450, 900]
    availability("agent-alice", "offline")
    assert waiting_visitor(team)[1]["session"]["queue"]["expectedWaitSeconds"] is None


def test_the_queue_costs_the_same_whatever_its_length(team, appwrite):
    availability("agent-alice", "away")
    def polled_cost(w: Widget) -> int:
        appwrite.reset_counts()
        answer = execute("touch-session", method="GET", path=f"/messages?sessionId={w.session_id}", token=w.token)
        assert answer.json["session"]["queue"] is not None
        return len(appwrite.requests)
    few = [waiting_visitor(team)[0] for _ in range(3)]
    cost_few = polled_cost(few[-1])
    many = [waiting_visitor(team)[0] for _ in range(40)]
    # The session, its page and the queue's row (issue 20: nothing counted on a poll).
    assert polled_cost(many[-1]) == cost_few == 3
    availability("agent-alice", "available")
    capacity("agent-alice", 0)
    execute("list-sessions", trigger="schedule")  # the minute's pass: someone is available now
    assert polled_cost(many[-1]) == 3
    polled = execute("touch-session", method="GET", path=f"/messages?sessionId={many[-1].session_id}",
                     token=many[-1].token).json["session"]["queue"]
    assert (polled["waiting"] - polled["position"], polled["availableAgents"]) == (1, 1)  # the last in line


# --- the repair ---------------------------------------------------------------------------------------------------

def test_the_repair_sets_a_load_left_one_high_back_to_the_sessions_held(team, appwrite):
    availability("agent-alice", "available")
    w, _ = waiting_visitor(team)
    # A crash between a slot and its session write (or a lost answer) leaves a slot nobody uses.
    appwrite.engine.increment_row_column("chat", "agents", agent_row(appwrite, "agent-alice")["$id"], "load", 1)
    assert agent_row(appwrite, "agent-alice")["load"] == 2 and load_violations(appwrite) == []
    recent = execute("list-sessions", {}, path="/recount", secret=ADMIN_SECRET)
    assert recent.json["agentLoads"] == {"checked": 1, "repaired": 0, "unsettled": 1}  # moved under a minute ago
    repaired = execute("list-sessions", {"settleSeconds": 0}, path="/recount", secret=ADMIN_SECRET)
    assert repaired.json["agentLoads"] == {"checked": 1, "repaired": 1, "unsettled": 0}
    assert agent_row(appwrite, "agent-alice")["load"] == 1
    assert row(appwrite, "sessions", w.session_id)["assignedAgent"] == "agent-alice"


def test_auto_assignment_costs_what_docs_reliability_says(team, appwrite):
    capacity("agent-alice", 1)
    availability("agent-alice", "available")
    warm = waiting_visitor(team)[0]  # her slots and presence rows exist now, as in steady state
    execute("close-session", {"sessionId": warm.session_id}, user="agent-alice")
    first, second = Widget(), Widget()
    appwrite.reset_counts()
    assert execute("escalate", {"sessionId": first.session_id}, token=first.token).json["session"]["assignedAgent"]
    # read, the guests' escalation budget, the agent rows (alice is free: no queue figures), write (escalated), the
    # waiting list (signed-in visitors' first, then guests'), her slot, the assigning write, lastAssignedAt; a
    # signal row after each of the two session writes, the second with the queue's row and the line read for it
    assert len(appwrite.requests) == 12, appwrite.requests
    execute("escalate", {"sessionId": second.session_id}, token=second.token)
    appwrite.reset_counts()
    execute("close-session", {"sessionId": first.session_id}, user="agent-alice")
    # read, release stamp, write (closed), her slot back; then the same six as above for the next waiter; a
    # signal row after each session write, the second with the queue's row and the line read for it
    assert len(appwrite.requests) == 13, appwrite.requests
    assert row(appwrite, "sessions", second.session_id)["assignedAgent"] == "agent-alice"


def test_sessions_held_from_before_get_their_slots_at_the_next_pass(team, appwrite, monkeypatch):
    """An upgrade: sessions assigned before the agents table existed. The minute's pass gives the agent the load
    they hold, so auto-assignment counts them against the capacity."""
    w, _ = waiting_visitor(team)
    assert claim(w.session_id, "agent-alice").status == 200
    appwrite.engine.delete_row("chat", "agents", agent_row(appwrite, "agent-alice")["$id"])  # as before the upgrade
    assert load_violations(appwrite)
    assert execute("list-sessions", trigger="schedule").json["agentLoadsRepaired"] == 1
    assert agent_row(appwrite, "agent-alice")["load"] == 1 and load_violations(appwrite) == []


# --- side effects follow the write that decided them (issue 18) ----------------------------------------------------

def _lose_the_answer_then(appwrite, action) -> list:
    """The next session write lands but its answer is lost; before the writer reads the row back to find out,
    `action()` runs to its end. Returns the action's result."""
    state = {"lost": False, "busy": False}
    results: list = []

    def hook(index: int, method: str, path: str) -> str | None:
        if state["busy"] or results:
            return None
        if not state["lost"]:
            if method == "PATCH" and "/tables/sessions/rows/" in path:
                state["lost"] = True
                return "applied_timeout"
            return None
        if method == "GET" and "/tables/sessions/rows/" in path:  # the read-back
            state["busy"] = True
            try:
                results.append(action())
            finally:
                state["busy"] = False
        return None
    appwrite.fault = hook
    return results


def test_a_claim_whose_answer_was_lost_does_not_free_a_slot_the_visitors_close_freed(team, appwrite):
    """Alice holds one chat and claims a second; the claim lands, its answer is lost, and the visitor closes that
    chat before the claim reads the row back. The close freed her slot; the claim must not free it again."""
    held, _ = waiting_visitor(team)
    assert claim(held.session_id, "agent-alice").status == 200
    second, _ = waiting_visitor(team)
    closed = _lose_the_answer_then(appwrite, lambda: execute("close-session", {"sessionId": second.session_id},
                                                             token=second.token))
    answer = claim(second.session_id, "agent-alice")
    appwrite.fault = None
    assert closed and closed[0].status == 200, closed
    assert answer.status == 200 and answer.json["changed"] is True, answer
    assert row(appwrite, "sessions", second.session_id)["status"] == "closed"
    assert agent_row(appwrite, "agent-alice")["load"] == 1  # the one she still holds
    assert load_violations(appwrite) == [] and violations(appwrite) == []


def test_a_transfer_whose_answer_was_lost_does_not_free_the_receivers_slot_twice(team, appwrite):
    """Alice transfers a chat to Bob, who already holds one; the transfer lands, its answer is lost, and Bob closes
    the chat before the transfer reads the row back: Bob's load counts the one chat he still holds."""
    bobs, _ = waiting_visitor(team)
    assert claim(bobs.session_id, "agent-bob").status == 200
    moving, _ = waiting_visitor(team)
    assert claim(moving.session_id, "agent-alice").status == 200
    closed = _lose_the_answer_then(appwrite, lambda: execute("close-session", {"sessionId": moving.session_id},
                                                             user="agent-bob"))
    answer = execute("assign-agent", {"sessionId": moving.session_id, "agentId": "agent-bob"}, path="/transfer",
                     user="agent-alice")
    appwrite.fault = None
    assert closed and closed[0].status == 200, closed
    assert answer.status == 200 and answer.json["changed"] is True, answer
    assert agent_row(appwrite, "agent-bob")["load"] == 1 and agent_row(appwrite, "agent-alice")["load"] == 0
    assert load_violations(appwrite) == [] and violations(appwrite) == []



def _full_then_one_handed_back(team, appwrite) -> Widget:
    availability("agent-alice", "available")
    handed_back, _ = waiting_visitor(team)
    waiting_visitor(team)
    assert agent_row(appwrite, "agent-alice")["load"] == 2
    team.tick()
    assert execute("assign-agent", {"sessionId": handed_back.session_id}, path="/unassign",
                   user="agent-alice").status == 200
    assert agent_row(appwrite, "agent-alice")["load"] == 1
    return handed_back


def test_a_session_handed_back_does_not_hold_up_the_next_waiter(team, appwrite):
    """Alice, full, hands one chat back: it waits out her cool-off, but the visitor behind it is hers at once, not
    five minutes later."""
    handed_back = _full_then_one_handed_back(team, appwrite)
    _, answer = waiting_visitor(team)
    assert answer["session"]["assignedAgent"] == "agent-alice", answer
    assert row(appwrite, "sessions", handed_back.session_id)["needsHuman"] is True  # still in her cool-off
    assert agent_row(appwrite, "agent-alice")["load"] == 2 and load_violations(appwrite) == []


def test_the_minute_pass_looks_behind_a_session_handed_back(team, appwrite, monkeypatch):
    handed_back = _full_then_one_handed_back(team, appwrite)
    monkeypatch.setenv("AUTO_ASSIGN", "off")
    behind, _ = waiting_visitor(team)
    monkeypatch.setenv("AUTO_ASSIGN", "on")  # as if the escalation's pump had failed
    assert execute("list-sessions", trigger="schedule").json["autoAssigned"] == 1
    assert row(appwrite, "sessions", behind.session_id)["assignedAgent"] == "agent-alice"
    assert row(appwrite, "sessions", handed_back.session_id)["needsHuman"] is True
    assert load_violations(appwrite) == []


def test_a_claim_that_lands_late_does_not_free_a_slot_the_visitors_close_freed(team, appwrite, monkeypatch):
    """The late-nonce path of consistency.commit: the claim's write times out and is not there when the claim reads
    the row back (so it decides again), then lands; the visitor closes the chat; the claim's next read finds its
    own write in the log, with the row closed since. The slot the close freed is not freed again."""
    held, _ = waiting_visitor(team)
    assert claim(held.session_id, "agent-alice").status == 200
    second, _ = waiting_visitor(team)
    real_update, real_get = Sessions.update, Sessions.get
    state: dict = {"late": None, "closed": None}

    def update_session(self, before, after):
        if state["late"] is None and after.assigned_agent == "agent-alice" and before.id == second.session_id:
            state["late"] = (self, before, after)  # on its way, not landed yet
            raise UpstreamUnavailable("timed out")
        return real_update(self, before, after)

    def get_session(self, session_id):
        row_now = real_get(self, session_id)
        if state["late"] is not None and state["closed"] is None and session_id == second.session_id:
            state["closed"] = "pending"
            writer, before, after = state["late"]
            real_update(writer, before, after)  # it lands now, after the read-back saw the row unchanged
            state["closed"] = execute("close-session", {"sessionId": second.session_id}, token=second.token)
        return row_now
    monkeypatch.setattr(Sessions, "update", update_session)
    monkeypatch.setattr(Sessions, "get", get_session)
    answer = claim(second.session_id, "agent-alice")
    monkeypatch.undo()
    assert state["closed"].status == 200 and state["closed"].json["closed"] is True, state["closed"]
    assert answer.status == 200 and answer.json["changed"] is True, answer
    assert row(appwrite, "sessions", second.session_id)["status"] == "closed"
    assert agent_row(appwrite, "agent-alice")["load"] == 1  # the one she still holds
    assert load_violations(appwrite) == [] and violations(appwrite) == []
