"""The `limits` table: the per-minute budgets' use counts, one row per budget and window (see `budgets`)."""

from __future__ import annotations

import contextlib
from datetime import datetime

from appwrite.query import Query

from chat_core.domain.model import iso
from chat_core.errors import ChatError
from chat_core.infra.connection import Connection, Spent

TABLE = "limits"


class Limits:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def take(self, row_id: str, name: str, window_start: datetime, limit: int) -> bool:
        """Count one use of a budget row, atomically: Appwrite's bounded increment refuses to pass `limit` (and
        then changes nothing), so concurrent callers can never overshoot. One request; two for the window's
        first use, which creates the row. False when the budget is spent."""
        try:
            self._conn.bump_or_create(TABLE, row_id, "used", limit,
                                      {"name": name[:100], "windowStart": iso(window_start), "used": 1},
                                      "the budget row keeps changing; try again")
        except Spent:
            return False
        return True

    def give_back(self, row_id: str) -> None:
        """Undo one `take` (a request refused by a later budget must not use up an earlier one). Best effort: if it
        fails, that budget is one use short for the rest of its minute."""
        with contextlib.suppress(ChatError):
            self._conn.bump(TABLE, row_id, "used", -1, 0)

    def drop_windows(self, before: datetime) -> int:
        """Delete every budget row of a window that started before `before`: one bulk request (deleteRows)."""
        return self._conn.delete_where(TABLE, [Query.less_than("windowStart", iso(before)),
                                               Query.order_asc("windowStart")])  # its index
