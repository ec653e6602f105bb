"""Appwrite's REST surface (TablesDB rows and transactions, a user, the account, the version) over an `Engine`,
transport-agnostic.

`RestApi.handle()` takes a raw request and returns `(status, headers, body)`; the unit-test fake
calls it from a `responses` callback and the local stack from its HTTP server.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote

from devstack import creates, documents, params
from devstack.accounts import (
    JWT_DEFAULT_SECONDS,
    JWT_MAX_SECONDS,
    JWT_WINDOW_SECONDS,
    JWTS_PER_USER,
    Accounts,
    RateLimited,
    guest_refused,
    session_not_found,
)
from devstack.engine import Engine, EngineError
from devstack.transactions import Transactions
from devstack.versions import SERVER_VERSION

VERSION = SERVER_VERSION  # the one version the stack plays (devstack/versions.py)
MAX_BODY = 10 * 1024 * 1024
JSON_HEADERS = {"content-type": "application/json"}
log = logging.getLogger(__name__)

Response = tuple[int, dict[str, str], bytes]
ACCOUNT_SCOPE = "account"
_QUERY_KEY = re.compile(r"^queries(?:\[(\d*)\])?$")


class KeyRing:
    """API keys and their scopes (`rows.read`, `rows.write`, `users.read`, ...)."""

    def __init__(self) -> None:
        self._keys: dict[str, frozenset[str] | None] = {}

    def add(self, key: str, scopes: set[str] | None = None) -> KeyRing:
        """Register a key; `scopes=None` grants every scope."""
        self._keys[key] = None if scopes is None else frozenset(scopes)
        return self

    def remove(self, key: str) -> None:
        self._keys.pop(key, None)

    def check(self, key: str | None, scope: str) -> bool:
        if key is None or key not in self._keys:
            return False
        scopes = self._keys[key]
        return scopes is None or scope in scopes


def error_body(code: int, type_: str, message: str) -> bytes:
    return json.dumps({"message": message, "code": code, "type": type_, "version": VERSION}).encode()


def error_response(code: int, type_: str, message: str) -> Response:
    return code, dict(JSON_HEADERS), error_body(code, type_, message)


class _Request:
    def __init__(self, method: str, segments: list[str], query: list[tuple[str, str]],
                 headers: dict[str, str], body: dict, client_ip: str = "") -> None:
        self.method = method
        self.client_ip = client_ip
        self.segments = segments
        self.query = query
        self.headers = headers
        self.body = body

    def param(self, name: str, default: Any = None) -> Any:
        for key, value in self.query:
            if key == name:
                return value
        return self.body.get(name, default)

    def queries(self) -> list[str]:
        indexed: list[tuple[int, int, str]] = []
        for position, (key, value) in enumerate(self.query):
            match = _QUERY_KEY.match(key)
            if match:  # `queries[3]=` keeps its index; `queries[]=` keeps arrival order
                index = int(match.group(1)) if match.group(1) else position
                indexed.append((index, position, value))
        from_body = self.body.get("queries")
        if not indexed and isinstance(from_body, list):
            return from_body
        return [value for _, _, value in sorted(indexed)]

    def flag(self, name: str, default: bool = True) -> bool:
        """A `Boolean(true)` param (list rows' `total` is loose in Appwrite): `true`/`false`/`1`/`0` or a JSON
        boolean, else 400 (devstack/params.py)."""
        value = self.param(name)
        return default if value is None else params.boolean(value, name, loose=True)


Handler = Callable[[_Request], Response]


class RestApi:
    """Serves `/v1/tablesdb/.../rows...`, `/v1/tablesdb/transactions...`, `GET /v1/users/{id}`, `/v1/account...`
    and `GET /v1/health/version` (the CLI's `client` command checks it) like Appwrite."""

    def __init__(self, engine: Engine, keys: KeyRing, project: str | None = None,
                 accounts: Accounts | None = None) -> None:
        self.engine = engine
        self.keys = keys
        self.project = project  # None: any non-empty project id is accepted
        self.accounts = accounts or Accounts(engine, project or "local")
        self.transactions = Transactions(engine)  # TablesDB transactions (devstack/transactions.py)

    def handle(self, method: str, path: str, query_string: str, headers: Mapping[str, str],
               body: bytes, client_ip: str = "") -> Response:
        """Never raises: every failure becomes an Appwrite-shaped JSON error. `client_ip`: the TCP peer, which
        Appwrite's own rate limits key on (callers cannot choose it; the in-process fake has none). The legacy
        document routes run the rows code in their own words (devstack/documents.py)."""
        path, _, inline_query = path.partition("?")
        legacy = documents.tablesdb_path(path)
        if legacy is None:
            return self._answer(method.upper(), path, query_string or inline_query, headers, body or b"", client_ip)
        return documents.response(self._answer(method.upper(), legacy, query_string or inline_query, headers,
                                               documents.request_body(body or b""), client_ip,
                                               documents.scope(method.upper())))

    def _answer(self, method: str, path: str, query_string: str, headers: Mapping[str, str], body: bytes,
                client_ip: str, scope: str | None = None) -> Response:
        try:
            return self._handle(method, path, query_string, headers, body, client_ip, scope)
        except RateLimited as exc:
            status, answer_headers, answer = error_response(exc.code, exc.type, exc.message)
            return status, {**answer_headers, **exc.headers}, answer
        except EngineError as exc:
            return error_response(exc.code, exc.type, exc.message)
        except Exception:
            log.exception("unexpected error serving %s %s", method, path)
            return error_response(500, "general_unknown", "Server Error")

    def _handle(self, method: str, path: str, query_string: str, headers: Mapping[str, str],
                body: bytes, client_ip: str = "", scope_override: str | None = None) -> Response:
        if not (path == "/v1" or path.startswith("/v1/")):
            raise _route_not_found()
        segments = [unquote(s) for s in path[len("/v1"):].split("/") if s]
        route = self._route(method, segments)
        if route is None:
            raise _route_not_found()
        handler, scope = route
        scope = scope_override or scope
        lower = {k.lower(): v for k, v in headers.items()}
        if scope == ACCOUNT_SCOPE:  # a user's own routes: the project, then the session or JWT, no key
            self._check_project(lower)
        elif scope is not None:
            self._authorize(lower, scope)
        request = _Request(method, segments, parse_qsl(query_string, keep_blank_values=True), lower,
                           _parse_body(method, body), client_ip)
        if request.param("transactionId") is not None:  # staged or read through a transaction (transactions.py)
            answer = self.transactions.row_request(request)
            if answer is not None:
                return answer
        return handler(request)

    def _check_project(self, headers: dict[str, str]) -> None:
        project = headers.get("x-appwrite-project")
        if not project or (self.project is not None and project != self.project):
            raise EngineError(404, "project_not_found", "Project with the requested ID could not be found.")

    def _authorize(self, headers: dict[str, str], scope: str) -> None:
        project = headers.get("x-appwrite-project")
        key = headers.get("x-appwrite-key")
        if not project or (self.project is not None and project != self.project) \
                or not self.keys.check(key, scope):
            raise EngineError(401, "general_unauthorized_scope",
                              f"User (role: guests) missing scope ({scope})")

    def _route(self, method: str, s: list[str]) -> tuple[Handler, str | None] | None:
        n = len(s)
        if s == ["health", "version"] and method == "GET":
            return self._version, None
        if s[:1] == ["users"] and n == 2 and method == "GET":
            return self._get_user, "users.read"
        if s[:1] == ["account"]:
            return self._account_route(method, s)
        if s[:2] == ["tablesdb", "transactions"]:
            return self.transactions.route(method, s)
        if n >= 5 and s[0] == "tablesdb" and s[2] == "tables" and s[4] == "rows":
            return self._row_route(method, s, n)
        return None

    def _account_route(self, method: str, s: list[str]) -> tuple[Handler, str] | None:
        routes: dict[tuple[str, ...], Handler] = {
            ("GET", "account"): self._get_account, ("POST", "account", "sessions", "email"): self._sign_in,
            ("POST", "account", "sessions", "anonymous"): self._anonymous_session,
            ("POST", "account", "jwts"): self._create_jwt, ("DELETE", "account", "sessions", "current"): self._sign_out}
        handler = routes.get((method, *s))
        return (handler, ACCOUNT_SCOPE) if handler else None

    def _row_route(self, method: str, s: list[str], n: int) -> tuple[Handler, str] | None:
        table: dict[str, Handler] = {}
        if n == 5:
            table = {"GET": self._list_rows, "POST": self._create_row, "PUT": self._upsert_rows,
                     "DELETE": self._delete_rows}
        elif n == 6:
            table = {"GET": self._get_row, "PATCH": self._update_row, "PUT": self._upsert_row,
                     "DELETE": self._delete_row}
        elif n == 8 and s[7] in ("increment", "decrement"):
            table = {"PATCH": self._bump}
        handler = table.get(method)
        if handler is None:
            return None
        return handler, "rows.read" if method == "GET" else "rows.write"

    # -- handlers ---------------------------------------------------------------------------

    def _version(self, request: _Request) -> Response:
        return _json(200, {"version": VERSION})

    def _list_rows(self, r: _Request) -> Response:
        db, table = r.segments[1], r.segments[3]
        return _json(200, self.engine.list_rows(db, table, r.queries(), total=r.flag("total")))

    def _create_row(self, r: _Request) -> Response:
        """One row (`rowId`, `data`, `permissions`) or several (`rows`: `Engine.create_rows`), the parameters read as
        upstream reads them (devstack/creates.py). Bulk is the key's only: every row route here demands a key."""
        row_id, data, rows = creates.create_form(r.param)
        if rows is not None:
            return _json(201, self.engine.create_rows(r.segments[1], r.segments[3], rows))
        return _json(201, self.engine.create_row(r.segments[1], r.segments[3], row_id, data, r.param("permissions")))

    def _get_row(self, r: _Request) -> Response:
        return _json(200, self.engine.get_row(r.segments[1], r.segments[3], r.segments[5], r.queries()))

    def _update_row(self, r: _Request) -> Response:
        row = self.engine.update_row(r.segments[1], r.segments[3], r.segments[5], r.param("data"),
                                     r.param("permissions"), timestamp=_timestamp(r))
        return _json(200, row)

    def _upsert_row(self, r: _Request) -> Response:
        row = self.engine.upsert_row(r.segments[1], r.segments[3], r.segments[5], r.param("data"),
                                     r.param("permissions"), timestamp=_timestamp(r))
        return _json(201, row)

    def _upsert_rows(self, r: _Request) -> Response:
        return _json(200, self.engine.upsert_rows(r.segments[1], r.segments[3], _required(r, "rows")))

    def _delete_row(self, r: _Request) -> Response:
        self.engine.delete_row(r.segments[1], r.segments[3], r.segments[5], timestamp=_timestamp(r))
        # The SDK reads Content-Type even on 204 (a missing header raises KeyError) and would try to
        # JSON-decode an empty body sent as application/json, so say it is (empty) text.
        return 204, {"content-type": "text/plain; charset=UTF-8"}, b""

    def _delete_rows(self, r: _Request) -> Response:
        return _json(200, self.engine.delete_rows(r.segments[1], r.segments[3], r.queries(), timestamp=_timestamp(r)))

    def _bump(self, r: _Request) -> Response:
        db, table, row_id, column, action = (r.segments[i] for i in (1, 3, 5, 6, 7))
        # Attribute/Increment.php, Decrement.php (appwrite 1.9.6): `value` Numeric(), `max`/`min` Nullable(Numeric())
        value = params.numeric(r.param("value", 1), "value")
        bound_name = "max" if action == "increment" else "min"
        bound = r.param(bound_name)
        bound = None if bound is None else params.numeric(bound, bound_name)
        if action == "increment":
            row = self.engine.increment_row_column(db, table, row_id, column, value, bound, timestamp=_timestamp(r))
        else:
            row = self.engine.decrement_row_column(db, table, row_id, column, value, bound, timestamp=_timestamp(r))
        return _json(200, row)

    def _get_account(self, r: _Request) -> Response:
        return _json(200, self.accounts.user_for(r.headers))

    def _sign_in(self, r: _Request) -> Response:
        email, password = _required(r, "email"), _required(r, "password")
        if not isinstance(email, str) or not isinstance(password, str):
            raise EngineError(400, "general_argument_invalid", "Invalid `email` or `password` param.")
        session, secret = self.accounts.sign_in(email, password)
        status, headers, body = _json(201, session)
        return status, {**headers, **self.accounts.session_cookie_headers(secret)}, body

    def _anonymous_session(self, r: _Request) -> Response:
        session, secret, limits = self.accounts.anonymous_session(r.client_ip)
        status, headers, body = _json(201, session)
        return status, {**headers, **limits, **self.accounts.session_cookie_headers(secret)}, body

    def _create_jwt(self, r: _Request) -> Response:
        """`POST /v1/account/jwts` as appwrite 1.9.6 serves it (app/controllers/api/account.php; hooks in
        app/controllers/shared/api.php, run by utopia-php/http before the route's params are validated): the caller
        (a JWT next to a live session: 403), the `account` scope (a guest: 401), the abuse limit (120 a minute per
        user, every call counted), `duration` (`Range(0, 3600)`, default 900), then the session: the action signs
        only for the session the request presents (`sessionVerify` of the store's secret), so a request that proves
        itself with a JWT alone answers 404 `user_session_not_found`: a JWT cannot renew itself."""
        user_id, secret = self.accounts.authenticate(r.headers)
        if not user_id:
            raise guest_refused()
        limits = self.accounts.take(f"url:{r.headers.get('host', '')}/v1/account/jwts,userId:{user_id}",
                                    JWTS_PER_USER, JWT_WINDOW_SECONDS)
        duration = params.integer_range(r.param("duration", JWT_DEFAULT_SECONDS), "duration", 0, JWT_MAX_SECONDS)
        if not secret:
            raise session_not_found()
        status, headers, body = _json(201, {"jwt": self.accounts.create_jwt(secret, duration)})
        return status, {**headers, **limits}, body

    def _sign_out(self, r: _Request) -> Response:
        secret = self.accounts.session_secret(r.headers) or ""
        self.accounts.session_user(secret)  # a guest: 401
        self.accounts.sign_out(secret)
        return 204, {"content-type": "text/plain; charset=UTF-8", **self.accounts.cleared_cookie_headers()}, b""

    def _get_user(self, r: _Request) -> Response:
        return _json(200, self.engine.get_user(r.segments[1]))


def _json(status: int, payload: Any) -> Response:
    return status, dict(JSON_HEADERS), json.dumps(payload).encode()


def _route_not_found() -> EngineError:
    return EngineError(404, "general_route_not_found",
                       "The requested route was not found. Please refer to the API docs and try again.")


def _parse_body(method: str, body: bytes) -> dict:
    """utopia-php/http 2.0.0-rc23 (appwrite 1.9.6's composer.lock) `src/Http/Adapter/Swoole/Request.php` 264-276: a
    body `json_decode` cannot read (devstack/params.py `php_json`) or that is no object is no parameters, so the
    route answers its own missing-parameter error (a create: 400 `row_missing_data`)."""
    if len(body) > MAX_BODY:
        raise EngineError(400, "general_argument_invalid", "Request body is larger than 10 MB.")
    try:
        parsed = {} if method == "GET" or not body.strip() else params.php_json(body)
    except ValueError:  # invalid UTF-8 or JSON, NaN/Infinity, a nesting deeper than 512
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _required(r: _Request, name: str) -> Any:
    value = r.param(name)
    if value is None:
        raise EngineError(400, "general_argument_invalid", f'Param "{name}" is not optional.')
    return value


def _timestamp(r: _Request) -> str | None:
    return r.headers.get("x-appwrite-timestamp")
