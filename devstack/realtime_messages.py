"""The messages of a Realtime connection on the local stack (``devstack.realtime``). Sources (appwrite/appwrite at
the 1.9.6 line; line numbers of that tree):

- Messages (``app/realtime.php`` ``onMessage``, line 1140; ``src/Appwrite/Realtime/Message/``): 32 a minute per
  connection, key ``url:{url},connection:{connection}`` (line 1221), else error 1013 ``Too many messages.``, the
  connection staying open; ``ping`` -> ``pong``; ``authentication {session}`` -> ``response {to: authentication,
  success, user}`` (``Handlers/Authentication.php``); ``subscribe [{subscriptionId?, channels, queries?}]`` and
  ``unsubscribe [{subscriptionId}]`` -> ``response {to, success, subscriptions}`` (``Handlers/Subscribe.php``,
  ``Handlers/Unsubscribe.php``, ``Validators/SubscribePayload.php``); a bad message, error 1003; only an error of
  code 1008 closes (line 1332).
- The policy that denies guests (Appwrite 2.x changelog, "Deny guests from subscribing to Realtime"): a guest may
  connect and authenticate but not subscribe: its ``subscribe`` is error 401, the connection staying open so that it
  can still authenticate.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .realtime_channels import convert_channels
from .realtime_connection import (
    FORMAT_INVALID,
    POLICY_VIOLATION,
    SERVER_ERROR_MESSAGE,
    TOO_MANY,
    Connection,
    RealtimeError,
    unique_id,
)
from .realtime_queries import QueryError, ServerError, convert_queries, query_string

SESSION_MAX = 2048  # Handlers/Authentication.php: Text(2048)
GUESTS_DENIED_SUBSCRIBE = "Guests may not subscribe in this project. Send an authentication message first."
_CUSTOM_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,35}$")


class Messages:
    """The message handlers of ``Realtime`` (a mixin: the hub holds the accounts, the message limit and the guest
    policy)."""

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
