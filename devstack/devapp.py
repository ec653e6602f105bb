"""The local stack's router: what one parsed request gets (``devstack.server`` serves it over HTTP).

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
import logging
import os
import re
from typing import TYPE_CHECKING

from . import demo
from .engine import EngineError
from .execution_params import _json_object, _may_read, _visible, parse_execution_params
from .functions import GUEST, METHODS, ApiError, Caller, ExecRequest, may_execute
from .httpd import LOOPBACK_HOSTS, Response, _host_name, error_response, json_response
from .versions import response_format_warning

if TYPE_CHECKING:
    from .server import Stack

log = logging.getLogger("devstack.server")

_EXECUTIONS = re.compile(r"^/v1/functions/([^/]+)/executions(?:/([^/]+))?/?$")
_DEV_ROUTE = re.compile(r"^/v1/devstack/(schedules|users)/([^/]+)/?$")
_FUNCTION_DOMAIN = re.compile(r"^/functions/([^/]+)(/.*)?$")  # a function's own domain, e.g. the agent console


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
