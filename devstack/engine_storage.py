"""The SQL side of the local stack's row engine (``devstack.engine``): every Appwrite table a real SQLite table (one
SQL column per Appwrite column plus system columns), declared indexes real SQLite indexes (a fulltext index is matched
row by row, ``devstack/fulltext.py``), a row read back as Appwrite's Row model, and a list compiled to parameterized
SQL (``devstack/queries.py``) ordered and paged as Appwrite pages it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from typing import Any

from devstack.queries import SYSTEM_SQL, Compiler, Plan, keyset, parse_queries
from devstack.schema import Column, Schema, Table
from devstack.values import EngineError, from_sql, quote

LIMIT_COUNT = 5000  # Appwrite's APP_LIMIT_COUNT: totals saturate here


class Storage:
    """The SQL tables, indexes, reads and list queries of ``Engine`` (a mixin: the connection, the lock and the
    schema are the engine's)."""

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
