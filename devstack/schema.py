"""Table definitions read from `appwrite.json` (tablesDB form), as the engine needs them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The column types appwrite.json declares (docs/local-stack.md: the stack serves these and no others): string (enum
# is a string with `format: enum`), integer, boolean, datetime; and double (Appwrite's float attribute, made through
# the management routes: bench/node_schema.py's collections). Any other type, or an array column, is refused when
# the schema is read.
KINDS = ("string", "integer", "boolean", "datetime", "enum", "double")
FLOAT_MAX = 1.7976931348623157e308  # PHP_FLOAT_MAX: a float attribute's bounds when none are given
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


@dataclass(frozen=True)
class Column:
    key: str
    kind: str  # string | integer | boolean | datetime | enum | double
    required: bool = False
    size: int | None = None
    min: int | None = None
    max: int | None = None
    default: Any = None
    elements: tuple[str, ...] = ()

    @property
    def numeric(self) -> bool:
        return self.kind == "integer"


@dataclass(frozen=True)
class Index:
    key: str
    type: str  # key | unique | fulltext
    columns: tuple[str, ...]
    orders: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    id: str
    database_id: str
    name: str
    columns: dict[str, Column]
    indexes: tuple[Index, ...] = ()
    permissions: tuple[str, ...] = ()
    row_security: bool = False


@dataclass(frozen=True)
class Schema:
    databases: dict[str, str] = field(default_factory=dict)  # database id -> name
    tables: dict[tuple[str, str], Table] = field(default_factory=dict)  # (db id, table id) -> Table


def load_schema(path: str | Path) -> Schema:
    """Read the `tablesDB` and `tables` sections of an appwrite.json file."""
    return parse_schema(json.loads(Path(path).read_text()))


def parse_schema(config: dict) -> Schema:
    databases = {db["$id"]: db.get("name", db["$id"]) for db in config.get("tablesDB", [])}
    tables: dict[tuple[str, str], Table] = {}
    for raw in config.get("tables", []):
        table = _table(raw)
        if table.database_id not in databases:
            raise ValueError(f"table {table.id!r} names unknown database {table.database_id!r}")
        tables[(table.database_id, table.id)] = table
    return Schema(databases, tables)


def _table(raw: dict) -> Table:
    columns = {c["key"]: _column(c) for c in raw.get("columns", [])}
    indexes = tuple(_index(i) for i in raw.get("indexes", []))
    for index in indexes:
        unknown = [c for c in index.columns if c not in columns and not c.startswith("$")]
        if unknown:
            raise ValueError(f"index {index.key!r} of table {raw['$id']!r} names unknown columns {unknown}")
    return Table(id=raw["$id"], database_id=raw["databaseId"], name=raw.get("name", raw["$id"]),
                 columns=columns, indexes=indexes, permissions=tuple(raw.get("$permissions", [])),
                 row_security=bool(raw.get("rowSecurity", False)))


def _column(raw: dict) -> Column:
    declared = raw["type"]
    kind = "enum" if declared == "enum" or (declared == "string" and raw.get("format") == "enum") else declared
    if kind not in KINDS or raw.get("format") not in (None, "", "enum") or raw.get("array"):
        raise ValueError(f"column {raw['key']!r}: the local stack does not serve {declared!r} columns "
                         f"(format {raw.get('format')!r}, array {bool(raw.get('array'))}); it serves {KINDS}")
    low, high = raw.get("min"), raw.get("max")
    if kind == "integer":  # Appwrite's integer columns are 64-bit when unbounded
        low = INT64_MIN if low is None else low
        high = INT64_MAX if high is None else high
    if kind == "double":  # Attributes/Float/Create.php: `$min ??= -PHP_FLOAT_MAX; $max ??= PHP_FLOAT_MAX`
        low = -FLOAT_MAX if low is None else low
        high = FLOAT_MAX if high is None else high
    return Column(key=raw["key"], kind=kind, required=bool(raw.get("required", False)), size=raw.get("size"),
                  min=low, max=high, default=raw.get("default"), elements=tuple(raw.get("elements") or ()))


def _index(raw: dict) -> Index:
    columns = tuple(raw.get("columns") or raw.get("attributes") or ())
    orders = tuple((o or "ASC").upper() for o in (raw.get("orders") or ()))
    orders = orders + ("ASC",) * (len(columns) - len(orders))
    if raw.get("type", "key") not in ("key", "unique", "fulltext"):
        raise ValueError(f"index {raw['key']!r}: the local stack serves key, unique and fulltext indexes only")
    return Index(key=raw["key"], type=raw.get("type", "key"), columns=columns, orders=orders)
