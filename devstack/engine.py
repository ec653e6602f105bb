"""Appwrite TablesDB row semantics over SQLite: one engine for the unit-test fake and the local stack.

Every Appwrite table is a real SQLite table (one SQL column per Appwrite column plus system
columns), declared indexes are real SQLite indexes, and list queries compile to parameterized
SQL so filtering and sorting large tables uses those indexes. All access goes through one
connection guarded by a lock; writes run in one transaction each, so check-then-write steps
(optimistic concurrency, bounded increments, operators) are atomic.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from devstack.schema import Column, Schema, Table, load_schema

LIMIT_COUNT = 5000  # Appwrite's APP_LIMIT_COUNT: totals saturate here
DEFAULT_LIMIT = 25
MAX_LIMIT = 100_000
MAX_QUERIES = 100
BULK_ANSWER_ROWS = 100  # APP_LIMIT_DATABASE_BATCH (appwrite 1.8.1 app/init/constants.php)
MAX_QUERY_LENGTH = 4096
MAX_QUERY_VALUES = 100
ID_PATTERN = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]{0,35}$")
PERMISSION_PATTERN = re.compile(r'^(read|create|update|delete|write)\("[^"]+"\)$')
SYSTEM_SQL = {"$id": "_id", "$sequence": "_seq", "$createdAt": "_createdAt", "$updatedAt": "_updatedAt"}
UTC = timezone.utc  # not datetime.UTC: the project still targets Python 3.10
ONE_MS = timedelta(milliseconds=1)

log = logging.getLogger(__name__)
Event = dict[str, Any]
Listener = Callable[[Event], None]


class EngineError(Exception):
    """An Appwrite-shaped failure: HTTP code, Appwrite error type, message."""

    def __init__(self, code: int, type: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.type = type
        self.message = message


def _invalid(message: str) -> EngineError:
    return EngineError(400, "row_invalid_structure", f"Invalid document structure: {message}")


def _bad_query(message: str) -> EngineError:
    return EngineError(400, "general_query_invalid", f"Invalid query: {message}")


# ---------------------------------------------------------------------------------------------
# Datetimes: stored as `YYYY-MM-DDTHH:MM:SS.mmm+00:00` (UTC) so text order is time order.


def parse_datetime(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:  # Appwrite reads zone-less datetimes as UTC
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_datetime(moment: datetime) -> str:
    m = moment.astimezone(UTC)
    return (f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}"
            f".{m.microsecond // 1000:03d}+00:00")


def normalize_datetime(value: Any) -> str | None:
    parsed = parse_datetime(value)
    return None if parsed is None else format_datetime(parsed)


def now() -> datetime:
    moment = datetime.now(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def unique_id() -> str:
    return secrets.token_hex(10)


def _q(name: str) -> str:
    """Quote an SQL identifier (names come from the schema, never from values)."""
    return '"' + name.replace('"', '""') + '"'


# ---------------------------------------------------------------------------------------------
# Value validation


def _check_value(column: Column, value: Any) -> Any:
    """Validate one non-null, non-operator value; return it in its Python form."""
    return _CHECKERS[column.kind](column, value)


def _check_string(column: Column, value: Any) -> str:
    if not isinstance(value, str):
        raise _invalid(f'Attribute "{column.key}" has invalid type. Value must be a valid string')
    if column.size is not None and len(value) > column.size:
        raise _invalid(f'Attribute "{column.key}" has invalid type. Value must be a valid string '
                       f"and no longer than {column.size} chars")
    return value


def _check_enum(column: Column, value: Any) -> str:
    if not isinstance(value, str) or value not in column.elements:
        raise _invalid(f'Attribute "{column.key}" has invalid format. Value must be one of '
                       f"({', '.join(column.elements)})")
    return value


def _check_integer(column: Column, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise _invalid(f'Attribute "{column.key}" has invalid type. Value must be a valid integer')
    _check_range(column, value)
    return value


def _check_range(column: Column, value: float) -> None:
    if (column.min is not None and value < column.min) or (column.max is not None and value > column.max):
        raise _invalid(f'Attribute "{column.key}" has invalid format. Value must be a valid range '
                       f"between {column.min} and {column.max}")


def _check_boolean(column: Column, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _invalid(f'Attribute "{column.key}" has invalid type. Value must be a valid boolean')
    return value


def _check_datetime(column: Column, value: Any) -> str:
    normalized = normalize_datetime(value)
    if normalized is None:
        raise _invalid(f'Attribute "{column.key}" has invalid format. Value must be valid date '
                       "in ISO 8601 format")
    return normalized


_CHECKERS: dict[str, Callable[[Column, Any], Any]] = {
    "string": _check_string, "enum": _check_enum, "integer": _check_integer, "boolean": _check_boolean,
    "datetime": _check_datetime}


def _to_sql(column: Column, value: Any) -> Any:
    return int(value) if column.kind == "boolean" and value is not None else value


def _from_sql(column: Column, value: Any) -> Any:
    return bool(value) if column.kind == "boolean" and value is not None else value


# ---------------------------------------------------------------------------------------------
# Atomic operators inside `data`: devstack/operators.py (parsed on update and upsert only, as Appwrite does).


def _identical(new: Any, old: Any) -> bool:
    """PHP's `===` between a value sent and the column's value as read (utopia-php/database 6.0.0
    `Database::updateDocument` compares them so to decide whether anything changed): 1 and 1.0 differ, as do 1
    and true."""
    return type(new) is type(old) and new == old


# ---------------------------------------------------------------------------------------------
# Query compilation


@dataclass
class _Plan:
    filters: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)
    orders: list[tuple[str, str]] = field(default_factory=list)  # (sql column, ASC|DESC)
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None  # cursorAfter's row id
    select: list[str] | None = None


def parse_queries(queries: Iterable[Any] | None) -> list[dict]:
    parsed = []
    items = list(queries or [])
    if len(items) > MAX_QUERIES:
        raise EngineError(400, "general_argument_invalid",
                          f"Invalid `queries` param: Value must a valid array no longer than {MAX_QUERIES} "
                          "items")
    for raw in items:
        if isinstance(raw, dict):
            parsed.append(raw)
            continue
        if not isinstance(raw, str) or len(raw) > MAX_QUERY_LENGTH:
            raise EngineError(400, "general_argument_invalid",
                              f"Invalid `queries` param: each query must be a string of at most "
                              f"{MAX_QUERY_LENGTH} chars")
        try:
            query = json.loads(raw)
        except ValueError:
            raise _bad_query(f"Invalid query: {raw[:100]}") from None
        if not isinstance(query, dict) or not isinstance(query.get("method"), str):
            raise _bad_query(f"Invalid query: {raw[:100]}")
        parsed.append(query)
    return parsed


class _Compiler:
    """Turns parsed Appwrite queries into SQL fragments for one table (values always bound)."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def compile(self, queries: list[dict]) -> _Plan:
        plan = _Plan()
        for query in queries:
            self._one(plan, query)
        return plan

    def _one(self, plan: _Plan, query: dict) -> None:
        method = query["method"]
        values = _values(query)
        if method in ("orderAsc", "orderDesc"):
            direction = "ASC" if method == "orderAsc" else "DESC"
            plan.orders.append((self._sql_column(query.get("attribute"))[0], direction))
        elif method == "limit":
            plan.limit = _int_value(values, "limit", 1, MAX_LIMIT)
        elif method == "cursorAfter":
            if not values or not isinstance(values[0], str) or not values[0]:
                raise _bad_query("Cursor must be a row ID")
            plan.cursor = values[0]
        elif method == "select":
            plan.select = self._select(values)
        else:
            sql, params = self.filter(query)
            plan.filters.append(sql)
            plan.params.extend(params)

    def _select(self, values: list) -> list[str]:
        for name in values:
            if not isinstance(name, str) or (name != "*" and name not in self.table.columns
                                             and name not in SYSTEM_SQL and not name.startswith("$")):
                raise _bad_query(f"Attribute not found in schema: {name}")
        return [str(v) for v in values]

    def _sql_column(self, attribute: Any) -> tuple[str, Column | None]:
        if attribute in SYSTEM_SQL:
            return SYSTEM_SQL[attribute], None
        column = self.table.columns.get(attribute) if isinstance(attribute, str) else None
        if column is None:
            raise _bad_query(f"Attribute not found in schema: {attribute}")
        return _q(column.key), column

    def filter(self, query: dict) -> tuple[str, list]:
        method = query["method"]
        values = _values(query)
        if method == "or":
            return self._any(values)
        handler = _FILTERS.get(method)
        if handler is None:
            raise _bad_query(f"Query method not supported: {method}")
        sql_column, column = self._sql_column(query.get("attribute"))
        if len(values) > MAX_QUERY_VALUES:
            raise _bad_query(f"Query on attribute has more than {MAX_QUERY_VALUES} values")
        attribute = query.get("attribute")
        converted = [None if v is None else self._value(attribute, column, v) for v in values]
        return handler(sql_column, column, converted)

    def _any(self, values: list) -> tuple[str, list]:
        if not values or not all(isinstance(v, dict) and isinstance(v.get("method"), str) for v in values):
            raise _bad_query("or queries require nested queries")
        parts, params = [], []
        for nested in values:
            sql, nested_params = self.filter(nested)
            parts.append(f"({sql})")
            params.extend(nested_params)
        return " OR ".join(parts), params

    def _value(self, attribute: str, column: Column | None, value: Any) -> Any:
        system_kinds = {"_seq": "integer", "_id": "string"}
        kind = column.kind if column else system_kinds.get(SYSTEM_SQL[attribute], "datetime")
        converted = _QUERY_VALUE[kind](value)
        if converted is _INVALID:
            raise _bad_query(f'Query value is invalid for attribute "{attribute}"')
        return converted


_INVALID = object()


def _query_int(value: Any) -> Any:
    if isinstance(value, bool):
        return _INVALID
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value):  # `$sequence` travels as a string
        return int(value)
    return value if isinstance(value, int) else _INVALID


_QUERY_VALUE: dict[str, Callable[[Any], Any]] = {
    "string": lambda v: v if isinstance(v, str) else _INVALID,
    "enum": lambda v: v if isinstance(v, str) else _INVALID,
    "integer": _query_int,
    "boolean": lambda v: int(v) if isinstance(v, bool) else _INVALID,
    "datetime": lambda v: normalize_datetime(v) or _INVALID,
}


def _values(query: dict) -> list:
    values = query.get("values", [])
    return values if isinstance(values, list) else [values]


def _int_value(values: list, name: str, low: int, high: int) -> int:
    value = values[0] if values else None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _bad_query(f"Invalid {name}: Value must be a valid range between {low:,} and {high:,}")
    return value


def _f_equal(col: str, column: Column | None, values: list) -> tuple[str, list]:
    present = [v for v in values if v is not None]
    if not values:
        raise _bad_query("equal queries require at least one value")
    parts = [f"{col} IN ({', '.join('?' * len(present))})"] if present else []
    if len(present) < len(values):
        parts.append(f"{col} IS NULL")
    return " OR ".join(parts), present


def _f_compare(op: str) -> Callable[[str, Column | None, list], tuple[str, list]]:
    def build(col: str, column: Column | None, values: list) -> tuple[str, list]:
        present = [v for v in values if v is not None]
        if not present:
            raise _bad_query("comparison queries require 1 value(s)")
        return f"{col} {op} ?", present[:1]
    return build


# The filters the product's queries use (shared/chat_core); any other method is refused with 400
# general_query_invalid, never answered differently from Appwrite (docs/local-stack.md).
_FILTERS: dict[str, Callable[[str, Column | None, list], tuple[str, list]]] = {
    "equal": _f_equal,
    "lessThan": _f_compare("<"), "lessThanEqual": _f_compare("<="),
    "greaterThan": _f_compare(">"), "greaterThanEqual": _f_compare(">="),
    "isNull": lambda col, column, values: (f"{col} IS NULL", []),
    "isNotNull": lambda col, column, values: (f"{col} IS NOT NULL", []),
}


def _after(col: str, direction: str, value: Any, nullable: bool) -> tuple[str, list]:
    """Rows strictly after `value` in one order column (NULLs sort first ascending, as in MariaDB)."""
    if direction == "ASC":
        return (f"{col} IS NOT NULL", []) if value is None else (f"{col} > ?", [value])
    if value is None:
        return "0", []
    return (f"({col} < ? OR {col} IS NULL)", [value]) if nullable else (f"{col} < ?", [value])


def _keyset(orders: list[tuple[str, str]], cursor_row: sqlite3.Row, not_null: set[str]) -> tuple[str, list]:
    """Keyset condition `row > cursor` for a multi-column order, plus a plain range bound on the
    leading column so SQLite seeks the index instead of scanning up to the cursor."""
    terms, params = [], []
    for i, (col, direction) in enumerate(orders):
        parts, term_params = [], []
        for prev_col, _ in orders[:i]:
            parts.append(f"{prev_col} IS ?")
            term_params.append(cursor_row[prev_col.strip('"')])
        sql, after_params = _after(col, direction, cursor_row[col.strip('"')], col not in not_null)
        parts.append(sql)
        terms.append("(" + " AND ".join(parts) + ")")
        params.extend(term_params + after_params)
    lead_col, lead_dir = orders[0]
    lead_value = cursor_row[lead_col.strip('"')]
    condition = "(" + " OR ".join(terms) + ")"
    if lead_value is None:
        return condition, params
    if lead_dir == "ASC":
        bound = f"{lead_col} >= ?"
    else:
        bound = f"{lead_col} <= ?" if lead_col in not_null else f"({lead_col} <= ? OR {lead_col} IS NULL)"
    return f"{bound} AND {condition}", [lead_value, *params]


# ---------------------------------------------------------------------------------------------
# The engine


class Engine:
    """Rows and users in SQLite with Appwrite's REST semantics; dicts in, dicts out."""

    def __init__(self, schema: Schema | str | Path, path: str | Path = ":memory:") -> None:
        self.schema = schema if isinstance(schema, Schema) else load_schema(schema)
        self._lock = threading.RLock()
        self._listeners: list[Listener] = []
        self._batch = False  # inside `atomic()` (devstack/transactions.py's commit)
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
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
            columns = [f"{_q(c.key)} {self._sql_type(c)}" for c in table.columns.values()]
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
                self._conn.execute(f"ALTER TABLE {name} ADD COLUMN {_q(column.key)} {self._sql_type(column)}")

    def _create_indexes(self, table: Table, name: str) -> None:
        base = f"{table.database_id}_{table.id}"
        for system in ("_createdAt", "_updatedAt"):
            self._conn.execute(f"CREATE INDEX IF NOT EXISTS {_q(f'_{base}_{system}')} ON {name} ({system})")
        for index in table.indexes:
            pairs = zip(index.columns, index.orders, strict=True)
            parts = [f"{SYSTEM_SQL.get(c, _q(c))} {o}" for c, o in pairs]
            unique = "UNIQUE " if index.type == "unique" else ""
            self._conn.execute(f"CREATE {unique}INDEX IF NOT EXISTS {_q(f'{base}_{index.key}')} "
                               f"ON {name} ({', '.join(parts)})")

    @staticmethod
    def _sql_table(table: Table) -> str:
        return _q(f"{table.database_id}__{table.id}")

    @staticmethod
    def _sql_type(column: Column) -> str:
        return "INTEGER" if column.kind in ("integer", "boolean") else "TEXT"

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
                out[column.key] = _from_sql(column, row[column.key])
        return out

    def _event(self, table: Table, action: str, row: dict) -> Event:
        return {"databaseId": table.database_id, "tableId": table.id, "rowId": row["$id"],
                "action": action, "row": row}

    # -- row API ----------------------------------------------------------------------------

    def get_row(self, database_id: str, table_id: str, row_id: str,
                queries: Iterable[Any] | None = None) -> dict:
        table = self.table(database_id, table_id)
        select = _Compiler(table).compile(parse_queries(queries)).select
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
        from devstack import operators
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
        from devstack import operators
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
        plan = _Compiler(table).compile(parsed)
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
            _check_range(column, result)
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
        plan = _Compiler(table).compile(parse_queries(queries))
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
            raise _invalid("Value must be a valid object")
        values, system = {}, {}
        for key, value in data.items():
            if key.startswith("$"):
                system[key] = value
            elif key not in table.columns:
                raise _invalid(f'Unknown attribute: "{key}"')
            else:
                values[key] = value
        perms = permissions if permissions is not None else system.get("$permissions")
        system["$permissions"] = None if perms is None else _check_permissions(perms)
        return values, system

    def _insert(self, table: Table, row_id: str, data: Any, permissions: list[str] | None,
                render: bool = True) -> dict:
        values, system = self._split_data(table, data, permissions)
        stored: dict[str, Any] = {}
        for column in table.columns.values():
            stored[column.key] = self._resolve(column, values, column.default, creating=True)
        created = _system_time(system, "$createdAt") or format_datetime(now())
        updated = _system_time(system, "$updatedAt") or created
        cols = ["_id", "_createdAt", "_updatedAt", "_permissions", *(_q(k) for k in stored)]
        params = [row_id, created, updated, json.dumps(system["$permissions"] or []),
                  *(_to_sql(table.columns[k], v) for k, v in stored.items())]
        marks = ", ".join("?" * len(cols))
        sql = f"INSERT INTO {self._sql_table(table)} ({', '.join(cols)}) VALUES ({marks})"
        try:
            self._conn.execute(sql, params)
        except sqlite3.IntegrityError as exc:
            raise _duplicate(exc) from None
        return self._render(table, self._require(table, row_id)) if render else {}

    def _resolve(self, column: Column, values: dict, current: Any, creating: bool) -> Any:
        """The value to store for one column: given value, operator applied to `current`, or default."""
        if column.key not in values:
            if creating and column.required:
                raise _invalid(f'Missing required attribute "{column.key}"')
            return current
        value = values[column.key]
        if value is None:
            if column.required:
                raise _invalid(f'Missing required attribute "{column.key}"')
            return None
        from devstack import operators  # imports this module: loaded on first use
        if isinstance(value, operators.Op):  # only update and upsert parse operators (operators.py)
            operators.check(column, value, current)
            return operators.apply(column, value, current)
        return _check_value(column, value)

    def _update(self, table: Table, old: sqlite3.Row, data: Any, permissions: list[str] | None,
                since: datetime | None) -> dict:
        from devstack import operators
        values, system = self._split_data(table, data, permissions)
        changes, changed = {}, False
        for key, value in values.items():
            column = table.columns[key]
            current = _from_sql(column, old[key])
            changes[key] = self._resolve(column, values, current, creating=False)
            changed = changed or isinstance(value, operators.Op) or not _identical(value, current)
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
        sets = {"_updatedAt": _system_time(system, "$updatedAt") or format_datetime(bumped)}
        if system.get("$createdAt") is not None:
            sets["_createdAt"] = _system_time(system, "$createdAt")
        if system.get("$permissions") is not None:
            sets["_permissions"] = json.dumps(system["$permissions"])
        for key, value in changes.items():
            sets[_q(key)] = _to_sql(table.columns[key], value)
        assignments = ", ".join(f"{col} = ?" for col in sets)
        try:
            self._conn.execute(f"UPDATE {self._sql_table(table)} SET {assignments} WHERE _seq = ?",
                               [*sets.values(), old["_seq"]])
        except sqlite3.IntegrityError as exc:
            raise _duplicate(exc) from None
        return self._render(table, self._require(table, old["_id"]))

    # -- list helpers -----------------------------------------------------------------------

    def _select(self, table: Table, plan: _Plan) -> list[sqlite3.Row]:
        sql, params = self._select_sql(table, plan)
        return self._conn.execute(sql, params).fetchall()

    def _select_sql(self, table: Table, plan: _Plan) -> tuple[str, list]:
        orders = list(plan.orders)
        if not any(col == "_seq" for col, _ in orders):
            orders.append(("_seq", "ASC"))  # tie-break, as Appwrite does, so paging is stable
        where, params = list(plan.filters), list(plan.params)
        if plan.cursor is not None:
            cursor_row = self._fetch(table, plan.cursor)
            if cursor_row is None:
                raise EngineError(400, "general_cursor_not_found", "Cursor row not found.")
            sql, cursor_params = _keyset(orders, cursor_row, self._not_null(table))
            where.append(sql)
            params.extend(cursor_params)
        order_sql = ", ".join(f"{c} {d}" for c, d in orders)
        where_sql = " AND ".join(f"({w})" for w in where) or "1"
        sql = f"SELECT * FROM {self._sql_table(table)} WHERE {where_sql} ORDER BY {order_sql} LIMIT ?"
        return sql, [*params, plan.limit]

    @staticmethod
    def _not_null(table: Table) -> set[str]:
        required = {_q(c.key) for c in table.columns.values() if c.required}
        return required | {"_id", "_seq", "_createdAt", "_updatedAt"}

    def _count(self, table: Table, plan: _Plan) -> int:
        where_sql = " AND ".join(f"({w})" for w in plan.filters) or "1"
        sql = f"SELECT COUNT(*) FROM (SELECT 1 FROM {self._sql_table(table)} WHERE {where_sql} LIMIT ?)"
        return self._conn.execute(sql, [*plan.params, LIMIT_COUNT]).fetchone()[0]

    def explain(self, database_id: str, table_id: str, queries: Iterable[Any] | None = None) -> list[str]:
        """SQLite's query plan for a list call (to check that a query uses an index)."""
        table = self.table(database_id, table_id)
        plan = _Compiler(table).compile(parse_queries(queries))
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


def _system_time(system: dict, key: str) -> str | None:
    value = system.get(key)
    if value is None:
        return None
    normalized = normalize_datetime(value)
    if normalized is None:
        raise _invalid(f'Attribute "{key}" has invalid format. Value must be valid date in ISO 8601 format')
    return normalized


def _check_permissions(permissions: Any) -> list[str]:
    if not isinstance(permissions, list) or not all(
            isinstance(p, str) and PERMISSION_PATTERN.match(p) for p in permissions):
        raise EngineError(400, "general_argument_invalid",
                          "Invalid `permissions` param: Permissions must be an array of strings like "
                          'read("any")')
    return list(dict.fromkeys(permissions))


def _duplicate(exc: sqlite3.IntegrityError) -> EngineError:
    if "._id" in str(exc):
        return EngineError(409, "row_already_exists",
                           "Row with the requested ID already exists. Try again with a different ID or use "
                           "ID.unique() to generate a unique ID.")
    return EngineError(409, "row_already_exists",
                       "Row with the requested unique column values already exists.")


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
