"""The `limits` table: the per-minute budgets' use counts, one row per budget and window (see `budgets`)."""

from __future__ import annotations

import contextlib
from datetime import datetime

from appwrite.operator import Operator
from appwrite.query import Query

from chat_core.domain.model import iso
from chat_core.errors import ChatError, UpstreamUnavailable
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

    def take_together(self, rows: list[tuple[str, str]], window_start: datetime) -> list[int]:
        """One more use of each budget row (`(row_id, name)`), all in ONE request: upsertRows with each row's `used`
        an UNBOUNDED atomic increment (Appwrite: `COALESCE(used, 0) + 1` under the row's lock; a row not there yet
        is created by the same request, at its default 0 plus 1). Nothing refuses here: the answer is each row's
        `used` as Appwrite read it back after the commit (this unit and every other held then), in the order
        given, for the caller to compare with its limits and give back (`give_back_together`)."""
        start = iso(window_start)
        answer = self._conn.upsert_many(TABLE, [{"$id": row_id, "name": name[:100], "windowStart": start,
                                                 "used": Operator.increment(1)} for row_id, name in rows])
        used = {row.id: row.data.get("used") for row in answer}
        try:
            return [int(used[row_id]) for row_id, _ in rows]
        except (KeyError, TypeError, ValueError):
            raise UpstreamUnavailable("Appwrite answered without a budget row's count") from None

    def give_back_together(self, rows: list[tuple[str, str]], window_start: datetime) -> None:
        """Undo one `take_together` on each row, in one request: upsertRows with a decrement bounded at 0 (Appwrite's
        `CASE`: it stops at 0, no error). The rows exist: this request just counted on them (on a row that did not,
        Appwrite would create it at -1: a created row's operator takes no bound). Best effort, as `give_back`."""
        start = iso(window_start)
        with contextlib.suppress(ChatError):
            self._conn.upsert_many(TABLE, [{"$id": row_id, "name": name[:100], "windowStart": start,
                                            "used": Operator.decrement(1, 0)} for row_id, name in rows])

    def drop_windows(self, before: datetime) -> int:
        """Delete every budget row of a window that started before `before`: one bulk request (deleteRows)."""
        return self._conn.delete_where(TABLE, [Query.less_than("windowStart", iso(before)),
                                               Query.order_asc("windowStart")])  # its index
