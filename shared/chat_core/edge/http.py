"""From the runtime's `context` to a JSON answer: parse, route, call the core, map errors in one place."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import parse_qs

from chat_core import jsonio
from chat_core.config import Settings, platform_warning
from chat_core.core import Core
from chat_core.domain.authz import Caller, Credentials
from chat_core.domain.model import utcnow
from chat_core.errors import BadRequest, ChatError, MethodNotAllowed, NotFound, PayloadTooLarge, Unauthorized
from chat_core.infra.gateway import Gateway

MAX_BODY_BYTES = 64 * 1024
MAX_QUERY_BYTES = 4096
INTERNAL_ERROR = {"error": {"code": "internal_error", "message": "unexpected error"}}


@dataclass
class Request:
    """The runtime's request as the routes read it: path parameters and the Core are set when it is routed."""

    method: str
    path: str
    headers: dict[str, str]
    query: dict[str, list[str]]
    raw_body: bytes
    params: dict[str, str] = field(default_factory=dict)
    core: Core | None = None

    def json(self) -> Any:
        """The body as strict JSON (see jsonio); an empty body is an empty object."""
        if len(self.raw_body) > MAX_BODY_BYTES:
            raise PayloadTooLarge(f"the body is larger than {MAX_BODY_BYTES} bytes")
        if not self.raw_body.strip():
            return {}
        try:
            return jsonio.loads(self.raw_body.decode("utf-8"))
        except UnicodeDecodeError:
            raise BadRequest("the body is not valid UTF-8", code="invalid_json") from None
        except jsonio.NotStrictJSON as exc:
            raise BadRequest(f"the body is not strict JSON: {exc}", code="invalid_json") from None

    @property
    def token(self) -> str | None:
        return self.core.caller.token if self.core else None

    @property
    def trigger(self) -> str:
        """What `x-appwrite-trigger` claims. Callers can forge it (Appwrite refuses only the lower-case spelling of
        a caller's `x-appwrite-*` header), so it only picks a handler, and the event and schedule handlers do
        nothing a caller could not ask for anyway (see `App`)."""
        return self.headers.get("x-appwrite-trigger", "http")


Handler = Callable[[Request], "tuple[int, Any] | Any"]


class Route(NamedTuple):
    """One route: `/replies/{shortcut}` matches `/replies/x` and `/replies/x/` with `shortcut` = "x" (a parameter
    is one non-empty path segment). Matched segment by segment rather than by a regular expression: compiling one
    per route cost every cold import about 0.1 ms a route (issue 20, item 6)."""

    method: str
    segments: tuple[str, ...]  # the path's, split on "/", without a trailing "/"
    handler: Handler

    def match(self, path: str) -> dict[str, str] | None:
        """The path's parameters if it is this route's path, else None."""
        parts = path.removesuffix("/").split("/")
        if len(parts) != len(self.segments):
            return None
        params = {}
        for want, part in zip(self.segments, parts, strict=True):
            if want.startswith("{"):
                if not part:
                    return None
                params[want[1:-1]] = part
            elif want != part:
                return None
        return params


class App:
    """A function's routes. `main(context)` is `app.run(context)`.

    Event and schedule executions go to `on_event` / `on_schedule` handlers, whatever their path. A caller can
    forge the trigger header, so those handlers must be safe for anyone: the event handler acts only on the
    stored row an event names, and the schedule handler only does the schedule's own bounded work. Only they run
    as the `system` caller; a trigger this function has no handler for is plain HTTP, and the caller is whoever
    their credentials prove, so a forged trigger never makes a caller's own action the system's.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.routes: list[Route] = []
        self.event_handler: Handler | None = None
        self.schedule_handler: Handler | None = None
        self.platform_checked = False  # once per warm instance: its first execution is its cold start

    def route(self, method: str, path: str) -> Callable[[Handler], Handler]:
        segments = tuple(path.rstrip("/").split("/"))

        def register(handler: Handler) -> Handler:
            self.routes.append(Route(method, segments, handler))
            return handler
        return register

    def on_event(self, handler: Handler) -> Handler:
        self.event_handler = handler
        return handler

    def on_schedule(self, handler: Handler) -> Handler:
        self.schedule_handler = handler
        return handler

    def run(self, context: Any) -> Any:
        if not self.platform_checked:
            self.platform_checked = True
            if warning := platform_warning():
                context.error(f"{self.name}: {warning}")
        try:
            status, body = self._dispatch(context)
        except ChatError as exc:
            if exc.status >= 500:
                context.error(f"{self.name}: {exc.code}: {exc.message}")
            status, body = exc.status, exc.to_json()
        except Exception:  # a bug: log it for the operator, answer without internals
            context.error(f"{self.name}: unexpected error\n{traceback.format_exc(limit=20)}")
            status, body = 500, INTERNAL_ERROR
        return self._answer(context, status, body)

    def _answer(self, context: Any, status: int, body: Any) -> Any:
        """Strict JSON only: the runtime's res.json would write NaN, which no browser parses (open-runtimes
        runtimes/python/versions/latest/src/function_types.py: `json.dumps` with the default allow_nan)."""
        try:
            text = jsonio.dumps(body)
        except (ValueError, TypeError, RecursionError) as exc:  # a bug: no answer may carry it
            context.error(f"{self.name}: the answer has no strict JSON form ({type(exc).__name__}: {exc})"[:2000])
            status, text = 500, jsonio.dumps(INTERNAL_ERROR)
        return context.res.text(text, status, {"content-type": "application/json"})

    def _dispatch(self, context: Any) -> tuple[int, Any]:
        req = _request(context)
        handler, system = self._handler(req)
        req.core = _core(req, context, system=system)
        result = handler(req)
        return result if isinstance(result, tuple) else (200, result)

    def _handler(self, req: Request) -> tuple[Handler, bool]:
        """The handler, and whether it is this function's event or schedule handler (run as the system)."""
        if req.trigger == "event" and self.event_handler:
            return self.event_handler, True
        if req.trigger == "schedule" and self.schedule_handler:
            return self.schedule_handler, True
        allowed = []
        for route in self.routes:
            params = route.match(req.path)
            if params is not None:
                if route.method == req.method:
                    req.params = params
                    return route.handler, False
                allowed.append(route.method)
        if allowed:
            raise MethodNotAllowed(f"{req.method} is not allowed here; use {', '.join(sorted(set(allowed)))}")
        raise NotFound(f"no route {req.method} {req.path[:100]}", code="route_not_found")


def _request(context: Any) -> Request:
    raw = context.req
    query_string = raw.query_string or ""
    if len(query_string) > MAX_QUERY_BYTES:
        raise BadRequest("the query string is too long", code="invalid_query")
    try:
        # The runtime's own `query` is a naive split that does not URL-decode: parse it properly.
        query = parse_qs(query_string, keep_blank_values=False, strict_parsing=False, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("the query string is not valid", code="invalid_query") from None
    headers = {str(k).lower(): str(v) for k, v in (raw.headers or {}).items()}
    return Request(method=str(raw.method).upper(), path=str(raw.path or "/"), headers=headers, query=query,
                   raw_body=_body_bytes(raw))


def _body_bytes(raw: Any) -> bytes:
    body = getattr(raw, "body_binary", None)
    if isinstance(body, bytes):
        return body
    text = raw.body_text if hasattr(raw, "body_text") else ""
    return text.encode("utf-8", "surrogatepass") if isinstance(text, str) else b""


def _core(req: Request, context: Any, *, system: bool) -> Core:
    settings = Settings.from_env()
    # The execution's key: a forged `X-Appwrite-Key` arrives instead of Appwrite's, and then Appwrite refuses it;
    # one no header can carry (a control character) is refused here, before any request is made with it.
    key = req.headers.get("x-appwrite-key", "")
    if not _key_shape(key):
        raise Unauthorized("Appwrite refused this execution's key", code="execution_key_refused")
    gateway = Gateway(settings, key)
    return Core(gateway=gateway, settings=settings, caller=resolve_caller(req, settings, gateway, system=system),
                now=utcnow(), log=context.log, clock=utcnow)


def _key_shape(key: str) -> bool:
    """1 to 4,096 printable ASCII characters other than the space (33 to 126), as an HTTP header value holds it."""
    return 0 < len(key) <= 4096 and key.isascii() and key.isprintable() and " " not in key


def resolve_caller(req: Request, settings: Settings, gateway: Gateway, *, system: bool) -> Caller:
    """Who is calling (see `authz`). `system`: an event or schedule handler runs, which acts only on what it can
    prove itself (the stored row an event names; the schedule's own bounded work), never on a caller's credentials,
    so its caller is the system. Anything else is resolved from the credentials, whatever the trigger header says.
    The executor's `authorization` header and `x-appwrite-user-id` are ignored."""
    if system:
        return Caller.system(settings)
    # The Users repository (and the SDK's Account service) loads only when a JWT is to be verified.
    return Caller.resolve(Credentials.from_headers(req.headers), settings,
                          lambda jwt: gateway.users.account_for_jwt(jwt))
