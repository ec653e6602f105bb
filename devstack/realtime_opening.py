"""The opening of a Realtime connection on the local stack (``devstack.realtime``): project, user, abuse limit,
origin and channels. Sources (appwrite/appwrite at the 1.9.6 line; line numbers of that tree):

- The connection (``app/realtime.php`` ``onOpen``, line 868): the project from ``?project=`` or
  ``X-Appwrite-Project``, else error 1008 ``Missing or unknown project ID`` (line 908); the user (below); 128
  connections a minute per IP, key ``url:{url},ip:{ip}`` (line 943), else error 1013 ``Too many requests``; the
  ``Origin``, when sent, must be a registered Web platform's hostname or the API's own (line 966), else error 1008;
  channels from ``channels[]=`` (line 972), converted by ``Realtime::convertChannels``; then ``connected {channels,
  subscriptions, user}`` (lines 999, 1062). An error during the opening is sent as ``error {code, message}``, then
  the connection closes (line 1116).
- Who connects (``app/init/realtime/connection.php``): the session in the ``a_session_<project>`` cookie, else
  ``X-Appwrite-Session``, else ``X-Fallback-Cookies`` (lines 223-245); a JWT in ``X-Appwrite-JWT`` or ``?jwt=``
  (line 274): with a session too, 403 (line 277); a bad one, 401 ``Failed to verify JWT.`` (line 285).
- The origin (``src/Appwrite/Network/Validator/Origin.php``, ``Network/Platform.php``; utopia-php ``Hostname``).
- The policy that denies guests (Appwrite 2.x changelog, "Deny guests from subscribing to Realtime"): a guest that
  lists channels when connecting is refused with error 1008 (a policy violation, which also stops the Web SDK from
  reconnecting).
"""

from __future__ import annotations

import contextlib
import json
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import unquote_plus

from .engine import EngineError
from .realtime_channels import convert_channels
from .realtime_connection import (
    PATH,
    POLICY_VIOLATION,
    SERVER_ERROR_MESSAGE,
    TOO_MANY,
    Connection,
    RealtimeError,
    unique_id,
)
from .realtime_queries import QueryError, ServerError, construct_subscriptions

JWT_AND_COOKIE = ("JWT and cookie used in the same request. Use either `setJWT` or `setCookie`. Learn about which "
                  "authentication method to use in the SSR docs: https://appwrite.io/docs/products/auth/"
                  "server-side-rendering")
GUESTS_DENIED_CONNECT = "Guests may not subscribe to channels in this project. Authenticate first."

WEB_SCHEMES = {"http": "Web", "https": "Web", "chrome-extension": "Web (Chrome Extension)",
               "moz-extension": "Web (Firefox Extension)", "safari-web-extension": "Web (Safari Extension)",
               "ms-browser-extension": "Web (Edge Extension)", "tauri": "Web (Tauri)"}  # Network/Platform.php
LOOPBACK_HOSTNAME, LOOPBACK_ALIASES = "localhost", ("127.0.0.1", "[::1]")  # Network/Platform.php


# --------------------------------------------------------------------------- the query string, as PHP reads it


def php_query(query: str) -> dict[str, Any]:
    """The parameters of a query string as PHP (and so Swoole's ``$request->get``) reads them: ``a[]=x`` appends,
    ``a[k]=x`` and ``a[k][]=x`` nest, ``.`` and spaces in a top-level name become ``_``."""
    params: dict[str, Any] = {}
    for pair in query.split("&"):
        if not pair:
            continue
        raw_key, _, raw_value = pair.partition("=")
        key, value = unquote_plus(raw_key), unquote_plus(raw_value)
        base, brackets = _split_key(key)
        if not base:
            continue
        base = base.replace(".", "_").replace(" ", "_")
        if not brackets:
            params[base] = value
            continue
        node = params.get(base)
        if not isinstance(node, dict):
            node = params[base] = {}
        for position, part in enumerate(brackets):
            last = position == len(brackets) - 1
            index = part if part != "" else _next_index(node)
            if last:
                node[index] = value
            else:
                child = node.get(index)
                if not isinstance(child, dict):
                    child = node[index] = {}
                node = child
    return {k: _lists(v) for k, v in params.items()}


def _split_key(key: str) -> tuple[str, list[str]]:
    start = key.find("[")
    if start <= 0 or "]" not in key[start:]:
        return key, []
    base, rest, parts = key[:start], key[start:], []
    while rest.startswith("["):
        end = rest.find("]")
        if end < 0:
            break
        parts.append(rest[1:end])
        rest = rest[end + 1:]
    return base, parts


def _next_index(node: dict) -> str:
    numbers = [int(k) for k in node if k.isdigit()]
    return str(max(numbers) + 1 if numbers else 0)


def _lists(value: Any) -> Any:
    """A PHP array whose keys are 0..n-1 is a list."""
    if not isinstance(value, dict):
        return value
    converted = {k: _lists(v) for k, v in value.items()}
    if list(converted) == [str(i) for i in range(len(converted))]:
        return list(converted.values())
    return converted


class Opening:
    """The opening checks of ``Realtime`` (a mixin: the hub holds the project, the accounts, the engine, the limits
    and the allowed hostnames)."""

    def _open(self, conn: Connection, target: str, headers: dict[str, str]) -> None:
        _, _, query = target.partition("?")
        params = php_query(query)
        project = headers.get("x-appwrite-project") or params.get("project") or ""
        if project != self.project_id:
            raise RealtimeError(POLICY_VIOLATION, "Missing or unknown project ID")
        user = self._connecting_user(headers, params)
        if not self.connection_limit.allow(f"url:{PATH},ip:{conn.ip}"):
            raise RealtimeError(TOO_MANY, "Too many requests")
        origin = headers.get("origin", "")
        if origin and (why := self.origin_problem(origin)):
            raise RealtimeError(POLICY_VIOLATION, why)
        conn.set_user(user)
        requested = params.get("channels", [])
        requested = [requested] if isinstance(requested, str) else list(requested.values()) \
            if isinstance(requested, dict) else requested
        channels = convert_channels([c for c in requested if isinstance(c, str)], conn.user_id)
        if self.deny_guests and not user and channels:
            raise RealtimeError(POLICY_VIOLATION, GUESTS_DENIED_CONNECT)
        account = self._account(user)
        if not channels:
            conn.send_json({"type": "connected", "data": {"channels": [], "subscriptions": [], "user": account}})
            return
        try:
            subscriptions = construct_subscriptions(channels, params)
        except QueryError as exc:
            raise RealtimeError(POLICY_VIOLATION, str(exc)) from None
        except ServerError:
            raise RealtimeError(0, SERVER_ERROR_MESSAGE) from None
        mapping = {index: unique_id() for index in subscriptions}
        listed: Any = list(mapping.values()) if list(mapping) == list(range(len(mapping))) \
            else {str(k): v for k, v in mapping.items()}
        conn.send_json({"type": "connected", "data": {"channels": channels, "subscriptions": listed,
                                                      "user": account}})
        for index, (sub_channels, queries) in subscriptions.items():  # after `connected`: no event precedes it
            conn.subscribe(mapping[index], sub_channels, queries)

    def _connecting_user(self, headers: dict[str, str], params: dict[str, Any]) -> dict | None:
        """The user of ``app/init/realtime/connection.php``: a live session (cookie, ``X-Appwrite-Session``, then
        ``X-Fallback-Cookies``) or a JWT (``X-Appwrite-JWT``, then ``?jwt=``); None for a guest."""
        user = None
        secret = self._session_secret(headers)
        if secret and self.accounts.known_session(secret):
            user = self._user(self.accounts.session_user(secret)[1])
        jwt = headers.get("x-appwrite-jwt") or params.get("jwt") or ""
        if jwt and isinstance(jwt, str):
            if user:
                raise RealtimeError(403, JWT_AND_COOKIE)
            try:
                user_id = self.accounts.jwt_user(jwt)
            except EngineError:
                raise RealtimeError(401, "Failed to verify JWT. Invalid token") from None
            user = self._user(user_id)
        return user

    def _session_secret(self, headers: dict[str, str]) -> str:
        name = f"a_session_{self.project_id}"
        cookies = SimpleCookie()
        with contextlib.suppress(CookieError):
            cookies.load(headers.get("cookie", ""))
        for key in (name, name + "_legacy"):
            if key in cookies and cookies[key].value:
                return cookies[key].value
        if headers.get("x-appwrite-session"):
            return headers["x-appwrite-session"]
        try:
            fallback = json.loads(headers.get("x-fallback-cookies", "") or "{}")
        except ValueError:
            return ""
        value = fallback.get(name) if isinstance(fallback, dict) else None
        return value if isinstance(value, str) else ""

    def _user(self, user_id: str) -> dict | None:
        try:
            return self.engine.get_user(user_id)
        except EngineError:
            return None

    @staticmethod
    def _account(user: dict | None) -> dict | None:
        return dict(user) if user else None

    def origin_problem(self, origin: str) -> str | None:
        """``Network/Validator/Origin.php``: an http(s) or browser-extension origin must name an allowed hostname
        (the API's own or a registered Web platform's; ``*.example.com`` wildcards; ``127.0.0.1`` and ``[::1]``
        stand for ``localhost``); other schemes are refused. The answer is the validator's description."""
        scheme, _, rest = origin.partition("://")
        host = _origin_host(rest) if rest else ""
        allowed = [*self.api_hostnames, *self.web_platforms]
        if scheme in WEB_SCHEMES:
            if _hostname_allowed(host, allowed) or (host in LOOPBACK_ALIASES
                                                    and _hostname_allowed(LOOPBACK_HOSTNAME, allowed)):
                return None
            shown = f"({host})" if host else ""
            return (f"Invalid Origin. Register your new client {shown} as a new {WEB_SCHEMES[scheme]} platform on "
                    "your project console dashboard")
        if not host and not scheme:
            return "Invalid Origin."
        return (f"Invalid Scheme. The scheme used ({scheme}) in the Origin ({origin}) is not supported. If you are "
                f"using a custom scheme, please change it to `appwrite-callback-{self.project_id}`")


def _origin_host(rest: str) -> str:
    """The host of ``scheme://host:port/...`` as PHP's ``parse_url`` gives it (IPv6 kept in brackets), lower-case."""
    netloc = rest.split("/", 1)[0].split("?", 1)[0].rsplit("@", 1)[-1]
    if netloc.startswith("["):
        return netloc[:netloc.find("]") + 1].lower() if "]" in netloc else ""
    return netloc.split(":", 1)[0].lower()


def _hostname_allowed(host: str, allowed: list[str]) -> bool:
    """utopia-php ``Hostname`` validator: no ``/`` or ``:``; an empty allow-list allows all; a rule matches exactly,
    ``*`` matches all, ``*.example.com`` matches what ends with ``.example.com``."""
    if not host or "/" in host or ":" in host or len(host) > 253:
        return False
    if not allowed:
        return True
    for rule in allowed:
        if host == rule or rule == "*":
            return True
        if rule.startswith("*") and host.endswith(rule[1:]):
            return True
    return False
