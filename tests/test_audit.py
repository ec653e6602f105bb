"""The audit trail: every lifecycle transition recorded (who, from -> to, when, why) by the write that makes it, at
no request of its own; moved to the `audit` table off the hot path, never lost, never written twice; read as a
session's timeline and, for admins, by agent and time range."""

from __future__ import annotations

from datetime import timedelta

import pytest
from chat_core.domain import audit
from chat_core.domain.model import utcnow
from chat_core.edge import http
from chat_core.infra import audit as audit_rows
from chat_core.infra import sessions as session_rows
from conftest import ADMIN_SECRET, BOT_SECRET, Widget, execute, row, rows
from hardening_support import audit_violations, snapshot, timeline


def history(session_id: str, query: str = "", **caller) -> list[dict]:
    caller = caller or {"user": "agent-alice"}
    answer = execute("list-sessions", method="GET", path=f"/{session_id}/history{query}", **caller)
    assert answer.status == 200, answer
    return answer.json["history"]


def steps(session_id: str) -> list[tuple]:
    return [(e["actor"], e["action"], e["from"], e["to"]) for e in history(session_id)]


def assign(path: str, session_id: str, agent: str | None = None, **caller):
    body = {"sessionId": session_id, **({"agentId": agent} if agent else {})}
    answer = execute("assign-agent", body, path=path, **caller)
    assert answer.status == 200, answer
    return answer


def fold():
    answer = execute("list-sessions", trigger="schedule")
    assert answer.status == 200, answer
    return answer.json


def audit_creates(appwrite) -> int:
    return appwrite.count("POST", "/tables/audit/rows")


def test_every_transition_is_recorded_with_who_what_and_why(appwrite):
    w = Widget()
    sid = w.session_id
    w.say("hello")  # a message: no transition
    w.say("can I talk to a human")
    assign("/claim", sid, user="agent-alice")
    assign("/transfer", sid, "agent-bob", user="agent-alice")
    assign("/unassign", sid, user="agent-bob")
    assign("/assign", sid, "agent-alice", secret=ADMIN_SECRET)
    execute("close-session", {"sessionId": sid, "rating": {"score": 5, "comment": "great"}}, token=w.token)
    assert steps(sid) == [
        ("visitor", "open", None, "active"),
        ("visitor", "escalate", "active", "waiting"),
        ("agent:agent-alice", "claim", "waiting", "assigned:agent-alice"),
        ("agent:agent-alice", "transfer", "assigned:agent-alice", "assigned:agent-bob"),
        ("agent:agent-bob", "unassign", "assigned:agent-bob", "waiting"),
        ("admin", "assign", "waiting", "assigned:agent-alice"),
        ("visitor", "close", "assigned:agent-alice", "closed"),
        ("visitor", "rate", "closed", "rated:5"),
    ]
    timeline_ = history(sid)
    assert [e["seq"] for e in timeline_] == list(range(8))
    why = {e["action"]: e["why"] for e in timeline_}
    assert why["escalate"] == "visitor asked for a person ('human')"
    assert why["unassign"].startswith("returned to the queue by agent:agent-bob")
    assert (why["close"], why["rate"]) == ("closed by visitor", "5/5 with a comment")
    assert [e["agent"] for e in timeline_[2:]] == ["agent-alice", "agent-alice", "agent-bob", "agent-alice",
                                                   "agent-alice", "agent-alice"]
    assert all(e["at"] for e in timeline_) and timeline_ == sorted(timeline_, key=lambda e: (e["at"], e["seq"]))


def test_the_bot_the_agents_and_the_system_are_recorded_as_themselves(appwrite, monkeypatch):
    by_bot, by_agent, idle, empty = Widget(), Widget(), Widget(), Widget()
    execute("touch-session", {"sessionId": by_bot.session_id,
                              "message": {"role": "bot", "text": "over to a human", "handoff": True}},
            secret=BOT_SECRET)
    execute("escalate", {"sessionId": by_agent.session_id, "reason": "VIP"}, user="agent-bob")
    idle.say("anyone?")
    later, now = utcnow() + timedelta(hours=1), http.utcnow
    monkeypatch.setattr(http, "utcnow", lambda: later)
    execute("close-session", trigger="schedule")  # closes the idle ones, and `empty` as empty
    monkeypatch.setattr(http, "utcnow", now)
    assert steps(by_bot.session_id)[1:] == [("bot", "escalate", "active", "waiting"),
                                            ("system", "idle_close", "waiting", "closed")]
    assert history(by_bot.session_id)[1]["why"] == "bot handed off"
    assert steps(by_agent.session_id)[1:] == [("agent:agent-bob", "escalate", "active", "waiting"),
                                              ("system", "idle_close", "waiting", "closed")]
    assert history(by_agent.session_id)[1]["why"] == "VIP"
    assert steps(idle.session_id)[1:] == [("system", "idle_close", "active", "closed")]
    assert steps(empty.session_id)[1:] == [("system", "empty_close", "active", "closed")]


def test_heartbeats_messages_and_folds_record_nothing(appwrite):
    w = Widget()
    execute("touch-session", {"sessionId": w.session_id}, token=w.token)
    w.say("just a question")
    fold()
    stored = row(appwrite, "sessions", w.session_id)
    assert (stored["auditSeq"], stored["transitions"], stored["auditPending"]) == (0, None, False)
    assert rows(appwrite, "audit") == []
    assert steps(w.session_id) == [("visitor", "open", None, "active")]


def test_recording_costs_no_request(appwrite):
    """An escalating message costs what a plain one costs, plus only what auto-assignment and the queue read (agent
    rows, list counts: chat_core.assignment, queueing); a claim what it cost before the trail, plus its slot."""
    w = Widget()
    w.say("hello")  # the minute's budget rows exist from here on
    appwrite.reset_counts()
    w.say("where is my parcel?")
    plain = appwrite.requests[:]
    appwrite.reset_counts()
    w.say("I want a human")
    # Recording adds nothing; the queue's figures ride on the admitting write too (counted before it: issue 20,
    # ops/queueing.py), so the session's rows see the same requests as for a plain message.
    assert session_requests(appwrite.requests) == session_requests(plain)
    history(w.session_id)  # agent-alice's JWT is verified once per warm instance: not part of the claim
    appwrite.reset_counts()
    assign("/claim", w.session_id, user="agent-alice")
    assert session_requests(appwrite.requests) == [("GET", "row"), ("PATCH", "row")]  # read, conditional write
    assert audit_creates(appwrite) == 0 and row(appwrite, "sessions", w.session_id)["auditSeq"] == 2


def session_requests(requests: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The requests on the session and message rows themselves (what recording a transition would add to)."""
    return [(method, "row" if path.rsplit("/", 1)[-1] != "rows" else "list") for method, path in requests
            if "/tables/sessions/rows/" in path or path.endswith("/tables/messages/rows")]


def test_the_fold_moves_the_entries_to_the_audit_table_once(appwrite):
    w = Widget()
    w.say("a person please")
    assign("/claim", w.session_id, user="agent-alice")
    before = history(w.session_id)
    appwrite.reset_counts()
    fold()
    assert audit_creates(appwrite) == 2  # the two transitions; their session was dirty: its mark drops them
    stored = row(appwrite, "sessions", w.session_id)
    assert (stored["transitions"], stored["auditPending"], stored["auditSeq"]) == ("", False, 2)
    moved = rows(appwrite, "audit")
    assert {r["$id"] for r in moved} == {audit_rows.row_id(w.session_id, seq) for seq in (1, 2)}
    assert history(w.session_id) == before  # the same timeline, now from the table
    appwrite.reset_counts()
    fold()
    assert audit_creates(appwrite) == 0 and len(rows(appwrite, "audit")) == 2


def test_a_move_cut_short_is_finished_by_the_next_without_writing_twice(appwrite):
    w = Widget()
    w.say("a person please")
    assign("/claim", w.session_id, user="agent-alice")
    # The rows are stored, then every write of the session fails: the mark that would drop them from the column.
    appwrite.fault = lambda index, method, path: "503" if method == "PATCH" and "/tables/sessions/" in path else None
    fold()
    appwrite.clear_faults()
    assert len(rows(appwrite, "audit")) == 2 and row(appwrite, "sessions", w.session_id)["auditPending"] is True
    assert [e["seq"] for e in history(w.session_id)] == [0, 1, 2]  # a row and its entry: shown once
    appwrite.reset_counts()
    fold()
    assert len(rows(appwrite, "audit")) == 2
    assert row(appwrite, "sessions", w.session_id)["auditPending"] is False
    assert audit_violations(appwrite) == []


def test_the_sweep_moves_what_the_fold_does_not_see(appwrite):
    """A -> B -> A leaves the session counting as before: not dirty, so not in the fold; the sweep moves it."""
    w = Widget()
    execute("escalate", {"sessionId": w.session_id}, token=w.token)
    assign("/claim", w.session_id, user="agent-alice")
    fold()
    assign("/transfer", w.session_id, "agent-bob", secret=ADMIN_SECRET)
    assign("/transfer", w.session_id, "agent-alice", secret=ADMIN_SECRET)
    stored = row(appwrite, "sessions", w.session_id)
    assert (stored["dirty"], stored["auditPending"]) == (False, True)
    assert fold()["auditMoved"] == 1
    assert row(appwrite, "sessions", w.session_id)["auditPending"] is False
    assert [r["seq"] for r in sorted(rows(appwrite, "audit"), key=lambda r: r["seq"])] == [1, 2, 3, 4]


def test_more_transitions_than_the_column_holds_lose_none(appwrite):
    """With no move in between, an agent and an admin pass a session back and forth far past the column's size:
    the write that would overflow stores what the column holds first."""
    w = Widget()
    execute("escalate", {"sessionId": w.session_id}, token=w.token)
    assign("/claim", w.session_id, user="agent-alice")
    per_entry = len(audit.encode(audit.pending(session_rows.from_row(_sdk(row(appwrite, "sessions", w.session_id))))))
    transfers = 2 * audit.CAPACITY // per_entry + 10
    for n in range(transfers):
        assign("/transfer", w.session_id, ("agent-bob", "agent-alice")[n % 2], secret=ADMIN_SECRET)
        assert len(row(appwrite, "sessions", w.session_id)["transitions"]) <= audit.CAPACITY - audit.RESERVE
    stored = row(appwrite, "sessions", w.session_id)
    assert stored["auditSeq"] == 2 + transfers and rows(appwrite, "audit")  # some were stored on the way
    everything = history(w.session_id, "?limit=100")
    cursor = None
    while len(everything) < stored["auditSeq"] + 1:
        cursor = everything[-1]["seq"]
        everything += history(w.session_id, f"?limit=100&cursor={cursor}")
    assert [e["seq"] for e in everything] == list(range(stored["auditSeq"] + 1))
    assert audit_violations(appwrite) == []


def test_the_visitors_writes_never_store_audit_rows_even_with_a_full_column(appwrite):
    """Staff transitions fill the column up to its reserve; the visitor then closes and rates in one request and
    escalates before: none of it costs an audit row write (the reserve holds a visitor's three transitions)."""
    w = Widget()
    execute("escalate", {"sessionId": w.session_id}, user="agent-alice")
    assign("/claim", w.session_id, user="agent-alice")
    last = 0
    for n in range(400):
        assign("/transfer", w.session_id, ("agent-bob", "agent-alice")[n % 2], secret=ADMIN_SECRET)
        size = len(row(appwrite, "sessions", w.session_id)["transitions"])
        if size < last:  # it just stored: one entry more would have passed the staff's limit
            break
        last = size
    assign("/unassign", w.session_id, secret=ADMIN_SECRET)  # waiting again, the column as full as staff may fill it
    while len(row(appwrite, "sessions", w.session_id)["transitions"]) + 300 < audit.CAPACITY - audit.RESERVE:
        assign("/assign", w.session_id, "agent-bob", secret=ADMIN_SECRET)
        assign("/unassign", w.session_id, secret=ADMIN_SECRET)
    appwrite.reset_counts()
    answer = execute("close-session", {"sessionId": w.session_id, "rating": {"score": 2, "comment": "x" * 1000}},
                     token=w.token)
    assert answer.status == 200, answer
    assert audit_creates(appwrite) == 0
    assert len(row(appwrite, "sessions", w.session_id)["transitions"]) <= audit.CAPACITY
    assert audit_violations(appwrite) == []


def test_history_pages_and_refusals(appwrite):
    w = Widget()
    w.say("human please")
    assign("/claim", w.session_id, user="agent-alice")
    execute("close-session", {"sessionId": w.session_id}, user="agent-alice")
    first = execute("list-sessions", method="GET", path=f"/{w.session_id}/history?limit=2", user="agent-bob")
    assert [e["seq"] for e in first.json["history"]] == [0, 1, 2] and first.json["nextCursor"] == "2"
    assert first.json["session"]["status"] == "closed"
    rest = execute("list-sessions", method="GET", path=f"/{w.session_id}/history?limit=2&cursor=2",
                   secret=ADMIN_SECRET)
    assert [e["seq"] for e in rest.json["history"]] == [3] and rest.json["nextCursor"] is None
    before = snapshot(appwrite)
    for path, caller, status, code in [
        (f"/{w.session_id}/history", {"token": w.token}, 401, "unauthorized"),
        (f"/{w.session_id}/history", {"secret": BOT_SECRET}, 401, "unauthorized"),
        (f"/{w.session_id}/history?cursor=abc", {"user": "agent-alice"}, 400, "invalid_cursor"),
        (f"/{w.session_id}/history?limit=0", {"user": "agent-alice"}, 400, "invalid_query"),
        (f"/{w.session_id}/history?limit=101", {"user": "agent-alice"}, 400, "invalid_query"),
        (f"/{w.session_id}/history?agent=x", {"user": "agent-alice"}, 400, "unknown_field"),
        ("/s_nope/history", {"user": "agent-alice"}, 404, "session_not_found"),
        ("/bad%20id/history", {"user": "agent-alice"}, 400, "invalid_id"),
    ]:
        answer = execute("list-sessions", method="GET", path=path, **caller)
        assert (answer.status, answer.error) == (status, code), (path, answer)
    assert snapshot(appwrite) == before


def _trail(query: str = "", **caller) -> dict:
    caller = caller or {"secret": ADMIN_SECRET}
    return execute("list-sessions", method="GET", path=f"/audit{query}", **caller)


def test_admins_list_the_trail_by_agent_and_time_range_in_pages(appwrite, monkeypatch):
    start = utcnow().replace(microsecond=0) + timedelta(hours=1)
    clock = [start]
    monkeypatch.setattr(http, "utcnow", lambda: clock[0])
    sessions = []
    for minute, agent in enumerate(("agent-alice", "agent-bob", "agent-alice", "agent-alice")):
        clock[0] = start + timedelta(minutes=10 * minute)
        w = Widget()
        execute("escalate", {"sessionId": w.session_id}, token=w.token)
        clock[0] += timedelta(seconds=30)
        assign("/claim", w.session_id, user=agent)
        sessions.append(w)
    fold()
    alice = _trail("?agent=agent-alice")
    assert alice.status == 200, alice
    assert [(e["action"], e["actor"]) for e in alice.json["audit"]] == [("claim", "agent:agent-alice")] * 3
    assert alice.json["nextCursor"] is None
    assert [e["sessionId"] for e in alice.json["audit"]] == [sessions[i].session_id for i in (0, 2, 3)]
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    ranged = _trail(f"?agent=agent-alice&from={(start + timedelta(minutes=5)).strftime(stamp)}"
                    f"&to={(start + timedelta(minutes=25)).strftime(stamp)}")
    assert [e["sessionId"] for e in ranged.json["audit"]] == [sessions[2].session_id]
    page, seen = _trail("?limit=3").json, []
    while True:
        seen += [(e["sessionId"], e["seq"]) for e in page["audit"]]
        if not page["nextCursor"]:
            break
        page = _trail(f"?limit=3&cursor={page['nextCursor']}").json
    assert seen == [(w.session_id, seq) for w in sessions for seq in (1, 2)]  # each once, oldest first
    newest = _trail("?order=desc&limit=1", user="admin-ada").json["audit"][0]
    assert (newest["sessionId"], newest["action"]) == (sessions[3].session_id, "claim")


@pytest.mark.parametrize(("query", "caller", "status", "code"), [
    ("", {"user": "agent-alice"}, 403, "not_an_admin"),
    ("", {}, 401, "unauthorized"),
    ("?from=yesterday", None, 400, "invalid_query"),
    ("?from=2026-11-02T00:00:00Z&to=2026-11-01T00:00:00Z", None, 400, "invalid_query"),
    ("?agent=a%20b", None, 400, "invalid_id"),
    ("?status=closed", None, 400, "unknown_field"),
    ("?order=up", None, 400, "invalid_query"),
    ("?cursor=a_unknown", None, 400, "invalid_cursor"),
])
def test_the_trail_refuses_what_it_cannot_answer(appwrite, query, caller, status, code):
    answer = execute("list-sessions", method="GET", path=f"/audit{query}",
                     **({"secret": ADMIN_SECRET} if caller is None else caller))
    assert (answer.status, answer.error) == (status, code), answer


def test_a_stored_timeline_is_what_the_checker_reads(appwrite):
    """The checker the hardening and stack tests use (hardening_support.audit_violations) catches a lost entry."""
    w = Widget()
    w.say("human please")
    assign("/claim", w.session_id, user="agent-alice")
    fold()
    assert [e.seq for e in timeline(appwrite, row(appwrite, "sessions", w.session_id))] == [1, 2]
    appwrite.engine.delete_row("chat", "audit", audit_rows.row_id(w.session_id, 1))
    assert audit_violations(appwrite) != []


def _sdk(stored: dict):
    from hardening_support import _sdk_row
    return _sdk_row(stored)


def test_an_empty_session_is_deleted_only_once_its_trail_is_moved(appwrite, monkeypatch):
    w = Widget()
    start, now = utcnow(), http.utcnow

    def at(hours: float) -> None:
        monkeypatch.setattr(http, "utcnow", lambda: start + timedelta(hours=hours))

    at(1)
    execute("close-session", trigger="schedule")  # closed as empty: its trail says so
    appwrite.fault = lambda index, method, path: "503" if method == "POST" and "/tables/audit/" in path else None
    fold()  # counted (no longer dirty), but its entry could not be stored
    appwrite.clear_faults()
    stored = row(appwrite, "sessions", w.session_id)
    assert (stored["dirty"], stored["auditPending"]) == (False, True)
    at(2)
    execute("close-session", trigger="schedule")
    assert w.session_id in {r["$id"] for r in rows(appwrite, "sessions")}  # kept: deleting it would lose its entry
    fold()  # the sweep moves it
    at(3)
    execute("close-session", trigger="schedule")
    assert w.session_id not in {r["$id"] for r in rows(appwrite, "sessions")}  # deleted
    [moved] = rows(appwrite, "audit")
    assert (moved["sessionId"], moved["action"], moved["actor"]) == (w.session_id, "empty_close", "system")
    monkeypatch.setattr(http, "utcnow", now)


def test_a_sweep_that_cannot_write_stops_and_the_next_run_finishes(appwrite):
    w = Widget()
    execute("escalate", {"sessionId": w.session_id}, token=w.token)
    assign("/claim", w.session_id, user="agent-alice")
    fold()
    assign("/transfer", w.session_id, "agent-bob", secret=ADMIN_SECRET)
    assign("/transfer", w.session_id, "agent-alice", secret=ADMIN_SECRET)  # not dirty: the sweep's work
    appwrite.fault = lambda index, method, path: "503" if method == "PATCH" and "/tables/sessions/" in path else None
    assert fold()["auditMoved"] == 0  # it stored the rows, could not drop them, and stopped
    appwrite.clear_faults()
    assert row(appwrite, "sessions", w.session_id)["auditPending"] is True
    assert fold()["auditMoved"] == 1
    assert len(rows(appwrite, "audit")) == 4 and audit_violations(appwrite) == []
