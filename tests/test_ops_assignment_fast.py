"""Fast unit tests of who holds a session, the queue, the counters and the sweep, on the in-memory gateway
(tests/fakes/): no SDK request, no HTTP, no SQLite, no sleep. GIVEN a state, WHEN an operation runs, THEN what it
left; one behaviour each."""

from __future__ import annotations

import pytest
from chat_core.domain.inputs import Assignment, NewMessage, SessionRequest
from chat_core.domain.model import Message
from chat_core.errors import Conflict, UpstreamUnavailable
from chat_core.ops import assignment, counters, escalation, queueing, schedule, sessions, sweep
from fakes import fixtures
from fakes.world import World

no_backoff, world = fixtures.no_backoff, fixtures.world  # the fast tests' fixtures (fakes/fixtures.py)


def waiting(world: World, caller=None) -> sessions.Started:
    """A visitor's session in the human queue."""
    started = world.started(caller)
    escalation.escalate(world.core(caller or world.visitor()), SessionRequest(started.session.id, started.token,
                                                                              reason="help"), started.token)
    return started


def claim(world: World, agent_id: str, session_id: str):
    return assignment.claim(world.core(world.agent(agent_id)), Assignment(session_id))


# --- assignment --------------------------------------------------------------------------------------

def test_an_agent_claims_a_waiting_session_and_takes_a_slot(world):
    started = waiting(world)
    claimed, _ = claim(world, "alice", started.session.id)
    assert (claimed.status, claimed.assigned_agent, claimed.needs_human) == ("agent_assigned", "alice", False)
    assert world.load("alice") == 1


def test_of_two_racing_claims_one_wins_and_the_loser_gives_its_slot_back(world):
    started = waiting(world)
    world.gw.before("sessions.update", lambda: claim(world, "bob", started.session.id))  # bob writes first
    with pytest.raises(Conflict) as lost:
        claim(world, "alice", started.session.id)
    assert lost.value.code == "already_assigned" and world.session(started.session.id).assigned_agent == "bob"
    assert (world.load("alice"), world.load("bob")) == (0, 1)


def test_a_claim_at_capacity_is_refused_and_takes_no_slot():
    world = World(agent_capacity=1)
    first, second = waiting(world), waiting(world)
    claim(world, "alice", first.session.id)
    with pytest.raises(Conflict) as full:
        claim(world, "alice", second.session.id)
    assert full.value.code == "at_capacity" and world.load("alice") == 1
    assert world.session(second.session.id).needs_human


def test_a_transfer_moves_the_slot_with_the_session(world):
    started = waiting(world)
    claim(world, "alice", started.session.id)
    world.agent("bob")
    moved, _ = assignment.transfer(world.core(world.agent("alice")), Assignment(started.session.id, "bob"))
    assert moved.assigned_agent == "bob" and (world.load("alice"), world.load("bob")) == (0, 1)


def test_an_unassigned_session_goes_back_to_the_queue_and_frees_the_slot(world):
    started = waiting(world)
    claim(world, "alice", started.session.id)
    back, _ = assignment.unassign(world.core(world.agent("alice")), Assignment(started.session.id))
    assert (back.status, back.needs_human, back.escalated_by) == ("active", True, "agent:alice")
    assert world.load("alice") == 0


def test_a_claim_whose_outcome_is_unknown_keeps_its_slot(world):
    started = waiting(world)
    world.gw.fail("sessions.update", lost=True)  # its answer lost, and the read that would tell fails too
    world.gw.fail("sessions.get", after=1)
    with pytest.raises(UpstreamUnavailable):
        claim(world, "alice", started.session.id)
    assert world.load("alice") == 1  # the outcome unknown: one high is safe, never low (the repair sets it back)


# --- escalation and auto-assignment ------------------------------------------------------------------

def test_an_escalation_goes_to_the_available_agent_at_once(world):
    world.available("alice")
    started = waiting(world)
    session = world.session(started.session.id)
    assert (session.assigned_agent, session.assigned_by, world.load("alice")) == ("alice", "auto", 1)


def test_auto_assignment_stops_at_capacity_and_the_next_one_waits():
    world = World(agent_capacity=1)
    world.available("alice")
    first, second = waiting(world), waiting(world)
    assert world.session(first.session.id).assigned_agent == "alice"
    assert world.session(second.session.id).needs_human and world.load("alice") == 1


def test_asking_twice_changes_nothing_and_spends_no_budget(world):
    started = waiting(world)
    before = sum(row["used"] for row in world.gw.limits.table.rows.values())
    again = escalation.escalate(world.core(world.visitor()), SessionRequest(started.session.id, started.token),
                                started.token)
    assert again.detail is not None and sum(row["used"] for row in world.gw.limits.table.rows.values()) == before


def test_the_message_event_escalates_a_row_stored_without_touch_session(world):
    started = world.started()
    world.gw.messages.create(Message("m_1", started.session.id, "user", "I want a human agent", world.now), [])
    done = escalation.escalate_from_event(world.core(world.system()),
                                          "databases.chat.tables.messages.rows.m_1.create", {"$id": "m_1"})
    assert done["escalated"] and world.session(started.session.id).escalated_by == "message:m_1"


def test_an_event_that_is_not_a_new_message_is_ignored(world):
    done = escalation.escalate_from_event(world.core(world.system()), "users.u.create", {"$id": "u"})
    assert done == {"ignored": "not a new chat message"} and world.gw.calls == []


# --- the queue ---------------------------------------------------------------------------------------

def test_a_signed_in_visitor_waits_ahead_of_guests_who_asked_earlier(world):
    guest = waiting(world)
    world.later(seconds=5)
    member_caller = world.user("visitor-vic")
    member = waiting(world, member_caller)
    core = world.core(world.visitor())
    assert queueing.queue_of(world.core(member_caller), world.session(member.session.id), look=True).position == 0
    told = queueing.queue_of(core, world.session(guest.session.id), look=True)  # a poll: from the queue's row
    assert (told.position, told.waiting, told.available_agents, told.expected_wait_seconds) == (1, 2, 0, None)


# --- counters ----------------------------------------------------------------------------------------

def busy(world: World) -> None:
    """Sessions in every state: open, waiting, assigned, closed and rated."""
    world.started()
    waiting(world)
    claim(world, "alice", waiting(world).session.id)
    done = world.started()
    sessions.close(world.core(world.visitor()), SessionRequest(done.session.id, done.token), done.token)


def test_the_summary_is_exact_before_any_fold(world):
    busy(world)
    assert counters.summary(world.core(world.admin())) == world.counted()


def test_a_fold_moves_every_session_into_the_counters(world):
    busy(world)
    moved = counters.fold(world.core(world.system()))
    assert moved == 4 and world.gw.sessions.pending(counters.folded_batch(world.core(world.admin()))) == []
    assert counters.summary(world.core(world.admin())) == world.counted()


def test_a_fold_cut_short_is_finished_by_the_next_and_the_summary_stays_exact(world):
    busy(world)
    world.gw.fail("counters.write", after=1)  # the agent's row written, the global row not
    with pytest.raises(UpstreamUnavailable):
        counters.fold(world.core(world.system()))
    assert counters.summary(world.core(world.admin())) == world.counted()
    counters.fold(world.core(world.system()))
    assert not any(s.ledger.dirty for s in world.gw.sessions.rows.values())
    assert counters.summary(world.core(world.admin())) == world.counted()


def test_a_second_fold_while_one_holds_the_lease_does_nothing(world):
    busy(world)
    world.gw.jobs.lease(counters.FOLD_JOB, world.now, counters.FOLD_LEASE)
    assert counters.fold(world.core(world.system())) is None


# --- the sweep ---------------------------------------------------------------------------------------

def test_the_sweep_closes_an_idle_session_and_frees_its_agents_slot(world):
    started = waiting(world)
    claim(world, "alice", started.session.id)
    world.later(minutes=31)
    result = sweep.close_idle(world.core(world.system()))
    assert result["closed"] == 1 and world.session(started.session.id).close_reason == "idle"
    assert world.load("alice") == 0


def test_an_empty_session_is_closed_as_empty_then_deleted_once_its_trail_moved(world):
    started = world.started()
    world.later(minutes=11)
    assert sweep.close_idle(world.core(world.system()))["closedAsEmpty"] == 1
    assert world.session(started.session.id).close_reason == "empty"
    schedule.minute(world.core(world.system()))  # the fold, and the trail's sweep: its empty_close moved
    world.later(minutes=1)
    assert sweep.close_idle(world.core(world.system()))["deleted"] == 1
    assert started.session.id not in world.gw.sessions.rows


def test_the_sweep_starts_at_most_once_a_minute(world):
    sweep.close_idle(world.core(world.system()))
    world.later(seconds=30)
    assert sweep.close_idle(world.core(world.system()))["skipped"] == "ran_recently"


def test_a_session_with_a_message_is_never_closed_as_empty(world):
    started = world.started()
    req = SessionRequest(started.session.id, started.token, message=NewMessage("user", "hi", None, False))
    sessions.post(world.core(world.visitor()), req, started.token)
    world.later(minutes=11)
    assert sweep.close_idle(world.core(world.system()))["closedAsEmpty"] == 0
    assert world.session(started.session.id).status == "active"
