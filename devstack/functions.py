"""Appwrite Functions for the local stack: loading, permissions, execution, events, schedules.

Functions run in-process, each execution on its own thread, which keeps the stack free of
Docker and fast to start. What that changes compared with Appwrite (development only):

- Every function shares this process's ``os.environ``. The common variables
  (``APPWRITE_FUNCTION_API_ENDPOINT``, ``APPWRITE_FUNCTION_PROJECT_ID``, the repo's ``.env``)
  are set once when the stack starts. ``APPWRITE_FUNCTION_ID`` / ``APPWRITE_FUNCTION_NAME``
  are set just before each execution, so they are only reliable while one function runs at
  a time: read the function ID from the code, not from the environment, when it matters.
- The entrypoint is imported from its file path as a package member, so relative imports
  between files of ``src/`` work as in the runtime; packages such as ``chat_core`` come from
  the stack's own virtualenv. Editing the entrypoint file reloads it on the next execution.
- ``print()`` is not captured per execution (threads share stdout); use ``context.log``.
- An execution that passes its own timeout is reported as failed, but its thread cannot be killed:
  it runs on in the background with its API key already revoked.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import importlib.util
import inspect
import json
import logging
import os
import queue
import re
import secrets
import sys
import threading
import time
import traceback
import types
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from yarl import URL

from .context import RuntimeContext, RuntimeRequest

log = logging.getLogger("devstack.functions")

HTTP_TIMEOUT = 30  # a synchronous HTTP execution waits at most 30 s (Executions/Create.php: requestTimeout: 30)
SYNC_TIMEOUT_MESSAGE = ("Synchronous function execution timed out. Use asynchronous execution instead, or ensure the "
                        "execution duration doesn't exceed 30 seconds.")  # appwrite 1.9.6 app/config/errors.php
LOG_TAIL = 4000  # the execution model keeps the last 4,000 characters of logs/errors
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD")
MAX_KEPT_EXECUTIONS = 1000
# What an execution record keeps of the request (Appwrite 1.8.1 `app/init/constants.php`,
# FUNCTION_ALLOWLIST_HEADERS_REQUEST): never a caller's secrets or tokens.
KEPT_REQUEST_HEADERS = ("content-type", "agent", "content-length", "host", "x-appwrite-client-ip")
MISSING_RETURN = "Return statement missing. return context.res.empty() if no response is expected."


class KeyStore(Protocol):
    """What the runtime needs from ``devstack.rest.KeyRing``."""

    def add(self, key: str, scopes: set[str] | None) -> None: ...

    def check(self, key: str, scope: str) -> Any: ...


class ApiError(Exception):
    """An error answered to the client in Appwrite's shape ``{message, code, type, version}``."""

    def __init__(self, code: int, type_: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.type = type_
        self.message = message


# --------------------------------------------------------------------------- loading


@dataclass(frozen=True)
class FunctionSpec:
    id: str
    name: str
    entrypoint: Path
    execute: tuple[str, ...] = ()
    events: tuple[str, ...] = ()
    scopes: frozenset[str] = frozenset()
    schedule: str = ""
    timeout: int = 15
    enabled: bool = True


@dataclass(frozen=True)
class Caller:
    """Who asks for an execution. ``api_key`` without ``user_id`` is a server (always allowed)."""

    user_id: str = ""
    labels: tuple[str, ...] = ()
    api_key: bool = False


GUEST = Caller()


def caller_roles(caller: Caller) -> set[str]:
    if not caller.user_id:
        return {"any", "guests"}
    return {"any", "users", f"user:{caller.user_id}", *(f"label:{label}" for label in caller.labels)}


def may_execute(spec: FunctionSpec, caller: Caller) -> bool:
    """Appwrite's execute roles; ``team:X`` never matches (the local stack has no teams)."""
    if caller.api_key and not caller.user_id:
        return True
    return bool(caller_roles(caller) & set(spec.execute))


# --------------------------------------------------------------------------- events

# The three spellings of a row event: the header uses the first, subscriptions may use any.
_SPELLINGS = (("databases", "collections", "documents"), ("databases", "tables", "rows"),
              ("tablesdb", "tables", "rows"))


def event_names(database_id: str, table_id: str, row_id: str, action: str) -> list[str]:
    """Every concrete name a row event answers to; the first is the ``x-appwrite-event`` value."""
    names = []
    for service, tables, rows in _SPELLINGS:
        names += [
            f"{service}.{database_id}.{tables}.{table_id}.{rows}.{row_id}.{action}",
            f"{service}.{database_id}.{tables}.{table_id}.{rows}.{row_id}",
            f"{service}.{database_id}.{tables}.{table_id}",
            f"{service}.{database_id}",
        ]
    return names


def event_matches(pattern: str, names: Iterable[str]) -> bool:
    """A pattern matches a name segment by segment, ``*`` standing for any one segment."""
    wanted = pattern.split(".")
    for name in names:
        parts = name.split(".")
        if len(parts) == len(wanted) and all(w in ("*", p) for w, p in zip(wanted, parts, strict=True)):
            return True
    return False


# --------------------------------------------------------------------------- cron

_ALIASES = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
            "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
            "@hourly": "0 * * * *"}
_BOUNDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))


def _cron_field(text: str, low: int, high: int) -> set[int]:
    values: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if base == "*":
            start, end = low, high
        elif "-" in base:
            start, end = (int(x) for x in base.split("-", 1))
        else:
            start = int(base)
            end = high if step_text else start  # "5/15" means from 5 every 15
        if step < 1 or not low <= start <= end <= high:
            raise ValueError(f"cron field out of range: {part!r}")
        values.update(range(start, end + 1, step))
    return values


class Cron:
    """A 5-field cron expression (minute hour day-of-month month day-of-week), UTC like Appwrite."""

    def __init__(self, expression: str) -> None:
        fields = _ALIASES.get(expression.strip(), expression).split()
        if len(fields) != 5:
            raise ValueError(f"cron needs 5 fields: {expression!r}")
        self.minutes, self.hours, self.days, self.months, weekdays = (
            _cron_field(text, *bounds) for text, bounds in zip(fields, _BOUNDS, strict=True))
        self.weekdays = {d % 7 for d in weekdays}  # 7 is Sunday too
        # Vixie cron: when both day fields are restricted, either one may match.
        self._either_day = not fields[2].startswith("*") and not fields[4].startswith("*")

    def matches(self, when: datetime) -> bool:
        if when.minute not in self.minutes or when.hour not in self.hours or when.month not in self.months:
            return False
        day_ok = when.day in self.days
        weekday_ok = (when.weekday() + 1) % 7 in self.weekdays
        return (day_ok or weekday_ok) if self._either_day else (day_ok and weekday_ok)


# --------------------------------------------------------------------------- execution


@dataclass
class ExecRequest:
    """One execution to run: the request the function sees, minus what Appwrite adds."""

    trigger: str = "http"
    method: str = "POST"
    path: str = "/"
    headers: dict[str, str] = field(default_factory=dict)
    body: str | bytes = ""
    caller: Caller = GUEST
    event: str = ""
    client_ip: str = ""
    user_jwt: str = ""  # x-appwrite-user-jwt: only for callers with a session (docs/platform.md)


@dataclass
class _Outcome:
    status: int = 500
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    error: str = ""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _tail(lines: list[str]) -> str:
    return "\n".join(lines)[-LOG_TAIL:]


class FunctionRuntime:
    """Runs functions in-process. Synchronous executions run on the caller's thread (plus a
    watchdog thread for the timeout); async, event and schedule executions go to a queue served
    by daemon workers, so a commit never waits for the functions it triggers."""

    def __init__(self, functions: dict[str, FunctionSpec], keys: KeyStore, *, workers: int = 4) -> None:
        self.functions = functions
        self._keys = keys
        self._modules: dict[str, tuple[int, types.ModuleType]] = {}
        self._import_lock = threading.Lock()
        self._executions: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._state = threading.Condition()  # guards executions and the pending count
        self._pending = 0
        self._abandoned: set[str] = set()  # synchronous executions answered 408 while their function runs on
        self._executor_secret = secrets.token_hex(16)  # the executor's OPEN_RUNTIMES_SECRET
        self._queue: queue.Queue[tuple[FunctionSpec, ExecRequest, dict] | None] = queue.Queue()
        # Functions with an activated build run it in its own interpreter (devstack.builds.RunnerPool); functions
        # that have no ready deployment refuse executions, as Appwrite does.
        self.runners: dict[str, Any] = {}
        self.undeployed: set[str] = set()
        self._workers = [threading.Thread(target=self._work, name=f"devstack-exec-{i}", daemon=True)
                         for i in range(workers)]
        for worker in self._workers:
            worker.start()

    # ---- public API

    def execute(self, function_id: str, request: ExecRequest) -> dict[str, Any]:
        """Run a synchronous execution and return the finished model. A function whose own timeout is within the
        30 s an HTTP execution may wait runs on this thread and fails at its timeout. A longer one runs on its own
        thread, and the caller waits at most HTTP_TIMEOUT: then it gets 408 `function_synchronous_timeout`, the
        execution is stored as failed, and the function runs on up to its own timeout, its key valid until it ends
        (appwrite 1.9.6 `src/Appwrite/Platform/Modules/Functions/Http/Executions/Create.php`: the executor is called
        with the function's `timeout` and `requestTimeout: 30`; an `ExecutorTimeout` becomes the 408 and the
        `finally` stores the execution as failed with `errors` = message + '\\nError Code: 408', a PHP single-quoted
        string, so a literal backslash-n)."""
        spec = self._spec(function_id)
        record = self._new_record(spec, request, "processing")
        if spec.timeout <= HTTP_TIMEOUT:
            self._run(spec, request, record, spec.timeout)
            return dict(record)
        finished = threading.Event()

        def run() -> None:
            try:
                self._run(spec, request, record, spec.timeout)
            except Exception:  # the caller may be gone: log, never raise into a bare thread
                log.exception("execution %s failed", record["$id"])
            finally:
                finished.set()
        started = time.monotonic()
        threading.Thread(target=run, name=f"devstack-sync-{spec.id}", daemon=True).start()
        if finished.wait(HTTP_TIMEOUT):
            return dict(record)
        with self._state:
            if record["status"] in ("completed", "failed"):  # it finished as the wait ended
                return dict(record)
            self._abandoned.add(record["$id"])  # what the function answers later is not kept (_finish)
            record.update({"$updatedAt": _now(), "status": "failed", "responseStatusCode": 500,
                           "errors": SYNC_TIMEOUT_MESSAGE + "\\nError Code: 408",
                           "duration": round(time.monotonic() - started, 6)})
            self._state.notify_all()
        raise ApiError(408, "function_synchronous_timeout", SYNC_TIMEOUT_MESSAGE)

    def submit(self, function_id: str, request: ExecRequest) -> dict[str, Any]:
        """Queue an execution (Appwrite's async path); returns the ``waiting`` model at once."""
        spec = self._spec(function_id)
        record = self._new_record(spec, request, "waiting")
        self._enqueue(spec, request, record)
        return dict(record)

    def dispatch_event(self, event: dict[str, Any]) -> list[str]:
        """Engine subscriber: queue every function whose ``events`` match this row change."""
        names = event_names(event["databaseId"], event["tableId"], event["rowId"], event["action"])
        started = []
        for spec in self.functions.values():
            if spec.enabled and spec.id not in self.undeployed and any(event_matches(p, names) for p in spec.events):
                request = ExecRequest(trigger="event", headers={"content-type": "application/json"},
                                      body=json.dumps(event.get("row", {})), event=names[0])
                started.append(self.submit(spec.id, request)["$id"])
        return started

    def fire_schedule(self, function_id: str) -> dict[str, Any]:
        return self.submit(function_id, ExecRequest(trigger="schedule"))

    def get_execution(self, execution_id: str) -> dict[str, Any] | None:
        with self._state:
            record = self._executions.get(execution_id)
            return dict(record) if record else None

    def list_executions(self, function_id: str) -> list[dict[str, Any]]:
        with self._state:
            return [dict(r) for r in reversed(self._executions.values()) if r["functionId"] == function_id]

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Block until no queued or running async execution remains (cascades included)."""
        deadline = time.monotonic() + timeout
        with self._state:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0 or not self._state.wait(left):
                    return self._pending == 0
            return True

    def wait_for(self, execution_id: str, timeout: float) -> dict[str, Any] | None:
        """Block until one execution is finished (or the timeout passes); returns its model."""
        deadline = time.monotonic() + timeout
        with self._state:
            while True:
                record = self._executions.get(execution_id)
                left = deadline - time.monotonic()
                if record is None or record["status"] in ("completed", "failed") or left <= 0:
                    return dict(record) if record else None
                self._state.wait(left)

    def close(self) -> None:
        for _ in self._workers:
            self._queue.put(None)

    # ---- queueing

    def _spec(self, function_id: str) -> FunctionSpec:
        spec = self.functions.get(function_id)
        if spec is None:
            raise ApiError(404, "function_not_found", "Function with the requested ID could not be found.")
        if function_id in self.undeployed:  # Executions/Create.php (1.8.1)
            raise ApiError(404, "deployment_not_found",
                           "Deployment not found. Create a deployment before trying to execute a function")
        return spec

    def _enqueue(self, spec: FunctionSpec, request: ExecRequest, record: dict) -> None:
        with self._state:
            self._pending += 1  # counted before the commit's HTTP answer goes out: wait_idle sees it
        self._queue.put((spec, request, record))

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            spec, request, record = item
            try:
                self._run(spec, request, record, spec.timeout)
            except Exception:  # the worker must survive anything a function does
                log.exception("execution %s crashed the worker", record["$id"])
            finally:
                with self._state:
                    self._pending -= 1
                    self._state.notify_all()

    # ---- running one execution

    def _new_record(self, spec: FunctionSpec, request: ExecRequest, status: str) -> dict[str, Any]:
        now = _now()
        user = request.caller.user_id
        record: dict[str, Any] = {
            "$id": secrets.token_hex(10), "$createdAt": now, "$updatedAt": now,
            "$permissions": [f'read("user:{user}")'] if user else [],
            "functionId": spec.id, "resourceId": spec.id, "resourceType": "functions",
            "deploymentId": getattr(self.runners.get(spec.id), "deployment_id", "local"),
            "trigger": request.trigger, "status": status,
            "requestMethod": request.method, "requestPath": request.path, "requestHeaders": [],
            "responseStatusCode": 0, "responseBody": "", "responseHeaders": [],
            "logs": "", "errors": "", "duration": 0.0, "scheduledAt": None,
        }
        with self._state:
            self._executions[record["$id"]] = record
            while len(self._executions) > MAX_KEPT_EXECUTIONS:
                self._executions.popitem(last=False)
        return record

    def _run(self, spec: FunctionSpec, request: ExecRequest, record: dict, timeout: float) -> None:
        key = "devexec_" + secrets.token_hex(24)
        self._keys.add(key, set(spec.scopes))  # exactly the function's scopes, like Appwrite's dynamic key
        with self._state:
            record["status"] = "processing"
        sent = executor_headers(appwrite_headers(request, record["$id"], key), self._executor_secret, timeout)
        headers = runtime_headers(sent)
        path, query_string = runtime_target(request.path)
        context = RuntimeContext(RuntimeRequest(request.method, path, headers, request.body,
                                                url="http://localhost:3000/", query_string=query_string))
        started = time.monotonic()
        try:
            outcome = self._call(spec, context, timeout)
        finally:
            _forget_key(self._keys, key)
        self._finish(record, headers, context, outcome, time.monotonic() - started)

    def _call(self, spec: FunctionSpec, context: RuntimeContext, timeout: float) -> _Outcome:
        """Run ``main`` on a watchdog thread so a hung function only costs its own thread."""
        runner = self.runners.get(spec.id)
        if runner is not None:  # an activated build: its own interpreter and packages, not the working tree
            return _Outcome(**runner.call(context, timeout))
        box: list[_Outcome] = []
        thread = threading.Thread(target=lambda: box.append(self._invoke(spec, context)),
                                  name=f"devstack-fn-{spec.id}", daemon=True)
        thread.start()
        thread.join(timeout)
        if not box:
            return _Outcome(500, error=f"Operation timed out after {timeout:g} seconds.")
        return box[0]

    def _invoke(self, spec: FunctionSpec, context: RuntimeContext) -> _Outcome:
        os.environ["APPWRITE_FUNCTION_ID"] = spec.id  # process-wide: see the module docstring
        os.environ["APPWRITE_FUNCTION_NAME"] = spec.name
        try:
            result = self._module(spec).main(context)
            if inspect.isawaitable(result):
                result = asyncio.run(_awaited(result))
        except Exception:  # noqa: BLE001 - any error in user code becomes a bare 500, as in Appwrite
            trace = traceback.format_exc()
            log.error("function %s raised:\n%s", spec.id, trace)
            return _Outcome(500, error=trace)  # Appwrite answers a bare 500
        return _outcome_of(result)

    def _module(self, spec: FunctionSpec) -> types.ModuleType:
        with self._import_lock:
            mtime = spec.entrypoint.stat().st_mtime_ns
            cached = self._modules.get(spec.id)
            if cached and cached[0] == mtime:
                return cached[1]
            module = _import_entrypoint(spec.entrypoint)
            self._modules[spec.id] = (mtime, module)
            return module

    def _finish(self, record: dict, headers: dict[str, str], context: RuntimeContext,
                outcome: _Outcome, duration: float) -> None:
        errors = context.errors + ([outcome.error] if outcome.error else [])
        with self._state:
            if record["$id"] in self._abandoned:  # answered 408 already: the stored execution stays as it was
                self._abandoned.discard(record["$id"])
                return
            record.update({
                "$updatedAt": _now(),
                "status": "failed" if outcome.status >= 500 else "completed",
                "requestHeaders": _header_list({k: v for k, v in headers.items() if k in KEPT_REQUEST_HEADERS}),
                "responseStatusCode": outcome.status,
                "responseBody": outcome.body.decode("utf-8", errors="replace"),
                "responseHeaders": _header_list(outcome.headers),
                "logs": _tail(context.logs), "errors": _tail(errors), "duration": round(duration, 6),
            })
            self._state.notify_all()


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


def _outcome_of(result: Any) -> _Outcome:
    """Check what ``main`` returned, as the runtime does (it must be one of ``context.res.*``)."""
    if not isinstance(result, dict) or "statusCode" not in result:
        return _Outcome(500, error=MISSING_RETURN)
    body = result.get("body", b"")
    if isinstance(body, str):
        body = body.encode()
    headers = {str(k).lower(): str(v) for k, v in (result.get("headers") or {}).items()}
    return _Outcome(int(result["statusCode"]), bytes(body), headers)


Headers = list[tuple[str, str]]


def _assign(headers: Headers, name: str, value: str) -> Headers:
    """PHP's `$headers[$name] = $value`: replaces an entry of exactly that name in place, else appends."""
    for i, (existing, _) in enumerate(headers):
        if existing == name:
            return [*headers[:i], (name, value), *headers[i + 1:]]
    return [*headers, (name, value)]


def appwrite_headers(request: ExecRequest, execution_id: str, key: str) -> Headers:
    """The caller's headers, then Appwrite's own, as Appwrite 1.8.1 hands them to the executor
    (`Executions/Create.php`: `$headers['x-appwrite-...'] = ...` after the caller's `headers` param). The caller's
    names were checked case-sensitively (`Functions/Validator/Headers.php`), so a mixed-case `X-Appwrite-User-Id`
    is still here, ahead of Appwrite's lower-case one. For events and schedules the caller sent nothing."""
    headers: Headers = list(request.headers.items())
    own = {
        "x-appwrite-execution-id": execution_id, "x-appwrite-key": key, "x-appwrite-trigger": request.trigger,
        "x-appwrite-event": request.event, "x-appwrite-user-id": request.caller.user_id,
        "x-appwrite-user-jwt": request.user_jwt, "x-appwrite-country-code": "", "x-appwrite-continent-code": "",
        "x-appwrite-continent-eu": "false", "x-appwrite-client-ip": request.client_ip,
    }
    for name, value in own.items():
        headers = _assign(headers, name, value)
    # curl drops a header line with an empty value: an anonymous caller's user ID never arrives (docs/platform.md).
    return [(name, value) for name, value in headers if value != ""]


def executor_headers(headers: Headers, secret: str, timeout: float) -> Headers:
    """What the executor adds before it calls the runtime (open-runtimes/executor
    `src/Executor/Runner/Docker.php`): `Authorization: Basic base64("opr:" + secret)` on every execution,
    replacing only a caller header spelled exactly `Authorization`."""
    basic = "Basic " + base64.b64encode(f"opr:{secret}".encode()).decode()
    for name, value in (("x-open-runtimes-logging", "enabled"), ("Authorization", basic),
                        ("x-open-runtimes-secret", secret), ("x-open-runtimes-timeout", str(max(int(timeout), 1)))):
        headers = _assign(headers, name, value)
    return headers


def runtime_headers(headers: Headers) -> dict[str, str]:
    """`context.req.headers` as the Python runtime builds it: lower-case names, `x-open-runtimes-*` removed, and
    the FIRST value of a repeated name (`dict()` over aiohttp's case-insensitive multidict; docs/platform.md)."""
    seen: dict[str, str] = {}
    for name, value in headers:
        lower = name.lower()
        if not lower.startswith("x-open-runtimes-"):
            seen.setdefault(lower, value)
    return seen


def runtime_target(target: str) -> tuple[str, str]:
    """(`req.path`, `req.query_string`) for a request target, decoded by yarl as the runtime's aiohttp does:
    the path percent-decoded, the query partly decoded (`%20`, `+`, `%25` and UTF-8; `%2B`, `%26`, `%3D` kept)."""
    try:
        url = URL(target if target.startswith("/") else "/" + target, encoded=True)
        return url.path or "/", url.query_string
    except (ValueError, UnicodeError):
        path, _, query = target.partition("?")
        return path or "/", query


def _header_list(headers: dict[str, str]) -> list[dict[str, str]]:
    return [{"name": k, "value": v} for k, v in headers.items()]


def _forget_key(keys: KeyStore, key: str) -> None:
    for name in ("remove", "discard", "revoke", "delete"):
        remover: Callable[[str], Any] | None = getattr(keys, name, None)
        if remover is not None:
            remover(key)
            return
    raise TypeError("the key ring cannot remove keys")


def _import_entrypoint(entrypoint: Path) -> types.ModuleType:
    """Import ``src/main.py`` as a member of a synthetic package named after its folder, so
    ``from .helpers import x`` works as in the runtime. Re-importing drops the old members."""
    package = "_devstack_fn_" + hashlib.sha1(str(entrypoint.parent).encode()).hexdigest()[:12]
    for name in [n for n in sys.modules if n == package or n.startswith(package + ".")]:
        del sys.modules[name]
    holder = types.ModuleType(package)
    holder.__path__ = [str(entrypoint.parent)]
    sys.modules[package] = holder
    name = package + "." + re.sub(r"\W", "_", entrypoint.stem)
    spec = importlib.util.spec_from_file_location(name, entrypoint)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {entrypoint}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


# --------------------------------------------------------------------------- scheduler


class Scheduler:
    """Fires each function's ``schedule`` once per matching UTC minute on a daemon thread."""

    def __init__(self, runtime: FunctionRuntime) -> None:
        self._runtime = runtime
        self._crons: dict[str, Cron] = {}
        self._last_minute = _minute(datetime.now(timezone.utc))  # no burst of fires at start
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = False
        self.refresh()

    def refresh(self) -> None:
        """Re-read the functions' schedules; a function without a ready deployment has none (Builds.php: a
        schedule is active only with a deploymentId)."""
        crons: dict[str, Cron] = {}
        for spec in list(self._runtime.functions.values()):
            if spec.schedule and spec.enabled and spec.id not in self._runtime.undeployed:
                try:
                    crons[spec.id] = Cron(spec.schedule)
                except ValueError as exc:
                    log.warning("function %s: schedule ignored: %s", spec.id, exc)
        self._crons = crons
        if self._started:
            self.start()

    def tick(self, now: datetime) -> list[str]:
        """Fire what matches ``now``'s minute, once; returns the started execution IDs."""
        minute = _minute(now)
        if minute == self._last_minute:
            return []
        self._last_minute = minute
        return [self._runtime.fire_schedule(fid)["$id"] for fid, cron in self._crons.items()
                if cron.matches(minute)]

    def start(self) -> None:
        self._started = True
        if self._crons and self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="devstack-cron", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(60.5 - datetime.now(timezone.utc).second):
            try:
                self.tick(datetime.now(timezone.utc))
            except Exception:
                log.exception("scheduler tick failed")


def _minute(when: datetime) -> datetime:
    return when.replace(second=0, microsecond=0)
