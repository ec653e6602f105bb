"""Properties of the rules and of the counters, for any input hypothesis finds.

- The summary from counter sums equals the summary counted from the sessions themselves.
- A reader's sum (counter rows + the sessions they do not hold yet) equals the truth for any state a fold can leave,
  whichever rows a fold cut short had written.
- For any sequence of operations through the functions (messages, escalations, claims, transfers, unassigns,
  closes, ratings at close and after, folds, folds cut short by a failing write, repairs, summaries), after every
  step: the summary (ratings included) equals a count of the rows, the counter rows hold what the sessions' ledgers
  say, every messageCount equals its stored messages, and a session's timeline holds every transition it made.

PROPERTY_EXAMPLES sets the examples per property (default 25).
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from chat_core.domain import rules
from chat_core.domain.model import ACTIVE, AGENT_ASSIGNED, CLOSED, CounterRow, Ledger, Session, Tally
from chat_core.ops import counters
from conftest import ADMIN_SECRET, BOT_SECRET, execute, fake_appwrite
from hardening_support import violations
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("PROPERTY_EXAMPLES", "25"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
AGENTS = ("agent-alice", "agent-bob")
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)

tallies = st.builds(Tally, status=st.sampled_from((ACTIVE, AGENT_ASSIGNED, CLOSED)), needs_human=st.booleans(),
                    agent=st.sampled_from((None, *AGENTS)), assignments=st.integers(0, 5),
                    waited_seconds=st.integers(0, 10_000), rating=st.integers(0, 5))


def session_of(number: int, tally: Tally) -> Session:
    """A session in the state `tally` describes (as the rules would leave it)."""
    status, agent = tally.status, tally.agent
    if status == AGENT_ASSIGNED and agent is None:
        agent = AGENTS[0]
    if status == ACTIVE:
        agent = None
    return Session(id=f"s_{number}", status=status, last_seen=NOW, created_at=NOW, updated_at="", token_hash="",
                   needs_human=tally.needs_human and status == ACTIVE, assigned_agent=agent,
                   assignments=tally.assignments, waited_seconds=tally.waited_seconds,
                   rating_score=(tally.rating or None) if status == CLOSED else None)  # only a closed one is rated


def naive_summary(sessions: list[Session]) -> dict:
    by_status = Counter(s.status for s in sessions)
    agents = Counter(s.assigned_agent for s in sessions if s.status == AGENT_ASSIGNED)
    assignments = sum(s.assignments for s in sessions)
    return {"total": len(sessions), "byStatus": {k: by_status.get(k, 0) for k in (ACTIVE, AGENT_ASSIGNED, CLOSED)},
            "needsHuman": sum(1 for s in sessions if s.status == ACTIVE and s.needs_human),
            "agents": dict(sorted(agents.items())), "assignments": assignments,
            "averageSecondsToAssignment": round(sum(s.waited_seconds for s in sessions) / assignments, 1)
            if assignments else None,
            "ratings": {**naive_ratings(sessions), "byAgent": {
                agent: naive_ratings([s for s in sessions if s.assigned_agent == agent])
                for agent in sorted({s.assigned_agent for s in sessions if s.rating_score and s.assigned_agent})}}}


def naive_ratings(sessions: list[Session]) -> dict:
    scores = [s.rating_score for s in sessions if s.rating_score]
    return {"count": len(scores), "average": round(sum(scores) / len(scores), 2) if scores else None}


@SETTINGS
@given(st.lists(tallies, max_size=30))
def test_the_summary_from_counter_sums_equals_the_summary_counted_from_the_sessions(states):
    sessions = [session_of(i, t) for i, t in enumerate(states)]
    assert rules.summarize(rules.truth(sessions)) == naive_summary(sessions)


@SETTINGS
@given(st.lists(st.tuples(tallies, st.one_of(st.none(), tallies), st.one_of(st.none(), tallies), st.booleans()),
                max_size=20),
       st.integers(0, 3), st.sets(st.sampled_from((None, *AGENTS))))
def test_a_readers_sum_is_the_truth_whatever_a_fold_left(states, batch, written):
    """Sessions in any ledger state: counted as something, maybe marked by the running fold (which has written the
    rows in `written` so far). The counter rows hold exactly what the ledger says; the reader adds the rest."""
    sessions, expected = [], {}
    for number, (now, counted, origin, in_running_fold) in enumerate(states):
        session = session_of(number, now)
        ledger = Ledger(counted=counted, fold_from=origin if in_running_fold else None,
                        fold_batch=batch + 1 if in_running_fold else batch)
        session = replace(session, ledger=replace(ledger, dirty=rules.tally(session) != counted))
        sessions.append(session)
        for key in {*rules.contribution(session.ledger.counted), *rules.contribution(session.ledger.fold_from)}:
            holds = session.ledger.counted if not in_running_fold or key in written else session.ledger.fold_from
            rules.add(expected, {key: rules.contribution(holds).get(key, {})})
    rows = [CounterRow(key, {name: expected.get(key, {}).get(name, 0) for name in rules.COUNTER_COLUMNS},
                       batch=batch + 1 if key in written else batch, updated_at="x")
            for key in {None, *AGENTS}]
    pending = [s for s in sessions if s.ledger.dirty or s.ledger.fold_batch > batch]
    summed = counters.sums(rows, pending, batch)
    assert rules.summarize(summed) == rules.summarize(rules.truth(sessions))


@SETTINGS
@given(tallies, tallies)
def test_a_difference_moves_one_contribution_onto_the_other(old, new):
    moved = rules.add(rules.add({}, rules.contribution(old)), rules.difference(new, old))
    want = rules.contribution(new)
    assert {k: {n: v for n, v in values.items() if v} for k, values in moved.items() if any(values.values())} == \
        {k: {n: v for n, v in values.items() if v} for k, values in want.items() if any(values.values())}


# --- any sequence of operations, through the functions --------------------------------------------------------

OPERATIONS = ("create", "message", "ask", "bot_handoff", "escalate", "claim", "transfer", "unassign", "close",
              "close_and_rate", "rate", "fold", "fold_cut_short", "repair", "summary", "heartbeat")
steps = st.lists(st.tuples(st.sampled_from(OPERATIONS), st.integers(0, 4), st.integers(0, 1)), min_size=1,
                 max_size=25)


def _run(appwrite, widgets: list, operation: str, which: int, agent_index: int):
    agent = AGENTS[agent_index]
    if operation == "create" or (not widgets and operation not in ("fold", "fold_cut_short", "repair", "summary")):
        result = execute("create-session", {})
        widgets.append((result.json["sessionId"], result.json["token"]))
        return result
    session_id, token = widgets[which % len(widgets)] if widgets else ("s_none", "")
    say = {"sessionId": session_id}
    if operation == "message":
        return execute("touch-session", {**say, "message": {"text": "where is my parcel?"}}, token=token)
    if operation == "ask":
        return execute("touch-session", {**say, "message": {"text": "a real person please"}}, token=token)
    if operation == "bot_handoff":
        return execute("touch-session", {**say, "message": {"role": "bot", "text": "handing over", "handoff": True}},
                       secret=BOT_SECRET)
    if operation == "heartbeat":
        return execute("touch-session", say, token=token)
    if operation == "escalate":
        return execute("escalate", say, token=token)
    if operation == "claim":
        return execute("assign-agent", say, path="/claim", user=agent)
    if operation == "transfer":
        return execute("assign-agent", {**say, "agentId": AGENTS[1 - agent_index]}, path="/transfer",
                       secret=ADMIN_SECRET)
    if operation == "unassign":
        return execute("assign-agent", say, path="/unassign", secret=ADMIN_SECRET)
    if operation == "close":
        return execute("close-session", say, token=token)
    if operation == "close_and_rate":
        return execute("close-session", {**say, "rating": {"score": 1 + which}}, token=token)
    if operation == "rate":
        return execute("close-session", {**say, "rating": {"score": 5 - which, "comment": "thanks"}},
                       path="/rate", token=token)
    if operation == "fold":
        return execute("list-sessions", trigger="schedule")
    if operation == "fold_cut_short":
        appwrite.fail_next("503", match=lambda method, path: method != "GET" and "/tables/counters/" in path,
                           after=agent_index)
        try:
            return execute("list-sessions", trigger="schedule")
        finally:
            appwrite.clear_faults()
    if operation == "repair":
        return execute("list-sessions", {}, path="/recount", secret=ADMIN_SECRET)
    return execute("list-sessions", method="GET", path="/?limit=1", secret=ADMIN_SECRET)


@pytest.fixture
def secrets_set(monkeypatch):
    monkeypatch.setenv("APPWRITE_FUNCTION_API_ENDPOINT", "http://appwrite.test/v1")
    monkeypatch.setenv("APPWRITE_FUNCTION_PROJECT_ID", "test-project")
    monkeypatch.setenv("ADMIN_SECRET", ADMIN_SECRET)
    monkeypatch.setenv("BOT_SECRET", BOT_SECRET)


@SETTINGS
@given(steps)
@example([("create", 0, 0), ("ask", 0, 0), ("claim", 0, 0), ("fold_cut_short", 0, 1), ("transfer", 0, 0),
          ("fold", 0, 0), ("summary", 0, 0)])  # a fold cut after the agent's row, finished by the next
@example([("create", 0, 0), ("escalate", 0, 0), ("claim", 0, 1), ("close", 0, 0), ("fold_cut_short", 0, 0),
          ("repair", 0, 0), ("create", 1, 0), ("message", 1, 0), ("summary", 0, 0)])
def test_for_any_sequence_of_operations_the_books_balance_after_every_step(secrets_set, sequence):
    with fake_appwrite() as appwrite:
        widgets: list = []
        for operation, which, agent_index in sequence:
            result = _run(appwrite, widgets, operation, which, agent_index)
            assert result.status < 500 or (operation == "fold_cut_short" and result.status == 503), \
                (operation, result)
            found = violations(appwrite)
            assert found == [], (operation, found)
            if operation == "summary":
                summary = result.json["summary"]
                assert summary["total"] == len(widgets)


def test_a_tally_ignores_a_stale_waiting_flag_outside_the_queue():
    """needsHuman counts only while active (the rules clear it on claim and close; a row could still say so)."""
    closed = replace(session_of(0, Tally(CLOSED, False, None, 0, 0)), needs_human=True)
    assert rules.contribution(rules.tally(closed))[None]["waiting"] == 0
    assert rules.idle_cutoff(NOW, 30) == NOW - timedelta(minutes=30)
