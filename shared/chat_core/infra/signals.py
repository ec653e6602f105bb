"""The `signals` table: one row per session, named by the session's ID, that browsers receive over Appwrite
Realtime (`domain.signals` says what it holds and who reads it). Written whole by one upsert, with its permissions.

An upsert is where Appwrite parses operators (`infra.operators`), and a signal carries text nobody here chose: the
agent's name, which any agent sets on its own account. So every text value is shielded before it is sent (stored
behind an invisible separator when it reads as an operator), and no row can be refused or rewritten by it, nor the
queue's row sent in the same request."""

from __future__ import annotations

from chat_core.domain import signals
from chat_core.domain.queue import Line
from chat_core.infra import operators
from chat_core.infra.connection import Connection, RowMissing, call

TABLE = "signals"


class Signals:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def publish(self, session_id: str, data: dict, readers: list[str]) -> None:
        """Create or replace the session's row and its read permissions: one request (upsertRow), no read. Appwrite
        then sends it to every Realtime connection allowed to read it."""
        call(self._conn.tables.upsert_row, self._conn.db, TABLE, session_id, _shielded(data), readers)

    def publish_many(self, rows: list[tuple[str, dict, list[str]]]) -> None:
        """Several rows, each with its permissions, in one request (upsertRows); Appwrite sends each row's event
        (appwrite `Documents/Action.php` `triggerBulk`)."""
        call(self._conn.tables.upsert_rows, self._conn.db, TABLE,
             [{"$id": row_id, "$permissions": readers, **_shielded(data)} for row_id, data, readers in rows])

    def line(self) -> Line | None:
        """The queue's line as its row holds it (domain.queue), read when the row's `at` says: one read; None when
        there is no such row, or it holds no line (written before this version)."""
        try:
            return signals.queue_line(self._conn.get(TABLE, signals.QUEUE).data)
        except RowMissing:
            return None


def _shielded(data: dict) -> dict:
    return {key: operators.shield(value) if isinstance(value, str) else value for key, value in data.items()}
