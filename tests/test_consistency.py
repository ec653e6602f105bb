"""Writes decided on a stale read, replayed one interleaving at a time against the fake.

Each test holds one operation at a chosen Appwrite request, runs another operation to the end meanwhile, then lets
the first one go on (sometimes failing its held request). Every session write must be conditional on the state it
was decided on (chat_core.consistency), so the first operation must see what happened meanwhile and decide again.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from conftest import ADMIN_SECRET, BOT_SECRET, Widget, execute, row, rows
from hardening_support import violations

Match = Callable[[str, str], bool]


def session_write(method: str, path: str) -> bool:
    return method == "PATCH" and "/tables/sessions/rows/" in path


def message_create(method: str, path: str) -> bool:
    return method == "POST" and path.endswith("/tables/messages/rows")


def meanwhile(appwrite, match: Match, action: Callable[[], object], *, fault: str | None = None, times: int = 1,
              after: Match | None = None) -> list:
    """The first `times` requests matching `match` (only once a request matching `after` went out, if given) each
    wait while `action()` runs to its end, then proceed, or fail with `fault`. Returns the actions' results.
    Everything runs on the test's thread: the held request's own hook runs the other operation."""
    results: list = []
    state = {"busy": False, "armed": after is None}

    def hook(index: int, method: str, path: str) -> str | None:
        if state["busy"]:
            return None  # the other operation's own requests
        if not state["armed"]:
            state["armed"] = after(method, path)
            return None
        if len(results) >= times or not match(method, path):
            return None
        state["busy"] = True
        try:
            results.append(action())
        finally:
            state["busy"] = False
        return fault
    appwrite.fault = hook
    return results


def escalated() -> Widget:
    w = Widget()
    assert execute("escalate", {"sessionId": w.session_id, "reason": "billing"}, token=w.token).status == 200
    return w


def claimed(agent: str = "agent-alice") -> Widget:
    w = escalated()
    assert execute("assign-agent", {"sessionId": w.session_id}, path="/claim", user=agent).status == 200
    return w


def messages_of(appwrite, session_id: str) -> list[dict]:
    return [m for m in rows(appwrite, "messages") if m["sessionId"] == session_id]


# --- rules checked on a stale read ----------------------------------------------------------------------------

def test_a_message_racing_a_close_is_refused_and_nothing_is_stored(appwrite):
    w = Widget()
    closes = meanwhile(appwrite, session_write, lambda: execute("close-session", {"sessionId": w.session_id},
                                                                token=w.token))
    result = w.say("are you still there?")
    assert closes and closes[0].status == 200  # the interleaving happened
    assert (result.status, result.error) == (409, "session_closed"), result
    assert messages_of(appwrite, w.session_id) == []
    assert row(appwrite, "sessions", w.session_id)["messageCount"] == 0
    assert violations(appwrite) == []


def test_an_agent_reply_racing_a_transfer_away_is_refused(appwrite):
    w = claimed("agent-alice")
    moved = meanwhile(appwrite, session_write, lambda: execute(
        "assign-agent", {"sessionId": w.session_id, "agentId": "agent-bob"}, path="/transfer", secret=ADMIN_SECRET))
    reply = execute("touch-session", {"sessionId": w.session_id, "message": {"role": "agent", "text": "Alice here"}},
                    user="agent-alice")
    assert moved and moved[0].status == 200
    assert reply.status == 403, reply
    assert messages_of(appwrite, w.session_id) == []
    assert violations(appwrite) == []


def test_the_flood_window_holds_when_messages_race(appwrite, monkeypatch):
    monkeypatch.setenv("MAX_MESSAGES_PER_MINUTE", "1")
    w = Widget()
    other = meanwhile(appwrite, session_write, lambda: w.say("two"))
    first = w.say("one")
    assert other and other[0].status == 200  # the second message took the only place in the window
    assert (first.status, first.error) == (429, "rate_limited"), first
    assert [m["text"] for m in messages_of(appwrite, w.session_id)] == ["two"]
    assert violations(appwrite) == []


def test_a_close_decided_before_a_claim_landed_sees_the_claim(appwrite):
    """The visitor's close was decided on a waiting session; an agent claimed it meanwhile. The close decides again:
    the session is closed with the agent on it, and the counters move the agent's workload, not the queue's."""
    w = escalated()
    claims = meanwhile(appwrite, session_write, lambda: execute(
        "assign-agent", {"sessionId": w.session_id}, path="/claim", user="agent-bob"))
    closed = execute("close-session", {"sessionId": w.session_id}, token=w.token)
    assert claims[0].status == 200 and closed.status == 200
    stored = row(appwrite, "sessions", w.session_id)
    assert (stored["status"], stored["assignedAgent"]) == ("closed", "agent-bob")
    assert violations(appwrite) == []


# --- counts -------------------------------------------------------------------------------------------------

def test_a_count_write_that_failed_is_not_taken_for_another_that_landed(appwrite):
    """Message A's session write fails (not applied) while message B was counted in between. A must not take B's
    count for its own: it decides again, and both are stored and counted."""
    w = Widget()
    other = meanwhile(appwrite, session_write, lambda: w.say("B", id="b"), fault="503")
    first = w.say("A", id="a")
    assert other[0].status == 200
    assert first.status in (200, 503), first
    stored = messages_of(appwrite, w.session_id)
    assert row(appwrite, "sessions", w.session_id)["messageCount"] == len(stored)
    assert violations(appwrite) == []


def test_a_lost_answer_is_told_from_another_write_by_the_write_log(appwrite):
    """Claim A's write is applied but its answer lost, and a message is counted right after: the read-back finds
    A's nonce directly after the state A decided on, so A knows it landed (a count alone could not tell)."""
    w = escalated()
    claim_lost = {"done": False}

    def lose_the_claims_answer(index: int, method: str, path: str) -> str | None:
        if not claim_lost["done"] and session_write(method, path):
            claim_lost["done"] = True
            return "applied_timeout"
        return None
    appwrite.fault = lose_the_claims_answer
    result = execute("assign-agent", {"sessionId": w.session_id}, path="/claim", user="agent-alice")
    assert result.status == 200 and result.json["changed"] is True, result
    assert violations(appwrite) == []


# --- duplicates ---------------------------------------------------------------------------------------------

def test_a_duplicate_answer_points_at_a_row_that_stays(appwrite):
    """The first attempt stored its row, then failed; the retry answered meanwhile as a duplicate of that row. The
    row must still be there at the end (a message row, once stored, is never taken back)."""
    w = Widget()
    retry = meanwhile(appwrite, lambda m, p: True, lambda: w.say("hello", id="same"), fault="503",
                      after=message_create)
    first = w.say("hello", id="same")
    answers = [first, *retry]
    stored = {m["$id"] for m in messages_of(appwrite, w.session_id)}
    for answer in answers:
        if answer.status == 200:
            assert answer.json["message"]["messageId"] in stored, answer
    assert len(stored) == 1 and violations(appwrite) == []


def test_two_attempts_of_one_message_store_it_once_and_count_it_once(appwrite):
    w = Widget()
    second = meanwhile(appwrite, message_create, lambda: w.say("hello", id="twice"))
    first = w.say("hello", id="twice")
    assert second[0].status == first.status == 200
    assert {second[0].json["duplicate"], first.json["duplicate"]} == {True, False}
    assert second[0].json["message"]["messageId"] == first.json["message"]["messageId"]
    assert row(appwrite, "sessions", w.session_id)["messageCount"] == 1
    assert violations(appwrite) == []


# --- answers that tell the truth ------------------------------------------------------------------------------

ACTIONS = {
    "claim": lambda w: execute("assign-agent", {"sessionId": w.session_id}, path="/claim", user="agent-bob"),
    "close": lambda w: execute("close-session", {"sessionId": w.session_id}, token=w.token),
    "escalate": lambda w: execute("escalate", {"sessionId": w.session_id}, secret=BOT_SECRET),
}


@pytest.mark.parametrize("action", sorted(ACTIONS))
@pytest.mark.parametrize("fault", ["503", "timeout", "applied_timeout"])
def test_an_answer_never_says_nothing_changed_when_something_did(appwrite, action, fault):
    """Appwrite fails every request after the session's write: the answer and the row agree."""
    w = Widget() if action == "escalate" else escalated()
    before = row(appwrite, "sessions", w.session_id)
    wrote = {"yes": False}

    def fail_after_the_write(index: int, method: str, path: str) -> str | None:
        if wrote["yes"]:
            return fault
        wrote["yes"] = session_write(method, path)
        return None
    appwrite.fault = fail_after_the_write
    result = ACTIONS[action](w)
    appwrite.fault = None
    after = row(appwrite, "sessions", w.session_id)
    changed = {k: after[k] for k in ("status", "needsHuman", "assignedAgent")} != \
        {k: before[k] for k in ("status", "needsHuman", "assignedAgent")}
    assert result.status in (200, 503), result
    if result.status == 200:
        assert changed, result
    else:
        assert "nothing was changed" not in result.json["error"]["message"] or not changed, result
    assert violations(appwrite) == []


def test_unassign_names_who_returned_it_and_keeps_the_first_reason(appwrite):
    w = escalated()  # the owner asked, for "billing"
    assert execute("assign-agent", {"sessionId": w.session_id}, path="/claim", user="agent-alice").status == 200
    assert execute("assign-agent", {"sessionId": w.session_id}, path="/unassign", user="agent-alice").status == 200
    stored = row(appwrite, "sessions", w.session_id)
    assert stored["escalatedBy"] == "agent:agent-alice"
    assert stored["escalationReason"] == "returned to the queue by agent:agent-alice; first: billing"
    assert execute("assign-agent", {"sessionId": w.session_id}, path="/claim", user="agent-bob").status == 200
    assert execute("assign-agent", {"sessionId": w.session_id}, path="/unassign", secret=ADMIN_SECRET).status == 200
    again = row(appwrite, "sessions", w.session_id)
    assert again["escalatedBy"] == "agent:admin"
    assert again["escalationReason"] == "returned to the queue by agent:admin; first: billing"  # never nested
    listed = execute("list-sessions", method="GET", path=f"/{w.session_id}", user="agent-bob").json["session"]
    assert listed["escalationReason"].endswith("first: billing")


# --- escalations are never lost -------------------------------------------------------------------------------

def raw_message(appwrite, w: Widget, text: str) -> dict:
    """A message row stored without touch-session (which escalates as it admits): only the event escalates it."""
    appwrite.engine.update_row("chat", "sessions", w.session_id,
                               {"messageCount": row(appwrite, "sessions", w.session_id)["messageCount"] + 1})
    return appwrite.engine.create_row("chat", "messages", "unique()", {"sessionId": w.session_id, "role": "user",
                                                                       "text": text})


def deliver(message: dict):
    return execute("escalate", message, trigger="event",
                   event=f"databases.chat.tables.messages.rows.{message['$id']}.create")


def test_an_event_escalation_that_keeps_losing_races_decides_again(appwrite):
    w = Widget()
    message = raw_message(appwrite, w, "can I talk to a human")
    bot = {"n": 0}

    def bot_writes():
        bot["n"] += 1
        return execute("touch-session", {"sessionId": w.session_id, "message": {
            "role": "bot", "text": f"one moment ({bot['n']})"}}, secret=BOT_SECRET)
    raced = meanwhile(appwrite, session_write, bot_writes, times=6)
    result = deliver(message)
    assert len(raced) == 6 and all(r.status == 200 for r in raced)  # six writes landed before each of its own
    assert result.status == 200 and result.json.get("escalated") is True, result
    assert row(appwrite, "sessions", w.session_id)["escalatedBy"] == f"message:{message['$id']}"
    assert violations(appwrite) == []


@pytest.mark.parametrize("fault", ["503", "timeout", "reset", "applied_timeout"])
def test_an_event_escalation_survives_a_transient_failure_of_its_write(appwrite, fault):
    w = Widget()
    message = raw_message(appwrite, w, "a real person please")
    appwrite.fail_next(fault, match=r"^PATCH .*/tables/sessions/rows")
    result = deliver(message)
    assert result.status == 200 and result.json.get("escalated") is True, result
    assert row(appwrite, "sessions", w.session_id)["needsHuman"] is True
    assert violations(appwrite) == []


def test_a_visitor_asking_for_a_person_while_others_write_is_escalated_by_the_message_itself(appwrite):
    """The escalation is part of the write that admits the message: a message stored is a session escalated."""
    w = Widget()
    raced = meanwhile(appwrite, session_write, lambda: execute("touch-session", {
        "sessionId": w.session_id, "message": {"role": "bot", "text": "still here"}}, secret=BOT_SECRET), times=5)
    asked = w.say("I want to speak to someone")
    assert len(raced) == 5 and asked.status == 200, asked
    assert asked.json["session"]["needsHuman"] is True
    assert row(appwrite, "sessions", w.session_id)["escalatedBy"] == f"message:{asked.json['message']['messageId']}"
    assert violations(appwrite) == []


# --- the fold ---------------------------------------------------------------------------------------------------

def test_a_summary_reader_that_finds_many_pending_sessions_folds_a_batch_first(appwrite):
    now = "2026-11-25T12:00:00.000+00:00"
    appwrite.engine.bulk_insert("chat", "sessions", [
        {"$id": f"s_new{i:04d}", "status": "active", "lastSeen": now, "tokenHash": "x" * 64, "counted": "",
         "dirty": True, "needsHuman": i % 5 == 0} for i in range(1050)])  # as 1,050 create-session calls leave them
    summary = execute("list-sessions", method="GET", path="/?limit=1", secret=ADMIN_SECRET).json["summary"]
    assert (summary["total"], summary["needsHuman"]) == (1050, 210)
    assert len([r for r in rows(appwrite, "sessions") if r["dirty"]]) == 950  # one batch of 100 was folded
    assert violations(appwrite) == []
    appwrite.reset_counts()
    execute("list-sessions", method="GET", path="/?limit=1", secret=ADMIN_SECRET)
    # the page, the counter rows, the 950 still pending (no fold below 1,000), and for an admin the agent rows
    assert len(appwrite.requests) == 4


def test_one_fold_at_a_time_and_a_repair_waits_for_it(appwrite):
    escalated()
    claimed("agent-bob")
    other = meanwhile(appwrite, lambda m, p: m != "GET" and "/tables/counters/" in p, lambda: (
        execute("list-sessions", trigger="schedule"),
        execute("list-sessions", {}, path="/recount", secret=ADMIN_SECRET)))
    first = execute("list-sessions", trigger="schedule")
    second, repair = other[0]
    assert first.json == {"folded": 2, "skipped": None, "auditMoved": 0, "autoAssigned": 0,
                          "agentLoadsRepaired": 0, "queueWritten": 0}, first
    assert second.json == {"folded": 0, "skipped": "running", "auditMoved": 0, "autoAssigned": 0,
                           "agentLoadsRepaired": 0, "queueWritten": 0}, second
    assert (repair.status, repair.error) == (409, "busy"), repair
    assert violations(appwrite) == []
    assert execute("list-sessions", {}, path="/recount", secret=ADMIN_SECRET).status == 200  # the lease is back


def test_a_forced_repair_during_a_fold_leaves_the_books_exact(appwrite):
    """settleSeconds 0 takes the lease over (meant for after a crash). Even if a fold is in fact still running,
    its conditional counter writes then fail and the next fold finishes its batch: nothing counted twice."""
    escalated()
    claimed("agent-alice")
    forced = meanwhile(appwrite, lambda m, p: m != "GET" and "/tables/counters/" in p, lambda: execute(
        "list-sessions", {"settleSeconds": 0}, path="/recount", secret=ADMIN_SECRET))
    cut = execute("list-sessions", trigger="schedule")
    assert forced[0].status == 200 and cut.status == 200, (forced, cut)
    assert violations(appwrite) == []
    assert execute("list-sessions", trigger="schedule").status == 200
    assert violations(appwrite) == [] and not [r for r in rows(appwrite, "sessions") if r["dirty"]]
