"""Reads through a TablesDB transaction on the local stack (``devstack.transactions``).
Paths below are in appwrite/appwrite (1.9.6 line) unless they name utopia-php/database (7.2.x);
`Transactions/` is `src/Appwrite/Platform/Modules/Databases/Http/Databases/Transactions/` (the TablesDB routes in
`.../Http/TablesDB/Transactions/` subclass them), `Documents/` is `.../Http/Databases/Collections/Documents/`.

- A read with `transactionId` sees the staged writes overlaid on the committed rows
  (`src/Appwrite/Databases/TransactionState.php`), with that file's quirks kept: staged increments are invisible (it
  reads `data['attribute']`, TablesDB stages `data['column']`, lines 422-447), a staged row is shown as staged (raw
  values, no `$sequence`/`$createdAt`), a list adds created and upserted rows whatever its filters say.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from devstack.engine import EngineError, parse_queries
from devstack.transactions_model import Request, Response, Transaction, _error, _json


class State:
    """The reads of ``Transactions`` (a mixin: the stack's transactions and engine are the class's)."""

    # -- reads through a transaction (src/Appwrite/Databases/TransactionState.php) -----------------

    def _read_row(self, r: Request, transaction_id: str, db: str, table: str) -> Response:
        """TransactionState::getDocument (lines 50-92) behind Documents/Get.php 108-110."""
        row = self._row_in(self._transactions.get(transaction_id), db, table, r.segments[5], r.queries())
        if row is None:
            raise _error(404, "row_not_found", f"Row with the requested ID '{r.segments[5]}' could not be found.")
        return _json(200, row)

    def _read_list(self, r: Request, transaction_id: str, db: str, table: str) -> Response:
        """TransactionState::listDocuments (106-155) and countDocuments (169-223) behind Documents/XList.php 151-154:
        the committed page, then the staged rows over it."""
        queries = r.queries()
        include_total = r.flag("total")
        committed = self.engine.list_rows(db, table, queries, total=include_total)
        staged = self._state(self._transactions.get(transaction_id)).get((db, table))
        if not staged:
            return _json(200, committed)
        parsed = parse_queries(queries)
        filters = [q for q in parsed if q["method"] not in (
            "limit", "offset", "cursorAfter", "cursorBefore", "select", "orderAsc", "orderDesc")]
        rows = {row["$id"]: row for row in committed["rows"]}
        page = set(rows)
        total = committed["total"]
        for row_id, entry in staged.items():
            if not entry["exists"]:
                rows.pop(row_id, None)
                total -= row_id in page
            elif entry["action"] == "create":
                rows[row_id] = _project(_mock(db, table, row_id, entry["data"]), parsed)
                total += _matches(entry["data"], filters)
            elif row_id in rows:  # update or upsert of a row on the page
                rows[row_id] = _project({**rows[row_id], **_without_id(entry["data"])}, parsed)
                total -= not _matches(entry["data"], filters)
            elif entry["action"] == "upsert":
                rows[row_id] = _project(_mock(db, table, row_id, entry["data"]), parsed)
                total += _matches(entry["data"], filters)
        return _json(200, {"total": max(0, total) if include_total else 0, "rows": list(rows.values())})

    def _row_in(self, transaction: Transaction | None, db: str, table: str, row_id: Any,
                queries: list[str] | None = None) -> dict | None:
        """The row as the transaction sees it, or None (TransactionState::getDocument)."""
        if not isinstance(row_id, str):
            return None
        entry = self._state(transaction).get((db, table), {}).get(row_id)
        committed = self._committed(db, table, row_id, queries)
        if entry is None:
            return committed
        parsed = parse_queries(queries)
        if not entry["exists"]:
            return None
        if entry["action"] == "create" or (committed is None and entry["action"] == "upsert"):
            return _project(_mock(db, table, row_id, entry["data"]), parsed)
        if committed is None:
            return None
        return _project({**committed, **_without_id(entry["data"])}, parsed)

    def _committed(self, db: str, table: str, row_id: str, queries: list[str] | None = None) -> dict | None:
        try:
            return self.engine.get_row(db, table, row_id, queries)
        except EngineError as exc:
            if exc.code == 404:
                return None
            raise

    def _state(self, transaction: Transaction | None) -> dict[tuple[str, str], dict[str, dict]]:
        """TransactionState::getTransactionState (339-545): the staged operations replayed, per table and row.
        A transaction that is missing or no longer pending has none (reads see the committed rows)."""
        state: dict[tuple[str, str], dict[str, dict]] = {}
        if transaction is None or transaction.status != "pending":
            return state
        for op in transaction.operations:
            rows = state.setdefault((op.database_id, op.table_id), {})
            data = op.data if isinstance(op.data, dict) else {}
            if op.action in ("create", "upsert"):
                rows[op.row_id or ""] = {"action": op.action, "data": {**data, "$id": op.row_id}, "exists": True}
            elif op.action == "update":
                entry = rows.get(op.row_id or "")
                if entry and entry["exists"]:
                    entry["data"].update(_without_id(data))
                else:
                    rows[op.row_id or ""] = {"action": "update", "data": dict(data), "exists": True}
            elif op.action == "delete":
                rows[op.row_id or ""] = {"action": "delete", "data": {}, "exists": False}
            elif op.action == "bulkCreate":  # TransactionState.php 449-462: each row as a create
                for row in op.data if isinstance(op.data, list) else []:
                    if isinstance(row, dict) and row.get("$id"):
                        rows[row["$id"]] = {"action": "create", "data": dict(row), "exists": True}
            elif op.action == "bulkDelete":
                filters = parse_queries(data.get("queries", []))
                for row_id, entry in rows.items():
                    if entry["exists"] and _matches(entry["data"], filters):
                        rows[row_id] = {"action": "delete", "data": {}, "exists": False}
            # increment/decrement: TransactionState reads `data['attribute']`; TablesDB stages `column` (422-447)
        return state


def _without_id(data: Mapping[str, Any]) -> dict:
    return {k: v for k, v in data.items() if k != "$id"}


def _mock(db: str, table: str, row_id: str, data: Mapping[str, Any]) -> dict:
    """A row that is only staged, as the Row response model fills it (missing system fields are empty)."""
    row = {"$id": row_id, "$sequence": "", "$tableId": table, "$databaseId": db, "$createdAt": "",
           "$updatedAt": "", "$permissions": []}
    row.update(data)
    row["$id"], row["$tableId"], row["$databaseId"] = row_id, table, db
    return row


def _project(row: dict, queries: list[dict]) -> dict:
    """TransactionState::applyProjection (554-597): `select` keeps the system fields and the selected columns."""
    selected = [v for q in queries if q["method"] == "select" for v in q.get("values", [])]
    if not selected or "*" in selected:
        return row
    return {k: v for k, v in row.items() if k.startswith("$") or k in selected}


def _matches(row: Mapping[str, Any], filters: list[dict]) -> bool:
    """TransactionState::documentMatchesFilters (632-740): the methods it knows; any other passes."""
    for query in filters:
        try:
            ok = _match_one(query["method"], row.get(query.get("attribute", "")), query.get("values", []))
        except (TypeError, IndexError):  # PHP compares null and mixed types; here a missing bound never matches
            ok = False
        if not ok:
            return False
    return True


def _match_one(method: str, value: Any, values: list) -> bool:
    if method in ("equal", "notEqual"):
        return (value in values) == (method == "equal")
    if method == "contains":
        return isinstance(value, list) and any(v in value for v in values)
    if method in ("startsWith", "endsWith"):
        test = str.startswith if method == "startsWith" else str.endswith
        return isinstance(value, str) and any(test(value, str(v)) for v in values)
    if method in ("isNull", "isNotNull"):
        return (value is None) == (method == "isNull")
    compare = {"greaterThan": lambda a, b: a > b, "greaterThanEqual": lambda a, b: a >= b,
               "lessThan": lambda a, b: a < b, "lessThanEqual": lambda a, b: a <= b}.get(method)
    if compare is not None:
        return compare(value, values[0])
    if method == "between":
        return values[0] <= value <= values[1]
    return True
