"""The only module that talks to Appwrite (TablesDB and Users, through the official SDK).

It turns SDK models into the plain data of `model`, maps `AppwriteException`s to the
project's errors, and owns conditional writes and counters.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any, TypeVar

import requests
from appwrite import client as sdk_client
from appwrite.client import Client
from appwrite.exception import AppwriteException
from appwrite.operator import Operator
from appwrite.query import Query
from appwrite.services.account import Account as AccountService
from appwrite.services.tables_db import TablesDB
from appwrite.services.users import Users

from .authz import Account
from .config import Settings
from .errors import ChatError, Unauthorized, UpstreamRejected, UpstreamUnavailable, unknown_cursor
from .model import CounterMove, Increment, Message, Session, iso, parse_time

SESSIONS, MESSAGES, COUNTERS, JOBS, LIMITS = "sessions", "messages", "counters", "jobs", "limits"
GLOBAL_COUNTER_ROW = "global"
PAGE_LIMIT = 1000  # rows per request when a job walks a whole table
JWT_CACHE_MAX = 2048  # verified JWTs one warm instance remembers
T = TypeVar("T")


class RowMissing(ChatError):
    status = 404
    code = "not_found"


class RowExists(ChatError):
    status = 409
    code = "already_exists"


class StaleWrite(ChatError):
    """A conditional write lost: the row changed after we read it."""

    status = 409
    code = "conflict"


class Spent(ChatError):
    """A bounded increment refused: the budget row is at its maximum (Appwrite 400 column_limit_exceeded)."""

    status = 429
    code = "rate_limited"


class _TimedRequests:
    """A stand-in for the SDK's `requests` module. The SDK calls `requests.request`, which sets no timeout (a hung
    Appwrite would hang the function until the runtime kills it) and opens a new connection for every call (a
    TLS handshake each time). This adds a timeout and keeps one connection pool per thread of a warm instance."""

    timeout: float = 10.0
    _local = threading.local()

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session.request(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(requests, name)


_timed_requests = _TimedRequests()
sdk_client.requests = _timed_requests
_label_cache: dict[str, tuple[float, frozenset[str]]] = {}
_jwt_cache: dict[str, tuple[float, Account]] = {}
_jwt_lock = threading.Lock()


def counter_row_id(agent_id: str | None) -> str:
    if agent_id is None:
        return GLOBAL_COUNTER_ROW
    return "agent_" + hashlib.sha256(agent_id.encode()).hexdigest()[:28]


class Gateway:
    def __init__(self, settings: Settings, key: str) -> None:
        self.settings = settings
        self._key = key
        self.db = settings.database_id
        _timed_requests.timeout = settings.upstream_timeout_seconds
        self._tables = TablesDB(self._client())

    def _client(self, **headers: str) -> Client:
        client = Client().set_endpoint(self.settings.endpoint).set_project(self.settings.project_id)
        client.set_key(self._key)
        for name, value in headers.items():
            client.add_header(name, value)
        return client

    # --- sessions -------------------------------------------------------------------------------

    def get_session(self, session_id: str) -> Session:
        return _session(self._read(self._tables.get_row, self.db, SESSIONS, session_id))

    def create_session(self, session_id: str, data: dict) -> Session:
        return _session(_call(self._tables.create_row, self.db, SESSIONS, session_id, data))

    def update_session(self, session: Session, updates: dict, *, conditional: bool = False) -> Session:
        """Partial update. `conditional`: only if nobody wrote the row since `session` was read (else StaleWrite)."""
        tables = TablesDB(self._client(**{"x-appwrite-timestamp": session.updated_at})) if conditional \
            else self._tables
        return _session(_call(tables.update_row, self.db, SESSIONS, session.id, _encode(updates)))

    def delete_session(self, session_id: str) -> None:
        _call(self._tables.delete_row, self.db, SESSIONS, session_id)

    def delete_session_if_unchanged(self, session: Session) -> bool:
        """Delete the row only if nobody wrote it since `session` was read (X-Appwrite-Timestamp, which deleteRow
        honours); False when it changed or is gone."""
        tables = TablesDB(self._client(**{"x-appwrite-timestamp": session.updated_at}))
        try:
            _call(tables.delete_row, self.db, SESSIONS, session.id)
        except (StaleWrite, RowMissing):
            return False
        return True

    def list_sessions(self, queries: list[str]) -> list[Session]:
        rows = self._read(self._tables.list_rows, self.db, SESSIONS, queries, total=False)
        return [_session(row) for row in rows.rows]

    def all_sessions(self) -> Iterator[Session]:
        yield from map(_session, self._walk(SESSIONS, []))

    # --- messages -------------------------------------------------------------------------------

    def create_message(self, row_id: str, data: dict) -> Message:
        return _message(_call(self._tables.create_row, self.db, MESSAGES, row_id, data))

    def get_message(self, row_id: str) -> Message:
        return _message(self._read(self._tables.get_row, self.db, MESSAGES, row_id))

    def delete_message(self, row_id: str) -> None:
        _call(self._tables.delete_row, self.db, MESSAGES, row_id)

    def list_messages(self, queries: list[str]) -> list[Message]:
        rows = self._read(self._tables.list_rows, self.db, MESSAGES, queries, total=False)
        return [_message(row) for row in rows.rows]

    # --- counters -------------------------------------------------------------------------------

    def move_counter(self, move: CounterMove, *, undo: bool = False) -> None:
        """Atomic increments of one counter row (decrements with `undo`); creates the row on first use."""
        row_id = counter_row_id(move.agent_id)
        op = Operator.decrement if undo else Operator.increment
        data = {name: op(value) for name, value in move.deltas.items() if value}
        if not data:
            return
        try:
            _call(self._tables.update_row, self.db, COUNTERS, row_id, data)
        except RowMissing:
            if undo:
                return
            try:
                _call(self._tables.create_row, self.db, COUNTERS, row_id,
                      {"agentId": move.agent_id, **{k: v for k, v in move.deltas.items() if v}})
            except RowExists:  # another instance created it first: add to theirs
                _call(self._tables.update_row, self.db, COUNTERS, row_id, data)

    def counter_rows(self) -> list[dict]:
        return [dict(row.data) for row in self._walk(COUNTERS, [], page=100)]

    def set_counter_row(self, agent_id: str | None, values: dict[str, int]) -> None:
        """Absolute values for the named columns; the row's other columns keep theirs."""
        row_id = counter_row_id(agent_id)
        try:
            _call(self._tables.update_row, self.db, COUNTERS, row_id, values)
        except RowMissing:
            _call(self._tables.create_row, self.db, COUNTERS, row_id, {"agentId": agent_id, **values})

    # --- budgets (per-window use counts, see `budgets`) ------------------------------------------

    def take(self, row_id: str, name: str, window_start: datetime, limit: int) -> bool:
        """Count one use of a budget row, atomically: Appwrite's bounded increment refuses to pass `limit` (and
        then changes nothing), so concurrent callers can never overshoot. One request; two for the window's
        first use, which creates the row. False when the budget is spent."""
        for _ in range(2):
            try:
                _call(self._tables.increment_row_column, self.db, LIMITS, row_id, "used", 1, limit)
                return True
            except Spent:
                return False
            except RowMissing:  # the window's first use (Appwrite: 404 column_not_found for a missing row)
                pass
            try:
                _call(self._tables.create_row, self.db, LIMITS, row_id,
                      {"name": name[:100], "windowStart": iso(window_start), "used": 1})
                return True
            except RowExists:  # another caller opened the window first: count on theirs
                continue
        raise UpstreamUnavailable("the budget row keeps changing; try again")

    def give_back(self, row_id: str) -> None:
        """Undo one `take` (a request refused by a later budget must not use up an earlier one). Best effort: if it
        fails, that budget is one use short for the rest of its minute."""
        with contextlib.suppress(ChatError):
            _call(self._tables.decrement_row_column, self.db, LIMITS, row_id, "used", 1, 0)

    def drop_windows(self, before: datetime) -> int:
        """Delete every budget row of a window that started before `before`: one bulk request (deleteRows)."""
        answer = _call(self._tables.delete_rows, self.db, LIMITS, [Query.less_than("windowStart", iso(before)),
                                                                   Query.order_asc("windowStart")])  # its index
        return int(answer.total)

    # --- jobs -----------------------------------------------------------------------------------

    def start_job(self, name: str, now: datetime, min_interval: timedelta) -> bool:
        """True for at most one caller per `min_interval`: a lease on the job's row, taken with a conditional write
        (so two instances racing cannot both win). Costs one request when the job ran recently, two otherwise."""
        stamp = iso(now)
        try:
            row = self._read(self._tables.get_row, self.db, JOBS, name)
        except RowMissing:
            try:
                _call(self._tables.create_row, self.db, JOBS, name, {"lastRunAt": stamp})
                return True
            except RowExists:
                return False
        last = parse_time(row.data.get("lastRunAt"))
        if last is not None and now - last < min_interval:
            return False
        tables = TablesDB(self._client(**{"x-appwrite-timestamp": row.updatedat}))
        try:
            _call(tables.update_row, self.db, JOBS, name, {"lastRunAt": stamp})
        except StaleWrite:
            return False
        return True

    # --- users ----------------------------------------------------------------------------------

    def user_labels(self, user_id: str) -> frozenset[str]:
        """A user's labels, cached per function instance for LABEL_CACHE_SECONDS (a label change waits that long)."""
        now = time.monotonic()
        cached = _label_cache.get(user_id)
        if cached and cached[0] > now:
            return cached[1]
        try:
            user = self._read(Users(self._client()).get, user_id)
            labels = frozenset(str(label) for label in user.labels)
        except RowMissing:
            labels = frozenset()
        _label_cache[user_id] = (now + self.settings.label_cache_seconds, labels)
        return labels

    def account_for_jwt(self, jwt: str) -> Account:
        """Who a JWT belongs to, as Appwrite says (GET /account with that JWT), with the user's labels.

        Cached per warm instance for LABEL_CACHE_SECONDS, never past the JWT's own expiry, so a revoked session or
        a removed label is honoured within that time. A JWT Appwrite refuses is a 401 for our caller."""
        digest = hashlib.sha256(jwt.encode("utf-8", "surrogatepass")).hexdigest()
        now = time.time()
        with _jwt_lock:
            cached = _jwt_cache.get(digest)
        if cached and cached[0] > now:
            return cached[1]
        client = Client().set_endpoint(self.settings.endpoint).set_project(self.settings.project_id).set_jwt(jwt)
        try:
            user = self._read(AccountService(client).get)
        except (Unauthorized, RowMissing, UpstreamRejected):  # 401 user_jwt_invalid: expired, revoked or forged
            raise Unauthorized("the JWT is not valid or has expired; sign in again",
                               code="invalid_credentials") from None
        account = Account(user_id=str(user.id), labels=frozenset(str(label) for label in user.labels))
        expires = min(now + self.settings.label_cache_seconds, _jwt_expiry(jwt))
        with _jwt_lock:
            if len(_jwt_cache) >= JWT_CACHE_MAX:
                _forget_oldest(_jwt_cache, now)
            _jwt_cache[digest] = (expires, account)
        return account

    # --- executions -----------------------------------------------------------------------------

    def execute(self, function_id: str, body: Any, *, path: str = "/", method: str = "POST",
                headers: dict[str, str] | None = None) -> tuple[int, Any]:
        """A synchronous execution of another function, as any client makes one (the key needs the
        `execution.write` scope). Returns the function's status and its JSON answer (None when not JSON).
        Never retried here: it may write, and only the caller knows whether a repeat is safe."""
        from appwrite.services.functions import Functions  # imported only by functions that call others

        execution = _call(Functions(self._client()).create_execution, function_id, body=json.dumps(body),
                          xasync=False, path=path, method=method,
                          headers={"content-type": "application/json", **(headers or {})})
        try:
            answer = json.loads(execution.responsebody or "null")
        except ValueError:
            answer = None
        return int(execution.responsestatuscode or 0), answer

    # --- plumbing -------------------------------------------------------------------------------

    def _read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Reads are safe to repeat: one retry on a transient failure."""
        try:
            return _call(fn, *args, **kwargs)
        except UpstreamUnavailable:
            return _call(fn, *args, **kwargs)

    def _walk(self, table: str, queries: list[str], page: int = PAGE_LIMIT) -> Iterator[Any]:
        cursor: list[str] = []
        while True:
            rows = self._read(self._tables.list_rows, self.db, table,
                              [*queries, Query.limit(page), *cursor], total=False).rows
            yield from rows
            if len(rows) < page:
                return
            cursor = [Query.cursor_after(rows[-1].id)]


def _call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    try:
        return fn(*args, **kwargs)
    except AppwriteException as exc:
        raise _translate(exc) from None
    except ChatError:
        raise
    except Exception:  # an unreadable answer: the SDK fails on garbage bodies with KeyError, ValueError...
        raise UpstreamUnavailable("Appwrite returned an unreadable answer") from None


def _translate(exc: AppwriteException) -> ChatError:
    code, kind = exc.code or 0, exc.type or ""
    if code == 404:
        return RowMissing(kind or "not found")
    if code == 400 and kind == "general_cursor_not_found":  # a stale or made-up page cursor from our caller
        return unknown_cursor()
    if code == 400 and kind == "column_limit_exceeded":  # a bounded increment or decrement at its bound
        return Spent(kind)
    if code == 409 and kind.endswith("already_exists"):
        return RowExists(kind)
    if code == 409 and kind.endswith("update_conflict"):
        return StaleWrite(kind)
    if code == 0 or code == 429 or code >= 500:
        return UpstreamUnavailable("Appwrite is unreachable or failing; try again")
    if code == 401:  # the execution's key: a caller's forged X-Appwrite-Key arrives instead of Appwrite's own
        return Unauthorized("Appwrite refused this execution's key", code="execution_key_refused")
    return UpstreamRejected(f"Appwrite refused the request ({code} {kind})")


def _jwt_expiry(jwt: str) -> float:
    """The `exp` claim, read without checking the signature (Appwrite checked it): only bounds our cache."""
    try:
        payload = jwt.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, ValueError, KeyError, TypeError):
        return 0.0  # no readable expiry: don't cache


def _forget_oldest(cache: dict[str, tuple[float, Account]], now: float) -> None:
    for digest in [d for d, (expires, _) in cache.items() if expires <= now]:
        del cache[digest]
    while len(cache) >= JWT_CACHE_MAX:
        del cache[next(iter(cache))]


def _encode(updates: dict) -> dict:
    return {k: Operator.increment(v.by) if isinstance(v, Increment) else v for k, v in updates.items()}


def _unreadable_as_upstream(convert: Callable[[Any], T]) -> Callable[[Any], T]:
    """A row missing its columns is a failing Appwrite (or schema drift), not a bug in the caller's request."""
    def wrapper(row: Any) -> T:
        try:
            return convert(row)
        except (KeyError, TypeError, ValueError, AttributeError):
            raise UpstreamUnavailable("Appwrite returned an unreadable row") from None
    return wrapper


@_unreadable_as_upstream
def _session(row: Any) -> Session:
    d = row.data
    return Session(
        id=row.id, status=d["status"], last_seen=parse_time(d["lastSeen"]), created_at=parse_time(row.createdat),
        updated_at=row.updatedat, token_hash=d.get("tokenHash") or "", needs_human=bool(d.get("needsHuman")),
        assigned_agent=d.get("assignedAgent"), user_meta=d.get("userMeta") or "{}", theme=d.get("theme") or "{}",
        message_count=int(d.get("messageCount") or 0), escalated_at=parse_time(d.get("escalatedAt")),
        escalation_reason=d.get("escalationReason"), escalated_by=d.get("escalatedBy"),
        assigned_at=parse_time(d.get("assignedAt")), closed_at=parse_time(d.get("closedAt")),
        close_reason=d.get("closeReason"), owner_id=d.get("ownerId"),
        rate_window_start=parse_time(d.get("rateWindowStart")), rate_window_count=int(d.get("rateWindowCount") or 0),
    )


@_unreadable_as_upstream
def _message(row: Any) -> Message:
    d = row.data
    return Message(
        id=row.id, session_id=d["sessionId"], role=d["role"], text=d["text"], created_at=parse_time(row.createdat),
        handoff=bool(d.get("handoff")), author_id=d.get("authorId"), client_message_id=d.get("clientMessageId"),
    )
