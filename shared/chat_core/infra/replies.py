"""The `replies` table: the saved replies, one row per shortcut (row ID `domain.replies.reply_id`)."""

from __future__ import annotations

from typing import Any

from appwrite.query import Query

from chat_core.domain.model import parse_time
from chat_core.domain.replies import MAX_REPLIES, SavedReply, reply_id
from chat_core.infra.connection import Connection, unreadable_as_upstream

TABLE = "replies"


class Replies:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def all(self) -> list[SavedReply]:
        """Every saved reply, by shortcut: one request (there are at most MAX_REPLIES)."""
        rows = self._conn.rows(TABLE, [Query.order_asc("shortcut"), Query.limit(MAX_REPLIES)])
        return [from_row(row) for row in rows]

    def count(self) -> int:
        return self._conn.count(TABLE, [])

    def create(self, reply: SavedReply) -> SavedReply:
        """RowExists when the shortcut is taken."""
        data = {"shortcut": reply.shortcut, "text": reply.text, "createdBy": reply.created_by}
        return from_row(self._conn.create(TABLE, reply_id(reply.shortcut), data))

    def delete(self, shortcut: str) -> None:
        """RowMissing when there is no such shortcut."""
        self._conn.delete(TABLE, reply_id(shortcut))


@unreadable_as_upstream
def from_row(row: Any) -> SavedReply:
    d = row.data
    return SavedReply(shortcut=d["shortcut"], text=d["text"], created_by=d.get("createdBy"),
                      created_at=parse_time(row.createdat))
