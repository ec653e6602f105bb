"""Realtime subscription queries on the local stack (``devstack.realtime``): a subscription's queries filter what it
receives (``src/Appwrite/Utopia/Database/RuntimeQuery.php``, appwrite/appwrite at the 1.9.6 line); they never widen
what the roles allow. Parsing follows utopia-php/database's ``Query::parseQuery``; the subscriptions of a connecting
client come from ``Realtime::constructSubscriptions`` (``src/Appwrite/Messaging/Adapter/Realtime.php``).
"""

from __future__ import annotations

import json
from typing import Any

ALLOWED_QUERIES = ("equal", "notEqual", "lessThan", "lessThanEqual", "greaterThan", "greaterThanEqual", "isNull",
                   "isNotNull", "and", "or", "select")  # RuntimeQuery::ALLOWED_QUERIES
QUERY_METHODS = {*ALLOWED_QUERIES, "contains", "containsAny", "containsAll", "notContains", "search", "notSearch",
                 "between", "notBetween", "startsWith", "notStartsWith", "endsWith", "notEndsWith", "regex",
                 "exists", "notExists", "orderAsc", "orderDesc", "orderRandom", "limit", "offset", "cursorAfter",
                 "cursorBefore", "elemMatch"}  # utopia-php/database Query types (those a client may name)


class QueryError(Exception):
    """utopia-php/database's QueryException: a query that cannot be parsed or is not allowed in Realtime."""


class ServerError(Exception):
    """An error Appwrite does not map to a code (code 0): answered as ``Error: Server Error``."""


def convert_queries(raw: Any) -> list[dict]:
    """``Realtime::convertQueries``: every query a JSON string (``Query::parseQueries``), every method (nested in
    ``and``/``or`` too) one Realtime allows; ``select`` only as ``select("*")``."""
    if not isinstance(raw, list):
        raw = [raw]
    parsed = []
    for item in raw:
        if not isinstance(item, str):
            raise ServerError("queries must be strings")  # a TypeError in PHP: code 0
        try:
            query = json.loads(item)
        except ValueError:
            raise QueryError("Invalid query: Syntax error") from None
        if not isinstance(query, dict):
            raise QueryError(f"Invalid query. Must be an array, got {_php_type(query)}")
        parsed.append(_parse_query(query))
    stack = list(parsed)
    allowed = ", ".join(ALLOWED_QUERIES)
    while stack:
        query = stack.pop()
        method = query["method"]
        if method not in ALLOWED_QUERIES:
            raise QueryError(f"Query method '{method}' is not supported in Realtime queries. Allowed: {allowed}")
        if method == "select" and query["values"] != ["*"]:
            # RuntimeQuery::validateSelectQuery throws an InvalidArgumentException, which no handler catches.
            raise ServerError('Only select("*") is allowed in Realtime queries.')
        if method in ("and", "or"):
            stack.extend(query["values"])
    return parsed


def _parse_query(query: dict) -> dict:
    """``Query::parseQuery``: method, attribute and values checked; ``and``/``or`` values parsed recursively."""
    method, attribute, values = query.get("method", ""), query.get("attribute", ""), query.get("values", [])
    if not isinstance(method, str):
        raise QueryError(f"Invalid query method. Must be a string, got {_php_type(method)}")
    if method not in QUERY_METHODS:
        raise QueryError(f"Invalid query method: {method}")
    if not isinstance(attribute, str):
        raise QueryError(f"Invalid query attribute. Must be a string, got {_php_type(attribute)}")
    if not isinstance(values, list):
        raise QueryError(f"Invalid query values. Must be an array, got {_php_type(values)}")
    if method in ("and", "or"):
        if not all(isinstance(v, dict) for v in values):
            raise QueryError("Invalid query values. Must be an array, got string")
        values = [_parse_query(v) for v in values]
    return {"method": method, "attribute": attribute, "values": values}


def query_string(query: dict) -> str:
    """``Query::toString``: JSON of method, attribute (when set) and values."""
    return json.dumps(_query_array(query), separators=(",", ":"))


def _query_array(query: dict) -> dict:
    out: dict[str, Any] = {"method": query["method"]}
    if query["attribute"]:
        out["attribute"] = query["attribute"]
    out["values"] = ([_query_array(v) for v in query["values"]] if query["method"] in ("and", "or")
                     else list(query["values"]))
    return out


SELECT_ALL = {"method": "select", "attribute": "", "values": ["*"]}


def _php_type(value: Any) -> str:
    return {bool: "boolean", int: "integer", float: "double", str: "string", list: "array", dict: "array",
            type(None): "NULL"}.get(type(value), "unknown type")


class Filter:
    """``RuntimeQuery::compile`` and ``filter``: select("*") (or no query) passes everything; otherwise every
    top-level condition must hold (AND), with ``and``/``or`` nested; a payload lacking an attribute fails fast
    unless an ``or`` is present; comparisons are PHP's, equality strict (``===``)."""

    def __init__(self, queries: list[dict]) -> None:
        self.select_all = not queries or any(q["method"] == "select" and q["values"] == ["*"] for q in queries)
        self.conditions = [] if self.select_all else queries
        self.attributes: set[str] = set()
        self.has_or = False
        for condition in self.conditions:
            self._scan(condition)

    def _scan(self, condition: dict) -> None:
        if condition["method"] == "or":
            self.has_or = True
        if condition["method"] in ("and", "or"):
            for sub in condition["values"]:
                self._scan(sub)
        elif condition["attribute"]:
            self.attributes.add(condition["attribute"])

    def accepts(self, payload: dict) -> bool:
        if self.select_all:
            return True
        if not self.has_or and any(attr not in payload for attr in self.attributes):
            return False
        return all(_holds(c, payload) for c in self.conditions)


def _holds(condition: dict, payload: dict) -> bool:
    method, values = condition["method"], condition["values"]
    if method == "and":
        return all(_holds(c, payload) for c in values)
    if method == "or":
        return any(_holds(c, payload) for c in values)
    if condition["attribute"] not in payload:
        return False
    value = payload[condition["attribute"]]
    if method == "equal":
        return any(_identical(value, v) for v in values)
    if method == "notEqual":
        return not any(_identical(value, v) for v in values)
    if method == "isNull":
        return value is None
    if method == "isNotNull":
        return value is not None
    compare = {"lessThan": lambda a, b: a < b, "lessThanEqual": lambda a, b: a <= b,
               "greaterThan": lambda a, b: a > b, "greaterThanEqual": lambda a, b: a >= b}.get(method)
    if compare is None:
        return False
    for target in values:
        try:
            if compare(value, target):
                return True
        except TypeError:  # PHP compares across types; such a pair never matches here
            continue
    return False


def _identical(a: Any, b: Any) -> bool:
    """PHP's ``===``: same type and value (``1 === 1.0`` and ``1 === true`` are false)."""
    return type(a) is type(b) and a == b



def construct_subscriptions(channels: list[str], params: dict[str, Any]) -> dict[int, tuple[list[str], list[dict]]]:
    """``Realtime::constructSubscriptions``: a channel's queries come from the parameter named like the channel with
    ``.`` as ``_``; ``rows[]=q1&rows[]=q2`` makes two subscriptions (either may match), ``rows[0][]=q1&rows[0][]=q2``
    one with both; a channel without queries joins subscription 0 (select("*") unless it has queries already)."""
    subscriptions: dict[int, tuple[list[str], list[dict]]] = {}
    for channel in channels:
        key = channel.replace(".", "_")
        value = params.get(key)
        if key == "project" and isinstance(value, str):
            value = None
        if value is None:
            chans, queries = subscriptions.setdefault(0, ([], []))
            chans.append(channel)
            if not queries:
                queries.append(dict(SELECT_ALL))
            continue
        slots = value if isinstance(value, list) else list(value.values()) if isinstance(value, dict) else [value]
        for index, slot in enumerate(slots):
            chans, queries = subscriptions.setdefault(index, ([], []))
            if channel not in chans:
                chans.append(channel)
            if not queries:
                raw = slot if isinstance(slot, list) else list(slot.values()) if isinstance(slot, dict) else [slot]
                queries.extend(convert_queries(raw))
    return subscriptions
