"""The `counters` table: the global row and one row per agent, written by the fold and the repair with absolute
values (see `consistency`); the row <-> `CounterRow` conversion."""

from __future__ import annotations

import hashlib
from typing import Any

from chat_core.domain import rules
from chat_core.domain.model import CounterRow
from chat_core.infra.connection import Connection, RowExists, StaleWrite, unreadable_as_upstream

TABLE = "counters"
GLOBAL_ROW = "global"
# Counter rows per request: one request for the global row and up to 4,999 agents' (issue 20: the summary and the
# fold cost the same with 3 agents and 3,000). Appwrite's list takes any limit (docs/platform.md); a row is ~10
# numbers.
PAGE = 5000


def row_id(agent_id: str | None) -> str:
    if agent_id is None:
        return GLOBAL_ROW
    return "agent_" + hashlib.sha256(agent_id.encode()).hexdigest()[:28]


class Counters:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def rows(self) -> list[CounterRow]:
        return [from_row(row) for row in self._conn.walk(TABLE, [], page=PAGE)]

    def write(self, row: CounterRow, values: dict[str, int], batch: int) -> None:
        """Absolute values, only over the row as `row` was read (a row that did not exist must still not)."""
        data = {**values, "batch": batch}
        if row.updated_at is None:
            try:
                self._conn.create(TABLE, row_id(row.agent_id), {"agentId": row.agent_id, **data})
            except RowExists:
                raise StaleWrite("counter row created meanwhile") from None
            return
        self._conn.update_if_unchanged(TABLE, row_id(row.agent_id), data, row.updated_at)


@unreadable_as_upstream
def from_row(row: Any) -> CounterRow:
    d = row.data
    return CounterRow(agent_id=d.get("agentId"), values={name: int(d.get(name) or 0) for name in rules.COUNTER_COLUMNS},
                      batch=int(d.get("batch") or 0), updated_at=row.updatedat)
