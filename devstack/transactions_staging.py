"""Staging writes in a TablesDB transaction on the local stack (``devstack.transactions``).
Paths below are in appwrite/appwrite (1.9.6 line) unless they name utopia-php/database (7.2.x);
`Transactions/` is `src/Appwrite/Platform/Modules/Databases/Http/Databases/Transactions/` (the TablesDB routes in
`.../Http/TablesDB/Transactions/` subclass them), `Documents/` is `.../Http/Databases/Collections/Documents/`.

- A write with `transactionId` is staged, not applied: the row routes and `createOperations` record it with the
  moment it was staged, and answer a mock row built from the request (`Documents/Create.php` 396-464, `Update.php`
  258-322, `Upsert.php` 266-328, `Delete.php` 139-192, `Attribute/Increment.php` 110-174, `Attribute/Decrement.php`,
  `Bulk/Delete.php` 121-167, `Transactions/Operations/Create.php` 72-255). Nothing is validated against the table's
  columns until the commit.
- Each operation of `createOperations` has the shape of `src/Appwrite/Utopia/Database/Validator/Operation.php`
  (type `tablesdb`).
"""

from __future__ import annotations

from typing import Any

from devstack import creates
from devstack.transactions_model import (
    BULK_ACTIONS,
    NON_PENDING,
    ROW_ACTIONS,
    SERVED_BULK,
    Operation,
    Request,
    Response,
    _bad_request,
    _error,
    _json,
)
from devstack.transactions_state import _mock


class Staging:
    """The staging routes of ``Transactions`` (a mixin: the stack's transactions, engine and clock are the
    class's)."""

    def _add_operations(self, r: Request) -> Response:
        """Transactions/Operations/Create.php 72-255 (`createOperations`); each operation's shape is
        src/Appwrite/Utopia/Database/Validator/Operation.php (type `tablesdb`)."""
        operations = r.param("operations", [])
        if not isinstance(operations, list):
            raise _error(400, "general_argument_invalid", "Invalid `operations` param: Value must a valid array")
        for operation in operations:
            problem = _operation_problem(operation)
            if problem:
                raise _error(400, "general_argument_invalid",
                             f"Invalid `operations` param: Value must a valid array and {problem}")
        if not operations:
            raise _bad_request("Operations array cannot be empty")
        transaction = self._find(r.segments[2])
        if transaction.status != "pending":
            raise _bad_request(NON_PENDING)
        self._check_expiry(transaction)
        self._check_room(transaction, len(operations))
        staged, created = [], set()
        for operation in operations:
            action, db, table = operation["action"], operation["databaseId"], operation["tableId"]
            if db not in self.engine.schema.databases:
                raise _error(404, "database_not_found", f"Database with the requested ID '{db}' could not be found.")
            if (db, table) not in self.engine.schema.tables:
                raise _error(404, "collection_not_found",
                             f"Collection with the requested ID '{table}' could not be found.")
            if action in BULK_ACTIONS and action not in SERVED_BULK:
                raise _bad_request(f"{action} is not served by the local stack inside a transaction")
            row_id = operation.get("rowId")
            current = None
            if action in ("update", "delete", "upsert", "increment", "decrement"):
                current = self._row_in(transaction, db, table, row_id)
                if current is None and (db, table, row_id) not in created and action != "upsert":
                    raise _error(404, "document_not_found",
                                 f"Document with the requested ID '{row_id}' could not be found.")
            if action == "create" and row_id:
                created.add((db, table, row_id))
            data = operation.get("data", [])
            staged.append(Operation(action, db, table, row_id, data if data != [] else {},
                                    self._staging_moment(current)))
        self._append(transaction, staged)
        return _json(201, transaction.model())

    # -- staging from the row routes ---------------------------------------------------------------

    def _stage_create(self, r: Request, transaction_id: str, db: str, table: str) -> Response:
        """Documents/Create.php 396-464, after the same parameter checks as the direct create (devstack/creates.py):
        the row IDs are chosen now, the data checked at the commit; one row: 201, a mock row; `rows`: one
        `bulkCreate` operation, 200 `{"rows": [], "total": n}` (`dynamic` sets no status)."""
        row_id, data, rows = creates.create_form(r.param)
        if rows is not None:
            rows = [{**row, "$id": self.engine._new_id(row.get("$id", "unique()"))} for row in rows]
            transaction = self._pending(transaction_id)
            self._append(transaction, [Operation("bulkCreate", db, table, None, rows, self.clock())])
            return _json(200, {"rows": [], "total": len(rows)})
        row_id = self.engine._new_id(row_id)
        if not isinstance(data, dict):
            raise _error(400, "general_argument_invalid", "Invalid `data` param: Value must be a valid object")
        data = {**data, "$id": row_id}
        if r.param("permissions") is not None:
            data["$permissions"] = r.param("permissions")
        transaction = self._pending(transaction_id)
        self._append(transaction, [Operation("create", db, table, row_id, data, self.clock())])
        return _json(201, _mock(db, table, row_id, data))

    def _stage_update(self, r: Request, transaction_id: str, db: str, table: str) -> Response:
        """Documents/Update.php 98-322: the row must exist as the transaction sees it (404 first), then the
        transaction's checks; the operators in `data` are parsed at the commit, not now (lines 121-123, and
        Transactions/Update.php 240-242)."""
        row_id, data, permissions = r.segments[5], r.param("data") or {}, r.param("permissions")
        if not isinstance(data, dict):
            raise _error(400, "general_argument_invalid", "Invalid `data` param: Value must be a valid object")
        if not data and permissions is None:
            raise _error(400, "row_missing_payload", "The row data and permissions are missing. You must provide "
                         "either row data or permissions to be updated.")
        current = self._require_row(transaction_id, db, table, row_id)
        data = {**data, "$id": row_id,
                "$permissions": permissions if permissions is not None else current.get("$permissions", [])}
        transaction = self._pending(transaction_id)
        self._append(transaction, [Operation("update", db, table, row_id, data, self._staging_moment(current))])
        return _json(200, _mock(db, table, row_id, {**current, **data}))

    def _stage_upsert(self, r: Request, transaction_id: str, db: str, table: str) -> Response:
        """Documents/Upsert.php 122-328: no existence check; 201 with the request as the row."""
        row_id, data, permissions = r.segments[5], r.param("data") or {}, r.param("permissions")
        if not isinstance(data, dict):
            raise _error(400, "general_argument_invalid", "Invalid `data` param: Value must be a valid object")
        current = self._row_in(self._transactions.get(transaction_id), db, table, row_id)
        if permissions is None:
            permissions = current.get("$permissions", []) if current else []
        data = {**data, "$id": row_id, "$permissions": permissions}
        transaction = self._pending(transaction_id)
        self._append(transaction, [Operation("upsert", db, table, row_id, data, self._staging_moment(current))])
        return _json(201, _mock(db, table, row_id, data))

    def _stage_delete(self, r: Request, transaction_id: str, db: str, table: str) -> Response:
        """Documents/Delete.php 128-192: 404 if the transaction no longer sees the row; 204."""
        row_id = r.segments[5]
        current = self._require_row(transaction_id, db, table, row_id)
        transaction = self._pending(transaction_id)
        self._append(transaction, [Operation("delete", db, table, row_id, {}, self._staging_moment(current))])
        return 204, {"content-type": "text/plain; charset=UTF-8"}, b""

    def _stage_bump(self, r: Request, transaction_id: str, db: str, table: str) -> Response:
        """Attribute/Increment.php 110-174 and Decrement.php: a missing or settled transaction is 400
        `general_bad_request` here (not 404), the row is not looked at, and the answer holds the step, not the sum."""
        row_id, column, action = r.segments[5], r.segments[6], r.segments[7]
        value = r.param("value", 1)
        bound_name = "max" if action == "increment" else "min"
        bound = r.param(bound_name)
        for name, number in (("value", value), (bound_name, bound)):
            if number is not None and (isinstance(number, bool) or not isinstance(number, (int, float))):
                raise _error(400, "general_argument_invalid", f"Invalid `{name}` param: Value must be a valid number")
        transaction = self._transactions.get(transaction_id)
        if transaction is None or transaction.status != "pending":
            raise _bad_request(NON_PENDING)
        self._check_expiry(transaction)
        self._check_room(transaction, 1)
        data = {"column": column, "value": value, bound_name: bound}
        current = self._row_in(transaction, db, table, row_id)
        self._append(transaction, [Operation(action, db, table, row_id, data, self._staging_moment(current))])
        return _json(200, _mock(db, table, row_id, {column: value}))

    def _stage_bulk_delete(self, r: Request, transaction_id: str, db: str, table: str) -> Response:
        """Bulk/Delete.php 113-167: queries checked now, no expiry check at staging (the commit has one); 200
        `{"rows": [], "total": 0}`."""
        queries = r.queries()
        self.engine.list_rows(db, table, [*queries, '{"method":"limit","values":[1]}'], total=False)  # 400 if bad
        transaction = self._transactions.get(transaction_id)
        if transaction is None or transaction.status != "pending":
            raise _bad_request(NON_PENDING)
        self._check_room(transaction, 1)
        self._append(transaction, [Operation("bulkDelete", db, table, None, {"queries": queries}, self.clock())])
        return _json(200, {"total": 0, "rows": []})


def _operation_problem(value: Any) -> str | None:
    """src/Appwrite/Utopia/Database/Validator/Operation.php::isValid (100-214), type `tablesdb`."""
    if not isinstance(value, dict):
        return "Value must be an array"
    required = ("databaseId", "action", "tableId")
    for key in required:
        if key not in value:
            return f"Missing required key: {key}"
    for key in required:
        if not isinstance(value[key], str) or not value[key].strip():
            return f"Key '{key}' must be a non\u2011empty string"
    action = value["action"]
    if action not in ROW_ACTIONS + BULK_ACTIONS:
        return "Key 'action' must be one of: " + ", ".join(ROW_ACTIONS + BULK_ACTIONS)
    if action in ROW_ACTIONS and "rowId" not in value:
        return f"Key 'rowId' is required for action '{action}'"
    if "rowId" in value and (not isinstance(value["rowId"], str) or not value["rowId"].strip()):
        return "Key 'rowId' must be a non-empty string"
    data = value.get("data")
    if action != "delete" and "data" not in value:
        return "Missing required key: data"
    if "data" in value and not isinstance(data, (dict, list)):
        return "Key 'data' must be an array"
    if action in ("bulkUpdate", "bulkDelete"):
        if not isinstance(data, dict) or "queries" not in data:
            return f"Key 'queries' is required in data for {action}"
        if not isinstance(data["queries"], list):
            return f"Key 'queries' must be an array for {action}"
    if action == "bulkUpdate" and not isinstance(data.get("data"), (dict, list)):
        return f"Key 'data' is required in data for {action}"
    if action in ("increment", "decrement"):
        if not isinstance(data, dict) or "column" not in data:
            return f"Key 'column' is required in data for {action}"
        step = data.get("value", 1)
        if "value" in data and (isinstance(step, bool) or not isinstance(step, (int, float))):
            return f"Key 'value' must be a numeric value for {action}"
    return None
