"""The commit of a TablesDB transaction on the local stack (``devstack.transactions``).
Paths below are in appwrite/appwrite (1.9.6 line) unless they name utopia-php/database (7.2.x);
`Transactions/` is `src/Appwrite/Platform/Modules/Databases/Http/Databases/Transactions/` (the TablesDB routes in
`.../Http/TablesDB/Transactions/` subclass them), `Documents/` is `.../Http/Databases/Collections/Documents/`.

- The commit (`Transactions/Update.php` 148-348) replays the operations in one database transaction: a create, or a
  write to a row that an earlier operation of the same transaction touched, is applied as is; any other update,
  upsert or delete runs under `withRequestTimestamp(<the moment it was staged>)`, so it fails with 409
  `transaction_conflict` if the row's `$updatedAt` is later (utopia-php/database `src/Database/Database.php` 6453,
  7552, 7890). Increments and decrements are not checked (`increaseDocumentAttribute`, 7661-7757, never reads the
  timestamp) but their bounds are. Reads are not recorded, so rows only read are never checked. Any failure rolls
  everything back and leaves the transaction `failed`. Events follow the commit (`Update.php` 357-508).
"""

from __future__ import annotations

import json
from datetime import datetime

from devstack.engine import MAX_LIMIT, EngineError, Event, format_datetime, parse_datetime, parse_queries
from devstack.transactions_model import BULK_ACTIONS, CONFLICT, Operation, Transaction, _error


class Commit:
    """The commit of ``Transactions`` (a mixin: the stack's engine and the status changes are the class's)."""

    # -- the commit ------------------------------------------------------------------------------

    def _commit(self, transaction: Transaction) -> list[Event]:
        """Transactions/Update.php 195-348 (the replay and its errors); answers the events to send (357-508)."""
        self._set_status(transaction, "committing")
        touched: set[tuple[str, str, str]] = set()
        deleted: dict[int, dict] = {}
        try:
            with self.engine.atomic():
                for index, op in enumerate(transaction.operations):
                    removed = self._replay(op, touched)
                    if removed is not None:
                        deleted[index] = removed
        except EngineError as exc:
            self._set_status(transaction, "failed")
            raise _commit_error(exc, transaction) from None
        except BaseException:
            self._set_status(transaction, "failed")
            raise
        self._set_status(transaction, "committed")
        return self._events(transaction, deleted)

    def _replay(self, op: Operation, touched: set[tuple[str, str, str]]) -> dict | None:
        """One operation inside the commit; a delete answers the row it removed (for its event)."""
        e, db, table, data = self.engine, op.database_id, op.table_id, op.data
        key = (db, table, op.row_id or "")
        dependent = key in touched  # an earlier operation of this transaction wrote the row: no timestamp check
        since = None if dependent else format_datetime(op.staged_at)
        touched.add(key)
        if op.action == "create":
            e.create_row(db, table, op.row_id or "unique()", {k: v for k, v in data.items() if k != "$id"})
        elif op.action == "update":
            e.update_row(db, table, op.row_id or "", data, timestamp=since)
        elif op.action == "upsert":
            old = self._committed(db, table, op.row_id or "")
            if old is not None and since is not None and _later(old["$updatedAt"], op.staged_at):
                raise _error(409, "row_update_conflict", "Remote row is newer than local.")
            e.upsert_row(db, table, op.row_id or "", data)
        elif op.action == "delete":
            old = e.get_row(db, table, op.row_id or "")
            e.delete_row(db, table, op.row_id or "", timestamp=since)
            return old
        elif op.action in ("increment", "decrement"):
            column, value = data.get("column", ""), data.get("value", 1)
            if op.action == "increment":
                e.increment_row_column(db, table, op.row_id or "", column, value, data.get("max"))
            else:
                e.decrement_row_column(db, table, op.row_id or "", column, value, data.get("min"))
        elif op.action == "bulkCreate":  # Update.php 817-839: createDocuments, one insert for all the rows
            created = e.create_rows(db, table, data)["rows"]
            touched.update((db, table, row["$id"]) for row in created)
        elif op.action == "bulkDelete":
            self._replay_bulk_delete(op, touched)
        return None

    def _replay_bulk_delete(self, op: Operation, touched: set[tuple[str, str, str]]) -> None:
        """Update.php 977-1009: every matching row not written earlier in the transaction must be older than the
        staging moment."""
        queries = list(op.data.get("queries", []))
        listing = queries if any(q["method"] == "limit" for q in parse_queries(queries)) else \
            [*queries, json.dumps({"method": "limit", "values": [MAX_LIMIT]})]
        for row in self.engine.list_rows(op.database_id, op.table_id, listing, total=False)["rows"]:
            key = (op.database_id, op.table_id, row["$id"])
            if key not in touched and _later(row["$updatedAt"], op.staged_at):
                raise _error(409, "row_update_conflict", "Remote row is newer than local.")
        self.engine.delete_rows(op.database_id, op.table_id, queries)

    def _events(self, transaction: Transaction, deleted: dict[int, dict]) -> list[Event]:
        """Update.php 357-508: per operation, after the commit, the row as it is now (create; update, increment,
        decrement and upsert as `update`), a delete with the row it removed; bulk operations send none."""
        events: list[Event] = []
        for index, op in enumerate(transaction.operations):
            if op.action in BULK_ACTIONS:
                continue
            if op.action == "delete":
                row: dict | None = deleted.get(index)
            else:
                row_id = op.row_id or (op.data.get("$id") if isinstance(op.data, dict) else None)
                row = self._committed(op.database_id, op.table_id, row_id) if row_id else None
            if row is not None:
                action = op.action if op.action in ("create", "delete") else "update"
                events.append({"databaseId": op.database_id, "tableId": op.table_id, "rowId": row["$id"],
                               "action": action, "row": row})
        return events


def _commit_error(exc: EngineError, transaction: Transaction) -> EngineError:
    """Update.php 312-348: what each failure of the replay answers (document_* names even on TablesDB)."""
    if exc.code == 409:  # a stale row (ConflictException) or a duplicate ID or unique value (DuplicateException)
        return _error(409, *CONFLICT)
    if exc.type in ("row_not_found", "column_not_found"):  # utopia's NotFoundException, for a row or a column
        return _error(404, "document_not_found", "Document with the requested ID could not be found.")
    if exc.type == "row_invalid_structure":
        return _error(400, "document_invalid_structure", exc.message)
    if exc.type == "column_limit_exceeded":  # a staged increment or decrement past its bound (LimitException)
        return _error(400, "attribute_limit_exceeded", exc.message)
    return exc


def _later(updated_at: str, moment: datetime) -> bool:
    parsed = parse_datetime(updated_at)
    return parsed is not None and parsed > moment
