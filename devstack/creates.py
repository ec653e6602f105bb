"""The parameters of `POST .../rows` (createRow, createRows), read as appwrite 1.9.6
`src/Appwrite/Platform/Modules/Databases/Http/Databases/Collections/Documents/Create.php` reads them (TablesDB's
`.../Http/TablesDB/Tables/Rows/Create.php` extends it; the legacy route's words are devstack/documents.py's).
Shared by the direct create (devstack/rest.py) and the transaction staging (devstack/transactions.py), which upstream
run the same checks before they part (lines 396-464):

- lines 154-200: neither `data` nor `rows` (an empty `rows: []` included: PHP `empty()`) -> `row_missing_data`
  with errors.php's description (`getMissingDataException()`, Documents/Action.php 210-215; TablesDB has no
  empty-row support, `getSupportForEmptyDocument()` false, line 55); both -> `general_bad_request`; `data` without
  `rowId` -> `row_missing_data` "Row ID is required when creating a single row."; `rows` with `rowId` or
  `permissions` -> `general_bad_request`;
- lines 375-385: each bulk row's `$id` (default `unique()`) is checked by `CustomId`
  (`src/Appwrite/Utopia/Database/Validator/CustomId.php`, over utopia-php/database's `Key`) and refused with
  `general_bad_request` and the validator's description (no parameter named).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from devstack.values import ID_PATTERN, EngineError

BATCH_LIMIT = 100  # APP_LIMIT_DATABASE_BATCH (app/init/constants.php)
KEY_DESCRIPTION = ("Parameter must contain at most 36 chars. Valid chars are a-z, A-Z, 0-9, period, hyphen, and "
                   "underscore. Can't start with a special char")


def create_form(param: Callable[[str], Any]) -> tuple[Any, Any, list[dict] | None]:
    """`(rowId, data, None)` for a single create, `(None, None, rows)` for a bulk one (each row's `$id` checked)."""
    rows, data, row_id = param("rows"), param("data"), param("rowId")
    if not data and not rows:
        raise EngineError(400, "row_missing_data", "The row data is missing. Try again with row data populated.")
    if data and rows:
        raise _bad_request("You can only send one of the following parameters: data, rows")
    if data and not row_id:
        raise EngineError(400, "row_missing_data", "Row ID is required when creating a single row.")
    if data:
        return row_id, data, None
    if row_id:
        raise _bad_request('Param "rowId" is not allowed when creating multiple rows, set "$id" on each instead.')
    if param("permissions"):
        raise _bad_request('Param "permissions" is disallowed when creating multiple rows, set "$permissions" on '
                           'each instead')
    if not isinstance(rows, list) or len(rows) > BATCH_LIMIT:  # the `rows` param's ArrayList(..., 100)
        raise EngineError(400, "general_argument_invalid", "Param \"rows\" must be an array of 1 to 100 rows.")
    for row in rows:
        if not isinstance(row, dict):
            raise EngineError(400, "general_argument_invalid", "Invalid `rows` param: Value must be a valid object")
        row_id = row.get("$id", "unique()")
        if row_id != "unique()" and not (isinstance(row_id, str) and ID_PATTERN.match(row_id)):
            raise _bad_request(KEY_DESCRIPTION)
    return None, None, rows


def _bad_request(message: str) -> EngineError:
    return EngineError(400, "general_bad_request", message)
