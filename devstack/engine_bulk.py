"""The bulk row writes of the local stack's row engine (``devstack.engine``): ``createRows``, ``upsertRows`` and
``deleteRows`` as Appwrite serves them (each method names its upstream file), and a fast setup insert for tests.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from devstack import operators
from devstack.queries import Compiler, parse_queries
from devstack.values import EngineError, format_datetime, invalid

BULK_ANSWER_ROWS = 100  # APP_LIMIT_DATABASE_BATCH (appwrite 1.8.1 app/init/constants.php)
Event = dict[str, Any]


class Bulk:
    """The bulk writes of ``Engine`` (a mixin: ``table``, ``_write`` and the write helpers are the engine's)."""

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
        stamp = format_datetime(self._now())
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
        (APP_LIMIT_DATABASE_BATCH). Each row's atomic operators are parsed (``parseOperators``, called per row
        there) and applied as on an update, or, on a row the upsert creates, to the column's default without their
        bound (``operators.apply_created``). The answer holds the rows as they stand after the commit
        (utopia-php/database 7.2.6 ``Database::upsertDocumentsWithIncrease`` refetches a batch with operators after
        its transaction, ``refetchDocuments``): here the engine's lock serializes writes, so that is each row as its
        own write left it."""
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
