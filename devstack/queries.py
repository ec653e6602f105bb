"""List queries compiled to parameterized SQL for one table, so filtering and sorting large tables use its indexes.

Served: the methods the product sends (shared/chat_core): equal, lessThan, lessThanEqual, greaterThan,
greaterThanEqual, isNull, isNotNull, search (on a fulltext index: devstack/fulltext.py), or, orderAsc, orderDesc,
limit, cursorAfter, select. Any other method is 400
`general_query_invalid`: refused, never answered differently from Appwrite. Appwrite's bounds hold: at most 100
queries of at most 4,096 characters, at most 100 values per query.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from devstack.fulltext import fulltext_value
from devstack.schema import Column, Table
from devstack.values import EngineError, normalize_datetime, quote

DEFAULT_LIMIT = 25
MAX_LIMIT = 100_000
MAX_QUERIES = 100
MAX_QUERY_LENGTH = 4096
MAX_QUERY_VALUES = 100
SYSTEM_SQL = {"$id": "_id", "$sequence": "_seq", "$createdAt": "_createdAt", "$updatedAt": "_updatedAt"}


def _bad_query(message: str) -> EngineError:
    return EngineError(400, "general_query_invalid", f"Invalid query: {message}")


@dataclass
class Plan:
    filters: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)
    orders: list[tuple[str, str]] = field(default_factory=list)  # (sql column, ASC|DESC)
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None  # cursorAfter's row id
    select: list[str] | None = None


def parse_queries(queries: Iterable[Any] | None) -> list[dict]:
    parsed = []
    items = list(queries or [])
    if len(items) > MAX_QUERIES:
        raise EngineError(400, "general_argument_invalid",
                          f"Invalid `queries` param: Value must a valid array no longer than {MAX_QUERIES} "
                          "items")
    for raw in items:
        if isinstance(raw, dict):
            parsed.append(raw)
            continue
        if not isinstance(raw, str) or len(raw) > MAX_QUERY_LENGTH:
            raise EngineError(400, "general_argument_invalid",
                              f"Invalid `queries` param: each query must be a string of at most "
                              f"{MAX_QUERY_LENGTH} chars")
        try:
            query = json.loads(raw)
        except ValueError:
            raise _bad_query(f"Invalid query: {raw[:100]}") from None
        if not isinstance(query, dict) or not isinstance(query.get("method"), str):
            raise _bad_query(f"Invalid query: {raw[:100]}")
        parsed.append(query)
    return parsed


class Compiler:
    """Turns parsed Appwrite queries into SQL fragments for one table (values always bound)."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def compile(self, queries: list[dict]) -> Plan:
        plan = Plan()
        for query in queries:
            self._one(plan, query)
        return plan

    def _one(self, plan: Plan, query: dict) -> None:
        method = query["method"]
        values = _values(query)
        if method in ("orderAsc", "orderDesc"):
            direction = "ASC" if method == "orderAsc" else "DESC"
            plan.orders.append((self._sql_column(query.get("attribute"))[0], direction))
        elif method == "limit":
            plan.limit = _int_value(values, "limit", 1, MAX_LIMIT)
        elif method == "cursorAfter":
            if not values or not isinstance(values[0], str) or not values[0]:
                raise _bad_query("Cursor must be a row ID")
            plan.cursor = values[0]
        elif method == "select":
            plan.select = self._select(values)
        else:
            sql, params = self.filter(query)
            plan.filters.append(sql)
            plan.params.extend(params)

    def _select(self, values: list) -> list[str]:
        for name in values:
            if not isinstance(name, str) or (name != "*" and name not in self.table.columns
                                             and name not in SYSTEM_SQL and not name.startswith("$")):
                raise _bad_query(f"Attribute not found in schema: {name}")
        return [str(v) for v in values]

    def _sql_column(self, attribute: Any) -> tuple[str, Column | None]:
        if attribute in SYSTEM_SQL:
            return SYSTEM_SQL[attribute], None
        column = self.table.columns.get(attribute) if isinstance(attribute, str) else None
        if column is None:
            raise _bad_query(f"Attribute not found in schema: {attribute}")
        return quote(column.key), column

    def filter(self, query: dict) -> tuple[str, list]:
        method = query["method"]
        values = _values(query)
        if method == "or":
            return self._any(values)
        if method == "search":
            return self._search(query, values)
        handler = _FILTERS.get(method)
        if handler is None:
            raise _bad_query(f"Query method not supported: {method}")
        sql_column, column = self._sql_column(query.get("attribute"))
        if len(values) > MAX_QUERY_VALUES:
            raise _bad_query(f"Query on attribute has more than {MAX_QUERY_VALUES} values")
        attribute = query.get("attribute")
        converted = [None if v is None else self._value(attribute, column, v) for v in values]
        return handler(sql_column, column, converted)

    def _search(self, query: dict, values: list) -> tuple[str, list]:
        """Appwrite refuses `search` without a fulltext index over exactly that attribute (IndexedQueries.php);
        then MariaDB.php's condition: an empty value matches nothing, else MATCH ... AGAINST in boolean mode."""
        attribute = query.get("attribute")
        sql_column, column = self._sql_column(attribute)
        if not any(i.type == "fulltext" and i.columns == (attribute,) for i in self.table.indexes):
            raise _bad_query(f'Searching by attribute "{attribute}" requires a fulltext index.')
        if len(values) != 1 or not isinstance(values[0], str):
            raise _bad_query("search queries require exactly one string value")
        value = fulltext_value(values[0])
        return ("0 = 1", []) if not value else (f"appwrite_fulltext({sql_column}, ?)", [value])

    def _any(self, values: list) -> tuple[str, list]:
        if not values or not all(isinstance(v, dict) and isinstance(v.get("method"), str) for v in values):
            raise _bad_query("or queries require nested queries")
        parts, params = [], []
        for nested in values:
            sql, nested_params = self.filter(nested)
            parts.append(f"({sql})")
            params.extend(nested_params)
        return " OR ".join(parts), params

    def _value(self, attribute: str, column: Column | None, value: Any) -> Any:
        system_kinds = {"_seq": "integer", "_id": "string"}
        kind = column.kind if column else system_kinds.get(SYSTEM_SQL[attribute], "datetime")
        converted = _QUERY_VALUE[kind](value)
        if converted is _INVALID:
            raise _bad_query(f'Query value is invalid for attribute "{attribute}"')
        return converted


_INVALID = object()


def _query_int(value: Any) -> Any:
    if isinstance(value, bool):
        return _INVALID
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value):  # `$sequence` travels as a string
        return int(value)
    return value if isinstance(value, int) else _INVALID


_QUERY_VALUE: dict[str, Callable[[Any], Any]] = {
    "string": lambda v: v if isinstance(v, str) else _INVALID,
    "enum": lambda v: v if isinstance(v, str) else _INVALID,
    "integer": _query_int,
    "double": lambda v: v if isinstance(v, (int, float)) and not isinstance(v, bool) else _INVALID,
    "boolean": lambda v: int(v) if isinstance(v, bool) else _INVALID,
    "datetime": lambda v: normalize_datetime(v) or _INVALID,
}


def _values(query: dict) -> list:
    values = query.get("values", [])
    return values if isinstance(values, list) else [values]


def _int_value(values: list, name: str, low: int, high: int) -> int:
    value = values[0] if values else None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _bad_query(f"Invalid {name}: Value must be a valid range between {low:,} and {high:,}")
    return value


def _f_equal(col: str, column: Column | None, values: list) -> tuple[str, list]:
    present = [v for v in values if v is not None]
    if not values:
        raise _bad_query("equal queries require at least one value")
    parts = [f"{col} IN ({', '.join('?' * len(present))})"] if present else []
    if len(present) < len(values):
        parts.append(f"{col} IS NULL")
    return " OR ".join(parts), present


def _f_compare(op: str) -> Callable[[str, Column | None, list], tuple[str, list]]:
    def build(col: str, column: Column | None, values: list) -> tuple[str, list]:
        present = [v for v in values if v is not None]
        if not present:
            raise _bad_query("comparison queries require 1 value(s)")
        return f"{col} {op} ?", present[:1]
    return build


# The filters the product's queries use (shared/chat_core); any other method is refused with 400
# general_query_invalid, never answered differently from Appwrite (docs/local-stack.md).
_FILTERS: dict[str, Callable[[str, Column | None, list], tuple[str, list]]] = {
    "equal": _f_equal,
    "lessThan": _f_compare("<"), "lessThanEqual": _f_compare("<="),
    "greaterThan": _f_compare(">"), "greaterThanEqual": _f_compare(">="),
    "isNull": lambda col, column, values: (f"{col} IS NULL", []),
    "isNotNull": lambda col, column, values: (f"{col} IS NOT NULL", []),
}


def _after(col: str, direction: str, value: Any, nullable: bool) -> tuple[str, list]:
    """Rows strictly after `value` in one order column (NULLs sort first ascending, as in MariaDB)."""
    if direction == "ASC":
        return (f"{col} IS NOT NULL", []) if value is None else (f"{col} > ?", [value])
    if value is None:
        return "0", []
    return (f"({col} < ? OR {col} IS NULL)", [value]) if nullable else (f"{col} < ?", [value])


def keyset(orders: list[tuple[str, str]], cursor_row: sqlite3.Row, not_null: set[str]) -> tuple[str, list]:
    """Keyset condition `row > cursor` for a multi-column order, plus a plain range bound on the
    leading column so SQLite seeks the index instead of scanning up to the cursor."""
    terms, params = [], []
    for i, (col, direction) in enumerate(orders):
        parts, term_params = [], []
        for prev_col, _ in orders[:i]:
            parts.append(f"{prev_col} IS ?")
            term_params.append(cursor_row[prev_col.strip('"')])
        sql, after_params = _after(col, direction, cursor_row[col.strip('"')], col not in not_null)
        parts.append(sql)
        terms.append("(" + " AND ".join(parts) + ")")
        params.extend(term_params + after_params)
    lead_col, lead_dir = orders[0]
    lead_value = cursor_row[lead_col.strip('"')]
    condition = "(" + " OR ".join(terms) + ")"
    if lead_value is None:
        return condition, params
    if lead_dir == "ASC":
        bound = f"{lead_col} >= ?"
    else:
        bound = f"{lead_col} <= ?" if lead_col in not_null else f"({lead_col} <= ? OR {lead_col} IS NULL)"
    return f"{bound} AND {condition}", [lead_value, *params]
