"""Appwrite Realtime on the local stack: ``ws://127.0.0.1:<port>/v1/realtime?project=<id>``.

One process serves HTTP and the socket on the same port, as Appwrite serves ``/v1/realtime`` on its API host: the
HTTP server hands a ``GET /v1/realtime`` with ``Upgrade: websocket`` to ``Realtime.serve`` (``devstack.httpd``),
which speaks RFC 6455 through ``devstack.wsframe``. Row events come from ``Engine.subscribe``, after commit, from the
same writes the functions make. This module is the hub (every connection of a stack, the read loop, the delivery of
row events); its parts, each with the upstream files it follows:

- ``devstack.realtime_opening``: the connection's opening and who connects (``app/realtime.php`` ``onOpen``,
  ``app/init/realtime/connection.php``, ``Network/Validator/Origin.php``).
- ``devstack.realtime_messages``: ``ping``, ``authentication``, ``subscribe``, ``unsubscribe`` (``app/realtime.php``
  ``onMessage``, ``src/Appwrite/Realtime/Message/``).
- ``devstack.realtime_connection``: one socket, its subscriptions and sender, the abuse windows, the errors.
- ``devstack.realtime_channels``: channels, event names and roles (``Realtime::convertChannels``,
  ``Event::generateEvents``, ``Realtime::fromPayload``, ``User::getRoles``).
- ``devstack.realtime_queries``: subscription queries (``RuntimeQuery.php``, ``Realtime::constructSubscriptions``).

Sources of the hub (appwrite/appwrite at the 1.9.6 line; line numbers of that tree):

- Events (``src/Appwrite/Event/Realtime.php`` ``trigger``, line 92): the roles are the table's read permissions,
  plus the row's when the table has row security (``src/Appwrite/Messaging/Adapter/Realtime.php`` line 891);
  ``Realtime::send`` publishes nothing without roles. ``event {events, channels, timestamp, payload,
  subscriptions}`` names the connection's matching subscription IDs (``app/realtime.php`` line 773).
- The policy that denies guests (Appwrite 2.x changelog, "Deny guests from subscribing to Realtime"): a guest that
  lists channels when connecting is refused, a guest may connect and authenticate but not subscribe, and a guest
  receives nothing. The changelog names no codes: here the refusal at connection is error 1008 (a policy
  violation, which also stops the Web SDK from reconnecting) and a guest's ``subscribe`` is error 401, the
  connection staying open so that it can still authenticate.

What the stack adds or leaves out is in docs/local-stack.md ("Realtime").
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from . import wsframe
from .engine import format_datetime, now
from .realtime_channels import convert_channels, read_roles, rebind_account_channels, row_channels, row_event_names
from .realtime_connection import PATH, Connection, FixedWindow, RealtimeError, close_code
from .realtime_messages import GUESTS_DENIED_SUBSCRIBE, Messages
from .realtime_opening import GUESTS_DENIED_CONNECT, Opening, php_query

__all__ = ["CONNECTIONS_PER_MINUTE", "GUESTS_DENIED_CONNECT", "GUESTS_DENIED_SUBSCRIBE", "MAX_MESSAGE_BYTES",
           "MESSAGES_PER_MINUTE", "PATH", "Realtime", "convert_channels", "is_request", "php_query",
           "rebind_account_channels"]

CONNECTIONS_PER_MINUTE, MESSAGES_PER_MINUTE, WINDOW_SECONDS = 128, 32, 60  # app/realtime.php lines 943, 1221
MAX_MESSAGE_BYTES = 64000  # app/realtime.php: setPackageMaxLength(64000)
IDLE_SECONDS = 60.0  # the stack closes a silent connection (1001); the Web SDK pings every 20 s
CLOSE_WAIT_SECONDS = 2.0  # how long a closing connection waits for the peer's answering close frame


def is_request(path: str, headers: dict[str, str]) -> bool:
    """A request for the Realtime socket: ``/v1/realtime`` asking to upgrade to a WebSocket."""
    return path.partition("?")[0].rstrip("/") == PATH and wsframe.is_upgrade(headers)


# --------------------------------------------------------------------------- the hub


class Realtime(Opening, Messages):
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

