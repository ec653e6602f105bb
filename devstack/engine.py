"""Appwrite TablesDB row semantics over SQLite: one engine for the unit-test fake and the local stack.

Every Appwrite table is a real SQLite table (one SQL column per Appwrite column plus system
columns), declared indexes are real SQLite indexes, and list queries compile to parameterized
SQL so filtering and sorting large tables uses those indexes (`devstack/queries.py`). All access goes through one
connection guarded by a lock; writes run in one transaction each, so check-then-write steps
(optimistic concurrency, bounded increments, operators) are atomic. Values are validated and converted by
`devstack/values.py`; operators inside `data` are `devstack/operators.py`'s.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from devstack import fulltext, operators
from devstack.queries import MAX_LIMIT, SYSTEM_SQL, Compiler, Plan, keyset, parse_queries
from devstack.schema import Column, Schema, Table, load_schema
from devstack.values import (
    ID_PATTERN,
    EngineError,
    check_permissions,
    check_range,
    check_value,
    duplicate,
    format_datetime,
    from_sql,
    identical,
    invalid,
    normalize_datetime,
    now,
    parse_datetime,
    quote,
    system_time,
    to_sql,
    unique_id,
)

# Imported from here by the rest of the stack and the tests.
__all__ = ["BULK_ANSWER_ROWS", "ID_PATTERN", "LIMIT_COUNT", "MAX_LIMIT", "Engine", "EngineError", "Event",
           "format_datetime", "normalize_datetime", "now", "parse_datetime", "parse_queries", "unique_id"]

LIMIT_COUNT = 5000  # Appwrite's APP_LIMIT_COUNT: totals saturate here
BULK_ANSWER_ROWS = 100  # APP_LIMIT_DATABASE_BATCH (appwrite 1.8.1 app/init/constants.php)
ONE_MS = timedelta(milliseconds=1)

log = logging.getLogger(__name__)
Event = dict[str, Any]
Listener = Callable[[Event], None]


class Engine:
    """Rows and users in SQLite with Appwrite's REST semantics; dicts in, dicts out."""

    def __init__(self, schema: Schema | str | Path, path: str | Path = ":memory:") -> None:
        self.schema = schema if isinstance(schema, Schema) else load_schema(schema)
        self._lock = threading.RLock()
        self._listeners: list[Listener] = []
        self._batch = False  # inside `atomic()` (devstack/transactions.py's commit)
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

    def _create_tables(self, schema: Schema | None = None) -> None:
        for table in (schema or self.schema).tables.values():
            name = self._sql_table(table)
            columns = [f"{quote(c.key)} {self._sql_type(c)}" for c in table.columns.values()]
            self._conn.execute(
                f"CREATE TABLE IF NOT EXISTS {name} (_seq INTEGER PRIMARY KEY AUTOINCREMENT, "
                f"_id TEXT NOT NULL UNIQUE, _createdAt TEXT NOT NULL, _updatedAt TEXT NOT NULL, "
                f"_permissions TEXT NOT NULL DEFAULT '[]'{''.join(', ' + c for c in columns)})")
            self._add_missing_columns(table, name)
            self._create_indexes(table, name)
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS _users (_seq INTEGER PRIMARY KEY AUTOINCREMENT, _id TEXT NOT NULL "
            "UNIQUE, name TEXT NOT NULL, labels TEXT NOT NULL, email TEXT NOT NULL, phone TEXT NOT NULL, "
            "_createdAt TEXT NOT NULL, _updatedAt TEXT NOT NULL)")

    def _add_missing_columns(self, table: Table, name: str) -> None:
        # A database file from an older appwrite.json gains new columns (nullable), like a migration.
        existing = {row["name"] for row in self._conn.execute(f"PRAGMA table_info({name})")}
        for column in table.columns.values():
            if column.key not in existing:
                self._conn.execute(f"ALTER TABLE {name} ADD COLUMN {quote(column.key)} {self._sql_type(column)}")

    def _create_indexes(self, table: Table, name: str) -> None:
        base = f"{table.database_id}_{table.id}"
        for system in ("_createdAt", "_updatedAt"):
            self._conn.execute(f"CREATE INDEX IF NOT EXISTS {quote(f'_{base}_{system}')} ON {name} ({system})")
        for index in table.indexes:
            if index.type == "fulltext":  # matched row by row (devstack/fulltext.py): no SQLite index serves it
                continue
            pairs = zip(index.columns, index.orders, strict=True)
            parts = [f"{SYSTEM_SQL.get(c, quote(c))} {o}" for c, o in pairs]
            unique = "UNIQUE " if index.type == "unique" else ""
            self._conn.execute(f"CREATE {unique}INDEX IF NOT EXISTS {quote(f'{base}_{index.key}')} "
                               f"ON {name} ({', '.join(parts)})")

    @staticmethod
    def _sql_table(table: Table) -> str:
        return quote(f"{table.database_id}__{table.id}")

    @staticmethod
    def _sql_type(column: Column) -> str:
        return {"integer": "INTEGER", "boolean": "INTEGER", "double": "REAL"}.get(column.kind, "TEXT")

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

    # -- transactions hook (devstack/transactions.py) ------------------------------------------

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

    def _fetch(self, table: Table, row_id: str) -> sqlite3.Row | None:
        sql = f"SELECT * FROM {self._sql_table(table)} WHERE _id = ?"
        return self._conn.execute(sql, (row_id,)).fetchone()

    def _require(self, table: Table, row_id: str) -> sqlite3.Row:
        row = self._fetch(table, row_id)
        if row is None:
            raise EngineError(404, "row_not_found", "Row with the requested ID could not be found.")
        return row

    def _render(self, table: Table, row: sqlite3.Row, select: list[str] | None = None) -> dict:
        out: dict[str, Any] = {
            "$id": row["_id"], "$sequence": str(row["_seq"]), "$tableId": table.id,
            "$databaseId": table.database_id, "$createdAt": row["_createdAt"],
            "$updatedAt": row["_updatedAt"], "$permissions": json.loads(row["_permissions"]),
        }
        wanted = None if select is None or "*" in select else set(select)
        for column in table.columns.values():
            if wanted is None or column.key in wanted:
                out[column.key] = from_sql(column, row[column.key])
        return out

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

    def create_rows(self, database_id: str, table_id: str, rows: list[dict]) -> dict:
        """Bulk create (``POST .../rows`` with ``rows``, TablesDB ``createRows``), as appwrite 1.9.6
        ``src/Appwrite/Platform/Modules/Databases/Http/Databases/Collections/Documents/Create.php`` serves it: each
        row may name its ``$id`` (else a unique one) and carry its ``$permissions``; no operator is parsed (a create
        takes values only); all rows share one ``$createdAt`` and are inserted in one transaction (utopia-php/database
        ``Database::createDocuments``: one ``withTransaction`` per chunk), so a row whose ID exists fails the whole
        call with 409 and stores nothing; each row sends its own create event (``triggerBulk``). At most 100 rows
        (APP_LIMIT_DATABASE_BATCH). Answers ``{"total", "rows"}``."""
        table = self.table(database_id, table_id)
        if not isinstance(rows, list) or not rows or len(rows) > BULK_ANSWER_ROWS:
            raise EngineError(400, "general_argument_invalid", "Param \"rows\" must be an array of 1 to 100 rows.")
        stamp = format_datetime(now())
        prepared = []
        for raw in rows:
            if not isinstance(raw, dict):
                raise invalid("Value must be a valid object")
            data = {"$createdAt": stamp, **raw}
            row_id, permissions = data.pop("$id", "unique()"), data.pop("$permissions", None)
            prepared.append((self._new_id(row_id), data, permissions))

        def work() -> tuple[dict, list[Event]]:
            created = [self._insert(table, row_id, data, permissions) for row_id, data, permissions in prepared]
            return {"total": len(created), "rows": created}, [self._event(table, "create", row) for row in created]
        return self._write(work)

    def upsert_rows(self, database_id: str, table_id: str, rows: list[dict]) -> dict:
        """Bulk upsert (``PUT .../rows``): each row names its ``$id`` and may carry ``$permissions``; all are
        written in one commit and each sends its own event, as appwrite's ``Documents/Bulk/Upsert.php`` does
        (``triggerBulk`` in ``Documents/Action.php``: one Realtime event per row). At most 100 rows
        (APP_LIMIT_DATABASE_BATCH)."""
        table = self.table(database_id, table_id)
        if not isinstance(rows, list) or not rows or len(rows) > BULK_ANSWER_ROWS:
            raise EngineError(400, "general_argument_invalid", "Param \"rows\" must be an array of 1 to 100 rows.")
        prepared = []
        for raw in rows:
            data = dict(raw) if isinstance(raw, dict) else {}
            row_id, permissions = data.pop("$id", None), data.pop("$permissions", None)
            if not isinstance(row_id, str) or not row_id:
                raise EngineError(400, "general_argument_invalid", "Each row needs a \"$id\".")
            prepared.append((row_id, operators.parse_operators(data), permissions))

        def work() -> tuple[dict, list[Event]]:
            written, events = [], []
            for row_id, data, permissions in prepared:
                old = self._fetch(table, row_id)
                if old is None:
                    row = self._insert(table, self._new_id(row_id), data, permissions)
                    events.append(self._event(table, "create", row))
                else:
                    row = self._update(table, old, data, permissions, None)
                    events.append(self._event(table, "update", row))
                written.append(row)
            return {"total": len(written), "rows": written}, events
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

    def delete_rows(self, database_id: str, table_id: str, queries: Iterable[Any] | None = None, *,
                    timestamp: str | None = None) -> dict:
        """Bulk delete (TablesDB `deleteRows`, server 1.8.1): every row the filters match, or at most `limit` of
        them, in one transaction. Answers `{"total": deleted, "rows": [...]}` with the first 100 rows
        (APP_LIMIT_DATABASE_BATCH), and only those get a delete event (appwrite 1.8.1
        src/Appwrite/Platform/Modules/Databases/Http/Databases/Collections/Documents/Bulk/Delete.php; the loop is
        utopia-php/database 3.5.0 `Database::deleteDocuments`). No queries: every row. `X-Appwrite-Timestamp` is
        checked for its form only: appwrite 1.9.6 `.../Documents/Bulk/Delete.php` never injects `requestTimestamp`
        nor wraps the delete in `withRequestTimestamp`, so a row updated after it is deleted all the same."""
        table = self.table(database_id, table_id)
        parsed = parse_queries(queries)
        plan = Compiler(table).compile(parsed)
        if not any(q["method"] == "limit" for q in parsed):
            plan.limit = -1  # SQLite's "no limit": a bulk delete takes every match unless told otherwise
        self._request_time(timestamp)

        def work() -> tuple[dict, list[Event]]:
            doomed = self._select(table, plan)
            rendered = []
            for old in doomed:
                if len(rendered) < BULK_ANSWER_ROWS:
                    rendered.append(self._render(table, old))
            for start in range(0, len(doomed), 500):
                seqs = [old["_seq"] for old in doomed[start:start + 500]]
                self._conn.execute(f"DELETE FROM {self._sql_table(table)} WHERE _seq IN "
                                   f"({', '.join('?' * len(seqs))})", seqs)
            return ({"total": len(doomed), "rows": rendered},
                    [self._event(table, "delete", row) for row in rendered])
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

    def bulk_insert(self, database_id: str, table_id: str, rows: Iterable[dict]) -> list[str]:
        """Fast setup helper: validate and insert many rows in one transaction, without events.
        A row may carry `$id`, `$createdAt`, `$updatedAt`, `$permissions`."""
        table = self.table(database_id, table_id)
        ids: list[str] = []

        def work() -> tuple[list[str], list[Event]]:
            for data in rows:
                data = dict(data)
                row_id = self._new_id(str(data.pop("$id", "unique()")))
                self._insert(table, row_id, data, None, render=False)
                ids.append(row_id)
            return ids, []
        return self._write(work)

    # -- write helpers ----------------------------------------------------------------------

    @staticmethod
    def _new_id(row_id: Any) -> str:
        if row_id == "unique()":
            return unique_id()
        if not isinstance(row_id, str) or not ID_PATTERN.match(row_id):
            raise EngineError(400, "general_argument_invalid",
                              "Invalid `rowId` param: Parameter must contain at most 36 chars. Valid chars "
                              "are a-z, A-Z, 0-9, period, hyphen, and underscore. Can't start with a special "
                              "char")
        return row_id

    @staticmethod
    def _request_time(timestamp: str | None) -> datetime | None:
        if timestamp is None or timestamp == "":
            return None
        parsed = parse_datetime(timestamp)
        if parsed is None:
            raise EngineError(400, "general_argument_invalid", "Invalid X-Appwrite-Timestamp header value")
        return parsed

    @staticmethod
    def _check_conflict(old: sqlite3.Row, since: datetime | None) -> None:
        if since is not None and parse_datetime(old["_updatedAt"]) > since:
            raise EngineError(409, "row_update_conflict",
                              "Remote row is newer than local.")

    def _split_data(self, table: Table, data: Any, permissions: list[str] | None) -> tuple[dict, dict]:
        """Separate user columns from `$`-prefixed system keys; reject unknown columns."""
        if not isinstance(data, dict):
            raise invalid("Value must be a valid object")
        values, system = {}, {}
        for key, value in data.items():
            if key.startswith("$"):
                system[key] = value
            elif key not in table.columns:
                raise invalid(f'Unknown attribute: "{key}"')
            else:
                values[key] = value
        perms = permissions if permissions is not None else system.get("$permissions")
        system["$permissions"] = None if perms is None else check_permissions(perms)
        return values, system

    def _insert(self, table: Table, row_id: str, data: Any, permissions: list[str] | None,
                render: bool = True) -> dict:
        values, system = self._split_data(table, data, permissions)
        stored: dict[str, Any] = {}
        for column in table.columns.values():
            stored[column.key] = self._resolve(column, values, column.default, creating=True)
        created = system_time(system, "$createdAt") or format_datetime(now())
        updated = system_time(system, "$updatedAt") or created
        cols = ["_id", "_createdAt", "_updatedAt", "_permissions", *(quote(k) for k in stored)]
        params = [row_id, created, updated, json.dumps(system["$permissions"] or []),
                  *(to_sql(table.columns[k], v) for k, v in stored.items())]
        marks = ", ".join("?" * len(cols))
        sql = f"INSERT INTO {self._sql_table(table)} ({', '.join(cols)}) VALUES ({marks})"
        try:
            self._conn.execute(sql, params)
        except sqlite3.IntegrityError as exc:
            raise duplicate(exc) from None
        return self._render(table, self._require(table, row_id)) if render else {}

    def _resolve(self, column: Column, values: dict, current: Any, creating: bool) -> Any:
        """The value to store for one column: given value, operator applied to `current`, or default."""
        if column.key not in values:
            if creating and column.required:
                raise invalid(f'Missing required attribute "{column.key}"')
            return current
        value = values[column.key]
        if value is None:
            if column.required:
                raise invalid(f'Missing required attribute "{column.key}"')
            return None
        if isinstance(value, operators.Op):  # only update and upsert parse operators (operators.py)
            operators.check(column, value, current)
            return operators.apply(column, value, current)
        return check_value(column, value)

    def _update(self, table: Table, old: sqlite3.Row, data: Any, permissions: list[str] | None,
                since: datetime | None) -> dict:
        values, system = self._split_data(table, data, permissions)
        changes, changed = {}, False
        for key, value in values.items():
            column = table.columns[key]
            current = from_sql(column, old[key])
            changes[key] = self._resolve(column, values, current, creating=False)
            changed = changed or isinstance(value, operators.Op) or not identical(value, current)
        for key in ("$createdAt", "$updatedAt"):
            changed = changed or system.get(key) is not None
        if system.get("$permissions") is not None:
            changed = changed or system["$permissions"] != json.loads(old["_permissions"])
        return self._write_values(table, old, changes, system, since, touch=changed)

    def _write_values(self, table: Table, old: sqlite3.Row, changes: dict, system: dict | None,
                      since: datetime | None, touch: bool = True) -> dict:
        """Write `changes`; `touch=False` (nothing differs from the row as read) keeps `$updatedAt`, as utopia-php/
        database 6.0.0 `Database::updateDocument` does: it sets `$updatedAt` only `if ($shouldUpdate)`, true when an
        operator is sent or a value differs (`!==`) from the stored one. The X-Appwrite-Timestamp check runs either
        way."""
        self._check_conflict(old, since)
        system = system or {}
        # Strictly later than the previous `$updatedAt`, so a client holding the old value always
        # sees a conflict even when two writes land in the same millisecond.
        bumped = max(now(), parse_datetime(old["_updatedAt"]) + ONE_MS) if touch else parse_datetime(
            old["_updatedAt"])
        sets = {"_updatedAt": system_time(system, "$updatedAt") or format_datetime(bumped)}
        if system.get("$createdAt") is not None:
            sets["_createdAt"] = system_time(system, "$createdAt")
        if system.get("$permissions") is not None:
            sets["_permissions"] = json.dumps(system["$permissions"])
        for key, value in changes.items():
            sets[quote(key)] = to_sql(table.columns[key], value)
        assignments = ", ".join(f"{col} = ?" for col in sets)
        try:
            self._conn.execute(f"UPDATE {self._sql_table(table)} SET {assignments} WHERE _seq = ?",
                               [*sets.values(), old["_seq"]])
        except sqlite3.IntegrityError as exc:
            raise duplicate(exc) from None
        return self._render(table, self._require(table, old["_id"]))

    # -- list helpers -----------------------------------------------------------------------

    def _select(self, table: Table, plan: Plan) -> list[sqlite3.Row]:
        sql, params = self._select_sql(table, plan)
        return self._conn.execute(sql, params).fetchall()

    def _select_sql(self, table: Table, plan: Plan) -> tuple[str, list]:
        orders = list(plan.orders)
        if not any(col == "_seq" for col, _ in orders):
            orders.append(("_seq", "ASC"))  # tie-break, as Appwrite does, so paging is stable
        where, params = list(plan.filters), list(plan.params)
        if plan.cursor is not None:
            cursor_row = self._fetch(table, plan.cursor)
            if cursor_row is None:
                raise EngineError(400, "general_cursor_not_found", "Cursor row not found.")
            sql, cursor_params = keyset(orders, cursor_row, self._not_null(table))
            where.append(sql)
            params.extend(cursor_params)
        order_sql = ", ".join(f"{c} {d}" for c, d in orders)
        where_sql = " AND ".join(f"({w})" for w in where) or "1"
        sql = f"SELECT * FROM {self._sql_table(table)} WHERE {where_sql} ORDER BY {order_sql} LIMIT ?"
        return sql, [*params, plan.limit]

    @staticmethod
    def _not_null(table: Table) -> set[str]:
        required = {quote(c.key) for c in table.columns.values() if c.required}
        return required | {"_id", "_seq", "_createdAt", "_updatedAt"}

    def _count(self, table: Table, plan: Plan) -> int:
        where_sql = " AND ".join(f"({w})" for w in plan.filters) or "1"
        sql = f"SELECT COUNT(*) FROM (SELECT 1 FROM {self._sql_table(table)} WHERE {where_sql} LIMIT ?)"
        return self._conn.execute(sql, [*plan.params, LIMIT_COUNT]).fetchone()[0]

    def explain(self, database_id: str, table_id: str, queries: Iterable[Any] | None = None) -> list[str]:
        """SQLite's query plan for a list call (to check that a query uses an index)."""
        table = self.table(database_id, table_id)
        plan = Compiler(table).compile(parse_queries(queries))
        with self._lock:
            sql, params = self._select_sql(table, plan)
            return [r[3] for r in self._conn.execute("EXPLAIN QUERY PLAN " + sql, params)]

    # -- users (a tiny stand-in for the Users service) ----------------------------------------

    def put_user(self, user_id: str, name: str = "", labels: Iterable[str] = (), *, email: str = "",
                 phone: str = "") -> dict:
        """Create or replace a user; labels are Appwrite user labels (e.g. "agent", "admin")."""
        if not isinstance(user_id, str) or not ID_PATTERN.match(user_id):
            raise EngineError(400, "general_argument_invalid", "Invalid `userId` param")
        stamp = format_datetime(now())
        labels_json = json.dumps(list(labels))

        def work() -> tuple[dict, list[Event]]:
            self._conn.execute(
                "INSERT INTO _users (_id, name, labels, email, phone, _createdAt, _updatedAt) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(_id) DO UPDATE SET name = excluded.name, "
                "labels = excluded.labels, email = excluded.email, phone = excluded.phone, "
                "_updatedAt = excluded._updatedAt", (user_id, name, labels_json, email, phone, stamp, stamp))
            return self._user(user_id), []
        return self._write(work)

    def get_user(self, user_id: str) -> dict:
        with self._lock:
            return self._user(user_id)

    def _user(self, user_id: str) -> dict:
        row = self._conn.execute("SELECT * FROM _users WHERE _id = ?", (user_id,)).fetchone()
        if row is None:
            raise EngineError(404, "user_not_found", "User with the requested ID could not be found.")
        return _user_model(row)

    def user_by_email(self, email: str) -> dict | None:
        """The user with this email address (Appwrite stores addresses in lower case), among every user: a lookup,
        not a list call, so it never stops at a page (the sign-in once looked in the first 25 only)."""
        if not email:
            return None
        with self._lock:
            row = self._conn.execute("SELECT * FROM _users WHERE lower(email) = lower(?) ORDER BY _seq LIMIT 1",
                                     (email,)).fetchone()
        return _user_model(row) if row is not None else None


# ---------------------------------------------------------------------------------------------
# Users: the model `GET /v1/users/{id}` and `GET /v1/account` answer.


def _user_model(row: sqlite3.Row) -> dict:
    return {
        "$id": row["_id"], "$createdAt": row["_createdAt"], "$updatedAt": row["_updatedAt"],
        "name": row["name"], "registration": row["_createdAt"], "status": True,
        "labels": json.loads(row["labels"]), "passwordUpdate": "", "email": row["email"],
        "phone": row["phone"], "emailVerification": False, "phoneVerification": False, "mfa": False,
        "prefs": {}, "targets": [], "accessedAt": row["_updatedAt"],
    }
