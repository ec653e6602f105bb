"""assign-agent and close-session: claims, races, transfers, closing, idle closing."""

import threading
from datetime import datetime, timedelta, timezone

import pytest
from chat_core.edge import http
from conftest import ADMIN_SECRET, Widget, execute, row


def claim(session_id, agent):
    return execute("assign-agent", {"sessionId": session_id}, path="/claim", user=agent)


def escalated(token_widget=None) -> Widget:
    w = token_widget or Widget()
    execute("escalate", {"sessionId": w.session_id}, token=w.token)
    return w


def test_an_agent_claims_a_waiting_session(appwrite):
    w = escalated()
    result = claim(w.session_id, "agent-alice")
    assert result.status == 200, result
    stored = row(appwrite, "sessions", w.session_id)
    assert (stored["status"], stored["assignedAgent"], stored["needsHuman"]) == ("agent_assigned", "agent-alice", False)
    assert stored["assignedAt"]
    assert w.say("hello?").json["session"]["botShouldReply"] is False


def test_a_second_claim_is_told_who_won(appwrite):
    w = escalated()
    claim(w.session_id, "agent-alice")
    lost = claim(w.session_id, "agent-bob")
    assert (lost.status, lost.error) == (409, "already_assigned")
    assert lost.json["error"]["assignedAgent"] == "agent-alice"
    assert claim(w.session_id, "agent-alice").json["detail"] == "already_yours"


def test_interleaved_claims_have_exactly_one_winner(appwrite):
    """Bob reads the session; Alice then claims it completely; only then does Bob write. His conditional write
    must lose, and he must be told that Alice won."""
    w = escalated()
    bob_read, alice_done = threading.Event(), threading.Event()
    results, session_writes = {}, []

    def interleave(index, method, path):
        if method == "PATCH" and "/sessions/" in path:
            session_writes.append(threading.current_thread().name)
            if threading.current_thread().name == "bob":
                bob_read.set()  # his read is done: he is about to write
                alice_done.wait(5)
            else:
                bob_read.wait(5)
        return None

    appwrite.fault = interleave
    bob = threading.Thread(target=lambda: results.update(bob=claim(w.session_id, "agent-bob")), name="bob")
    bob.start()
    results["alice"] = claim(w.session_id, "agent-alice")
    alice_done.set()
    bob.join(10)
    appwrite.fault = None
    assert sorted(session_writes) == ["MainThread", "bob"]  # both wrote (Alice first): the race happened
    assert (results["alice"].status, results["bob"].status) == (200, 409)
    assert results["bob"].json["error"] == {**results["bob"].json["error"], "code": "already_assigned",
                                            "assignedAgent": "agent-alice"}
    assert row(appwrite, "sessions", w.session_id)["assignedAgent"] == "agent-alice"
    summary = execute("list-sessions", method="GET", secret=ADMIN_SECRET).json["summary"]
    assert summary["agents"] == {"agent-alice": 1} and summary["byStatus"]["agent_assigned"] == 1


def alice_row() -> dict:
    agents = execute("list-sessions", method="GET", path="/agents", secret=ADMIN_SECRET).json["agents"]
    return next(a for a in agents if a["agentId"] == "agent-alice")


def test_claim_costs_five_requests_and_close_six(appwrite):
    escalated_once = escalated()
    claim(escalated_once.session_id, "agent-alice")  # alice's JWT verified and her agent row made, as when warm
    execute("close-session", {"sessionId": escalated_once.session_id}, user="agent-alice")
    w = escalated()
    assigned_before = alice_row()["lastAssignedAt"]
    appwrite.reset_counts()
    claim(w.session_id, "agent-alice")
    # read (decided before any write), a slot on alice's row with her lastAssignedAt (one update, its load an
    # increment operator), conditional write (no counter write); the queue's line and the signal row with the
    # queue's row (ops.signals)
    method, path = appwrite.requests[1]
    assert (method, path.rsplit("/", 1)[0]) == ("PATCH", "/v1/tablesdb/chat/tables/agents/rows")
    assert len(appwrite.requests) == 5, appwrite.requests
    alice = alice_row()
    assert alice["lastAssignedAt"] > assigned_before and alice["load"] == 1  # fairness: she just took one
    appwrite.reset_counts()
    execute("close-session", {"sessionId": w.session_id}, user="agent-alice")
    # read, a release stamp on her slots row, conditional write, her slot back (a bounded decrement), the agent rows
    # (nobody is available: no auto-assignment); the signal row
    assert len(appwrite.requests) == 6, appwrite.requests


def test_who_may_assign(appwrite):
    w = escalated()
    assert execute("assign-agent", {"sessionId": w.session_id}, path="/claim").status == 401
    assert claim(w.session_id, "visitor-vic").error == "not_an_agent"
    by_agent = execute("assign-agent", {"sessionId": w.session_id, "agentId": "agent-bob"}, path="/assign",
                       user="agent-alice")
    assert by_agent.error == "not_an_admin"
    not_agent = execute("assign-agent", {"sessionId": w.session_id, "agentId": "visitor-vic"}, path="/assign",
                        secret=ADMIN_SECRET)
    assert not_agent.error == "invalid_agent"
    assert row(appwrite, "sessions", w.session_id)["status"] == "active"
    ok = execute("assign-agent", {"sessionId": w.session_id, "agentId": "agent-bob"}, path="/assign",
                 secret=ADMIN_SECRET)
    assert ok.status == 200 and ok.json["session"]["assignedAgent"] == "agent-bob"


def test_transfer_and_unassign_are_for_the_assignee_or_an_admin(appwrite):
    w = escalated()
    claim(w.session_id, "agent-alice")
    stolen = execute("assign-agent", {"sessionId": w.session_id, "agentId": "agent-bob"}, path="/transfer",
                     user="agent-bob")
    assert (stolen.status, stolen.error) == (403, "not_assignee")
    moved = execute("assign-agent", {"sessionId": w.session_id, "agentId": "agent-bob"}, path="/transfer",
                    user="agent-alice")
    assert moved.json["session"]["assignedAgent"] == "agent-bob"
    back = execute("assign-agent", {"sessionId": w.session_id}, path="/unassign", secret=ADMIN_SECRET)
    stored = row(appwrite, "sessions", w.session_id)
    assert back.status == 200
    assert (stored["status"], stored["assignedAgent"], stored["needsHuman"]) == ("active", None, True)
    again = execute("assign-agent", {"sessionId": w.session_id}, path="/unassign", secret=ADMIN_SECRET)
    assert again.error == "not_assigned"


def test_closed_sessions_cannot_be_claimed(appwrite, widget):
    execute("close-session", {"sessionId": widget.session_id}, token=widget.token)
    assert claim(widget.session_id, "agent-alice").error == "session_closed"


def test_closing_rules(appwrite):
    mine, theirs, waiting = escalated(), escalated(), escalated()
    claim(theirs.session_id, "agent-alice")
    assert execute("close-session", {"sessionId": theirs.session_id}, user="agent-bob").error == "not_assignee"
    assert execute("close-session", {"sessionId": theirs.session_id}).status == 403
    assert execute("close-session", {"sessionId": theirs.session_id}, user="agent-alice").json["closed"] is True
    assert execute("close-session", {"sessionId": waiting.session_id}, user="agent-bob").json["closed"] is True
    result = execute("close-session", {"sessionId": mine.session_id, "reason": "solved"}, token=mine.token)
    stored = row(appwrite, "sessions", mine.session_id)
    assert result.json["session"]["status"] == "closed"
    assert (stored["status"], stored["closeReason"], stored["needsHuman"]) == ("closed", "solved", False)
    assert execute("close-session", {"sessionId": mine.session_id}, token=mine.token).json["detail"] == \
        "already_closed"
    summary = execute("list-sessions", method="GET", secret=ADMIN_SECRET).json["summary"]
    assert summary["byStatus"] == {"active": 0, "agent_assigned": 0, "closed": 3}
    assert summary["needsHuman"] == 0 and summary["agents"] == {}


def test_the_schedule_closes_only_idle_sessions(appwrite, monkeypatch):
    monkeypatch.setenv("IDLE_CLOSE_MINUTES", "30")
    idle, fresh, assigned_idle = Widget(), Widget(), escalated()
    idle.say("hello")  # a session with nothing in it would be deleted instead (test_budgets.py)
    claim(assigned_idle.session_id, "agent-alice")
    long_ago = (datetime.now(timezone.utc) - timedelta(hours=2)).isoformat()
    for w in (idle, assigned_idle):
        appwrite.engine.update_row("chat", "sessions", w.session_id, {"lastSeen": long_ago})
    result = execute("close-session", trigger="schedule")
    assert result.status == 200 and result.json["closed"] == 2
    assert row(appwrite, "sessions", idle.session_id)["closeReason"] == "idle"
    assert row(appwrite, "sessions", fresh.session_id)["status"] == "active"
    assert execute("close-session", trigger="schedule").json["closed"] == 0
    summary = execute("list-sessions", method="GET", secret=ADMIN_SECRET).json["summary"]
    assert summary["byStatus"] == {"active": 1, "agent_assigned": 0, "closed": 2} and summary["agents"] == {}


# --- the sweep's markers are the sweep's (issue 18) ---------------------------------------------------------------

CALLERS = {"visitor": lambda w: {"token": w.token}, "agent": lambda w: {"user": "agent-alice"},
           "admin": lambda w: {"secret": ADMIN_SECRET}}


@pytest.mark.parametrize("reason", ["empty", "idle", " Idle "])
@pytest.mark.parametrize("who", sorted(CALLERS))
def test_a_callers_close_reason_never_passes_for_the_sweeps_marker(appwrite, who, reason):
    """`empty` and `idle` are what the sweep writes: from a caller they are refused, and nothing is written."""
    w = escalated()
    assert w.say("my parcel never came").status == 200
    claim(w.session_id, "agent-alice")
    before = row(appwrite, "sessions", w.session_id)
    answer = execute("close-session", {"sessionId": w.session_id, "reason": reason}, **CALLERS[who](w))
    assert (answer.status, answer.error) == (400, "reserved_reason"), answer
    assert row(appwrite, "sessions", w.session_id) == before


def test_a_chat_closed_by_its_visitor_stays_whole_through_the_sweeps(appwrite, monkeypatch):
    """The attack: a visitor's close as `empty` made the summary drop the chat, refused its rating, and had the sweep
    delete it (and `idle` recorded a visitor's close as the system's idle close). Now the visitor's own words are
    kept apart: the chat stays counted, rated, readable and exported, and the timeline says who closed it."""
    w = escalated()
    assert w.say("my parcel never came").status == 200
    claim(w.session_id, "agent-alice")
    assert execute("close-session", {"sessionId": w.session_id, "reason": "empty"}, token=w.token).status == 400
    closed = execute("close-session", {"sessionId": w.session_id, "reason": "ended by the visitor",
                                       "rating": {"score": 2}}, token=w.token)
    assert closed.status == 200 and closed.json["closed"] is True, closed
    later = datetime.now(timezone.utc) + timedelta(hours=2)
    for minutes in (0, 2, 4):  # three sweeps and folds, the minutes apart a deletion needs
        monkeypatch.setattr(http, "utcnow", lambda at=later + timedelta(minutes=minutes): at)
        assert execute("close-session", trigger="schedule").status == 200
        assert execute("list-sessions", trigger="schedule").status == 200
    admin = {"secret": ADMIN_SECRET}
    assert execute("list-sessions", method="GET", path=f"/{w.session_id}", **admin).status == 200
    assert execute("touch-session", method="GET", path=f"/export?sessionId={w.session_id}", token=w.token).status \
        == 200
    summary = execute("list-sessions", method="GET", **admin).json["summary"]
    assert summary["total"] == 1 and summary["ratings"]["count"] == 1
    timeline = execute("list-sessions", method="GET", path=f"/{w.session_id}/history", **admin).json["history"]
    assert [(e["actor"], e["action"]) for e in timeline][-2:] == [("visitor", "close"), ("visitor", "rate")]
