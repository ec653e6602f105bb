"""Fixtures for the function tests: a stateful fake of Appwrite behind `responses`, and a runtime context."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the `devstack` package lives at the repo root

from chat_core.infra import users  # noqa: E402

from bench import ROOMY_BUDGETS  # noqa: E402  (tests not about the budgets run with these)
from devstack.context import RuntimeContext, RuntimeRequest  # noqa: E402
from devstack.fake import FakeAppwrite  # noqa: E402
from devstack.functions import executor_headers, runtime_headers  # noqa: E402

ENDPOINT, PROJECT, KEY = "http://appwrite.test/v1", "test-project", "test-key"
ADMIN_SECRET, BOT_SECRET = "admin-secret-for-tests", "bot-secret-for-tests"
USERS = {"agent-alice": ["agent"], "agent-bob": ["agent"], "admin-ada": ["admin"], "visitor-vic": []}
_modules: dict[str, object] = {}
_fake: list[FakeAppwrite] = []  # the running fake, so `execute` can sign users in
_jwts: dict[str, str] = {}  # one JWT per user while a fake runs, as a signed-in console keeps one


def load_main(function_id: str):
    """A function's `main`, loaded from its entrypoint file as the local stack does."""
    if function_id not in _modules:
        path = ROOT / "functions" / function_id / "src" / "main.py"
        spec = importlib.util.spec_from_file_location(f"fn_{function_id.replace('-', '_')}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _modules[function_id] = module
    return _modules[function_id].main


def strict_json(text: str | bytes):
    """JSON as a browser's JSON.parse reads it: NaN, Infinity and -Infinity are syntax errors."""
    def refuse(name: str):
        raise ValueError(f"{name} is not JSON")
    return json.loads(text, parse_constant=refuse)


class Result:
    def __init__(self, output: dict, context: RuntimeContext) -> None:
        self.status = output["statusCode"]
        self.headers = output["headers"]
        self.body = output["body"]  # as the function wrote it: what the executor sends on
        self.json = strict_json(output["body"])  # every answer any test sees must be JSON a browser can read
        self.context = context

    @property
    def error(self) -> str | None:
        return self.json.get("error", {}).get("code") if isinstance(self.json, dict) else None

    def __repr__(self) -> str:
        return f"<{self.status} {self.json}>"


def jwt_for(user: str) -> str:
    """A JWT of a signed-in session of `user`, issued by the running fake's accounts (the same one each time)."""
    if user not in _jwts:
        accounts = _fake[-1].api.accounts
        _jwts[user] = accounts.create_jwt(accounts.dev_session(user))
    return _jwts[user]


def execute(function_id: str, body=None, *, method: str = "POST", path: str = "/", headers: dict | None = None,
            user: str | None = None, token: str | None = None, secret: str | None = None,
            trigger: str = "http", event: str | None = None, raw: bytes | None = None) -> Result:
    """Run a function's main with the headers as Appwrite, its executor and the runtime deliver them: the caller's
    `headers` first (a repeated name keeps the caller's value), then Appwrite's own (`user`: a caller signed in
    with a session, so it gets `x-appwrite-user-jwt`), then the executor's `Authorization: Basic`."""
    sent = list({"content-type": "application/json", **(headers or {})}.items())
    if token:
        sent.append(("x-session-token", token))
    if secret:
        sent.append(("x-chat-secret", secret))
    own = {"x-appwrite-key": KEY, "x-appwrite-trigger": trigger, "x-appwrite-user-id": user or "",
           "x-appwrite-user-jwt": jwt_for(user) if user else "", "x-appwrite-event": event or ""}
    sent += [(name, value) for name, value in own.items() if value]
    delivered = runtime_headers(executor_headers(sent, "executor-secret", 15))
    payload = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
    context = RuntimeContext(RuntimeRequest(method, path, delivered, payload))
    return Result(load_main(function_id)(context), context)


@pytest.fixture
def appwrite(monkeypatch):
    monkeypatch.setenv("APPWRITE_FUNCTION_API_ENDPOINT", ENDPOINT)
    monkeypatch.setenv("APPWRITE_FUNCTION_PROJECT_ID", PROJECT)
    monkeypatch.setenv("ADMIN_SECRET", ADMIN_SECRET)
    monkeypatch.setenv("BOT_SECRET", BOT_SECRET)
    for name, value in ROOMY_BUDGETS.items():
        monkeypatch.setenv(name, value)
    # The fake runs no event function, so no bot answers here unless a test about the FAQ bot turns it on
    # (tests/test_bot_inline.py): touch-session then answers in the visitor's write, as deployed by default.
    monkeypatch.setenv("BOT_INLINE", "off")
    with fake_appwrite() as fake:
        yield fake


@contextmanager
def fake_appwrite() -> Iterator[FakeAppwrite]:
    """The fake Appwrite with the test users, which `execute` then runs functions against."""
    users.MEMORY.clear()
    _jwts.clear()
    with FakeAppwrite(ROOT / "appwrite.json", endpoint=ENDPOINT, project=PROJECT, key=KEY) as fake:
        for user_id, labels in USERS.items():
            fake.engine.put_user(user_id, user_id, labels)
        _fake.append(fake)
        try:
            yield fake
        finally:
            _fake.remove(fake)


EVENT_SPELLINGS = [  # every way Appwrite names a new message row's event (docs/platform.md)
    "databases.chat.collections.messages.documents.{id}.create",
    "databases.chat.tables.messages.rows.{id}.create",
    "tablesdb.chat.tables.messages.rows.{id}.create",
]


def deliver(message_row: dict, spelling: str = EVENT_SPELLINGS[0]) -> Result:
    """Appwrite delivering a message row's create event to `escalate`."""
    return execute("escalate", message_row, trigger="event", event=spelling.format(id=message_row["$id"]))


class Widget:
    """A visitor's widget: creates a session and keeps its token. `user`: the visitor signed in (the widget signs
    every visitor in anonymously when it can): the session has an owner, whose own budgets it spends."""

    def __init__(self, *, user: str | None = None, **body) -> None:
        result = execute("create-session", body, user=user)
        assert result.status == 201, result
        self.session_id = result.json["sessionId"]
        self.token = result.json["token"]
        self.created = result.json

    def say(self, text: str, **extra) -> Result:
        return execute("touch-session", {"sessionId": self.session_id, "message": {"text": text, **extra}},
                       token=self.token)


@pytest.fixture
def widget(appwrite) -> Widget:
    return Widget()


def row(fake: FakeAppwrite, table: str, row_id: str) -> dict:
    return fake.engine.get_row("chat", table, row_id)


def rows(fake: FakeAppwrite, table: str) -> list[dict]:
    return fake.engine.list_rows("chat", table, [json.dumps({"method": "limit", "values": [5000]})])["rows"]


def listed(session_id: str) -> dict:
    """The session as an admin's list-sessions shows it (GET /{id})."""
    answer = execute("list-sessions", method="GET", path=f"/{session_id}", secret=ADMIN_SECRET)
    assert answer.status == 200, answer
    return answer.json.get("session", answer.json)


class Clock:
    """A clock the functions read (`chat_core.edge.http.utcnow`), moved by the test."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 25, 14, 0, 5, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def next_minute(self) -> None:
        self.now += timedelta(minutes=1)

    def advance(self, minutes: float = 1) -> None:
        self.now += timedelta(minutes=minutes)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    from chat_core.edge import http

    clock = Clock()
    monkeypatch.setattr(http, "utcnow", clock)
    return clock


@pytest.fixture
def budgets(appwrite, monkeypatch):
    """Small budgets, so each test reaches them; each test narrows what it is about."""
    def set_budgets(**values: int) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, str(value))
    return set_budgets
