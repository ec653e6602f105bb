"""One Realtime connection on the local stack (``devstack.realtime``): its user, roles and subscriptions, its
ordered sender, the abuse window that limits connections and messages, and the errors a connection answers.
Sources (appwrite/appwrite at the 1.9.6 line; line numbers of that tree):

- Abuse limits (``app/realtime.php`` lines 943, 1221): utopia-php/abuse ``TimeLimit`` windows.
- Subscriptions (``src/Appwrite/Messaging/Adapter/Realtime.php``): ``Realtime::subscribe``,
  ``Realtime::unsubscribeSubscription``, ``Realtime::getSubscribers`` for one connection; the identity after an
  in-band authentication (``src/Appwrite/Realtime/Message/Handlers/Authentication.php``).
- Errors: ``error {code, message}`` with the ``realtime_*`` codes of ``app/config/errors.php``; only an error of code
  1008 closes (``app/realtime.php`` line 1332); the close frame after an opening error (``close_code``).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import queue
import secrets
import socket
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from . import wsframe
from .realtime_channels import rebind_account_channels, user_roles
from .realtime_queries import SELECT_ALL, Filter, query_string

if TYPE_CHECKING:
    from .realtime import Realtime

log = logging.getLogger("devstack.realtime")

PATH = "/v1/realtime"
OUTBOX_LIMIT = 1000  # messages waiting for a slow client before the stack drops it

FORMAT_INVALID, POLICY_VIOLATION, TOO_MANY = 1003, 1008, 1013  # app/config/errors.php: realtime_* codes
SERVER_ERROR_MESSAGE = "Error: Server Error"  # what a code-0 error says outside development (app/realtime.php)


class RealtimeError(Exception):
    """Answered as ``error {code, message}``; code 1008 also closes the connection."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


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
