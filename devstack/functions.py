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

The parts: ``devstack.functions_model`` (a function, its caller, an execution to run), ``devstack.functions_invoke``
(the headers and request the function sees, the entrypoint's import, its answer), ``devstack.functions_triggers``
(row events and schedules). This module runs the executions.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import os
import queue
import secrets
import threading
import time
import traceback
import types
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from .context import RuntimeContext, RuntimeRequest
from .functions_invoke import (
    _awaited,
    _header_list,
    _import_entrypoint,
    _Outcome,
    _outcome_of,
    appwrite_headers,
    executor_headers,
    runtime_headers,
    runtime_target,
)
from .functions_model import GUEST, ApiError, Caller, ExecRequest, FunctionSpec, KeyStore, caller_roles, may_execute
from .functions_triggers import Cron, Scheduler, event_matches, event_names

__all__ = ["GUEST", "METHODS", "ApiError", "Caller", "Cron", "ExecRequest", "FunctionRuntime", "FunctionSpec",
           "Scheduler", "appwrite_headers", "caller_roles", "event_matches", "event_names", "executor_headers",
           "may_execute", "runtime_headers", "runtime_target"]

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
        # Functions with an activated build run it in its own interpreter (devstack.runner_pool.RunnerPool); functions
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


def _forget_key(keys: KeyStore, key: str) -> None:
    for name in ("remove", "discard", "revoke", "delete"):
        remover: Callable[[str], Any] | None = getattr(keys, name, None)
        if remover is not None:
            remover(key)
            return
    raise TypeError("the key ring cannot remove keys")
