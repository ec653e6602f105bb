"""Appwrite Realtime on the local stack: ``ws://127.0.0.1:<port>/v1/realtime?project=<id>``.

One process serves HTTP and the socket on the same port, as Appwrite serves ``/v1/realtime`` on its API host: the
HTTP server hands a ``GET /v1/realtime`` with ``Upgrade: websocket`` to ``Realtime.serve`` (``devstack.server``),
which speaks RFC 6455 through ``devstack.wsframe``. Row events come from ``Engine.subscribe``, after commit, from the
same writes the functions make. Sources (appwrite/appwrite at the 1.9.6 line; line numbers of that tree):

- The connection (``app/realtime.php`` ``onOpen``, line 868): the project from ``?project=`` or
  ``X-Appwrite-Project``, else error 1008 ``Missing or unknown project ID`` (line 908); the user (below); 128
  connections a minute per IP, key ``url:{url},ip:{ip}`` (line 943), else error 1013 ``Too many requests``; the
  ``Origin``, when sent, must be a registered Web platform's hostname or the API's own (line 966), else error 1008;
  channels from ``channels[]=`` (line 972), converted by ``Realtime::convertChannels``; then ``connected {channels,
  subscriptions, user}`` (lines 999, 1062). An error during the opening is sent as ``error {code, message}``, then
  the connection closes (line 1116).
- Who connects (``app/init/realtime/connection.php``): the session in the ``a_session_<project>`` cookie, else
  ``X-Appwrite-Session``, else ``X-Fallback-Cookies`` (lines 223-245); a JWT in ``X-Appwrite-JWT`` or ``?jwt=``
  (line 274): with a session too, 403 (line 277); a bad one, 401 ``Failed to verify JWT.`` (line 285). Roles
  (``src/Appwrite/Utopia/Database/Documents/User.php`` ``getRoles``): a guest has ``guests``; a user has
  ``user:<id>``, ``users``, ``user:<id>/unverified``, ``users/unverified`` (``/verified`` once verified) and
  ``label:<x>`` for each label. ``any`` is not a role of a connection: an event readable by ``any`` reaches every
  subscriber (``Realtime::getSubscribers``, ``src/Appwrite/Messaging/Adapter/Realtime.php`` line 464).
- Messages (``app/realtime.php`` ``onMessage``, line 1140; ``src/Appwrite/Realtime/Message/``): 32 a minute per
  connection, key ``url:{url},connection:{connection}`` (line 1221), else error 1013 ``Too many messages.``, the
  connection staying open; ``ping`` -> ``pong``; ``authentication {session}`` -> ``response {to: authentication,
  success, user}`` (``Handlers/Authentication.php``); ``subscribe [{subscriptionId?, channels, queries?}]`` and
  ``unsubscribe [{subscriptionId}]`` -> ``response {to, success, subscriptions}`` (``Handlers/Subscribe.php``,
  ``Handlers/Unsubscribe.php``); a bad message, error 1003; only an error of code 1008 closes (line 1332).
- Events (``src/Appwrite/Event/Realtime.php`` ``trigger``, line 92): the names ``Event::generateEvents`` makes for a
  row of a TablesDB database (``src/Appwrite/Event/Event.php`` lines 486 and 637), the channels
  ``Realtime::fromPayload`` makes (adapter lines 813-1068), the roles: the table's read permissions, plus the row's
  when the table has row security (adapter line 891). ``event {events, channels, timestamp, payload,
  subscriptions}`` names the connection's matching subscription IDs (``app/realtime.php`` line 773). A
  subscription's queries filter what it receives (``src/Appwrite/Utopia/Database/RuntimeQuery.php``); they never
  widen what the roles allow.
- The policy that denies guests (Appwrite 2.x changelog, "Deny guests from subscribing to Realtime"): a guest that
  lists channels when connecting is refused, a guest may connect and authenticate but not subscribe, and a guest
  receives nothing. The changelog names no codes: here the refusal at connection is error 1008 (a policy
  violation, which also stops the Web SDK from reconnecting) and a guest's ``subscribe`` is error 401, the
  connection staying open so that it can still authenticate.

What the stack adds or leaves out is in docs/local-stack.md ("Realtime").
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import queue
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterable
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import unquote_plus

from . import wsframe
from .engine import EngineError, format_datetime, now

log = logging.getLogger("devstack.realtime")

PATH = "/v1/realtime"
CONNECTIONS_PER_MINUTE, MESSAGES_PER_MINUTE, WINDOW_SECONDS = 128, 32, 60  # app/realtime.php lines 943, 1221
MAX_MESSAGE_BYTES = 64000  # app/realtime.php: setPackageMaxLength(64000)
IDLE_SECONDS = 60.0  # the stack closes a silent connection (1001); the Web SDK pings every 20 s
CLOSE_WAIT_SECONDS = 2.0  # how long a closing connection waits for the peer's answering close frame
OUTBOX_LIMIT = 1000  # messages waiting for a slow client before the stack drops it
SESSION_MAX = 2048  # Handlers/Authentication.php: Text(2048)

FORMAT_INVALID, POLICY_VIOLATION, TOO_MANY = 1003, 1008, 1013  # app/config/errors.php: realtime_* codes
SERVER_ERROR_MESSAGE = "Error: Server Error"  # what a code-0 error says outside development (app/realtime.php)
JWT_AND_COOKIE = ("JWT and cookie used in the same request. Use either `setJWT` or `setCookie`. Learn about which "
                  "authentication method to use in the SSR docs: https://appwrite.io/docs/products/auth/"
                  "server-side-rendering")
GUESTS_DENIED_CONNECT = "Guests may not subscribe to channels in this project. Authenticate first."
GUESTS_DENIED_SUBSCRIBE = "Guests may not subscribe in this project. Send an authentication message first."

SUPPORTED_ACTIONS = ("create", "update", "upsert", "delete")  # adapter line 17
RESOURCE_LEAF_NAMES = {"documents", "rows", "files", "executions", "functions", "account", "teams",
                       "memberships", "presences"}  # adapter line 33
WEB_SCHEMES = {"http": "Web", "https": "Web", "chrome-extension": "Web (Chrome Extension)",
               "moz-extension": "Web (Firefox Extension)", "safari-web-extension": "Web (Safari Extension)",
               "ms-browser-extension": "Web (Edge Extension)", "tauri": "Web (Tauri)"}  # Network/Platform.php
LOOPBACK_HOSTNAME, LOOPBACK_ALIASES = "localhost", ("127.0.0.1", "[::1]")  # Network/Platform.php
ALLOWED_QUERIES = ("equal", "notEqual", "lessThan", "lessThanEqual", "greaterThan", "greaterThanEqual", "isNull",
                   "isNotNull", "and", "or", "select")  # RuntimeQuery::ALLOWED_QUERIES
QUERY_METHODS = {*ALLOWED_QUERIES, "contains", "containsAny", "containsAll", "notContains", "search", "notSearch",
                 "between", "notBetween", "startsWith", "notStartsWith", "endsWith", "notEndsWith", "regex",
                 "exists", "notExists", "orderAsc", "orderDesc", "orderRandom", "limit", "offset", "cursorAfter",
                 "cursorBefore", "elemMatch"}  # utopia-php/database Query types (those a client may name)
_CUSTOM_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,35}$")
_PERMISSION = re.compile(r'^read\("(.+)"\)$')


class RealtimeError(Exception):
    """Answered as ``error {code, message}``; code 1008 also closes the connection."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class QueryError(Exception):
    """utopia-php/database's QueryException: a query that cannot be parsed or is not allowed in Realtime."""


class ServerError(Exception):
    """An error Appwrite does not map to a code (code 0): answered as ``Error: Server Error``."""


def is_request(path: str, headers: dict[str, str]) -> bool:
    """A request for the Realtime socket: ``/v1/realtime`` asking to upgrade to a WebSocket."""
    return path.partition("?")[0].rstrip("/") == PATH and wsframe.is_upgrade(headers)


# --------------------------------------------------------------------------- abuse limits


class FixedWindow:
    """utopia-php/abuse ``TimeLimit`` as Appwrite uses it: per key, hits counted in a window of ``seconds`` aligned
    to the clock (``floor(now / seconds) * seconds``); a call that finds ``limit`` hits already counted is refused
    and not counted itself (``check()`` hits only while under the limit)."""

    def __init__(self, limit: int, seconds: int, clock: Callable[[], float]) -> None:
        self.limit, self.seconds, self.clock = limit, seconds, clock
        self._hits: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        window = int(self.clock() // self.seconds) * self.seconds
        with self._lock:
            for old in [k for k in self._hits if k[1] < window]:
                del self._hits[old]
            used = self._hits.get((key, window), 0)
            if used >= self.limit:
                return False
            self._hits[(key, window)] = used + 1
            return True

    def forget(self, key: str) -> None:
        with self._lock:
            for old in [k for k in self._hits if k[0] == key]:
                del self._hits[old]


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


# --------------------------------------------------------------------------- channels and events


def convert_channels(channels: Iterable[str], user_id: str) -> list[str]:
    """``Realtime::convertChannels``: ``account`` also subscribes ``account.<user>``; ``account.<action>`` becomes
    ``account.<user>.<action>`` for a user (kept for a guest); any other ``account.*`` is dropped. Order kept,
    duplicates dropped."""
    result = list(dict.fromkeys(channels))
    for channel in list(result):
        if channel == "account":
            if user_id:
                result.append(f"account.{user_id}")
        elif channel.startswith("account.") and channel[len("account."):] in SUPPORTED_ACTIONS:
            if user_id:
                result[result.index(channel)] = f"account.{user_id}.{channel[len('account.'):]}"
        elif channel.startswith("account."):
            result.remove(channel)
    return list(dict.fromkeys(result))


def rebind_account_channels(channels: list[str], old_user: str, new_user: str) -> list[str]:
    """``Realtime::rebindAccountChannels``: after an in-band authentication, account channels follow the user."""
    if not new_user or old_user == new_user:
        return channels
    rebound = []
    for channel in channels:
        if channel.startswith("account.") and not old_user:
            suffix = channel[len("account."):]
            channel = f"account.{new_user}.{suffix}" if suffix in SUPPORTED_ACTIONS else channel
        elif old_user and channel == f"account.{old_user}":
            channel = f"account.{new_user}"
        elif old_user and channel.startswith(f"account.{old_user}."):
            action = channel[len(f"account.{old_user}."):]
            channel = f"account.{new_user}.{action}" if action in SUPPORTED_ACTIONS else channel
        rebound.append(channel)
    return rebound


def row_event_names(database_id: str, table_id: str, row_id: str, action: str) -> list[str]:
    """``Event::generateEvents`` for a row event of a TablesDB database (the type ``appwrite push`` creates): the
    pattern ``tablesdb.[databaseId].tables.[tableId].rows.[rowId].<action>`` and its shorter forms, each with every
    ID in turn replaced by ``*``, then each name mirrored to ``databases.*.collections.*.documents`` and
    ``databases.*.tables.*.rows`` (``mirrorCollectionEvents``). 64 names; the first is the event itself."""
    keys = ("databaseId", "tableId", "rowId")
    values = dict(zip(keys, (database_id, table_id, row_id), strict=True))
    full = ["tablesdb", "[databaseId]", "tables", "[tableId]", "rows", "[rowId]", action]
    patterns = [full, full[:6], full[:4], full[:2]]

    def fill(pattern: list[str], starred: Iterable[str]) -> str:
        stars = set(starred)
        return ".".join("*" if p.strip("[]") in stars else values.get(p.strip("[]"), p) if p.startswith("[")
                        else p for p in pattern)

    events: list[str] = []
    for pattern in patterns:
        events += [fill(pattern, ()), fill(pattern, keys)]
        for key in keys:  # the loops of generateEvents for a pattern with three IDs, in their order
            for current in keys:
                for sub in keys:
                    if sub in (current, key):
                        continue
                    events += [fill(pattern, (sub,)), fill(pattern, (current, sub)), fill(pattern, (current,))]
    events = list(dict.fromkeys(events))
    mirrored: list[str] = []
    for event in events:
        databases_side = _segments(event, {"tablesdb": "databases", "tables": "collections", "rows": "documents",
                                           "columns": "attributes"})
        tables_side = _segments(databases_side, {"documents": "rows", "collections": "tables",
                                                 "attributes": "columns"})
        mirrored += [event, databases_side, tables_side]
    return list(dict.fromkeys(mirrored))


def _segments(event: str, mapping: dict[str, str]) -> str:
    return ".".join(mapping.get(part, part) for part in event.split("."))


def row_channels(database_id: str, table_id: str, row_id: str, action: str) -> list[str]:
    """``Realtime::fromPayload`` for a ``tablesdb.*`` row event: the legacy ``documents`` channels and the
    ``rows`` channels under both the ``databases`` and the ``tablesdb`` prefix, then each again with ``.<action>``
    (``getDatabaseChannels``; the suffix loop). 16 channels."""
    d, t, r = database_id, table_id, row_id
    channels = list(dict.fromkeys([
        "documents", f"databases.{d}.collections.{t}.documents", f"databases.{d}.collections.{t}.documents.{r}",
        "rows", f"databases.{d}.tables.{t}.rows", f"databases.{d}.tables.{t}.rows.{r}",
        "rows", f"tablesdb.{d}.tables.{t}.rows", f"tablesdb.{d}.tables.{t}.rows.{r}"]))
    if action not in SUPPORTED_ACTIONS:
        return channels
    suffixed = [f"{c}.{action}" for c in channels
                if c.split(".")[-1] in RESOURCE_LEAF_NAMES
                or (len(c.split(".")) >= 2 and c.split(".")[-2] in RESOURCE_LEAF_NAMES)]
    return list(dict.fromkeys(channels + suffixed))


def read_roles(permissions: Iterable[str]) -> list[str]:
    """The roles of the ``read("...")`` permissions (``Document::getRead``); ``write`` grants no read."""
    return [m.group(1) for p in permissions if (m := _PERMISSION.match(p))]


def user_roles(user: dict | None) -> list[str]:
    """``User::getRoles`` for a project user (no teams on the stack)."""
    if not user:
        return ["guests"]
    uid = user["$id"]
    verified = "verified" if user.get("emailVerification") or user.get("phoneVerification") else "unverified"
    return [f"user:{uid}", "users", f"user:{uid}/{verified}", f"users/{verified}",
            *(f"label:{label}" for label in user.get("labels", []))]


# --------------------------------------------------------------------------- queries


def convert_queries(raw: Any) -> list[dict]:
    """``Realtime::convertQueries``: every query a JSON string (``Query::parseQueries``), every method (nested in
    ``and``/``or`` too) one Realtime allows; ``select`` only as ``select("*")``."""
    if not isinstance(raw, list):
        raw = [raw]
    parsed = []
    for item in raw:
        if not isinstance(item, str):
            raise ServerError("queries must be strings")  # a TypeError in PHP: code 0
        try:
            query = json.loads(item)
        except ValueError:
            raise QueryError("Invalid query: Syntax error") from None
        if not isinstance(query, dict):
            raise QueryError(f"Invalid query. Must be an array, got {_php_type(query)}")
        parsed.append(_parse_query(query))
    stack = list(parsed)
    allowed = ", ".join(ALLOWED_QUERIES)
    while stack:
        query = stack.pop()
        method = query["method"]
        if method not in ALLOWED_QUERIES:
            raise QueryError(f"Query method '{method}' is not supported in Realtime queries. Allowed: {allowed}")
        if method == "select" and query["values"] != ["*"]:
            # RuntimeQuery::validateSelectQuery throws an InvalidArgumentException, which no handler catches.
            raise ServerError('Only select("*") is allowed in Realtime queries.')
        if method in ("and", "or"):
            stack.extend(query["values"])
    return parsed


def _parse_query(query: dict) -> dict:
    """``Query::parseQuery``: method, attribute and values checked; ``and``/``or`` values parsed recursively."""
    method, attribute, values = query.get("method", ""), query.get("attribute", ""), query.get("values", [])
    if not isinstance(method, str):
        raise QueryError(f"Invalid query method. Must be a string, got {_php_type(method)}")
    if method not in QUERY_METHODS:
        raise QueryError(f"Invalid query method: {method}")
    if not isinstance(attribute, str):
        raise QueryError(f"Invalid query attribute. Must be a string, got {_php_type(attribute)}")
    if not isinstance(values, list):
        raise QueryError(f"Invalid query values. Must be an array, got {_php_type(values)}")
    if method in ("and", "or"):
        if not all(isinstance(v, dict) for v in values):
            raise QueryError("Invalid query values. Must be an array, got string")
        values = [_parse_query(v) for v in values]
    return {"method": method, "attribute": attribute, "values": values}


def query_string(query: dict) -> str:
    """``Query::toString``: JSON of method, attribute (when set) and values."""
    return json.dumps(_query_array(query), separators=(",", ":"))


def _query_array(query: dict) -> dict:
    out: dict[str, Any] = {"method": query["method"]}
    if query["attribute"]:
        out["attribute"] = query["attribute"]
    out["values"] = ([_query_array(v) for v in query["values"]] if query["method"] in ("and", "or")
                     else list(query["values"]))
    return out


SELECT_ALL = {"method": "select", "attribute": "", "values": ["*"]}


def _php_type(value: Any) -> str:
    return {bool: "boolean", int: "integer", float: "double", str: "string", list: "array", dict: "array",
            type(None): "NULL"}.get(type(value), "unknown type")


class Filter:
    """``RuntimeQuery::compile`` and ``filter``: select("*") (or no query) passes everything; otherwise every
    top-level condition must hold (AND), with ``and``/``or`` nested; a payload lacking an attribute fails fast
    unless an ``or`` is present; comparisons are PHP's, equality strict (``===``)."""

    def __init__(self, queries: list[dict]) -> None:
        self.select_all = not queries or any(q["method"] == "select" and q["values"] == ["*"] for q in queries)
        self.conditions = [] if self.select_all else queries
        self.attributes: set[str] = set()
        self.has_or = False
        for condition in self.conditions:
            self._scan(condition)

    def _scan(self, condition: dict) -> None:
        if condition["method"] == "or":
            self.has_or = True
        if condition["method"] in ("and", "or"):
            for sub in condition["values"]:
                self._scan(sub)
        elif condition["attribute"]:
            self.attributes.add(condition["attribute"])

    def accepts(self, payload: dict) -> bool:
        if self.select_all:
            return True
        if not self.has_or and any(attr not in payload for attr in self.attributes):
            return False
        return all(_holds(c, payload) for c in self.conditions)


def _holds(condition: dict, payload: dict) -> bool:
    method, values = condition["method"], condition["values"]
    if method == "and":
        return all(_holds(c, payload) for c in values)
    if method == "or":
        return any(_holds(c, payload) for c in values)
    if condition["attribute"] not in payload:
        return False
    value = payload[condition["attribute"]]
    if method == "equal":
        return any(_identical(value, v) for v in values)
    if method == "notEqual":
        return not any(_identical(value, v) for v in values)
    if method == "isNull":
        return value is None
    if method == "isNotNull":
        return value is not None
    compare = {"lessThan": lambda a, b: a < b, "lessThanEqual": lambda a, b: a <= b,
               "greaterThan": lambda a, b: a > b, "greaterThanEqual": lambda a, b: a >= b}.get(method)
    if compare is None:
        return False
    for target in values:
        try:
            if compare(value, target):
                return True
        except TypeError:  # PHP compares across types; such a pair never matches here
            continue
    return False


def _identical(a: Any, b: Any) -> bool:
    """PHP's ``===``: same type and value (``1 === 1.0`` and ``1 === true`` are false)."""
    return type(a) is type(b) and a == b


# --------------------------------------------------------------------------- one connection


class Connection:
    """One socket: its user and roles, its subscriptions as Appwrite's tree keeps them (channel -> subscription ID
    -> filter, so a subscription ID reused with new channels keeps its old ones), and a sender thread that writes
    its queued messages in order."""

    _ids = itertools.count(1)

    def __init__(self, hub: Realtime, sock: socket.socket, ip: str) -> None:
        self.hub, self.sock, self.ip = hub, sock, ip
        self.id = next(self._ids)
        self.user: dict | None = None
        self.roles: list[str] = ["guests"]
        self.tree: dict[str, dict[str, tuple[list[str], Filter]]] = {}
        self.lock = threading.Lock()  # guards user, roles and tree
        self._outbox: queue.Queue[tuple[int, bytes] | None] = queue.Queue(OUTBOX_LIMIT)
        self._closing = threading.Event()  # a close frame is queued or sent: nothing more goes out
        self._sender = threading.Thread(target=self._send_loop, name=f"devstack-realtime-{self.id}", daemon=True)
        self._sender.start()

    @property
    def closing(self) -> bool:
        return self._closing.is_set()

    @property
    def user_id(self) -> str:
        return self.user["$id"] if self.user else ""

    # ---- output

    def send_json(self, message: dict) -> None:
        self._queue(wsframe.OP_TEXT, json.dumps(message, separators=(",", ":")).encode("utf-8"))

    def send_error(self, code: int, message: str) -> None:
        self.send_json({"type": "error", "data": {"code": code, "message": message}})

    def close(self, code: int, reason: str = "") -> None:
        """Queue a close frame after what is already queued; the sender then ends the stream."""
        if not self._closing.is_set():
            self._queue(wsframe.OP_CLOSE, wsframe.close_payload(code, reason))
            self._closing.set()

    def _queue(self, opcode: int, payload: bytes) -> None:
        if self._closing.is_set():
            return
        try:
            self._outbox.put_nowait((opcode, payload))
        except queue.Full:  # a client that does not read: drop it rather than hold events for it
            log.warning("realtime connection %s dropped: %s messages waiting", self.id, OUTBOX_LIMIT)
            self._closing.set()
            self.abort()

    def _send_loop(self) -> None:
        while True:
            item = self._outbox.get()
            if item is None:
                return
            opcode, payload = item
            try:
                self.sock.sendall(wsframe.encode_frame(opcode, payload))
                if opcode == wsframe.OP_CLOSE:
                    return  # nothing follows a close frame
            except OSError:
                self._closing.set()
                self.abort()
                return

    def finish(self, timeout: float = 2.0) -> None:
        """Let the sender write what is queued (a close frame included), then stop it."""
        with contextlib.suppress(queue.Full):
            self._outbox.put(None, timeout=timeout)
        self._sender.join(timeout)

    def abort(self) -> None:
        """End the socket now: a blocked read or write returns at once."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)

    # ---- subscriptions

    def subscribe(self, subscription_id: str, channels: list[str], queries: list[dict]) -> None:
        """``Realtime::subscribe`` for one subscription: each channel gets the subscription with its filter."""
        strings = [query_string(q) for q in queries] or [query_string(SELECT_ALL)]
        entry = (strings, Filter(queries))
        with self.lock:
            for channel in channels:
                self.tree.setdefault(channel, {})[subscription_id] = entry

    def unsubscribe(self, subscription_id: str) -> bool:
        """``Realtime::unsubscribeSubscription``: True when something was removed."""
        removed = False
        with self.lock:
            for channel in list(self.tree):
                if self.tree[channel].pop(subscription_id, None) is not None:
                    removed = True
                if not self.tree[channel]:
                    del self.tree[channel]
        return removed

    def set_user(self, user: dict | None) -> None:
        """A new identity (``Handlers/Authentication.php``): new roles, account channels rebound to the user."""
        with self.lock:
            old = self.user_id
            self.user = user
            self.roles = user_roles(user)
            new = self.user_id
            if old != new and new:
                rebuilt: dict[str, dict[str, tuple[list[str], Filter]]] = {}
                for channel, subs in self.tree.items():
                    target = rebind_account_channels([channel], old, new)[0]
                    rebuilt.setdefault(target, {}).update(subs)
                self.tree = rebuilt

    def matches(self, channels: list[str], event_roles: set[str], payload: dict) -> list[str]:
        """The subscription IDs an event reaches (``Realtime::getSubscribers`` for one connection): none unless
        the event is readable by ``any`` or by one of the connection's roles; then each subscription on one of the
        event's channels whose queries accept the payload."""
        with self.lock:
            if self.hub.deny_guests and not self.user:
                return []
            if "any" not in event_roles and not event_roles.intersection(self.roles):
                return []
            matched: dict[str, None] = {}
            for channel in channels:
                for subscription_id, (_, query_filter) in self.tree.get(channel, {}).items():
                    if subscription_id not in matched and query_filter.accepts(payload):
                        matched[subscription_id] = None
            return list(matched)


# --------------------------------------------------------------------------- the hub


class Realtime:
    """Every Realtime connection of one stack. ``serve(handler)`` runs a connection on the HTTP handler's thread;
    ``on_row_event`` (an ``Engine.subscribe`` listener) delivers row events; ``close()`` ends every connection
    (stack stop). ``clock`` may be replaced (tests) to pin the abuse windows."""

    def __init__(self, *, project_id: str, engine: Any, accounts: Any, api_hostnames: Iterable[str] = (),
                 web_platforms: Iterable[str] = (), deny_guests: bool = False,
                 idle_seconds: float = IDLE_SECONDS) -> None:
        self.project_id, self.engine, self.accounts = project_id, engine, accounts
        self.api_hostnames = [h.lower() for h in api_hostnames]
        self.web_platforms = [h.lower() for h in web_platforms]
        self.deny_guests, self.idle_seconds = deny_guests, idle_seconds
        self.clock: Callable[[], float] = time.time
        self.connection_limit = FixedWindow(CONNECTIONS_PER_MINUTE, WINDOW_SECONDS, lambda: self.clock())
        self.message_limit = FixedWindow(MESSAGES_PER_MINUTE, WINDOW_SECONDS, lambda: self.clock())
        self._connections: dict[int, Connection] = {}
        self._lock = threading.Lock()
        self._closed = False

    @property
    def connections(self) -> list[Connection]:
        with self._lock:
            return list(self._connections.values())

    # ---- serving one connection

    def serve(self, handler: Any, headers: dict[str, str]) -> None:
        """Run one connection on an HTTP handler's thread until it ends: the RFC 6455 handshake (answered in HTTP
        when invalid), then Appwrite's opening checks, then messages."""
        problem = wsframe.handshake_problem(handler.command, headers)
        if problem or self._closed:
            body = json.dumps({"message": problem or "The stack is stopping.", "code": 400 if problem else 503,
                               "type": "general_argument_invalid" if problem else "general_server_error"})
            status = "400 Bad Request" if problem else "503 Service Unavailable"
            handler.wfile.write((f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\n"
                                 f"content-length: {len(body)}\r\nconnection: close\r\n\r\n{body}").encode())
            return
        handler.wfile.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                             f"Sec-WebSocket-Accept: {wsframe.accept_key(headers['sec-websocket-key'])}\r\n\r\n")
                            .encode("ascii"))
        sock = handler.connection
        sock.settimeout(self.idle_seconds)
        conn = Connection(self, sock, handler.client_address[0])
        with self._lock:  # registered before anything is sent, so that close() reaches it
            self._connections[conn.id] = conn
            stopping = self._closed
        try:
            try:
                if stopping:
                    conn.close(wsframe.GOING_AWAY, "The stack is stopping")
                else:
                    self._open(conn, handler.path, headers)
            except RealtimeError as exc:  # app/realtime.php line 1116: the error, then the connection closes
                conn.send_error(exc.code, exc.message)
                conn.close(close_code(exc.code))
            self._read_loop(conn, handler.rfile)  # a closing connection only awaits the peer's close frame
        finally:
            with self._lock:
                self._connections.pop(conn.id, None)
            self.message_limit.forget(str(conn.id))
            conn.finish()

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

    # ---- messages

    def _read_loop(self, conn: Connection, rfile: Any) -> None:
        """Frames until the connection ends. Once a close frame is queued, only the peer's answering close (or
        EOF, or CLOSE_WAIT_SECONDS) is awaited."""
        reader = wsframe.FrameReader(rfile.read, MAX_MESSAGE_BYTES)
        waiting = False
        while True:
            if conn.closing and not waiting:
                waiting = True
                with contextlib.suppress(OSError):
                    conn.sock.settimeout(CLOSE_WAIT_SECONDS)
            try:
                opcode, payload = reader.next()
            except wsframe.ProtocolError as exc:
                conn.close(exc.code, exc.reason)
                if exc.in_sync:
                    continue  # await the peer's close frame
                return
            except TimeoutError:
                conn.close(wsframe.GOING_AWAY, "Idle connection")  # nothing received for idle_seconds
                return
            except (EOFError, OSError, ValueError):  # the peer went away, or the stack aborted the socket
                return
            if opcode == wsframe.OP_CLOSE:
                try:
                    code, _ = wsframe.parse_close(payload)
                except wsframe.ProtocolError as exc:
                    conn.close(exc.code, exc.reason)
                    return
                conn.close(code or wsframe.NORMAL)  # echo the peer's close, then end
                return
            if conn.closing:
                continue
            if opcode == wsframe.OP_PING:
                conn._queue(wsframe.OP_PONG, payload)
                continue
            if opcode == wsframe.OP_PONG:
                continue
            self.on_message(conn, payload)

    def on_message(self, conn: Connection, raw: bytes) -> None:
        """``onMessage``: the per-connection limit, then the message, answered or refused with ``error``."""
        try:
            if not self.message_limit.allow(str(conn.id)):
                raise RealtimeError(TOO_MANY, "Too many messages.")
            reply = self._dispatch(conn, raw)
            if reply is not None:
                conn.send_json(reply)
        except RealtimeError as exc:
            conn.send_error(exc.code, exc.message)
            if exc.code == POLICY_VIOLATION:
                conn.close(POLICY_VIOLATION)
        except ServerError:
            conn.send_error(0, SERVER_ERROR_MESSAGE)

    def _dispatch(self, conn: Connection, raw: bytes) -> dict | None:
        try:
            message = json.loads(raw)
        except ValueError:
            message = None
        if not isinstance(message, dict) or ("type" not in message and "data" not in message):
            raise RealtimeError(FORMAT_INVALID, "Message format is not valid.")
        kind = message.get("type", "invalid")
        handler = {"ping": self._ping, "authentication": self._authentication, "subscribe": self._subscribe,
                   "unsubscribe": self._unsubscribe}.get(kind) if isinstance(kind, str) else None
        if handler is None:
            raise RealtimeError(FORMAT_INVALID, "Message type is not valid.")
        return handler(conn, message)

    @staticmethod
    def _ping(conn: Connection, message: dict) -> dict:
        return {"type": "pong"}

    def _authentication(self, conn: Connection, message: dict) -> dict:
        data = message.get("data")
        if not isinstance(data, dict) or "session" not in data:
            raise RealtimeError(FORMAT_INVALID, "Payload is not valid. Session is required")
        session = data["session"]
        if not isinstance(session, str) or not 1 <= len(session) <= SESSION_MAX:
            raise RealtimeError(FORMAT_INVALID, "session: Value must be a valid string and at least 1 chars and no "
                                                f"longer than {SESSION_MAX} chars")
        user = self._user(self.accounts.session_user(session)[1]) if self.accounts.known_session(session) else None
        if user is None:
            raise RealtimeError(FORMAT_INVALID, "Session is not valid.")
        conn.set_user(user)
        return {"type": "response", "data": {"to": "authentication", "success": True, "user": self._account(user)}}

    def _subscribe(self, conn: Connection, message: dict) -> dict:
        items = _list_payload(message)
        for item in items:
            if problem := _subscribe_item_problem(item):
                raise RealtimeError(FORMAT_INVALID, f"items: {problem}")
        if self.deny_guests and not conn.user:
            raise RealtimeError(401, GUESTS_DENIED_SUBSCRIBE)
        parsed = []
        for item in items:
            try:
                queries = convert_queries(item.get("queries", []))
            except QueryError as exc:
                raise RealtimeError(FORMAT_INVALID, f"Invalid query: {exc}") from None
            channels = convert_channels(item["channels"], conn.user_id)
            parsed.append((item["subscriptionId"] if "subscriptionId" in item else unique_id(), channels, queries))
        for subscription_id, channels, queries in parsed:
            conn.subscribe(subscription_id, channels, queries)
        return {"type": "response", "data": {"to": "subscribe", "success": True, "subscriptions": [
            {"subscriptionId": sid, "channels": channels, "queries": [query_string(q) for q in queries]}
            for sid, channels, queries in parsed]}}

    def _unsubscribe(self, conn: Connection, message: dict) -> dict:
        items = _list_payload(message)
        for item in items:
            if not (isinstance(item, dict) and isinstance(item.get("subscriptionId"), str)
                    and item["subscriptionId"]):
                raise RealtimeError(FORMAT_INVALID,
                                    "items: Each unsubscribe payload must include a non-empty subscriptionId.")
        results = [{"subscriptionId": item["subscriptionId"], "removed": conn.unsubscribe(item["subscriptionId"])}
                   for item in items]
        return {"type": "response", "data": {"to": "unsubscribe", "success": True, "subscriptions": results}}

    # ---- events

    def on_row_event(self, event: dict[str, Any]) -> None:
        """``Engine.subscribe`` listener, called after the write committed: the event to every connection whose
        roles may read the row and whose subscriptions want it. Never blocks the writer (messages are queued)."""
        connections = self.connections
        if not connections:
            return
        database_id, table_id, row = event["databaseId"], event["tableId"], event.get("row") or {}
        table = self.engine.schema.tables.get((database_id, table_id))
        if table is None:
            return
        roles = read_roles(table.permissions)
        if table.row_security:
            roles += read_roles(row.get("$permissions", []))
        if not roles:  # Realtime::send publishes nothing without roles
            return
        action = event["action"]
        data = {"events": row_event_names(database_id, table_id, event["rowId"], action),
                "channels": row_channels(database_id, table_id, event["rowId"], action),
                "timestamp": format_datetime(now()), "payload": row}
        role_set = set(roles)
        for conn in connections:
            matched = conn.matches(data["channels"], role_set, row)
            if matched:
                conn.send_json({"type": "event", "data": {**data, "subscriptions": matched}})

    # ---- stop

    def close(self, timeout: float = 1.0) -> None:
        """Close every connection (1001, going away) and wait briefly for them to end; what remains is aborted.
        Takes only this hub's lock, never in a signal handler."""
        with self._lock:
            self._closed = True
            connections = list(self._connections.values())
        for conn in connections:
            conn.close(wsframe.GOING_AWAY, "The stack is stopping")
        deadline = time.monotonic() + timeout
        for conn in connections:
            conn._sender.join(max(0.0, deadline - time.monotonic()))
        for conn in connections:  # one registering now closes itself (``serve`` sees the hub closed)
            if conn in self.connections:
                conn.abort()


def construct_subscriptions(channels: list[str], params: dict[str, Any]) -> dict[int, tuple[list[str], list[dict]]]:
    """``Realtime::constructSubscriptions``: a channel's queries come from the parameter named like the channel with
    ``.`` as ``_``; ``rows[]=q1&rows[]=q2`` makes two subscriptions (either may match), ``rows[0][]=q1&rows[0][]=q2``
    one with both; a channel without queries joins subscription 0 (select("*") unless it has queries already)."""
    subscriptions: dict[int, tuple[list[str], list[dict]]] = {}
    for channel in channels:
        key = channel.replace(".", "_")
        value = params.get(key)
        if key == "project" and isinstance(value, str):
            value = None
        if value is None:
            chans, queries = subscriptions.setdefault(0, ([], []))
            chans.append(channel)
            if not queries:
                queries.append(dict(SELECT_ALL))
            continue
        slots = value if isinstance(value, list) else list(value.values()) if isinstance(value, dict) else [value]
        for index, slot in enumerate(slots):
            chans, queries = subscriptions.setdefault(index, ([], []))
            if channel not in chans:
                chans.append(channel)
            if not queries:
                raw = slot if isinstance(slot, list) else list(slot.values()) if isinstance(slot, dict) else [slot]
                queries.extend(convert_queries(raw))
    return subscriptions


def _list_payload(message: dict) -> list:
    """The ``items`` param of subscribe/unsubscribe: the whole ``data``, a list (``Dispatcher`` list shape)."""
    if "data" not in message:
        raise RealtimeError(FORMAT_INVALID, "Payload is not valid. Items is required")
    items = message["data"]
    if not isinstance(items, list):
        raise RealtimeError(FORMAT_INVALID, "items: Payload is not valid.")
    return items


def _subscribe_item_problem(item: Any) -> str | None:
    """``Validators/SubscribePayload.php``."""
    if not isinstance(item, dict):
        return "Each subscribe payload must be an object."
    if "subscriptionId" in item and not (isinstance(item["subscriptionId"], str)
                                         and (_CUSTOM_ID.match(item["subscriptionId"])
                                              or item["subscriptionId"] == "unique()")):
        return "subscriptionId is not a valid id."
    if "channels" not in item:
        return "channels is not present in payload."
    if not isinstance(item["channels"], list):
        return "channels is not a valid array."
    if not all(isinstance(c, str) for c in item["channels"]):
        return "channels must contain only strings."
    if "queries" in item and not isinstance(item["queries"], list):
        return "queries is not a valid array."
    return None


def close_code(error_code: int) -> int:
    """The close frame after an opening error. Appwrite's Swoole adapter closes without a code
    (utopia-php/websocket ``src/WebSocket/Adapter/Swoole.php`` ``close`` ignores it), so clients read the ``error``
    message first, as the Web SDK does; the stack sends a valid RFC 6455 code: the error's own when it is one
    (1008, 1013), 1011 for a server error, else 1008."""
    if error_code in (POLICY_VIOLATION, TOO_MANY):
        return error_code
    return wsframe.INTERNAL_ERROR if error_code == 0 else POLICY_VIOLATION


def unique_id() -> str:
    """``ID::unique()``: 20 hex digits (Appwrite's are time-based; these are random)."""
    return secrets.token_hex(10)


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
