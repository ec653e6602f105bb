"""TablesDB transactions (`/v1/tablesdb/transactions...` and `transactionId` on the row routes), as Appwrite 1.9.6
implements them. Paths below are in appwrite/appwrite (1.9.6 line) unless they name utopia-php/database (7.2.x);
`Transactions/` is `src/Appwrite/Platform/Modules/Databases/Http/Databases/Transactions/` (the TablesDB routes in
`.../Http/TablesDB/Transactions/` subclass them), `Documents/` is `.../Http/Databases/Collections/Documents/`.

- A transaction is `{$id, $createdAt, $updatedAt, status, operations, expiresAt}`
  (`src/Appwrite/Utopia/Response/Model/Transaction.php`); `ttl` 60-3600 s, default 300
  (`app/init/constants.php` APP_DATABASE_TXN_TTL_*, lines 77-79). At most 100 operations
  (APP_LIMIT_DATABASE_TRANSACTION, line 50, the constant every staging route reads; APP_DATABASE_TXN_MAX_OPERATIONS,
  line 80, is read nowhere).
- A write with `transactionId` is staged, not applied: the row routes and `createOperations` record it with the
  moment it was staged, and answer a mock row built from the request (`Documents/Create.php` 396-464, `Update.php`
  258-322, `Upsert.php` 266-328, `Delete.php` 139-192, `Attribute/Increment.php` 110-174, `Attribute/Decrement.php`,
  `Bulk/Delete.php` 121-167, `Transactions/Operations/Create.php` 72-255). Nothing is validated against the table's
  columns until the commit.
- A read with `transactionId` sees the staged writes overlaid on the committed rows
  (`src/Appwrite/Databases/TransactionState.php`), with that file's quirks kept: staged increments are invisible (it
  reads `data['attribute']`, TablesDB stages `data['column']`, lines 422-447), a staged row is shown as staged (raw
  values, no `$sequence`/`$createdAt`), a list adds created and upserted rows whatever its filters say.
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
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from devstack import creates
from devstack import engine as engine_module
from devstack.engine import (
    ID_PATTERN,
    MAX_LIMIT,
    Engine,
    EngineError,
    Event,
    format_datetime,
    parse_datetime,
    parse_queries,
    unique_id,
)

TTL_MIN, TTL_MAX, TTL_DEFAULT = 60, 3600, 300  # APP_DATABASE_TXN_TTL_MIN/MAX/DEFAULT (app/init/constants.php 77-79)
MAX_OPERATIONS = 100  # APP_LIMIT_DATABASE_TRANSACTION (app/init/constants.php 50)
ROW_ACTIONS = ("create", "update", "upsert", "delete", "increment", "decrement")
BULK_ACTIONS = ("bulkCreate", "bulkUpdate", "bulkUpsert", "bulkDelete")
SERVED_BULK = ("bulkCreate", "bulkDelete")  # the bulk operations the stack stages in a transaction (createRows,
# deleteRows); updateRows and upsertRows are served outside transactions only
JSON_HEADERS = {"content-type": "application/json"}

Response = tuple[int, dict[str, str], bytes]


class Request(Protocol):  # devstack.rest._Request
    method: str
    segments: list[str]
    headers: dict[str, str]

    def param(self, name: str, default: Any = None) -> Any: ...
    def queries(self) -> list[str]: ...
    def flag(self, name: str, default: bool = True) -> bool: ...


@dataclass
class Operation:
    action: str
    database_id: str
    table_id: str
    row_id: str | None
    data: Any
    staged_at: datetime


@dataclass
class Transaction:
    id: str
    created_at: datetime
    updated_at: datetime
    expires_at: datetime
    status: str = "pending"  # pending, committing, committed, failed (a rollback leaves it failed: Update.php 511-516)
    operations: list[Operation] = field(default_factory=list)

    def model(self) -> dict:
        return {"$id": self.id, "$createdAt": format_datetime(self.created_at),
                "$updatedAt": format_datetime(self.updated_at), "status": self.status,
                "operations": len(self.operations), "expiresAt": format_datetime(self.expires_at)}


def _error(code: int, type_: str, message: str) -> EngineError:
    return EngineError(code, type_, message)


def _not_found(transaction_id: str) -> EngineError:
    return _error(404, "transaction_not_found", f"Transaction with the requested ID '{transaction_id}' could not "
                  "be found.")


def _bad_request(message: str) -> EngineError:
    return _error(400, "general_bad_request", message)


NOT_READY = ("transaction_not_ready", "The transaction is not ready yet. Please try again later.")
EXPIRED = ("transaction_expired", "The transaction has expired. Please create a new transaction and try again.")
CONFLICT = ("transaction_conflict", "The transaction has a conflict. Please resolve the conflict and try again.")
NON_PENDING = "Invalid or non\u2011pending transaction"  # Appwrite's text, with its non-breaking hyphen


def _json(status: int, payload: Any) -> Response:
    return status, dict(JSON_HEADERS), json.dumps(payload).encode()


def _strict_boolean(request: Request, name: str) -> bool:
    """`commit`/`rollback`: `new Boolean()` (not loose) in Transactions/Update.php 77-78, so only JSON `true`/`false`
    pass (utopia-php/validators `Boolean::isValid`: strings and 0/1 need `loose`). Absent or null: false."""
    value = request.param(name)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _error(400, "general_argument_invalid", f"Invalid `{name}` param: Value must be a valid boolean")
    return value


def _check_id(value: Any, name: str) -> str:
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise _error(400, "general_argument_invalid", f"Invalid `{name}` param: Parameter must contain at most 36 "
                     "chars. Valid chars are a-z, A-Z, 0-9, period, hyphen, and underscore. Can't start with a "
                     "special char")
    return value


class Transactions:
    """The transactions of one stack, in memory (Appwrite keeps them in its `transactions`/`transactionLogs`
    collections; a restart of the stack forgets them). `clock` gives now; by default the engine's (so a test that
    replaces `devstack.engine.now` moves both the rows' `$updatedAt` and the transactions' TTL)."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime] | None = None,
                 max_operations: int = MAX_OPERATIONS) -> None:
        self.engine = engine
        self.clock = clock or (lambda: engine_module.now())
        self.max_operations = max_operations
        self._transactions: dict[str, Transaction] = {}
        self._lock = threading.RLock()  # one request at a time touches the transactions (events go out after it)

    # -- routing (devstack/rest.py hooks) ---------------------------------------------------------

    def route(self, method: str, s: list[str]) -> tuple[Callable[[Request], Response], str] | None:
        """`/v1/tablesdb/transactions[/{id}[/operations]]`: the handler and its scope (TablesDB/Transactions/*.php
        label `rows.read` for get and list, `rows.write` for the rest)."""
        routes: dict[tuple[str, int], tuple[Callable[[Request], Response], str]] = {
            ("GET", 2): (self._list, "rows.read"), ("POST", 2): (self._create, "rows.write"),
            ("GET", 3): (self._get, "rows.read"), ("PATCH", 3): (self._update, "rows.write"),
            ("DELETE", 3): (self._delete, "rows.write")}
        if len(s) == 4 and s[3] == "operations":
            return (self._serialized(self._add_operations), "rows.write") if method == "POST" else None
        found = routes.get((method, len(s)))
        if found is None:
            return None
        handler, scope = found
        return (handler if handler == self._update else self._serialized(handler)), scope

    def _serialized(self, handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
        def run(r: Request) -> Response:
            with self._lock:
                return handler(r)
        return run

    def row_request(self, r: Request) -> Response | None:
        """A row route called with `transactionId` (rest.py has routed and authorized it): stage the write, or read
        through the transaction. None: not a row route (Appwrite ignores the parameter elsewhere)."""
        s, method = r.segments, r.method
        if len(s) < 5 or s[0] != "tablesdb" or s[4] != "rows":
            return None
        with self._lock:
            return self._row_request(r, method, s)

    def _row_request(self, r: Request, method: str, s: list[str]) -> Response:
        transaction_id = _check_id(r.param("transactionId"), "transactionId")
        db, table = s[1], s[3]
        self.engine.table(db, table)  # 404 database_not_found / table_not_found first, as the routes do
        if len(s) == 5:
            handler = {"GET": self._read_list, "POST": self._stage_create, "DELETE": self._stage_bulk_delete}[method]
        elif len(s) == 6:
            handler = {"GET": self._read_row, "PATCH": self._stage_update, "PUT": self._stage_upsert,
                       "DELETE": self._stage_delete}[method]
        else:
            handler = self._stage_bump
        return handler(r, transaction_id, db, table)

    # -- the transaction routes --------------------------------------------------------------------

    def _create(self, r: Request) -> Response:
        """Transactions/Create.php 62-88 (ttl: TablesDB/Transactions/Create.php 44, `Range(60, 3600)`)."""
        ttl = r.param("ttl", TTL_DEFAULT)
        if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not TTL_MIN <= ttl <= TTL_MAX:
            raise _error(400, "general_argument_invalid",
                         f"Invalid `ttl` param: Value must be a valid range between {TTL_MIN:,} and {TTL_MAX:,}")
        now = self.clock()
        transaction = Transaction(unique_id(), now, now, now + timedelta(seconds=ttl))
        self._transactions[transaction.id] = transaction
        return _json(201, transaction.model())

    def _get(self, r: Request) -> Response:
        return _json(200, self._find(r.segments[2]).model())

    def _list(self, r: Request) -> Response:
        """Transactions/XList.php: queries on `status` and `expiresAt` only
        (src/Appwrite/Utopia/Database/Validator/Queries/Transactions.php)."""
        found = [t.model() for t in self._transactions.values()]
        limit, offset = 25, 0
        for query in parse_queries(r.queries()):
            method, values = query["method"], query.get("values", [])
            if method in ("limit", "offset"):
                number = values[0] if values else None
                if isinstance(number, bool) or not isinstance(number, int) or number < 0:
                    raise _error(400, "general_query_invalid", f"Invalid query: Invalid {method}")
                limit, offset = (number, offset) if method == "limit" else (limit, number)
                continue
            attribute = query.get("attribute")
            if attribute not in ("status", "expiresAt", "$id", "$createdAt", "$updatedAt"):
                raise _error(400, "general_query_invalid", f"Invalid query: Attribute not found in schema: {attribute}")
            if method in ("orderAsc", "orderDesc"):
                found.sort(key=lambda t: str(t[attribute]), reverse=method == "orderDesc")
            else:
                found = [t for t in found if _matches(t, [query])]
        total = len(found) if r.flag("total") else 0
        return _json(200, {"total": total, "transactions": found[offset:offset + limit]})

    def _delete(self, r: Request) -> Response:
        """Transactions/Delete.php: any status; the document goes at once, its logs later (a worker)."""
        self._find(r.segments[2])
        del self._transactions[r.segments[2]]
        return 204, {"content-type": "text/plain; charset=UTF-8"}, b""

    def _update(self, r: Request) -> Response:
        """Transactions/Update.php 120-528: commit or roll back."""
        commit, rollback = _strict_boolean(r, "commit"), _strict_boolean(r, "rollback")
        if not commit and not rollback:
            raise _bad_request("Either commit or rollback must be true")
        if commit and rollback:
            raise _bad_request("Cannot commit and rollback at the same time")
        events: list[Event] = []
        with self._lock:
            transaction = self._find(r.segments[2])
            if transaction.status != "pending":
                raise _error(400, *NOT_READY)
            self._check_expiry(transaction)
            if rollback:
                self._set_status(transaction, "failed")
            elif not transaction.operations:
                self._set_status(transaction, "committed")
            else:
                events = self._commit(transaction)
            answer = _json(200, transaction.model())
        self.engine.publish(events)  # after the commit, outside the lock (a listener may call the stack back)
        return answer

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

    # -- helpers ---------------------------------------------------------------------------------

    def _find(self, transaction_id: str) -> Transaction:
        transaction = self._transactions.get(transaction_id)
        if transaction is None:
            raise _not_found(transaction_id)
        return transaction

    def _pending(self, transaction_id: str) -> Transaction:
        """The staging checks of the create, update, upsert and delete routes: 404, 400 not ready, 410 expired."""
        transaction = self._find(transaction_id)
        if transaction.status != "pending":
            raise _error(400, *NOT_READY)
        self._check_expiry(transaction)
        self._check_room(transaction, 1)
        return transaction

    def _check_expiry(self, transaction: Transaction) -> None:
        if self.clock() > transaction.expires_at:
            raise _error(410, *EXPIRED)

    def _check_room(self, transaction: Transaction, adding: int) -> None:
        existing = len(transaction.operations)
        if existing + adding > self.max_operations:
            raise _error(400, "transaction_limit_exceeded", f"Transaction already has {existing} operations, adding "
                         f"{adding} would exceed the maximum of {self.max_operations}")

    def _require_row(self, transaction_id: str, db: str, table: str, row_id: str) -> dict:
        row = self._row_in(self._transactions.get(transaction_id), db, table, row_id)
        if row is None:
            raise _error(404, "row_not_found", f"Row with the requested ID '{row_id}' could not be found.")
        return row

    def _staging_moment(self, current: Mapping[str, Any] | None) -> datetime:
        """When a write is staged: now, or the row's `$updatedAt` if later. The stack keeps a row's `$updatedAt`
        strictly increasing (engine.py), so under fast writes it can run ahead of the clock; without this a write
        staged right after one of them would conflict with nobody."""
        now = self.clock()
        seen = parse_datetime((current or {}).get("$updatedAt"))
        return max(now, seen) if seen is not None else now

    def _append(self, transaction: Transaction, operations: list[Operation]) -> None:
        transaction.operations.extend(operations)
        transaction.updated_at = self.clock()

    def _set_status(self, transaction: Transaction, status: str) -> None:
        transaction.status = status
        transaction.updated_at = self.clock()


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
