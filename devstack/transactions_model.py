"""A TablesDB transaction and its staged operations, as Appwrite 1.9.6 models them (``devstack.transactions``).
Paths below are in appwrite/appwrite (1.9.6 line) unless they name utopia-php/database (7.2.x);
`Transactions/` is `src/Appwrite/Platform/Modules/Databases/Http/Databases/Transactions/` (the TablesDB routes in
`.../Http/TablesDB/Transactions/` subclass them), `Documents/` is `.../Http/Databases/Collections/Documents/`.

- A transaction is `{$id, $createdAt, $updatedAt, status, operations, expiresAt}`
  (`src/Appwrite/Utopia/Response/Model/Transaction.php`); `ttl` 60-3600 s, default 300
  (`app/init/constants.php` APP_DATABASE_TXN_TTL_*, lines 77-79). At most 100 operations
  (APP_LIMIT_DATABASE_TRANSACTION, line 50, the constant every staging route reads; APP_DATABASE_TXN_MAX_OPERATIONS,
  line 80, is read nowhere).
- The errors the transaction routes answer (`app/config/errors.php` `transaction_*`), and the parameter checks they
  share (`Transactions/Update.php` 77-78 for `commit`/`rollback`; the `transactionId` UID).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from devstack.engine import ID_PATTERN, EngineError, format_datetime

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
