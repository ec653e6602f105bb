"""The `signals` table: one row per session, named by the session's ID, that browsers receive over Appwrite
Realtime (`domain.signals` says what it holds and who reads it). Written whole by one upsert, with its permissions."""

from __future__ import annotations

from chat_core.domain import queue, signals
from chat_core.domain.queue import Line
from chat_core.infra.connection import Connection, RowMissing, call

TABLE = "signals"


class Signals:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def publish(self, session_id: str, data: dict, readers: list[str]) -> None:
        """Create or replace the session's row and its read permissions: one request (upsertRow), no read. Appwrite
        then sends it to every Realtime connection allowed to read it."""
        call(self._conn.tables.upsert_row, self._conn.db, TABLE, session_id, data, readers)

    def publish_many(self, rows: list[tuple[str, dict, list[str]]]) -> None:
        """Several rows, each with its permissions, in one request (upsertRows); Appwrite sends each row's event
        (appwrite `Documents/Action.php` `triggerBulk`)."""
        call(self._conn.tables.upsert_rows, self._conn.db, TABLE,
             [{"$id": row_id, "$permissions": readers, **data} for row_id, data, readers in rows])

    def line(self) -> Line | None:
        """The queue's line as its row holds it (domain.queue): one read; None when there is no such row, or it holds
        no line (written before this version)."""
        try:
            return queue.decode(self._conn.get(TABLE, signals.QUEUE).data.get("line"))
        except RowMissing:
            return None
