"""Appwrite TablesDB row semantics over SQLite: one engine for the unit-test fake and the local stack.

Every Appwrite table is a real SQLite table (one SQL column per Appwrite column plus system
columns), declared indexes are real SQLite indexes, and list queries compile to parameterized
SQL so filtering and sorting large tables uses those indexes (`devstack/queries.py`). All access goes through one
connection guarded by a lock; writes run in one transaction each, so check-then-write steps
(optimistic concurrency, bounded increments, operators) are atomic. Values are validated and converted by
`devstack/values.py`; operators inside `data` are `devstack/operators.py`'s.

The parts: ``devstack.engine_storage`` (the SQL tables, reads and list queries), ``devstack.engine_writes`` (one
row's write), ``devstack.engine_bulk`` (bulk writes), ``devstack.engine_users`` (the Users stand-in). This module
holds the engine itself: its connection and lock, row events, the transactions hook, the single-row API.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from devstack import fulltext, operators
from devstack.engine_bulk import BULK_ANSWER_ROWS, Bulk
from devstack.engine_storage import LIMIT_COUNT, Storage
from devstack.engine_users import Users
from devstack.engine_writes import Writes
from devstack.queries import MAX_LIMIT, Compiler, parse_queries
from devstack.schema import Schema, Table, load_schema
from devstack.values import (
    ID_PATTERN,
    EngineError,
    check_range,
    format_datetime,
    normalize_datetime,
    now,
    parse_datetime,
    unique_id,
)

# Imported from here by the rest of the stack and the tests.
__all__ = ["BULK_ANSWER_ROWS", "ID_PATTERN", "LIMIT_COUNT", "MAX_LIMIT", "Engine", "EngineError", "Event",
           "format_datetime", "normalize_datetime", "now", "parse_datetime", "parse_queries", "unique_id"]


log = logging.getLogger(__name__)
Event = dict[str, Any]
Listener = Callable[[Event], None]


class Engine(Storage, Writes, Bulk, Users):
    """Rows and users in SQLite with Appwrite's REST semantics; dicts in, dicts out."""

    def __init__(self, schema: Schema | str | Path, path: str | Path = ":memory:") -> None:
        self.schema = schema if isinstance(schema, Schema) else load_schema(schema)
        self._lock = threading.RLock()
        self._listeners: list[Listener] = []
        self._batch = False  # inside `atomic()` (devstack/transactions_commit.py's commit)
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._conn.create_function("appwrite_fulltext", 2, fulltext.matches, deterministic=True)  # `search`
        if str(path) != ":memory:":
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA busy_timeout=5000")
        with self._lock:
            self._create_tables()

    # -- setup ------------------------------------------------------------------------------

    def set_schema(self, schema: Schema) -> None:
        """Adopt a larger schema (tables, columns and indexes created through the REST API): the SQL tables,
        columns and indexes are made first, so a failure (e.g. a unique index over duplicate values) changes
        nothing."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._create_tables(schema)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self.schema = schema

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- events -----------------------------------------------------------------------------

    def subscribe(self, callback: Listener) -> Callable[[], None]:
        """Call `callback(event)` after every committed row write; returns an unsubscribe function."""
        with self._lock:
            self._listeners.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._listeners:
                    self._listeners.remove(callback)
        return unsubscribe

    def _emit(self, events: list[Event]) -> None:
        # Runs outside the lock so a listener may call back into the engine from any thread.
        listeners = list(self._listeners)
        for event in events:
            for listener in listeners:
                try:
                    listener(event)
                except Exception:  # a broken listener must not fail the write that already committed
                    log.exception("row event listener failed")

    def _write(self, work: Callable[[], tuple[Any, list[Event]]]) -> Any:
        with self._lock:
            if self._batch:  # one write of a commit: `atomic()` commits, the committer emits the events
                return work()[0]
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                result, events = work()
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        self._emit(events)
        return result

    # -- transactions hook (devstack/transactions_commit.py) --------------------------------

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """Run many row writes as one SQLite transaction (a TablesDB transaction's commit): all of them or none.
        The writes inside emit no events; the committer sends what Appwrite sends, after the commit
        (`publish`)."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            self._batch = True
            try:
                yield
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            finally:
                self._batch = False

    def publish(self, events: list[Event]) -> None:
        """Send row events to the listeners (outside the lock), as a committed write does."""
        self._emit(events)

    # -- lookups ----------------------------------------------------------------------------

    def table(self, database_id: str, table_id: str) -> Table:
        if database_id not in self.schema.databases:
            raise EngineError(404, "database_not_found", "Database not found")
        table = self.schema.tables.get((database_id, table_id))
        if table is None:
            raise EngineError(404, "table_not_found", "Table with the requested ID could not be found.")
        return table

    def _event(self, table: Table, action: str, row: dict) -> Event:
        return {"databaseId": table.database_id, "tableId": table.id, "rowId": row["$id"],
                "action": action, "row": row}

    # -- row API ----------------------------------------------------------------------------

    def get_row(self, database_id: str, table_id: str, row_id: str,
                queries: Iterable[Any] | None = None) -> dict:
        table = self.table(database_id, table_id)
        select = Compiler(table).compile(parse_queries(queries)).select
        with self._lock:
            return self._render(table, self._require(table, row_id), select)

    def create_row(self, database_id: str, table_id: str, row_id: str, data: dict,
                   permissions: list[str] | None = None) -> dict:
        table = self.table(database_id, table_id)
        row_id = self._new_id(row_id)

        def work() -> tuple[dict, list[Event]]:
            row = self._insert(table, row_id, data, permissions)
            return row, [self._event(table, "create", row)]
        return self._write(work)

    def update_row(self, database_id: str, table_id: str, row_id: str, data: dict | None = None,
                   permissions: list[str] | None = None, *, timestamp: str | None = None) -> dict:
        table = self.table(database_id, table_id)
        since = self._request_time(timestamp)
        data = operators.parse_operators(data or {})  # Documents/Update.php: before the row is read

        def work() -> tuple[dict, list[Event]]:
            old = self._require(table, row_id)
            row = self._update(table, old, data, permissions, since)
            return row, [self._event(table, "update", row)]
        return self._write(work)

    def upsert_row(self, database_id: str, table_id: str, row_id: str, data: dict | None = None,
                   permissions: list[str] | None = None, *, timestamp: str | None = None) -> dict:
        table = self.table(database_id, table_id)
        data = operators.parse_operators(data or {})  # Documents/Upsert.php: before the row is read
        self._request_time(timestamp)  # checked for its form, then not honoured: Appwrite's upsert takes the
        since = None  # request timestamp but never wraps its write in withRequestTimestamp (docs/platform.md; appwrite
        # src/Appwrite/Platform/Modules/Databases/Http/Databases/Collections/Documents/Upsert.php)

        def work() -> tuple[dict, list[Event]]:
            old = self._fetch(table, row_id)
            if old is None:
                row = self._insert(table, self._new_id(row_id), data or {}, permissions)
                return row, [self._event(table, "create", row)]
            row = self._update(table, old, data or {}, permissions, since)
            return row, [self._event(table, "update", row)]
        return self._write(work)

    def delete_row(self, database_id: str, table_id: str, row_id: str, *,
                   timestamp: str | None = None) -> dict:
        table = self.table(database_id, table_id)
        since = self._request_time(timestamp)

        def work() -> tuple[dict, list[Event]]:
            old = self._require(table, row_id)
            self._check_conflict(old, since)
            row = self._render(table, old)
            self._conn.execute(f"DELETE FROM {self._sql_table(table)} WHERE _seq = ?", (old["_seq"],))
            return row, [self._event(table, "delete", row)]
        return self._write(work)

    def increment_row_column(self, database_id: str, table_id: str, row_id: str, column: str,
                             value: float = 1, max: float | None = None, *,
                             timestamp: str | None = None) -> dict:
        return self._bump(database_id, table_id, row_id, column, value, max, +1, timestamp)

    def decrement_row_column(self, database_id: str, table_id: str, row_id: str, column: str,
                             value: float = 1, min: float | None = None, *,
                             timestamp: str | None = None) -> dict:
        return self._bump(database_id, table_id, row_id, column, value, min, -1, timestamp)

    def _bump(self, database_id: str, table_id: str, row_id: str, key: str, value: Any, bound: Any,
              sign: int, timestamp: str | None) -> dict:
        table = self.table(database_id, table_id)
        column = table.columns.get(key)
        if column is None:
            raise EngineError(404, "column_not_found", "Column with the requested key could not be found.")
        if not column.numeric:
            raise EngineError(400, "column_type_invalid", f'Column "{key}" is not a numeric column.')
        for name, number in (("value", value), ("bound", bound)):
            if number is not None and (isinstance(number, bool) or not isinstance(number, (int, float))):
                raise EngineError(400, "general_argument_invalid",
                                  f"Invalid `{name}` param: must be a number")
        # X-Appwrite-Timestamp is not honoured here: Appwrite's increment/decrement never read it (docs/platform.md;
        # appwrite src/Appwrite/Platform/Modules/Databases/Http/Databases/Collections/Documents/Attribute/Increment.php)

        def work() -> tuple[dict, list[Event]]:
            old = self._require(table, row_id)
            current = old[key] or 0
            result = current + sign * value
            if bound is not None and (result > bound if sign > 0 else result < bound):
                word = "maximum" if sign > 0 else "minimum"
                raise EngineError(400, "column_limit_exceeded",
                                  f'Column "{key}" has reached the {word} value of {bound}')
            if column.kind == "integer":
                result = int(result)
            check_range(column, result)
            stored = self._write_values(table, old, {key: result}, None, since=None)
            # utopia-php/database 6.0.0 `Database::increaseDocumentAttribute` / `decreaseDocumentAttribute` write the
            # new value and a new `$updatedAt`, then answer the document as read with only the column changed: the
            # answer (and the event, appwrite 1.9.6 `.../Documents/Attribute/Increment.php`) carries the OLD
            # `$updatedAt`, which is no longer the row's.
            row = {**self._render(table, old), key: stored[key]}
            return row, [self._event(table, "update", row)]
        return self._write(work)

    def list_rows(self, database_id: str, table_id: str, queries: Iterable[Any] | None = None,
                  total: bool = True) -> dict:
        table = self.table(database_id, table_id)
        plan = Compiler(table).compile(parse_queries(queries))
        with self._lock:
            rows = self._select(table, plan)
            count = self._count(table, plan) if total else 0
        return {"total": count, "rows": [self._render(table, row, plan.select) for row in rows]}

    # -- the clock --------------------------------------------------------------------------

    @staticmethod
    def _now() -> datetime:
        """``now()`` looked up in this module at each call, so a test that replaces ``devstack.engine.now`` moves
        every stamp the engine writes (those of its parts too), as when they were all written here."""
        return now()
