"""The local stack's HTTP server and the `Stack` that wires everything together.

Routes (all on 127.0.0.1 only):
- ``POST /v1/functions/{id}/executions`` (SDK ``Functions.create_execution``), ``GET`` of one
  execution or the list: answered here, with the runtime of ``devstack.functions``.
- ``POST /v1/devstack/schedules/{id}`` and ``POST /v1/devstack/users/{id}``: dev-only helpers for
  the CLI, allowed with the stack's own API key only.
- What ``appwrite push`` calls (databases, tables, columns, indexes, functions, variables, deployments):
  ``devstack.manage.ManagementApi``, with builds and activated deployments in ``devstack.builds``.
- Everything else under ``/v1``: ``devstack.rest.RestApi`` (TablesDB, Users, health).
- Every ``/v1`` answer to a newer SDK carries Appwrite's ``X-Appwrite-Warning`` (``devstack.versions``).

Who calls (``resolve_caller``), as in Appwrite: an API key is a server and may run any function; a JWT
(``x-appwrite-jwt``, from ``POST /v1/account/jwts``) or a session (cookie, ``x-fallback-cookies`` or
``x-appwrite-session``, from ``POST /v1/account/sessions/email``) is that user; anything else is a guest. A session
caller's execution receives ``x-appwrite-user-jwt``; a JWT caller's does not (``devstack.accounts``).

DEV ONLY, not in Appwrite: a request with the stack's key and ``x-appwrite-impersonate-user-id`` (SDK 16:
``add_header``), or in dev mode (the default) a request with ``x-devstack-user: <id>``, acts as that user as if
signed in with a session. Real servers offer neither to API keys; ``dev_mode=False`` refuses the second.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tools.envfile import EnvFile, read_env_file

from . import demo, realtime
from . import params as params_module
from .accounts import DEV_PASSWORD, Accounts
from .builds import Deployments
from .engine import Engine, EngineError
from .functions import (
    GUEST,
    METHODS,
    ApiError,
    Caller,
    ExecRequest,
    FunctionRuntime,
    Scheduler,
    may_execute,
)
from .manage import ManagementApi
from .project import ProjectState
from .rest import KeyRing, RestApi
from .schema import load_schema
from .startup import DataLock, bind_error, corrupt_database_error
from .versions import SERVER_VERSION, response_format_warning, version_tuple

log = logging.getLogger("devstack.server")

VERSION = SERVER_VERSION  # the one version the stack plays (devstack/versions.py)
MAX_BODY = 10 * 1024 * 1024  # Appwrite's own request limit is in this range; stops runaway uploads
STOP_POLL_SECONDS = 0.1  # how soon serve_forever sees a stop signal
SOCKET_TIMEOUT = 15.0  # seconds per socket read/write: a stalled client loses its connection
DB_FILE = "devstack.sqlite3"
REPO_ROOT = Path(__file__).resolve().parent.parent  # default root: the repo holding appwrite.json
KEY_FILE = "api-key"
PROJECT_FILE = "project.json"  # a blank stack's databases, tables, functions and deployments
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "[::1]"}
DEV_USERS = (("agent-alice", "Alice (agent)", ("agent",)), ("agent-bob", "Bob (agent)", ("agent",)),
             ("admin-ada", "Ada (admin)", ("admin",)))
DEV_EMAIL_DOMAIN = "example.test"  # agent-alice signs in as agent-alice@example.test with the dev password
MAX_EXECUTION_HEADERS, MAX_EXECUTION_HEADER_BYTES = 100, 16384  # Functions/Validator/Headers.php
_HEADER_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$")

Response = tuple[int, dict[str, str], bytes]

_EXECUTIONS = re.compile(r"^/v1/functions/([^/]+)/executions(?:/([^/]+))?/?$")
_DEV_ROUTE = re.compile(r"^/v1/devstack/(schedules|users)/([^/]+)/?$")
_FUNCTION_DOMAIN = re.compile(r"^/functions/([^/]+)(/.*)?$")  # a function's own domain, e.g. the agent console
# The project's Web platforms for Realtime's origin check: the demo's own origin (http://127.0.0.1:<port>) counts as
# `localhost` (Appwrite's Origin validator treats 127.0.0.1 and [::1] as localhost).
WEB_PLATFORMS = ("localhost",)
_LOOPBACK_ORIGIN = re.compile(r"^https?://(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$")


def error_response(code: int, type_: str, message: str) -> Response:
    """Appwrite's error shape; the SDK reads ``message`` and ``type`` from it."""
    body = {"message": message, "code": code, "type": type_, "version": VERSION}
    return code, {"content-type": "application/json"}, json.dumps(body).encode()


def json_response(status: int, obj: Any) -> Response:
    return status, {"content-type": "application/json"}, json.dumps(obj).encode()


# --------------------------------------------------------------------------- application


class DevApp:
    """Routes one parsed request; never raises (errors become Appwrite-shaped JSON)."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes,
               client_ip: str = "") -> Response:
        client_ip = trusted_client_ip(headers, client_ip)
        try:
            status, answer, content = self._route(method.upper(), target, headers, body, client_ip)
        except (ApiError, EngineError) as exc:
            status, answer, content = error_response(exc.code, exc.type, exc.message)
        except Exception:  # log it here, never send a traceback to the client
            log.exception("unhandled error for %s %s", method, target)
            status, answer, content = error_response(500, "general_unknown", "Server Error")
        if target.startswith("/v1"):
            answer = {**answer, **response_format_warning(headers)}
        return status, answer, content

    def _route(self, method: str, target: str, headers: dict[str, str], body: bytes,
               client_ip: str) -> Response:
        # DNS-rebinding guard: a web page may resolve its own name to 127.0.0.1; refuse such hosts.
        if _host_name(headers.get("host", "127.0.0.1")) not in LOOPBACK_HOSTS:
            raise ApiError(403, "general_access_forbidden", "Only loopback host names are served.")
        if method == "OPTIONS":
            return 204, {}, b""  # CORS preflight; the headers are added by the HTTP layer
        path, _, query = target.partition("?")
        if match := _EXECUTIONS.match(path):
            self._check_project(headers)
            return self._executions(method, match.group(1), match.group(2), headers, body, client_ip)
        if match := _DEV_ROUTE.match(path):
            return self._dev_route(method, match.group(1), match.group(2), headers, body)
        if path in ("/demo", "/demo/"):  # DEV ONLY: a site with the widget embedded (devstack/demo.py)
            return demo.page(self.stack.endpoint, self.stack.project_id, method)
        if path == demo.CONSOLE_DEV_PATH and self.stack.dev_mode:  # DEV ONLY: added to the console (demo.py)
            return demo.console_dev_script(method)
        if (match := _FUNCTION_DOMAIN.match(path)) and match.group(2) is None and method in ("GET", "HEAD"):
            # A function's domain answers at its root, /: here /functions/{id}/, so a page's relative URLs (the
            # console's modules) resolve under it.
            return 301, {"location": f"{path}/" + (f"?{query}" if query else "")}, b""
        if match:
            return self._function_domain(method, match.group(1), match.group(2) or "/", query, headers, body,
                                         client_ip)
        if path == "/v1" or path.startswith("/v1/"):
            managed = self.stack.manage.handle(method, path, query, headers, body)  # tables, functions, deploys
            return managed if managed is not None else self.stack.rest.handle(method, path, query, headers, body,
                                                                              client_ip)
        raise ApiError(404, "general_route_not_found", "The requested route was not found.")

    def _check_project(self, headers: dict[str, str]) -> None:
        project = headers.get("x-appwrite-project", "")
        if project and project != self.stack.project_id:
            raise ApiError(404, "project_not_found", "Project with the requested ID could not be found.")

    # ---- callers

    def resolve_caller(self, headers: dict[str, str], scope: str = "execution.write") -> tuple[Caller, str]:
        """(who calls, the ``x-appwrite-user-jwt`` their execution gets): key (server), impersonated user (dev),
        JWT user (no user JWT), session user, dev user (dev mode) or guest."""
        accounts = self.stack.accounts
        key = headers.get("x-appwrite-key", "")
        if key:
            if not self.stack.key_allows(key, scope):
                raise ApiError(401, "user_unauthorized", f"The API key is invalid or lacks {scope}.")
            impersonated = headers.get("x-appwrite-impersonate-user-id", "")
            return (self._session_caller(impersonated, api_key=True) if impersonated
                    else (Caller(api_key=True), ""))
        if headers.get("x-appwrite-jwt", ""):  # next to a live session: 403 user_jwt_and_cookie_set (accounts.py)
            return self._user_caller(accounts.authenticate(headers)[0]), ""
        secret = accounts.session_secret(headers)
        if secret and accounts.known_session(secret):  # a stale session cookie is a guest, as in Appwrite
            _, user_id = accounts.session_user(secret)
            return self._user_caller(user_id), self._execution_jwt(secret)
        dev_user = headers.get("x-devstack-user", "")
        if dev_user and self.stack.dev_mode:
            return self._session_caller(dev_user)
        return GUEST, ""

    def _user_caller(self, user_id: str, api_key: bool = False) -> Caller:
        user = self.stack.engine.get_user(user_id)  # EngineError 404 user_not_found when unknown
        return Caller(user_id=user_id, labels=tuple(user.get("labels", [])), api_key=api_key)

    def _session_caller(self, user_id: str, api_key: bool = False) -> tuple[Caller, str]:
        """DEV ONLY: act as a user as if they had signed in with a session."""
        caller = self._user_caller(user_id, api_key)
        return caller, self._execution_jwt(self.stack.accounts.dev_session(user_id))

    def _execution_jwt(self, session_secret: str) -> str:
        # Appwrite gives it the function's timeout + 60 s; the longest timeout of the functions bounds it here.
        longest = max((spec.timeout for spec in self.stack.runtime.functions.values()), default=15)
        return self.stack.accounts.create_jwt(session_secret, min(3600, longest + 60))

    # ---- executions

    def _executions(self, method: str, function_id: str, execution_id: str | None,
                    headers: dict[str, str], body: bytes, client_ip: str) -> Response:
        caller, user_jwt = self.resolve_caller(headers, "execution.write" if method == "POST" else "execution.read")
        spec = self.stack.runtime.functions.get(function_id)
        if spec is None or (not spec.enabled and not caller.api_key):
            raise ApiError(404, "function_not_found", "Function with the requested ID could not be found.")
        if method == "POST" and execution_id is None:
            return self._create_execution(function_id, caller, user_jwt, body, client_ip, headers)
        if method == "GET" and execution_id is None:
            found = [_visible(r, caller, headers) for r in self.stack.runtime.list_executions(function_id)
                     if _may_read(r, caller)]
            return json_response(200, {"total": len(found), "executions": found})
        if method == "GET":
            record = self.stack.runtime.get_execution(execution_id or "")
            if not record or record["functionId"] != function_id or not _may_read(record, caller):
                raise ApiError(404, "execution_not_found", "Execution with the requested ID was not found.")
            return json_response(200, _visible(record, caller, headers))
        raise ApiError(405, "general_route_not_found", f"{method} is not allowed here.")

    def _create_execution(self, function_id: str, caller: Caller, user_jwt: str, body: bytes,
                          client_ip: str, headers: dict[str, str]) -> Response:
        spec = self.stack.runtime.functions[function_id]
        params = parse_execution_params(body)  # Appwrite validates the params before it checks execute rights
        if not may_execute(spec, caller):
            raise ApiError(401, "user_unauthorized",
                           "The current user is not authorized to perform the requested action.")
        request = ExecRequest(trigger="http", method=params["method"], path=params["path"],
                              headers=params["headers"], body=params["body"], caller=caller,
                              client_ip=client_ip, user_jwt=user_jwt)
        runtime = self.stack.runtime
        if params["async"]:
            record = runtime.submit(function_id, request)
            return json_response(202, _visible(record, caller, headers))
        return json_response(201, _visible(runtime.execute(function_id, request), caller, headers))

    # ---- function domains

    def _function_domain(self, method: str, function_id: str, path: str, query: str, headers: dict[str, str],
                         body: bytes, client_ip: str) -> Response:
        """Appwrite serves each function on its own domain and answers with the function's response as is
        (how a page such as the agent console is served). Here: ``/functions/{id}/{path}`` on the stack."""
        caller, user_jwt = self.resolve_caller(headers)
        spec = self.stack.runtime.functions.get(function_id)
        if spec is None or not spec.enabled:
            raise ApiError(404, "function_not_found", "Function with the requested ID could not be found.")
        if not may_execute(spec, caller):
            raise ApiError(401, "user_unauthorized",
                           "The current user is not authorized to perform the requested action.")
        if method not in METHODS:
            raise ApiError(405, "general_argument_invalid", f"{method} is not allowed here.")
        request = ExecRequest(trigger="http", method=method, path=path + (f"?{query}" if query else ""),
                              headers={k: v for k, v in headers.items() if k not in ("host", "content-length")},
                              body=body, caller=caller, client_ip=client_ip, user_jwt=user_jwt)
        record = self.stack.runtime.execute(function_id, request)
        answer = {h["name"]: h["value"] for h in record["responseHeaders"]}
        content = record["responseBody"].encode()
        if function_id == "agent-console" and self.stack.dev_mode and \
                answer.get("content-type", "").startswith("text/html"):
            content = demo.with_console_dev(content)  # DEV ONLY: the dev users and the tests' refresh counter
        return record["responseStatusCode"] or 500, answer, content

    # ---- dev-only helpers for the CLI

    def _dev_route(self, method: str, kind: str, item_id: str, headers: dict[str, str],
                   body: bytes) -> Response:
        if not hmac.compare_digest(headers.get("x-appwrite-key", ""), self.stack.api_key):
            raise ApiError(401, "user_unauthorized", "Dev routes need the stack's own API key.")
        if method != "POST":
            raise ApiError(405, "general_route_not_found", f"{method} is not allowed here.")
        if kind == "schedules":
            record = self.stack.fire_schedule(item_id)
            timeout = self.stack.runtime.functions[item_id].timeout
            return json_response(200, self.stack.runtime.wait_for(record["$id"], timeout) or record)
        params = _json_object(body)
        labels = params.get("labels", [])
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise ApiError(400, "general_argument_invalid", "labels must be a list of strings.")
        self.stack.add_user(item_id, str(params.get("name", "") or item_id), labels)
        return json_response(200, {"$id": item_id, "labels": labels})


def trusted_client_ip(headers: dict[str, str], peer: str) -> str:
    """The client IP Appwrite keys its rate limits on and hands a function as `x-appwrite-client-ip`: appwrite 1.9.6
    `src/Appwrite/Utopia/Request.php` trusts the headers named in `_APP_TRUSTED_HEADERS` (comma-separated,
    case-insensitive, default `x-forwarded-for`), and utopia-php/http 2.0.0-rc9
    `src/Http/Adapter/Swoole/Request.php` `getIP()` takes, header by header in that order, the leftmost entry of the
    first one whose leftmost entry is a valid IP (PHP `FILTER_VALIDATE_IP`: no zone index); else the TCP peer."""
    names = [n.strip().lower() for n in os.environ.get("_APP_TRUSTED_HEADERS", "x-forwarded-for").split(",")]
    for name in filter(None, names):
        candidate = headers.get(name, "").split(",")[0].strip()
        if candidate and "%" not in candidate:
            try:
                ipaddress.ip_address(candidate)
            except ValueError:
                continue
            return candidate
    return peer


def _host_name(host: str) -> str:
    return host.split("]")[0] + "]" if host.startswith("[") else host.rsplit(":", 1)[0]


def _may_read(record: dict, caller: Caller) -> bool:
    if caller.api_key and not caller.user_id:
        return True
    return bool(caller.user_id) and f'read("user:{caller.user_id}")' in record["$permissions"]


def _visible(record: dict, caller: Caller, headers: dict[str, str]) -> dict:
    """The Execution model as the caller gets it: logs and errors only for API-key callers; `resourceId` and
    `resourceType` on the 2.x line, which an SDK asking for a response format below 2.0.0 (SDK 16 asks 1.8.0) gets
    back as `functionId` (appwrite `src/Appwrite/Utopia/Response/Model/Execution.php` and the response filter
    `src/Appwrite/Utopia/Response/Filters/V27.php` "Convert 2.0.0 Data format to 1.9.5 format", applied in
    `app/controllers/general.php` when `version_compare($responseFormat, '2.0.0', '<')`, on main after 1.9.6)."""
    model = {k: v for k, v in record.items() if k != "functionId"}
    requested = headers.get("x-appwrite-response-format", "")
    if requested and version_tuple(requested) < (2, 0, 0):
        model = {k: v for k, v in record.items() if k not in ("resourceId", "resourceType")}
    if caller.api_key:
        return model
    return {**model, "logs": "", "errors": ""}


def _json_object(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        params = params_module.php_json(body)  # no NaN, no nesting past 512, no RecursionError (devstack/params.py)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "general_argument_invalid", f"Invalid JSON body: {exc}") from None
    if not isinstance(params, dict):
        raise ApiError(400, "general_argument_invalid", "The JSON body must be an object.")
    return params


def parse_execution_params(body: bytes) -> dict[str, Any]:
    """Validate ``{body, async, path, method, headers}`` as Appwrite does. ``scheduledAt`` (a delayed execution) is
    not served: nothing here sends it."""
    params = _json_object(body)
    text, is_async = params.get("body", ""), params.get("async", False)
    path, method = params.get("path", "/") or "/", str(params.get("method", "POST") or "POST").upper()
    headers = params.get("headers") or {}
    if params.get("scheduledAt") not in (None, ""):
        raise _invalid("scheduledAt", "is not served by the local stack")
    if not isinstance(text, str):
        raise _invalid("body", "must be a string")
    is_async = params_module.boolean(is_async, "async", loose=True)  # Executions/Create.php: Boolean(true)
    if not isinstance(path, str):
        raise _invalid("path", "must be a string")
    if method not in METHODS:
        raise _invalid("method", f"must be one of {', '.join(METHODS)}")
    if isinstance(headers, str):  # the param is an object or a JSON string holding one
        try:
            headers = json.loads(headers) if headers.strip() else {}
        except ValueError:
            raise _invalid("headers", "must be an object") from None
    if not isinstance(headers, dict):
        raise _invalid("headers", "must be an object")
    headers = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in headers.items()}
    check_execution_headers(headers)
    return {"body": text, "async": is_async, "path": path if path.startswith("/") else "/" + path,
            "method": method, "headers": headers}


def check_execution_headers(headers: dict[str, str]) -> None:
    """Appwrite 1.8.1 `Functions/Validator/Headers.php`: at most 100 names of letters, digits and inner hyphens,
    under 16 KB in all, none starting with `x-appwrite-`. That last check is case-sensitive: `X-Appwrite-User-Id`
    passes, and the function then sees the caller's value (docs/platform.md)."""
    size = 0
    for name, value in headers.items():
        size += len(name.encode()) + len(value.encode())
        if (len(headers) > MAX_EXECUTION_HEADERS or size >= MAX_EXECUTION_HEADER_BYTES
                or not _HEADER_NAME.match(name) or name.startswith("x-appwrite-")):
            raise ApiError(400, "general_argument_invalid",
                           'Invalid headers: Alphanumeric characters or hyphens only, cannot start with "x-appwrite",'
                           f" maximum {MAX_EXECUTION_HEADERS} keys, and total size {MAX_EXECUTION_HEADER_BYTES}.")


def _invalid(name: str, why: str) -> ApiError:
    return ApiError(400, "general_argument_invalid", f"Invalid `{name}` param: {why}.")


# --------------------------------------------------------------------------- HTTP layer


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a stuck request must not keep the process alive at exit
    allow_reuse_address = True
    # socketserver's default listen backlog is 5: a burst of new connections (each execution thread opens its own
    # to the REST API) overflowed it and the kernel dropped SYNs, so some requests waited 1 s for a retransmit.
    request_queue_size = 128
    app: DevApp
    realtime: realtime.Realtime | None = None  # the /v1/realtime socket (devstack/realtime.py)
    max_body: int = MAX_BODY
    socket_timeout: float = SOCKET_TIMEOUT


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the SDK's requests reuse connections
    server_version = "devstack"
    sys_version = ""
    server: _Server

    def setup(self) -> None:
        self.timeout = self.server.socket_timeout  # read by StreamRequestHandler.setup
        super().setup()
        # Headers and body leave in separate writes: without NODELAY, Nagle plus the client's delayed ACK
        # add ~40 ms to every response on a kept-alive connection.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    # Method names fixed by BaseHTTPRequestHandler; every verb goes through one router.
    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_OPTIONS(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def _serve(self) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        if self.server.realtime is not None and realtime.is_request(self.path, headers):
            self._serve_realtime(headers)
            return
        try:
            body = self._read_body(headers)
        except ApiError as exc:
            self.close_connection = True  # the unread body would poison the next request
            self._send(*error_response(exc.code, exc.type, exc.message))
            return
        self._send(*self.server.app.handle(self.command, self.path, headers, body, self.client_address[0]))

    def _serve_realtime(self, headers: dict[str, str]) -> None:
        """Hand the connection to Realtime (``devstack.realtime``); it returns when the socket is done."""
        self.close_connection = True
        if _host_name(headers.get("host", "127.0.0.1")) not in LOOPBACK_HOSTS:  # the DNS-rebinding guard, as for HTTP
            self._send(*error_response(403, "general_access_forbidden", "Only loopback host names are served."))
            return
        assert self.server.realtime is not None
        self.server.realtime.serve(self, headers)

    def _read_body(self, headers: dict[str, str]) -> bytes:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            raise ApiError(411, "general_argument_invalid", "Chunked bodies are not read.")
        try:
            length = int(headers.get("content-length", "0") or "0")
        except ValueError:
            raise ApiError(400, "general_argument_invalid", "Invalid Content-Length.") from None
        if length < 0:
            raise ApiError(400, "general_argument_invalid", "Invalid Content-Length.")
        if length > self.server.max_body:
            raise ApiError(413, "general_argument_invalid", f"Body over {self.server.max_body} bytes.")
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for name, value in {**headers, **_cors(self.headers.get("origin", ""))}.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(body)))
        if self.close_connection:
            self.send_header("connection", "close")
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Protocol errors found by the stdlib (bad request line, huge headers) as JSON too."""
        self.close_connection = True
        self.request_version = self.protocol_version  # a garbled request line still gets a status line
        status, headers, body = error_response(code, "general_argument_invalid" if code < 500 else
                                               "general_unknown", message or HTTPStatus(code).phrase)
        self.send_response(status)
        self.send_header("content-type", headers["content-type"])
        self.send_header("content-length", str(len(body)))
        self.send_header("connection", "close")
        self.end_headers()
        if getattr(self, "command", "") != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # stdlib signature
        log.debug("%s %s", self.address_string(), format % args)


def _cors(origin: str) -> dict[str, str]:
    """Let pages served from loopback (the agent console) call the stack; no one else."""
    if not _LOOPBACK_ORIGIN.match(origin):
        return {}
    return {"access-control-allow-origin": origin, "vary": "Origin",
            "access-control-allow-methods": ", ".join(METHODS),
            "access-control-allow-headers": "content-type, x-appwrite-project, x-appwrite-key, "
            "x-appwrite-jwt, x-appwrite-session, x-fallback-cookies, x-appwrite-response-format, x-sdk-version, "
            "x-devstack-user",
            "access-control-allow-credentials": "true",
            "access-control-expose-headers": "x-fallback-cookies",
            "access-control-max-age": "600"}


# --------------------------------------------------------------------------- the stack


class Stack:
    """Engine + REST API + key ring + functions + events + scheduler behind one HTTP server.

    ``with Stack(data_dir=tmp, port=0) as stack:`` then use ``stack.endpoint``,
    ``stack.project_id``, ``stack.api_key``. ``port=0`` binds a free port (read ``stack.port``).
    ``root`` (default: this repository) holds appwrite.json, the functions and an optional .env;
    ``data_dir`` defaults to ``root/.local``. ``run_scheduler=False`` keeps cron out of tests
    (use ``fire_schedule`` or ``scheduler.tick(when)``).
    """

    def __init__(self, root: str | Path | None = None, *, data_dir: str | Path | None = None,
                 port: int = 8787, host: str = "127.0.0.1", config: str = "appwrite.json",
                 reset: bool = False, dev_mode: bool = True, seed_users: bool = True,
                 run_scheduler: bool = True, max_body: int = MAX_BODY,
                 socket_timeout: float = SOCKET_TIMEOUT, dev_password: str | None = None,
                 blank: bool = False, generate_secrets: tuple[str, ...] = (),
                 web_platforms: tuple[str, ...] = WEB_PLATFORMS, deny_realtime_guests: bool = False) -> None:
        if host not in ("127.0.0.1", "localhost"):
            raise ValueError("the local stack listens on loopback only")
        self.root = Path(root).resolve() if root is not None else REPO_ROOT
        self.config_path = self.root / config
        self.data_dir = Path(data_dir) if data_dir is not None else self.root / ".local"
        self.host, self.port, self.dev_mode = host, port, dev_mode
        self._reset, self._seed, self._run_scheduler = reset, seed_users, run_scheduler
        self._max_body, self._socket_timeout = max_body, socket_timeout
        self.dev_password = dev_password or os.environ.get("DEVSTACK_PASSWORD") or DEV_PASSWORD
        # blank: a new, empty project (no tables, no functions) that `appwrite push` fills; kept in data_dir.
        self.blank = blank
        self.project_id = json.loads(self.config_path.read_text(encoding="utf-8")).get("projectId", "local")
        self.api_key = ""
        self._saved_env: dict[str, str | None] = {}
        self.env_file = EnvFile()  # root/.env as read at start: its values and what it could not read
        # DEV ONLY: secrets made up for this run when neither .env nor the environment sets them (`make run` asks
        # for BOT_SECRET, so the demo's bot answers out of the box). Never printed; gone when the stack stops.
        self._generate_secrets = generate_secrets
        self.generated_secrets: tuple[str, ...] = ()
        # Realtime (devstack/realtime.py): the hostnames of the project's Web platforms (an Origin must name one, or
        # the stack's own host), and the 2.x policy that denies guests (off, as in a new project).
        self.web_platforms, self.deny_realtime_guests = tuple(web_platforms), deny_realtime_guests
        self._lock = DataLock(self.data_dir)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.stop_signal = 0  # the signal that asked serve_forever to stop (0: none yet)

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> Stack:
        """Lock the data folder and bind the port before touching any file; ``StartupError`` when that fails."""
        self._lock.acquire()  # a second stack on the same folder stops here, before --reset deletes anything
        try:
            self._start()
        except BaseException:
            self._abandon()
            raise
        return self

    def _start(self) -> None:
        try:
            self._server = _Server((self.host, self.port), _Handler)  # bind first: the port goes into env
        except OSError as exc:
            raise bind_error(self.host, self.port, exc) from None
        self._server.max_body, self._server.socket_timeout = self._max_body, self._socket_timeout
        self.port = self._server.server_address[1]
        self._lock.note(self.port)
        if self._reset:
            for suffix in ("", "-wal", "-shm", "-journal"):
                (self.data_dir / (DB_FILE + suffix)).unlink(missing_ok=True)
            (self.data_dir / PROJECT_FILE).unlink(missing_ok=True)
            for folder in ("builds", "deployments"):
                shutil.rmtree(self.data_dir / folder, ignore_errors=True)
        self.api_key = _stable_key(self.data_dir / KEY_FILE)
        self._set_env()
        self.project = ProjectState(self.data_dir / PROJECT_FILE if self.blank else None)
        if not self.blank:  # the working tree: appwrite.json's tables and functions, no push needed
            config = json.loads(self.config_path.read_text(encoding="utf-8"))
            self.project.seed(config)
            self.project.seed_functions(config)
        try:
            self.engine = Engine(self.project.schema() if self.blank else load_schema(self.config_path),
                                 str(self.data_dir / DB_FILE))
        except sqlite3.DatabaseError as exc:
            raise corrupt_database_error(self.data_dir / DB_FILE, exc) from None
        self.project.on_schema = self.engine.set_schema
        self.project.resume()
        self.keys = KeyRing()
        self.keys.add(self.api_key, None)  # the dev key: every scope
        self.accounts = Accounts(self.engine, self.project_id)
        self.rest = RestApi(self.engine, self.keys, self.project_id, self.accounts)
        self.runtime = FunctionRuntime({}, self.keys)
        self.engine.subscribe(self.runtime.dispatch_event)
        self.realtime = realtime.Realtime(project_id=self.project_id, engine=self.engine, accounts=self.accounts,
                                          api_hostnames=(self.host,), web_platforms=self.web_platforms,
                                          deny_guests=self.deny_realtime_guests)
        self.engine.subscribe(self.realtime.on_row_event)  # row events, after commit, to the sockets
        self._server.realtime = self.realtime
        self.scheduler = Scheduler(self.runtime)
        self.deployments = Deployments(self.project, self.runtime, self.scheduler, self.data_dir, self.root,
                                       self._runtime_env())
        self.deployments.sync()
        self.manage = ManagementApi(self.project, self.deployments, self.keys, self.project_id)
        if self._seed:
            for user_id, name, labels in DEV_USERS:
                self.add_user(user_id, name, labels)
        self._server.app = DevApp(self)
        # A short poll interval keeps stop() (and so every test teardown) fast.
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="devstack-http", daemon=True)
        self._thread.start()
        if self._run_scheduler:
            self.scheduler.start()

    def _abandon(self) -> None:
        """Undo a start that failed half-way: free the port, the environment and the folder."""
        if self._server is not None:
            self._server.server_close()
            self._server = None
        if getattr(self, "engine", None) is not None:
            self.engine.close()
        self._restore_env()
        self._lock.release()

    def stop(self) -> None:
        if self._server is None:
            return
        self.realtime.close()  # every socket gets 1001 (going away) before the server stops
        self._server.shutdown()
        self._server.server_close()
        self._server = None
        self.scheduler.stop()
        self.deployments.close()
        self.project.close()
        self.runtime.close()
        close = getattr(self.engine, "close", None)
        if close is not None:
            close()
        self._restore_env()
        self._lock.release()

    def serve_forever(self, ready: Callable[[], None] | None = None) -> None:
        """Block until SIGINT or SIGTERM (the CLI's ``run``), then stop cleanly. ``ready`` runs once the signals are
        the stack's (the CLI prints its banner there: whoever reads it may signal at once).

        A signal handler runs in the main thread between two bytecodes, possibly in the middle of code that holds a
        lock, or of another handler: one that takes a lock can deadlock the process (``threading.Event.set`` did,
        when a second signal arrived while the first handler held the event's lock, and the orphan kept the data
        folder). So the handler only sets a flag, which takes no lock, and stays installed until the process exits:
        any number of signals in any order only ask again for the stop under way."""
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                signal.signal(signum, self._on_stop_signal)
        if ready is not None:
            ready()
        try:
            while not self.stop_signal:
                time.sleep(STOP_POLL_SECONDS)  # a signal cuts the sleep short; its handler runs right away
        finally:
            self.stop()

    def _on_stop_signal(self, signum: int, _frame: object) -> None:
        self.stop_signal = signum  # one attribute store: no lock, safe inside any code or another handler

    # ---- conveniences for tests and the CLI

    def add_user(self, user_id: str, name: str = "", labels: list[str] | tuple[str, ...] = ()) -> None:
        """A user who can sign in as `<user_id>@example.test` with the dev password."""
        self.engine.put_user(user_id, name or user_id, list(labels), email=f"{user_id}@{DEV_EMAIL_DOMAIN}")
        self.accounts.set_password(user_id, self.dev_password)

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """True once every queued event/async/schedule execution has finished."""
        return self.runtime.wait_idle(timeout)

    def fire_schedule(self, function_id: str) -> dict[str, Any]:
        """Queue one ``schedule`` execution now; returns the ``waiting`` execution model."""
        return self.runtime.fire_schedule(function_id)

    def key_allows(self, key: str, scope: str) -> bool:
        try:
            return bool(self.keys.check(key, scope))
        except Exception:  # noqa: BLE001 - a key ring may signal "no" by raising
            return False

    # ---- environment

    def _set_env(self) -> None:
        """Functions share this process's environment: set it once, restore it at stop."""
        values = {"APPWRITE_FUNCTION_API_ENDPOINT": self.endpoint,
                  "APPWRITE_FUNCTION_PROJECT_ID": self.project_id,
                  "APPWRITE_FUNCTION_DEPLOYMENT": "local", "APPWRITE_FUNCTION_RUNTIME_NAME": "Python",
                  "APPWRITE_FUNCTION_RUNTIME_VERSION": "3.12", "APPWRITE_VERSION": VERSION,
                  "APPWRITE_REGION": "local"}
        self.env_file = read_env_file(self.root / ".env")
        values.update(self.env_file.values)
        missing = [name for name in self._generate_secrets if not values.get(name) and not os.environ.get(name)]
        values.update({name: "devstack-" + secrets.token_urlsafe(24) for name in missing})
        self.generated_secrets = tuple(missing)
        for name in (*values, "APPWRITE_FUNCTION_ID", "APPWRITE_FUNCTION_NAME"):
            self._saved_env.setdefault(name, os.environ.get(name))
        os.environ.update(values)

    def _runtime_env(self) -> dict[str, str]:
        """What a deployed build's runtime sees besides the function's variables (Executions/Create.php)."""
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
                "APPWRITE_FUNCTION_API_ENDPOINT": self.endpoint, "APPWRITE_FUNCTION_PROJECT_ID": self.project_id,
                "APPWRITE_FUNCTION_RUNTIME_NAME": "Python", "APPWRITE_FUNCTION_RUNTIME_VERSION": "3.12",
                "APPWRITE_VERSION": VERSION, "APPWRITE_REGION": "local"}

    def _restore_env(self) -> None:
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env.clear()


def _stable_key(path: Path) -> str:
    """One dev API key per data dir, kept across restarts so copy-pasted snippets keep working."""
    if path.is_file() and (key := path.read_text(encoding="utf-8").strip()):
        return key
    key = "devstack_" + secrets.token_hex(32)
    path.write_text(key + "\n", encoding="utf-8")
    path.chmod(0o600)
    return key
