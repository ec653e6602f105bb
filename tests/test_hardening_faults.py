"""Faults: Appwrite fails at every step of every operation, in every way the fake knows.

For each operation: run it once fault-free and count its Appwrite requests N; then, for every k in 1..N and
every fault kind, set the same state up again, fail the k-th request and check that
  - the answer is JSON: 503 upstream_unavailable, or a success when the code retried or reconciled safely;
  - no half-written state is left (tests/hardening_support.violations: every message counted, every
    assignment whole, the counters' summary equal to a count of the session rows);
  - the same request retried without faults succeeds and the invariants still hold (a retried message with
    the same client ID is stored once).

"applied_timeout" (Appwrite applied the write, the answer was lost) is the ambiguous one. Every write is
reconciled (chat_core.consistency): a session write is read back and its nonce found in the row's write log; a
message create is tried again under the same row ID; counter rows are written only by folds, with absolute values
over the row as read, and a fold cut short is finished by the next. So nothing is left one off.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest
from chat_core.infra import users
from chat_core.infra.counters import row_id as counter_row_id
from conftest import ADMIN_SECRET, Widget, execute, rows
from hardening_support import violations, write_report

from devstack.fake import FAULT_KINDS

KINDS = sorted(FAULT_KINDS)
_ids = itertools.count()
figures = {"operations": 0, "steps": 0, "cases": 0, "answered_503": 0, "answered_success": 0, "retries_ok": 0}


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    print(f"\nhardening faults: {figures['cases']} fault cases over {figures['steps']} steps of "
          f"{figures['operations']} operations x {len(KINDS)} kinds: {figures['answered_503']} answered 503, "
          f"{figures['answered_success']} recovered in place, {figures['retries_ok']} retried successfully")
    write_report("hardening-faults.json", figures)


def claim(session_id: str, agent: str = "agent-alice"):
    return execute("assign-agent", {"sessionId": session_id}, path="/claim", user=agent)


def escalated() -> Widget:
    w = Widget()
    assert execute("escalate", {"sessionId": w.session_id}, token=w.token).status == 200
    return w


def claimed(agent: str = "agent-alice") -> Widget:
    w = escalated()
    assert claim(w.session_id, agent).status == 200
    return w


def message_event(message_row: dict):
    return execute("escalate", message_row, trigger="event",
                   event=f"databases.chat.tables.messages.rows.{message_row['$id']}.create")


@dataclass
class Operation:
    name: str
    setup: Callable[[object], Callable[[], object]]  # builds fresh state; returns the request to run (and retry)
    ok: tuple[int, ...] = (200,)


def _message(appwrite):
    w = Widget()
    client_id = f"c-{next(_ids)}"
    return lambda: w.say("hello there", id=client_id)


def _asking(appwrite):
    """A visitor message asking for a person: its two budgets in one upsertRows (ops.budgets)."""
    w = Widget()
    client_id = f"h-{next(_ids)}"
    return lambda: w.say("can I talk to a human please", id=client_id)


def _bot_message(appwrite):
    w = Widget()
    client_id = f"b-{next(_ids)}"
    return lambda: execute("touch-session", {"sessionId": w.session_id,
                                             "message": {"text": "Hi!", "role": "bot", "id": client_id}},
                           secret="bot-secret-for-tests")


def _heartbeat(appwrite):
    w = Widget()
    return lambda: execute("touch-session", {"sessionId": w.session_id}, token=w.token)


def _escalate_http(appwrite):
    w = Widget()
    return lambda: execute("escalate", {"sessionId": w.session_id, "reason": "billing"}, token=w.token)


def _escalate_event(appwrite):
    w = Widget()
    said = w.say("can I talk to a human please")
    stored = appwrite.engine.get_row("chat", "messages", said.json["message"]["messageId"])
    return lambda: message_event(stored)


def _claim(appwrite):
    w = escalated()
    return lambda: claim(w.session_id)


def _assign(appwrite):
    w = escalated()
    return lambda: execute("assign-agent", {"sessionId": w.session_id, "agentId": "agent-bob"}, path="/assign",
                           secret=ADMIN_SECRET)


def _transfer(appwrite):
    w = claimed()
    return lambda: execute("assign-agent", {"sessionId": w.session_id, "agentId": "agent-bob"},
                           path="/transfer", user="agent-alice")


def _unassign(appwrite):
    w = claimed()
    return lambda: execute("assign-agent", {"sessionId": w.session_id}, path="/unassign", user="agent-alice")


def _close_assigned(appwrite):
    w = claimed()
    return lambda: execute("close-session", {"sessionId": w.session_id, "reason": "solved"}, token=w.token)


def _close_waiting(appwrite):
    w = escalated()
    return lambda: execute("close-session", {"sessionId": w.session_id}, user="agent-bob")


def _idle_close(appwrite):
    w = claimed()
    long_ago = (datetime.now(timezone.utc) - timedelta(hours=2)).isoformat()
    appwrite.engine.update_row("chat", "sessions", w.session_id, {"lastSeen": long_ago})
    return lambda: execute("close-session", trigger="schedule")


def _list(appwrite):
    Widget().say("x")
    return lambda: execute("list-sessions", method="GET", path="/?status=active,agent_assigned&limit=5",
                           user="agent-alice")


def _agent_transcript(appwrite):
    w = Widget()
    w.say("one")
    return lambda: execute("list-sessions", method="GET", path=f"/{w.session_id}/messages", user="agent-bob")


def _owner_transcript(appwrite):
    w = Widget()
    w.say("one")
    return lambda: execute("touch-session", method="GET", path=f"/messages?sessionId={w.session_id}",
                           token=w.token)


def _export(function_id: str, who: str):
    """The second page of an export (the costlier one: session, cursor check, page)."""
    def setup(appwrite):
        w = Widget()
        w.say("one, \"two\"")
        w.say("=three")
        if function_id == "list-sessions":
            path, caller = f"/{w.session_id}/export?format=csv&limit=1", {"user": who}
        else:
            path, caller = f"/export?sessionId={w.session_id}&format=json&limit=1", {"token": w.token}
        first = execute(function_id, method="GET", path=path, **caller)
        return lambda: execute(function_id, method="GET", path=f"{path}&cursor={first.json['nextCursor']}", **caller)
    return setup


def _recount(appwrite):
    claimed()
    escalated()
    return lambda: execute("list-sessions", method="POST", path="/recount", secret=ADMIN_SECRET)


OPERATIONS = [
    Operation("create", lambda appwrite: lambda: execute("create-session", {"userMeta": {"page": "/"}}), (201,)),
    Operation("message", _message),
    Operation("asking", _asking),
    Operation("bot_message", _bot_message),
    Operation("heartbeat", _heartbeat),
    Operation("escalate_http", _escalate_http),
    Operation("escalate_event", _escalate_event),
    Operation("claim", _claim),
    Operation("assign", _assign),
    Operation("transfer", _transfer),
    Operation("unassign", _unassign),
    Operation("close_assigned", _close_assigned),
    Operation("close_waiting", _close_waiting),
    Operation("idle_close", _idle_close),
    Operation("list", _list),
    Operation("agent_transcript", _agent_transcript),
    Operation("owner_transcript", _owner_transcript),
    Operation("agent_export", _export("list-sessions", "agent-bob")),
    Operation("owner_export", _export("touch-session", "owner")),
    Operation("recount", _recount),
]


def _run(appwrite, request):
    users.MEMORY.labels.clear()  # label lookups are steps too: fail them as well
    appwrite.reset_counts()
    return request()


def _is_counter_write(method: str, path: str) -> bool:
    return method != "GET" and "/tables/counters/" in path


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.name)
def test_every_fault_at_every_step(appwrite, operation):
    baseline = _run(appwrite, operation.setup(appwrite))
    assert baseline.status in operation.ok, baseline
    steps = list(appwrite.requests)
    assert steps, "an operation that makes no Appwrite request"
    assert violations(appwrite) == []
    figures["operations"] += 1
    figures["steps"] += len(steps)

    for k, kind in itertools.product(range(1, len(steps) + 1), KINDS):
        request = operation.setup(appwrite)
        users.MEMORY.labels.clear()
        appwrite.reset_counts()
        appwrite.fail_next(kind, after=k - 1)
        try:
            result = request()
        finally:
            appwrite.clear_faults()
        method, path = appwrite.requests[k - 1] if len(appwrite.requests) >= k else ("?", "?")
        where = f"{operation.name}: {kind} at step {k} ({method} {path}) -> {result}"
        json.dumps(result.json)
        figures["cases"] += 1
        if result.status == 503:
            assert result.error == "upstream_unavailable", where
            figures["answered_503"] += 1
        else:
            assert result.status in operation.ok, where
            figures["answered_success"] += 1
        assert violations(appwrite) == [], where

        if result.status == 503:  # the caller retries what failed (a success is not repeated: a second
            again = _run(appwrite, request)  # transfer by the old assignee is rightly refused)
            assert again.status in operation.ok, f"{where}; retry -> {again}"
            assert violations(appwrite) == [], f"{where}; after the retry"
            figures["retries_ok"] += 1


def test_applied_timeout_on_the_message_create_never_doubles_it(appwrite, widget):
    appwrite.fail_next("applied_timeout", match=r"^POST .*/tables/messages/rows")
    first = widget.say("did this arrive?", id="retry-me")
    assert first.status == 200 and first.json["duplicate"] is False, first  # tried again: met its own row
    assert violations(appwrite) == []
    again = widget.say("did this arrive?", id="retry-me")
    assert again.status == 200 and again.json["duplicate"] is True, again
    assert again.json["message"]["messageId"] == first.json["message"]["messageId"]
    stored = [m for m in rows(appwrite, "messages") if m["clientMessageId"] == "retry-me"]
    assert len(stored) == 1
    assert appwrite.engine.get_row("chat", "sessions", widget.session_id)["messageCount"] == 1
    assert violations(appwrite) == []


def test_a_message_whose_create_fails_twice_is_taken_back(appwrite, widget):
    appwrite.fail_next("503", match=r"^POST .*/tables/messages/rows")
    appwrite.fail_next("503", match=r"^POST .*/tables/messages/rows")
    failed = widget.say("lost?", id="lost-1")
    assert (failed.status, failed.error) == (503, "upstream_unavailable")
    assert appwrite.engine.get_row("chat", "sessions", widget.session_id)["messageCount"] == 0  # taken back
    assert violations(appwrite) == []
    assert widget.say("lost?", id="lost-1").json["duplicate"] is False


def test_applied_timeout_on_the_count_keeps_the_message(appwrite, widget):
    appwrite.fail_next("applied_timeout", match=r"^PATCH .*/tables/sessions/rows")
    first = widget.say("counted?", id="count-me")
    assert first.status == 200, first  # the admission landed: read back, its nonce in the write log
    assert first.json["session"]["messageCount"] == 1
    assert violations(appwrite) == []
    assert widget.say("counted?", id="count-me").json["duplicate"] is True
    assert violations(appwrite) == []


def test_applied_timeout_on_a_claim_is_confirmed_by_its_write_log(appwrite):
    w = escalated()
    appwrite.fail_next("applied_timeout", match=r"^PATCH .*/tables/sessions/rows")
    result = claim(w.session_id)
    assert result.status == 200 and result.json["changed"] is True, result
    assert violations(appwrite) == []


def test_a_fold_cut_short_is_finished_by_the_next_and_the_summary_is_exact_meanwhile(appwrite):
    """A counter write whose answer is lost (or that fails) stops the fold; readers still see the exact summary,
    and the next fold finishes the batch without counting anything twice."""
    claimed("agent-alice")
    escalated()
    appwrite.fail_next("applied_timeout", match=_is_counter_write)  # the first counter row it writes
    cut = execute("list-sessions", trigger="schedule")
    assert (cut.status, cut.error) == (503, "upstream_unavailable")
    assert [r for r in rows(appwrite, "sessions") if r["foldBatch"] == 1]  # marked, batch not finished
    assert violations(appwrite) == []  # summary exact, counter rows as the ledger says
    appwrite.fail_next("503", match=_is_counter_write)  # finishing it: the global row fails this time
    assert execute("list-sessions", trigger="schedule").status == 503
    assert violations(appwrite) == []
    finished = execute("list-sessions", trigger="schedule")
    assert (finished.json["folded"], finished.json["skipped"]) == (2, None), finished
    assert violations(appwrite) == []
    assert not [r for r in rows(appwrite, "sessions") if r["dirty"]]
    assert {r["$id"]: r["batch"] for r in rows(appwrite, "counters")} == {"global": 1, counter_row_id("agent-alice"): 1}


def test_a_retried_write_goes_out_again_only_under_the_same_row_id(appwrite, widget):
    """Only idempotent writes are tried again: a message create (by its row ID), read-backs. One failed create is
    two POSTs of the same row, and the message is stored once."""
    appwrite.fail_next("503", match=r"^POST .*/tables/messages/rows")
    widget.say("once", id="x1")
    posts = [path for method, path in appwrite.requests if method == "POST" and "/tables/messages/rows" in path]
    assert len(posts) == 2
    assert len([m for m in rows(appwrite, "messages") if m["clientMessageId"] == "x1"]) == 1
