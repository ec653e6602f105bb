"""The local stack end to end: a throwaway appwrite.json and function, the real SDK, real HTTP."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

import pytest
from appwrite.client import Client
from appwrite.exception import AppwriteException
from appwrite.services.account import Account
from appwrite.services.functions import Functions
from appwrite.services.tables_db import TablesDB

from devstack.functions import Cron, event_matches, event_names
from devstack.server import Stack

# One module serves every test function; it branches on trigger and path, not on env (shared).
PROBE = '''
import os

from appwrite.client import Client
from appwrite.exception import AppwriteException
from appwrite.services.account import Account
from appwrite.services.functions import Functions
from appwrite.services.tables_db import TablesDB

from .helpers import VERSION  # relative imports work as in the runtime


def _db(context):
    client = (Client().set_endpoint(os.environ["APPWRITE_FUNCTION_API_ENDPOINT"])
              .set_project(os.environ["APPWRITE_FUNCTION_PROJECT_ID"])
              .set_key(context.req.headers["x-appwrite-key"]))
    return TablesDB(client)


def main(context):
    req = context.req
    trigger = req.headers["x-appwrite-trigger"]
    if trigger == "event":
        _db(context).create_row("app", "seen", "unique()",
                                {"event": req.headers["x-appwrite-event"], "noteId": req.body["$id"]})
        return context.res.empty()
    if trigger == "schedule":
        context.log("tick")
        return context.res.json({"trigger": trigger})
    if req.path == "/boom":
        raise RuntimeError("boom")
    if req.path == "/relay":  # call another function as the calling user, with the execution's JWT
        client = (Client().set_endpoint(os.environ["APPWRITE_FUNCTION_API_ENDPOINT"])
                  .set_project(os.environ["APPWRITE_FUNCTION_PROJECT_ID"])
                  .set_jwt(req.headers["x-appwrite-user-jwt"]))
        inner = Functions(client).create_execution("agents-only")
        return context.res.text(inner.responsebody)
    if req.path == "/write":
        try:
            row = _db(context).create_row("app", "notes", "unique()", {"text": "hi"})
        except AppwriteException as exc:
            return context.res.json({"code": exc.code, "type": exc.type}, 502)
        return context.res.json({"id": row.id}, 201)
    context.log("echo", VERSION)
    context.error("to stderr")
    return context.res.json({"headers": req.headers, "body": req.body_text, "method": req.method,
                             "path": req.path, "query": req.query})
'''


def _function(fid: str, execute: list[str], scopes: list[str], **extra: object) -> dict:
    return {"$id": fid, "name": fid, "runtime": "python-3.12", "execute": execute, "events": [],
            "scopes": scopes, "schedule": "", "timeout": 5, "enabled": True,
            "entrypoint": "functions/probe/src/main.py", "path": ".", **extra}


def _table(tid: str, columns: list[str]) -> dict:
    return {"$id": tid, "$permissions": [], "databaseId": "app", "name": tid, "enabled": True,
            "rowSecurity": False, "indexes": [],
            "columns": [{"key": c, "type": "string", "required": False, "array": False, "size": 300}
                        for c in columns]}


CONFIG = {
    "projectId": "test-project",
    "tablesDB": [{"$id": "app", "name": "app", "enabled": True}],
    "tables": [_table("notes", ["text"]), _table("seen", ["event", "noteId"])],
    "functions": [
        _function("echo", ["any"], []),
        _function("writer", ["any"], ["rows.write"]),
        _function("reader", ["any"], ["rows.read"]),
        _function("agents-only", ["label:agent"], []),
        _function("on-note", [], ["rows.write"], events=["databases.*.tables.notes.rows.*.create"]),
        _function("ticker", [], [], schedule="*/5 * * * *"),
    ],
}


@pytest.fixture
def stack(tmp_path: Path):
    (tmp_path / "appwrite.json").write_text(json.dumps(CONFIG))
    src = tmp_path / "functions" / "probe" / "src"
    src.mkdir(parents=True)
    (src / "main.py").write_text(PROBE)
    (src / "helpers.py").write_text("VERSION = 'v1'\n")
    (tmp_path / ".env").write_text("# comment\nexport PROBE_SETTING='from-dotenv'\n")
    with Stack(tmp_path, data_dir=tmp_path / "data", port=0, run_scheduler=False, max_body=4096,
               socket_timeout=0.3) as running:
        yield running


def _client(stack: Stack, key: bool = True, impersonate: str = "") -> Client:
    client = Client().set_endpoint(stack.endpoint).set_project(stack.project_id)
    if key:
        client.set_key(stack.api_key)
    if impersonate:
        client.add_header("x-appwrite-impersonate-user-id", impersonate)
    return client


def _raw(stack: Stack, method: str, path: str, body: bytes = b"", headers: dict | None = None):
    request = urllib.request.Request(f"http://127.0.0.1:{stack.port}{path}", data=body or None,
                                     method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.headers, exc.read()


def test_sdk_execution_returns_the_function_response(stack: Stack) -> None:
    functions = Functions(_client(stack))
    execution = functions.create_execution(
        "echo", body="hello", path="/x?a=1", method="PUT",
        headers={"X-Custom": "1"})
    assert execution.responsestatuscode == 200
    assert execution.status.value == "completed" and execution.trigger.value == "http"
    answer = json.loads(execution.responsebody)
    headers = answer["headers"]
    assert (answer["method"], answer["path"], answer["query"]) == ("PUT", "/x", {"a": "1"})
    assert answer["body"] == "hello"
    assert headers["x-custom"] == "1" and headers["x-appwrite-trigger"] == "http"
    assert "x-appwrite-user-id" not in headers and headers["x-appwrite-key"].startswith("devexec_")
    assert headers["x-appwrite-execution-id"] == execution.id
    assert headers["x-appwrite-client-ip"] == "127.0.0.1"
    assert execution.logs == "echo v1" and execution.errors == "to stderr"
    assert {h.name for h in execution.requestheaders} <= {"content-type", "x-appwrite-client-ip"}
    assert functions.get_execution("echo", execution.id).responsebody == execution.responsebody
    # The per-execution key died with the execution.
    with pytest.raises(AppwriteException) as dead:
        TablesDB(_client(stack, key=False).set_key(headers["x-appwrite-key"])).list_rows("app", "notes")
    assert dead.value.code == 401


def test_environment_is_set_for_functions(stack: Stack) -> None:
    import os

    assert os.environ["APPWRITE_FUNCTION_API_ENDPOINT"] == stack.endpoint
    assert os.environ["APPWRITE_FUNCTION_PROJECT_ID"] == "test-project"
    assert os.environ["PROBE_SETTING"] == "from-dotenv"


def test_execution_key_has_exactly_the_function_scopes(stack: Stack) -> None:
    functions = Functions(_client(stack))
    written = functions.create_execution("writer", path="/write")
    assert written.responsestatuscode == 201
    row_id = json.loads(written.responsebody)["id"]
    assert stack.engine.get_row("app", "notes", row_id)["text"] == "hi"
    denied = functions.create_execution("reader", path="/write")
    assert denied.responsestatuscode == 502
    assert json.loads(denied.responsebody)["code"] == 401


def test_execute_permissions(stack: Stack) -> None:
    guest = Functions(_client(stack, key=False))
    assert guest.create_execution("echo").responsestatuscode == 200  # execute: any
    with pytest.raises(AppwriteException) as refused:
        guest.create_execution("agents-only")
    assert (refused.value.code, refused.value.type) == (401, "user_unauthorized")

    as_alice = Functions(_client(stack, impersonate="agent-alice")).create_execution("agents-only")
    headers = json.loads(as_alice.responsebody)["headers"]
    assert headers["x-appwrite-user-id"] == "agent-alice" and headers["x-appwrite-user-jwt"]
    with pytest.raises(AppwriteException) as admin:
        Functions(_client(stack, impersonate="admin-ada")).create_execution("agents-only")
    assert admin.value.code == 401

    stack.add_user("agent-carol", "Carol", ["agent"])
    status, _, body = _raw(stack, "POST", "/v1/functions/agents-only/executions", b"{}",
                           {"x-devstack-user": "agent-carol", "content-type": "application/json"})
    record = json.loads(body)
    assert status == 201 and record["responseStatusCode"] == 200
    assert record["logs"] == ""  # logs and errors go to API-key callers only

    relayed = Functions(_client(stack, impersonate="agent-bob")).create_execution("echo", path="/relay")
    assert json.loads(relayed.responsebody)["headers"]["x-appwrite-user-id"] == "agent-bob"


def test_dev_user_header_needs_dev_mode(stack: Stack, tmp_path: Path) -> None:
    stack.stop()
    with Stack(tmp_path, data_dir=tmp_path / "data", port=0, run_scheduler=False, dev_mode=False) as strict:
        status, _, body = _raw(strict, "POST", "/v1/functions/agents-only/executions", b"{}",
                               {"x-devstack-user": "agent-alice"})
    assert (status, json.loads(body)["type"]) == (401, "user_unauthorized")


def test_row_events_run_matching_functions_asynchronously(stack: Stack) -> None:
    row = TablesDB(_client(stack)).create_row("app", "notes", "note-1", {"text": "hello"})
    assert stack.wait_idle(5)
    seen = stack.engine.list_rows("app", "seen")["rows"]
    assert [(s["noteId"], s["event"]) for s in seen] == [
        (row.id, "databases.app.collections.notes.documents.note-1.create")]
    runs = stack.runtime.list_executions("on-note")
    assert [(r["trigger"], r["status"], r["responseStatusCode"]) for r in runs] == [
        ("event", "completed", 204)]


def test_event_names_and_patterns() -> None:
    names = event_names("chat", "messages", "m1", "update")
    assert names[0] == "databases.chat.collections.messages.documents.m1.update"
    for pattern in ("databases.*.tables.messages.rows.*.update", "tablesdb.chat.tables.*.rows.m1",
                    "databases.*.collections.*.documents.*", "databases.chat"):
        assert event_matches(pattern, names), pattern
    for pattern in ("databases.*.tables.messages.rows.*.create", "databases.other", "users.*.create"):
        assert not event_matches(pattern, names), pattern


def test_schedules_fire_on_demand_and_by_minute(stack: Stack) -> None:
    waiting = stack.fire_schedule("ticker")
    assert waiting["status"] in ("waiting", "processing", "completed")
    assert stack.wait_idle(5)
    done = Functions(_client(stack)).get_execution("ticker", waiting["$id"])
    assert (done.trigger.value, done.status.value, done.logs) == ("schedule", "completed", "tick")
    assert len(stack.scheduler.tick(datetime(2030, 1, 1, 10, 5, 30, tzinfo=timezone.utc))) == 1
    assert stack.scheduler.tick(datetime(2030, 1, 1, 10, 5, 59, tzinfo=timezone.utc)) == []  # once per minute
    assert stack.scheduler.tick(datetime(2030, 1, 1, 10, 6, tzinfo=timezone.utc)) == []
    assert stack.wait_idle(5)
    status, _, body = _raw(stack, "POST", "/v1/devstack/schedules/ticker",
                           headers={"x-appwrite-key": stack.api_key})
    assert status == 200 and json.loads(body)["status"] == "completed"


@pytest.mark.parametrize(("expression", "when", "expected"), [
    ("*/5 * * * *", (2030, 1, 1, 10, 15), True),
    ("*/5 * * * *", (2030, 1, 1, 10, 16), False),
    ("0 9-17 * * 1-5", (2030, 1, 7, 12, 0), True),  # a Monday
    ("0 9-17 * * 1-5", (2030, 1, 6, 12, 0), False),  # a Sunday
    ("0,30 * 1 * 0", (2030, 1, 6, 0, 30), True),  # day-of-month OR day-of-week
    ("@hourly", (2030, 1, 1, 3, 0), True),
])
def test_cron(expression: str, when: tuple, expected: bool) -> None:
    assert Cron(expression).matches(datetime(*when, tzinfo=timezone.utc)) is expected


def test_async_execution_returns_waiting_then_completes(stack: Stack) -> None:
    functions = Functions(_client(stack))
    queued = functions.create_execution("echo", xasync=True)
    assert queued.status.value in ("waiting", "processing", "completed") and queued.responsebody == ""
    assert stack.wait_idle(5)
    assert functions.get_execution("echo", queued.id).responsestatuscode == 200


def test_uncaught_exception_is_a_bare_500(stack: Stack) -> None:
    execution = Functions(_client(stack)).create_execution("echo", path="/boom")
    assert (execution.responsestatuscode, execution.status.value) == (500, "failed")
    assert execution.responsebody == ""
    assert "RuntimeError: boom" in execution.errors


@pytest.mark.parametrize(("path", "body", "headers", "status", "kind"), [
    ("/v1/functions/echo/executions", b"{nope", {}, 400, "general_argument_invalid"),
    ("/v1/functions/echo/executions", b"[1]", {}, 400, "general_argument_invalid"),
    ("/v1/functions/echo/executions", b'{"method": "BREW"}', {}, 400, "general_argument_invalid"),
    ("/v1/functions/echo/executions", b'{"headers": 3}', {}, 400, "general_argument_invalid"),
    ("/v1/functions/echo/executions", b"x" * 5000, {}, 413, "general_argument_invalid"),
    ("/v1/functions/missing/executions", b"{}", {}, 404, "function_not_found"),
    ("/v1/functions/echo/executions", b"{}", {"x-appwrite-key": "wrong"}, 401, "user_unauthorized"),
    ("/v1/functions/echo/executions", b"{}", {"x-appwrite-project": "other"}, 404, "project_not_found"),
    ("/v1/functions/echo/executions", b"{}", {"host": "evil.example:80"}, 403, "general_access_forbidden"),
    ("/elsewhere", b"", {}, 404, "general_route_not_found"),
])
def test_malformed_requests_get_json_errors(stack: Stack, path: str, body: bytes, headers: dict,
                                           status: int, kind: str) -> None:
    got, answer_headers, answer = _raw(stack, "POST", path, body, headers)
    error = json.loads(answer)
    assert (got, error["type"], error["code"]) == (status, kind, status)
    assert answer_headers["content-type"] == "application/json"


def test_protocol_garbage_and_slow_clients(stack: Stack) -> None:
    with socket.create_connection(("127.0.0.1", stack.port), timeout=5) as sock:
        sock.sendall(b"NONSENSE\r\n\r\n")
        answer = _read_to_end(sock)
    assert answer.startswith(b"HTTP/1.1 400") and b'"type": "general_argument_invalid"' in answer
    with socket.create_connection(("127.0.0.1", stack.port), timeout=5) as idle:
        idle.sendall(b"POST /v1/functions/echo/executions HTTP/1.1\r\ncontent-length: 10\r\n\r\n{")
        # The server gives up on the stalled body after its socket timeout; others are served meanwhile.
        assert Functions(_client(stack)).create_execution("echo").responsestatuscode == 200
        assert idle.recv(4096) == b""


def _read_to_end(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(4096):
        chunks.append(chunk)
    return b"".join(chunks)


def test_data_and_key_survive_restarts(stack: Stack, tmp_path: Path) -> None:
    TablesDB(_client(stack)).create_row("app", "notes", "kept", {"text": "x"})
    stack.wait_idle(5)
    key = stack.api_key
    stack.stop()
    with Stack(tmp_path, data_dir=tmp_path / "data", port=0, run_scheduler=False) as again:
        assert again.api_key == key
        assert again.engine.get_row("app", "notes", "kept")["text"] == "x"
    with Stack(tmp_path, data_dir=tmp_path / "data", port=0, run_scheduler=False, reset=True) as fresh:
        assert fresh.engine.list_rows("app", "notes")["total"] == 0


def test_every_user_signs_in_with_email_not_only_the_first_page(stack: Stack) -> None:
    """Issue 18, item 11: the email sign-in looked the user up in the first page of 25 users, so with 300 agents,
    278 could not sign in. Every one can, whatever the case of the address."""
    from stack_support import sign_in

    agents = [f"agent-{n:03d}" for n in range(300)]
    for agent in agents:
        stack.add_user(agent, labels=["agent"])
    for agent in (agents[0], agents[24], agents[25], agents[-1]):
        jwt = sign_in(stack, agent)
        assert Account(Client().set_endpoint(stack.endpoint).set_project(stack.project_id).set_jwt(jwt)).get().id \
            == agent
    status, _, _ = _raw(stack, "POST", "/v1/account/sessions/email", json.dumps(
        {"email": "AGENT-299@EXAMPLE.TEST", "password": stack.dev_password}).encode(),
        {"content-type": "application/json", "x-appwrite-project": stack.project_id})
    assert status == 201
    status, _, _ = _raw(stack, "POST", "/v1/account/sessions/email", json.dumps(
        {"email": "agent-300@example.test", "password": stack.dev_password}).encode(),
        {"content-type": "application/json", "x-appwrite-project": stack.project_id})
    assert status == 401  # no such user: still refused
