"""Fast unit tests of a visitor's session operations on the in-memory gateway (tests/fakes/): no SDK request, no
HTTP, no SQLite, no sleep. Each test is one behaviour: GIVEN a state, WHEN an operation runs, THEN what it left.
What the fake stands for is held to the real gateway by tests/test_gateway_contract.py."""

from __future__ import annotations

import pytest
from chat_core.domain.inputs import NewMessage, Rating, SessionRequest
from chat_core.errors import Conflict, Forbidden, TooManyRequests, UpstreamUnavailable
from chat_core.ops import sessions
from fakes import fixtures
from fakes.world import World

no_backoff, world = fixtures.no_backoff, fixtures.world  # the fast tests' fixtures (fakes/fixtures.py)


def say(world: World, started: sessions.Started, text: str, client_id: str | None = None) -> sessions.Touched:
    req = SessionRequest(started.session.id, started.token, message=NewMessage("user", text, client_id, False))
    return sessions.post(world.core(world.visitor(started.token)), req, started.token)


def used(world: World) -> int:
    """Budget uses counted this minute, all budgets together."""
    return sum(row["used"] for row in world.gw.limits.table.rows.values())


# --- create and heartbeat ----------------------------------------------------------------------------

def test_a_started_session_is_open_and_only_its_tokens_hash_is_stored(world):
    started = world.started()
    stored = world.session(started.session.id)
    assert stored.status == "active" and stored.message_count == 0
    assert started.token not in stored.token_hash and stored.ledger.dirty  # the next fold counts it


def test_a_guest_past_the_session_budget_starts_nothing():
    world = World(guest_sessions_per_minute=1)
    world.started()
    with pytest.raises(TooManyRequests) as refused:
        world.started()
    assert refused.value.code == "too_many_sessions" and len(world.gw.sessions.rows) == 1


def test_a_session_whose_create_answer_was_lost_is_taken_back(world):
    world.gw.fail("sessions.create", lost=True)
    with pytest.raises(UpstreamUnavailable):
        world.started()
    assert world.gw.sessions.rows == {}


def test_a_heartbeat_moves_last_seen(world):
    started = world.started()
    world.later(minutes=3)
    touched = sessions.heartbeat(world.core(world.visitor()), SessionRequest(started.session.id, started.token),
                                 started.token)
    assert touched.session.last_seen == world.now == world.session(started.session.id).last_seen


def test_a_heartbeat_from_someone_else_spends_no_budget(world):
    started = world.started()
    before = used(world)
    with pytest.raises(Forbidden):
        sessions.heartbeat(world.core(world.visitor()), SessionRequest(started.session.id, "forged"), "forged")
    assert used(world) == before


def test_a_write_whose_answer_was_lost_is_recognised_by_the_write_log(world):
    started = world.started()
    world.gw.fail("sessions.update", lost=True)
    touched = sessions.heartbeat(world.core(world.visitor()), SessionRequest(started.session.id, started.token),
                                 started.token)
    assert touched.session.last_seen == world.now and world.gw.count("sessions.update") == 1  # not written twice


# --- messages ----------------------------------------------------------------------------------------

def test_a_message_is_admitted_then_stored(world):
    started = world.started()
    touched = say(world, started, "hello")
    assert touched.session.message_count == 1 and touched.message.text == "hello" and not touched.duplicate
    assert touched.message.admission == world.session(started.session.id).ledger.write_log[-1]


def test_a_message_asking_for_a_person_puts_the_session_in_the_queue(world):
    started = world.started()
    touched = say(world, started, "can I talk to a human please")
    assert touched.session.needs_human and touched.session.escalated_by == f"message:{touched.message.id}"


def test_a_message_that_cannot_be_stored_is_taken_back_with_its_budget(world):
    started = world.started()
    before = used(world)
    world.gw.fail("messages.create")
    world.gw.fail("messages.create")  # and its one retry
    with pytest.raises(UpstreamUnavailable):
        say(world, started, "hello")
    assert world.session(started.session.id).message_count == 0 and world.gw.messages.rows == {}
    assert used(world) == before


def test_the_same_client_id_twice_is_one_message_counted_once(world):
    started = world.started()
    say(world, started, "hello", client_id="c1")
    again = say(world, started, "hello", client_id="c1")
    assert again.duplicate and again.session.message_count == 1 and len(world.gw.messages.rows) == 1


def test_the_flood_window_refuses_the_21st_message_of_a_minute(world):
    started = world.started()
    for n in range(20):
        say(world, started, f"m{n}")
    with pytest.raises(TooManyRequests):
        say(world, started, "one too many")
    assert world.session(started.session.id).message_count == 20 and len(world.gw.messages.rows) == 20


def test_a_message_into_a_session_closed_meanwhile_is_refused_and_stores_nothing(world):
    started = world.started()

    def visitor_closes():
        sessions.close(world.core(world.visitor()), SessionRequest(started.session.id, started.token),
                       started.token)
    world.gw.before("sessions.update", visitor_closes)  # between the message's read and its admission
    with pytest.raises(Conflict) as refused:
        say(world, started, "hello")
    assert refused.value.code == "session_closed" and world.gw.messages.rows == {}


# --- close and rate ----------------------------------------------------------------------------------

def test_the_owner_closes_their_session(world):
    started = world.started()
    closed, noop = sessions.close(world.core(world.visitor()), SessionRequest(started.session.id, started.token,
                                                                               reason="bye"), started.token)
    assert (closed.status, closed.close_reason, noop) == ("closed", "bye", None)


def test_closing_twice_changes_nothing_the_second_time(world):
    started = world.started()
    req = SessionRequest(started.session.id, started.token)
    first, _ = sessions.close(world.core(world.visitor()), req, started.token)
    again, noop = sessions.close(world.core(world.visitor()), req, started.token)
    assert noop == "already_closed" and again.updated_at == first.updated_at


def test_a_closed_session_is_rated_once(world):
    started = world.started()
    req = SessionRequest(started.session.id, started.token, rating=Rating(5, "great"))
    sessions.close(world.core(world.visitor()), SessionRequest(started.session.id, started.token), started.token)
    rated = sessions.rate(world.core(world.visitor()), req, started.token)
    assert (rated.rating_score, rated.rating_comment) == (5, "great")
    with pytest.raises(Conflict) as refused:
        sessions.rate(world.core(world.visitor()), req, started.token)
    assert refused.value.code == "already_rated"


def test_an_open_session_cannot_be_rated(world):
    started = world.started()
    with pytest.raises(Conflict) as refused:
        sessions.rate(world.core(world.visitor()), SessionRequest(started.session.id, started.token,
                                                                  rating=Rating(4, None)), started.token)
    assert refused.value.code == "not_closed"
