"""The `messages` table: a message's row, a session's messages, the repair's count, the row-create event's name, and
the row <-> `Message` conversion."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from appwrite.query import Query

from chat_core.domain.model import ID_PATTERN, Message, parse_time
from chat_core.errors import UpstreamUnavailable
from chat_core.infra.connection import Connection, call, unreadable_as_upstream

TABLE = "messages"


class Messages:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def create(self, message: Message, readers: list[str]) -> Message:
        """The row, readable by `readers` (`domain.signals.readers`: the session's owner and the staff), which
        Appwrite Realtime then sends it to (the table has row security and grants nothing itself)."""
        return from_row(self._conn.create(TABLE, message.id, _data(message), readers))

    def create_many(self, messages: list[Message], readers: list[str]) -> list[Message]:
        """Several rows in one request (TablesDB `createRows`: the key's only), each readable by `readers`, in
        order. All or none: a row whose ID exists fails the whole call with RowExists and stores nothing (appwrite
        `.../Databases/Collections/Documents/Create.php` over utopia-php/database `createDocuments`, one transaction);
        Appwrite sends each row's create event, Realtime included."""
        answer = call(self._conn.tables.create_rows, self._conn.db, TABLE,
                      [{"$id": m.id, "$permissions": readers, **_data(m)} for m in messages])
        return [from_row(row) for row in answer.rows]

    def get(self, row_id: str) -> Message:
        return from_row(self._conn.get(TABLE, row_id))

    def page(self, session_id: str, limit: int, cursor: str | None) -> tuple[list[Message], str | None]:
        """One session's messages, oldest first."""
        return self._conn.page(TABLE, [Query.equal("sessionId", [session_id]), Query.order_asc("$createdAt")],
                               limit, cursor, from_row)

    def latest(self, session_id: str, limit: int) -> list[Message]:
        """One session's newest messages, newest first."""
        return [from_row(row) for row in self._conn.rows(TABLE, [
            Query.equal("sessionId", [session_id]), Query.order_desc("$createdAt"), Query.limit(limit)])]

    def counts(self) -> dict[str, int]:
        """Stored messages per session ID, from a walk of the whole table (the repair's ground truth)."""
        counts: dict[str, int] = {}
        for row in self._conn.walk(TABLE, [Query.select(["$id", "sessionId"])]):
            session_id = row.data.get("sessionId")
            counts[session_id] = counts.get(session_id, 0) + 1
        return counts

    def created_id(self, event: str, payload: Any) -> str | None:
        """The row ID a `messages` row-create event of this database names, or None for any other event.
        Appwrite spells it databases.D.collections.T.documents.R.create, databases.D.tables.T.rows.R.create or
        tablesdb.D.tables.T.rows.R.create (docs/platform.md)."""
        parts = event.split(".")
        if len(parts) != 7 or parts[0] not in ("databases", "tablesdb"):
            return None
        if (parts[2], parts[4]) not in (("collections", "documents"), ("tables", "rows")):
            return None
        if (parts[1], parts[3], parts[6]) != (self._conn.db, TABLE, "create") or not isinstance(payload, dict):
            return None
        row_id = payload.get("$id")
        return row_id if isinstance(row_id, str) and ID_PATTERN.fullmatch(row_id) else None

    def from_event(self, event: str, payload: Any) -> Message | None:
        """The message a `messages` row-create event carries, read off its payload (the row as stored), or None for
        any other event or a payload that is not a message row. No request. Only for a function nobody but
        Appwrite can run (empty `execute`, docs/security.md): anyone who may execute a function can make a call
        look like an event."""
        row_id = self.created_id(event, payload)
        if row_id is None:
            return None
        try:
            return from_row(SimpleNamespace(id=row_id, createdat=payload["$createdAt"], data=payload))
        except (KeyError, UpstreamUnavailable):  # a payload that is not a message row is no message
            return None


def _data(message: Message) -> dict:
    return {"sessionId": message.session_id, "role": message.role, "text": message.text,
            "handoff": message.handoff, "authorId": message.author_id,
            "clientMessageId": message.client_message_id, "admission": message.admission,
            "botDecided": message.bot_decided}


@unreadable_as_upstream
def from_row(row: Any) -> Message:
    d = row.data
    return Message(
        id=row.id, session_id=d["sessionId"], role=d["role"], text=d["text"], created_at=parse_time(row.createdat),
        handoff=bool(d.get("handoff")), author_id=d.get("authorId"), client_message_id=d.get("clientMessageId"),
        admission=d.get("admission"), bot_decided=bool(d.get("botDecided")),
    )
