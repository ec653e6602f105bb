"""Attacks on every function, over real HTTP on the local stack, which delivers executions as Appwrite does.

Callers can send `X-Appwrite-*` headers in mixed case and their value wins (docs/platform.md); the executor adds
`Authorization: Basic` to every execution. None of that may buy anything: each forgery gets a clear 4xx, or the
answer an honest caller would get, and writes nothing.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from appwrite.exception import AppwriteException
from stack_support import Party, function_variables

from devstack.server import Stack

ADMIN_SECRET, BOT_SECRET = "sec-admin-secret", "sec-bot-secret"
TABLES = ("sessions", "messages", "counters", "jobs")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with function_variables({"ADMIN_SECRET": ADMIN_SECRET, "BOT_SECRET": BOT_SECRET}), \
            Stack(data_dir=tmp_path_factory.mktemp("security"), port=0, run_scheduler=False) as running:
        yield running


@pytest.fixture(scope="module")
def victim(stack):
    """A waiting session held by agent-alice, with a message, that attackers aim at."""
    widget = Party(stack, key=False)
    _, created = widget.run("create-session", {})
    session_id, token = created["sessionId"], created["token"]
    widget.run("touch-session", {"sessionId": session_id, "message": {"text": "hello"}},
               headers={"x-session-token": token})
    widget.run("escalate", {"sessionId": session_id}, headers={"x-session-token": token})
    assert Party(stack, signed_in="agent-alice").run("assign-agent", {"sessionId": session_id},
                                                     path="/claim")[0] == 200
    assert stack.wait_idle(10)
    return session_id


def snapshot(stack: Stack) -> dict:
    assert stack.wait_idle(10)
    limit = json.dumps({"method": "limit", "values": [5000]})
    return {table: stack.engine.list_rows("chat", table, [limit])["rows"] for table in TABLES}


FORGED_IDENTITIES = [
    {"X-Appwrite-User-Id": "admin-ada"},
    {"X-APPWRITE-USER-ID": "agent-alice"},
    {"Authorization": f"Bearer {ADMIN_SECRET}"},  # the executor overwrites this spelling
    {"authorization": f"Bearer {ADMIN_SECRET}"},  # this one arrives: and is ignored
    {"authorization": "Basic b3ByOnNlY3JldA=="},
    {"X-Appwrite-User-Jwt": "eyJhbGciOiJIUzI1NiJ9.eyJ1c2VySWQiOiJhZG1pbi1hZGEifQ.c2ln"},
    {"X-Chat-JWT": "forged"},
    {"X-Chat-Secret": "guess"},
    {"X-Chat-Secret": BOT_SECRET[:-1]},
]


def staff_calls(session_id: str) -> list[tuple[str, str, str, dict | None]]:
    """Every route that needs more than a guest has, aimed at someone else's session."""
    return [
        ("list-sessions", "GET", "/", None),
        ("list-sessions", "GET", f"/{session_id}", None),
        ("list-sessions", "GET", f"/{session_id}/messages", None),
        ("list-sessions", "GET", f"/{session_id}/export?format=csv", None),
        ("list-sessions", "POST", "/recount", {}),
        ("assign-agent", "POST", "/claim", {"sessionId": session_id}),
        ("assign-agent", "POST", "/assign", {"sessionId": session_id, "agentId": "agent-bob"}),
        ("assign-agent", "POST", "/transfer", {"sessionId": session_id, "agentId": "agent-bob"}),
        ("assign-agent", "POST", "/unassign", {"sessionId": session_id}),
        ("close-session", "POST", "/", {"sessionId": session_id}),
        ("escalate", "POST", "/", {"sessionId": session_id}),
        ("touch-session", "POST", "/", {"sessionId": session_id, "message": {"role": "agent", "text": "pwned"}}),
        ("touch-session", "POST", "/", {"sessionId": session_id, "message": {"role": "bot", "text": "pwned"}}),
        ("touch-session", "POST", "/", {"sessionId": session_id}),
        ("touch-session", "GET", f"/messages?sessionId={session_id}", None),
        ("touch-session", "GET", f"/export?sessionId={session_id}", None),
    ]


@pytest.mark.parametrize("forged", FORGED_IDENTITIES, ids=lambda h: next(iter(h)) + ":" + next(iter(h.values()))[:12])
def test_forged_identities_gain_nothing_anywhere(stack, victim, forged):
    """A guest where Appwrite lets guests in; a server with the API key elsewhere (Appwrite lets API keys run
    every function, and the function must still not take the caller for anyone)."""
    before = snapshot(stack)
    guest, server = Party(stack, key=False, headers=forged), Party(stack, headers=forged)
    for function_id, method, path, body in staff_calls(victim):
        caller = server if function_id in ("list-sessions", "assign-agent") else guest
        status, answer = caller.run(function_id, body, path=path, method=method)
        assert status in (401, 403), (function_id, path, status, answer)
        assert set(answer) == {"error"} and answer["error"]["code"], answer
    with pytest.raises(AppwriteException) as refused:  # and Appwrite itself keeps guests out of those two
        guest.run("list-sessions", method="GET")
    assert refused.value.code == 401
    assert snapshot(stack) == before


def test_the_old_bearer_secret_no_longer_works_and_the_new_header_does(stack):
    assert Party(stack, headers={"authorization": f"Bearer {ADMIN_SECRET}"}).run(
        "list-sessions", method="GET")[0] == 401
    assert Party(stack, headers={"X-Chat-Secret": ADMIN_SECRET}).run("list-sessions", method="GET")[0] == 200


def test_a_forged_execution_key_is_refused_by_appwrite_and_writes_nothing(stack, victim):
    before = snapshot(stack)
    forger = Party(stack, key=False, headers={"X-Appwrite-Key": "dynamic_forged"})
    for function_id, body in (("create-session", {}), ("escalate", {"sessionId": victim}),
                              ("close-session", {"sessionId": victim}), ("touch-session", {"sessionId": victim})):
        status, answer = forger.run(function_id, body)
        assert (status, answer["error"]["code"]) == (401, "execution_key_refused"), function_id
    assert snapshot(stack) == before


def test_a_forged_event_for_a_message_never_stored_does_nothing(stack, victim):
    widget = Party(stack, key=False)
    _, fresh = widget.run("create-session", {})
    before = snapshot(stack)
    for session_id in (fresh["sessionId"], victim):
        payload = {"$id": "m_forged", "sessionId": session_id, "role": "user", "text": "a human please"}
        status, answer = widget.run("escalate", payload, headers={
            "X-Appwrite-Trigger": "event", "X-Appwrite-Event": "databases.chat.tables.messages.rows.m_forged.create"})
        assert (status, answer["error"]["code"]) == (404, "message_not_found")
    assert snapshot(stack) == before


def test_a_forged_event_acts_only_on_the_stored_row(stack):
    widget = Party(stack, key=False)
    _, created = widget.run("create-session", {})
    me = {"x-session-token": created["token"]}
    _, said = widget.run("touch-session", {"sessionId": created["sessionId"], "message": {"text": "all good"}},
                         headers=me)
    assert stack.wait_idle(10)
    before = snapshot(stack)
    message_id = said["message"]["messageId"]
    lie = {"$id": message_id, "sessionId": created["sessionId"], "role": "bot", "handoff": True, "text": "human"}
    status, answer = widget.run("escalate", lie, headers={
        "X-Appwrite-Trigger": "event", "X-Appwrite-Event": f"databases.chat.tables.messages.rows.{message_id}.create"})
    assert (status, answer) == (200, {"ignored": "no escalation rule matched"})
    assert snapshot(stack) == before


def test_forged_schedule_calls_cannot_amplify_the_idle_sweep(stack):
    widget = Party(stack, key=False)
    forged = {"X-Appwrite-Trigger": "schedule"}
    first = widget.run("close-session", {}, headers=forged)[1]  # may start a sweep, as the schedule would
    assert first.get("skipped") == "ran_recently" or "checked" in first
    _, idle = widget.run("create-session", {})
    long_ago = (datetime.now(timezone.utc) - timedelta(hours=2)).isoformat()
    stack.engine.update_row("chat", "sessions", idle["sessionId"], {"lastSeen": long_ago})
    before = snapshot(stack)
    for _ in range(5):
        status, answer = widget.run("close-session", {}, headers=forged)
        assert (status, answer) == (200, {"skipped": "ran_recently", "closed": 0, "checked": 0,
                                           "deleted": 0, "closedAsEmpty": 0})
    assert snapshot(stack) == before  # the idle session waits for the next real sweep


def test_a_forged_schedule_call_on_list_sessions_only_folds_the_counters(stack):
    """Its schedule moves pending sessions into the counters (work any summary reader would do, done once) and
    auto-assigns what events missed (work any escalation would do; nobody is available here). A forged call (only
    agents may execute list-sessions at all) shows nothing and changes no session's state."""
    agent = Party(stack, signed_in="agent-alice")
    Party(stack, key=False).run("create-session", {})
    rows_before = {r["$id"]: r for r in snapshot(stack)["sessions"]}
    status, answer = agent.run("list-sessions", {}, headers={"X-Appwrite-Trigger": "schedule"})
    assert status == 200 and set(answer) == {"folded", "skipped", "auditMoved", "autoAssigned",
                                             "agentLoadsRepaired", "queueWritten"}, answer
    assert answer["autoAssigned"] == 0
    for row_id, row in {r["$id"]: r for r in snapshot(stack)["sessions"]}.items():
        lifecycle = ("status", "needsHuman", "assignedAgent", "messageCount", "lastSeen", "closedAt")
        assert {k: row[k] for k in lifecycle} == {k: rows_before[row_id][k] for k in lifecycle}
        assert row["dirty"] is False


@pytest.mark.parametrize("trigger", ["event", "schedule"])
def test_a_forged_trigger_on_a_function_without_that_handler_is_plain_http(stack, trigger):
    guest = Party(stack, key=False, headers={"X-Appwrite-Trigger": trigger})
    status, created = guest.run("create-session", {})
    assert status == 201 and created["status"] == "active"
    heartbeat = Party(stack, key=False, headers={"X-Appwrite-Trigger": trigger}).run(
        "touch-session", {"sessionId": created["sessionId"]})  # no token: an HTTP call, refused as one
    assert (heartbeat[0], heartbeat[1]["error"]["code"]) == (403, "not_owner")
    page = Party(stack, key=False, headers={"X-Appwrite-Trigger": trigger}).functions.create_execution(
        "agent-console", method="GET")
    assert page.responsestatuscode == 200


def test_a_forged_user_jwt_is_a_401_not_an_anonymous_visitor(stack):
    before = snapshot(stack)
    status, answer = Party(stack, key=False, headers={"X-Appwrite-User-Jwt": "a.b.c"}).run("create-session", {})
    assert (status, answer["error"]["code"]) == (401, "invalid_credentials")
    assert snapshot(stack) == before


def test_an_admin_who_opened_a_session_keeps_admin_rights_on_it(stack):
    ada = Party(stack, signed_in="admin-ada")
    status, created = ada.run("create-session", {})
    assert status == 201
    session_id = created["sessionId"]
    assert ada.run("escalate", {"sessionId": session_id})[0] == 200
    assert ada.run("assign-agent", {"sessionId": session_id, "agentId": "agent-bob"}, path="/assign")[0] == 200
    status, answer = ada.run("assign-agent", {"sessionId": session_id}, path="/unassign")
    assert status == 200 and answer["session"]["assignedAgent"] is None
