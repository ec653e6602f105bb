"""How the local stack's row engine writes one row (``devstack.engine``): IDs, the ``X-Appwrite-Timestamp`` conflict
check, system keys, values validated and converted (``devstack/values.py``), operators applied
(``devstack/operators.py``), and ``$updatedAt`` moved only when something changed (utopia-php/database
``Database::updateDocument``).
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta
from typing import Any

from devstack import operators
from devstack.schema import Column, Table
from devstack.values import (
    ID_PATTERN,
    EngineError,
    check_permissions,
    check_value,
    duplicate,
    format_datetime,
    from_sql,
    identical,
    invalid,
    parse_datetime,
    quote,
    system_time,
    to_sql,
    unique_id,
)

ONE_MS = timedelta(milliseconds=1)


class Writes:
    """The write helpers of ``Engine`` (a mixin: the connection and the SQL helpers are the engine's)."""

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
            raise invalid("Value must be a valid object")
        values, system = {}, {}
        for key, value in data.items():
            if key.startswith("$"):
                system[key] = value
            elif key not in table.columns:
                raise invalid(f'Unknown attribute: "{key}"')
            else:
                values[key] = value
        perms = permissions if permissions is not None else system.get("$permissions")
        system["$permissions"] = None if perms is None else check_permissions(perms)
        return values, system

    def _insert(self, table: Table, row_id: str, data: Any, permissions: list[str] | None,
                render: bool = True) -> dict:
        values, system = self._split_data(table, data, permissions)
        stored: dict[str, Any] = {}
        for column in table.columns.values():
            stored[column.key] = self._resolve(column, values, column.default, creating=True)
        created = system_time(system, "$createdAt") or format_datetime(self._now())
        updated = system_time(system, "$updatedAt") or created
        cols = ["_id", "_createdAt", "_updatedAt", "_permissions", *(quote(k) for k in stored)]
        params = [row_id, created, updated, json.dumps(system["$permissions"] or []),
                  *(to_sql(table.columns[k], v) for k, v in stored.items())]
        marks = ", ".join("?" * len(cols))
        sql = f"INSERT INTO {self._sql_table(table)} ({', '.join(cols)}) VALUES ({marks})"
        try:
            self._conn.execute(sql, params)
        except sqlite3.IntegrityError as exc:
            raise duplicate(exc) from None
        return self._render(table, self._require(table, row_id)) if render else {}

    def _resolve(self, column: Column, values: dict, current: Any, creating: bool) -> Any:
        """The value to store for one column: given value, operator applied to `current`, or default."""
        if column.key not in values:
            if creating and column.required:
                raise invalid(f'Missing required attribute "{column.key}"')
            return current
        value = values[column.key]
        if value is None:
            if column.required:
                raise invalid(f'Missing required attribute "{column.key}"')
            return None
        if isinstance(value, operators.Op):  # only update and upsert parse operators (operators.py)
            if creating:  # an upsert creating its row: applied to the default, unbounded (operators.py)
                operators.check(column, value, current, created=True)
                return operators.apply_created(column, value)
            operators.check(column, value, current)
            return operators.apply(column, value, current)
        return check_value(column, value)

    def _update(self, table: Table, old: sqlite3.Row, data: Any, permissions: list[str] | None,
                since: datetime | None) -> dict:
        values, system = self._split_data(table, data, permissions)
        changes, changed = {}, False
        for key, value in values.items():
            column = table.columns[key]
            current = from_sql(column, old[key])
            changes[key] = self._resolve(column, values, current, creating=False)
            changed = changed or isinstance(value, operators.Op) or not identical(value, current)
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
        bumped = max(self._now(), parse_datetime(old["_updatedAt"]) + ONE_MS) if touch else parse_datetime(
            old["_updatedAt"])
        sets = {"_updatedAt": system_time(system, "$updatedAt") or format_datetime(bumped)}
        if system.get("$createdAt") is not None:
            sets["_createdAt"] = system_time(system, "$createdAt")
        if system.get("$permissions") is not None:
            sets["_permissions"] = json.dumps(system["$permissions"])
        for key, value in changes.items():
            sets[quote(key)] = to_sql(table.columns[key], value)
        assignments = ", ".join(f"{col} = ?" for col in sets)
        try:
            self._conn.execute(f"UPDATE {self._sql_table(table)} SET {assignments} WHERE _seq = ?",
                               [*sets.values(), old["_seq"]])
        except sqlite3.IntegrityError as exc:
            raise duplicate(exc) from None
        return self._render(table, self._require(table, old["_id"]))
