"""Appwrite values as the engine stores them in SQLite: the errors, datetimes, IDs, permissions and each column's
validation (`devstack/schema.py` says which column types are served).

Datetimes are stored as `YYYY-MM-DDTHH:MM:SS.mmm+00:00` (UTC) so text order is time order.
"""

from __future__ import annotations

import re
import secrets
import sqlite3
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from devstack.schema import Column

ID_PATTERN = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]{0,35}$")  # Appwrite's UID validator: 36 chars
PERMISSION_PATTERN = re.compile(r'^(read|create|update|delete|write)\("[^"]+"\)$')
UTC = timezone.utc  # not datetime.UTC: the project still targets Python 3.10


class EngineError(Exception):
    """An Appwrite-shaped failure: HTTP code, Appwrite error type, message."""

    def __init__(self, code: int, type: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.type = type
        self.message = message


def invalid(message: str) -> EngineError:
    return EngineError(400, "row_invalid_structure", f"Invalid document structure: {message}")


# ---------------------------------------------------------------------------------------------
# Datetimes and IDs


def parse_datetime(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:  # Appwrite reads zone-less datetimes as UTC
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_datetime(moment: datetime) -> str:
    m = moment.astimezone(UTC)
    return (f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}"
            f".{m.microsecond // 1000:03d}+00:00")


def normalize_datetime(value: Any) -> str | None:
    parsed = parse_datetime(value)
    return None if parsed is None else format_datetime(parsed)


def now() -> datetime:
    moment = datetime.now(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def unique_id() -> str:
    return secrets.token_hex(10)


def quote(name: str) -> str:
    """Quote an SQL identifier (names come from the schema, never from values)."""
    return '"' + name.replace('"', '""') + '"'


# ---------------------------------------------------------------------------------------------
# Value validation


def check_value(column: Column, value: Any) -> Any:
    """Validate one non-null, non-operator value; return it in its Python form."""
    return _CHECKERS[column.kind](column, value)


def _check_string(column: Column, value: Any) -> str:
    if not isinstance(value, str):
        raise invalid(f'Attribute "{column.key}" has invalid type. Value must be a valid string')
    if column.size is not None and len(value) > column.size:
        raise invalid(f'Attribute "{column.key}" has invalid type. Value must be a valid string '
                       f"and no longer than {column.size} chars")
    return value


def _check_enum(column: Column, value: Any) -> str:
    if not isinstance(value, str) or value not in column.elements:
        raise invalid(f'Attribute "{column.key}" has invalid format. Value must be one of '
                       f"({', '.join(column.elements)})")
    return value


def _check_integer(column: Column, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise invalid(f'Attribute "{column.key}" has invalid type. Value must be a valid integer')
    check_range(column, value)
    return value


def _check_double(column: Column, value: Any) -> float:
    """utopia-php/database's `FloatValidator` (not loose: a PHP float or int) and the attribute's `Range`."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise invalid(f'Attribute "{column.key}" has invalid type. Value must be a valid float')
    check_range(column, value)
    return float(value)


def check_range(column: Column, value: float) -> None:
    if (column.min is not None and value < column.min) or (column.max is not None and value > column.max):
        raise invalid(f'Attribute "{column.key}" has invalid format. Value must be a valid range '
                       f"between {column.min} and {column.max}")


def _check_boolean(column: Column, value: Any) -> bool:
    if not isinstance(value, bool):
        raise invalid(f'Attribute "{column.key}" has invalid type. Value must be a valid boolean')
    return value


def _check_datetime(column: Column, value: Any) -> str:
    normalized = normalize_datetime(value)
    if normalized is None:
        raise invalid(f'Attribute "{column.key}" has invalid format. Value must be valid date '
                       "in ISO 8601 format")
    return normalized


_CHECKERS: dict[str, Callable[[Column, Any], Any]] = {
    "string": _check_string, "enum": _check_enum, "integer": _check_integer, "boolean": _check_boolean,
    "datetime": _check_datetime, "double": _check_double}


def to_sql(column: Column, value: Any) -> Any:
    return int(value) if column.kind == "boolean" and value is not None else value


def from_sql(column: Column, value: Any) -> Any:
    return bool(value) if column.kind == "boolean" and value is not None else value


# ---------------------------------------------------------------------------------------------
# Writes: change detection, system fields, permissions, duplicates


def identical(new: Any, old: Any) -> bool:
    """PHP's `===` between a value sent and the column's value as read (utopia-php/database 6.0.0
    `Database::updateDocument` compares them so to decide whether anything changed): 1 and 1.0 differ, as do 1
    and true."""
    return type(new) is type(old) and new == old


def system_time(system: dict, key: str) -> str | None:
    value = system.get(key)
    if value is None:
        return None
    normalized = normalize_datetime(value)
    if normalized is None:
        raise invalid(f'Attribute "{key}" has invalid format. Value must be valid date in ISO 8601 format')
    return normalized


def check_permissions(permissions: Any) -> list[str]:
    if not isinstance(permissions, list) or not all(
            isinstance(p, str) and PERMISSION_PATTERN.match(p) for p in permissions):
        raise EngineError(400, "general_argument_invalid",
                          "Invalid `permissions` param: Permissions must be an array of strings like "
                          'read("any")')
    return list(dict.fromkeys(permissions))


def duplicate(exc: sqlite3.IntegrityError) -> EngineError:
    if "._id" in str(exc):
        return EngineError(409, "row_already_exists",
                           "Row with the requested ID already exists. Try again with a different ID or use "
                           "ID.unique() to generate a unique ID.")
    return EngineError(409, "row_already_exists",
                       "Row with the requested unique column values already exists.")
