"""TablesDB transactions (`/v1/tablesdb/transactions...` and `transactionId` on the row routes), as Appwrite 1.9.6
implements them. Paths below are in appwrite/appwrite (1.9.6 line) unless they name utopia-php/database (7.2.x);
`Transactions/` is `src/Appwrite/Platform/Modules/Databases/Http/Databases/Transactions/` (the TablesDB routes in
`.../Http/TablesDB/Transactions/` subclass them), `Documents/` is `.../Http/Databases/Collections/Documents/`.

This module holds the routes of the transactions themselves (create, get, list, delete, commit or roll back:
`Transactions/Create.php`, `Get.php`, `XList.php`, `Delete.php`, `Update.php`) and the stack's store; the parts,
each with the upstream files it follows:

- `devstack.transactions_model`: a transaction and its operations (`Response/Model/Transaction.php`, the TTL and the
  operation limit of `app/init/constants.php`), the errors.
- `devstack.transactions_staging`: a write with `transactionId` is staged, not applied (`Documents/*.php`,
  `Transactions/Operations/Create.php`).
- `devstack.transactions_state`: a read with `transactionId` sees the staged writes
  (`src/Appwrite/Databases/TransactionState.php`).
- `devstack.transactions_commit`: the commit replays the operations in one database transaction
  (`Transactions/Update.php` 148-508).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from devstack import engine as engine_module
from devstack.engine import Engine, Event, parse_datetime, parse_queries, unique_id
from devstack.transactions_commit import Commit
from devstack.transactions_model import (
    EXPIRED,
    MAX_OPERATIONS,
    NOT_READY,
    TTL_DEFAULT,
    TTL_MAX,
    TTL_MIN,
    Operation,
    Request,
    Response,
    Transaction,
    _bad_request,
    _check_id,
    _error,
    _json,
    _not_found,
    _strict_boolean,
)
from devstack.transactions_staging import Staging
from devstack.transactions_state import State, _matches

__all__ = ["MAX_OPERATIONS", "TTL_DEFAULT", "Transactions"]


class Transactions(Staging, State, Commit):
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
