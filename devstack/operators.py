"""Atomic operators inside a row's `data`, read and applied as Appwrite 1.9.6 and utopia-php/database 6.0.0 do.

Parsing: appwrite 1.9.6 `src/Appwrite/Platform/Modules/Databases/Http/Databases/Action.php` `parseOperators`, called
by update and upsert (and their bulk forms), never by create. Every key of `data` not starting with `$` is looked at,
WHATEVER its column's type: a string value whose PHP `json_decode($value, true)` is an array holding a string
`method` that `Operator::isMethod` knows becomes an operator; so does a JSON object value of that shape; other arrays
are walked the same way. A malformed operator (its `attribute` not a string, its `values` not an array) is 400
`general_bad_request` `Invalid operator for attribute "<key>": <why>` (utopia-php/database `src/Database/Operator.php`
`parse`/`parseOperator`). So a chat message, a rating comment or a reason that reads
`{"method":"stringReplace","values":["a","b"]}` is applied to the row, or refused, instead of stored.

`php_json_decode` mimics PHP's `json_decode` rather than Python's: no `NaN`/`Infinity`, at most 512 levels of nesting,
an unpaired UTF-16 surrogate escape fails, an integer beyond PHP's int range becomes a float.

Checking: utopia-php/database 6.0.0 `src/Database/Validator/Operator.php`, run by the structure validator
(`src/Database/Validator/Structure.php`) against the row as read: its messages, answered as 400 `row_invalid_structure`
`Invalid document structure: <message>`. An operator's result is not checked against the column's min/max, size (but
for `stringConcat`'s predicted length, in bytes) or elements: the structure validator skips operator values.

Applying: utopia-php/database 6.0.0 `src/Database/Adapter/MariaDB.php` `getOperatorSQL` and
`src/Database/Adapter/SQL.php` `bindOperatorParams`, in Python: `COALESCE(col, 0)` for the numeric ones and their
bounds' `CASE`, `MOD` with the dividend's sign, an integer column rounding a fractional result half away from zero,
`CONCAT(COALESCE(col, ''), v)`, `REPLACE` (NULL stays NULL), `NOT COALESCE(col, FALSE)`, `DATE_ADD`/`DATE_SUB` (NULL
stays NULL), `NOW()` (whole seconds). The stack serves no array columns (devstack/schema.py), so an array operator
only ever meets a non-array column and is refused as Appwrite refuses it there.

A row the upsert creates (`upsertRow`, `upsertRows`: utopia-php/database 7.2.6, the version appwrite 1.9.6's
`composer.lock` pins, `src/Database/Adapter/SQL.php` `upsertDocuments`, "For new documents, apply operators to
attribute defaults", and `applyOperatorToValue`; the same in 6.0.0) is not written by SQL: the operator is applied in
PHP to the column's default (`created`), WITHOUT its bound (`increment(1, 5)` on a default of 9 stores 10), NULL
read as 0, '' or false (`stringReplace` on a NULL default stores ''), a date shifted by days left as it was, `NOW()`
to the millisecond; and the validator has no row to predict from (`Validator/Operator.php` runs its overflow and
length checks only with a `currentDocument`), so only the type checks refuse.
"""

from __future__ import annotations

import json
import math
from datetime import timedelta
from typing import Any

from devstack.params import php_is_numeric, php_number
from devstack.schema import Column
from devstack.values import EngineError, format_datetime, now, parse_datetime

METHODS = ("increment", "decrement", "multiply", "divide", "modulo", "power", "stringConcat", "stringReplace",
           "arrayAppend", "arrayPrepend", "arrayInsert", "arrayRemove", "arrayUnique", "arrayIntersect", "arrayDiff",
           "arrayFilter", "toggle", "dateAddDays", "dateSubDays", "dateSetNow")  # Operator::TYPES / isMethod
NUMERIC = ("increment", "decrement", "multiply", "divide", "modulo", "power")
MAX_INT, MIN_INT = 2147483647, -2147483648  # utopia-php/database Database::MAX_INT / MIN_INT
JSON_DEPTH = 512  # PHP json_decode's default depth
PHP_INT_MAX = 2**63 - 1
FAILED = object()


class Op:
    """A parsed operator: its method and its values as a PHP array (a dict of position or key to value)."""

    __slots__ = ("method", "values")

    def __init__(self, method: str, values: dict) -> None:
        self.method = method
        self.values = values

    def at(self, index: int, default: Any = None) -> Any:
        """PHP `$values[$index] ?? $default`."""
        value = self.values.get(index)
        return default if value is None else value


# --- PHP's json_decode ---------------------------------------------------------------------------------------------


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"not JSON: {name}")


def _php_int(text: str) -> int | float:
    number = int(text)
    return number if -PHP_INT_MAX - 1 <= number <= PHP_INT_MAX else float(text)


def _well_formed(value: Any) -> bool:
    """At most JSON_DEPTH levels of arrays and objects, and no string holding an unpaired surrogate."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if any(0xD800 <= ord(ch) <= 0xDFFF for ch in item):
                return False
        elif isinstance(item, (list, dict)):
            if depth + 1 > JSON_DEPTH:
                return False
            children = list(item.values()) + list(item.keys()) if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return True


def php_json_decode(text: str) -> Any:
    """What `json_decode($text, true)` yields, or `FAILED` where PHP answers null for an error."""
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_int=_php_int)
    except (ValueError, RecursionError):
        return FAILED
    return value if _well_formed(value) else FAILED


# --- parsing (Action.php parseOperators, Operator::parse) -----------------------------------------------------------


def _gettype(value: Any) -> str:
    """PHP's `gettype` names."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "string"
    return "array"


def _php_array(value: list | dict) -> dict:
    """A decoded JSON array or object as a PHP array: positions, or keys with integer-like ones made integers."""
    if isinstance(value, list):
        return dict(enumerate(value))
    return {int(k) if k.lstrip("-").isdigit() and str(int(k)) == k else k: v for k, v in value.items()}


def _is_operator_shape(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("method"), str) and value["method"] in METHODS


def _operator(key: str, shape: dict) -> Op:
    attribute, values = shape.get("attribute"), shape.get("values")
    why = ""
    if attribute is not None and not isinstance(attribute, str):
        why = f"Invalid operator attribute. Must be a string, got {_gettype(attribute)}"
    elif values is not None and not isinstance(values, (list, dict)):
        why = f"Invalid operator values. Must be an array, got {_gettype(values)}"
    if why:
        raise EngineError(400, "general_bad_request", f'Invalid operator for attribute "{key}": {why}')
    return Op(shape["method"], _php_array(values if values is not None else []))


def parse_operators(data: Any) -> Any:
    """`parseOperators` over a request's `data`: the same data with every operator a `Op`."""
    if not isinstance(data, dict):
        return data
    parsed: dict = {}
    for key, value in data.items():
        if key.startswith("$"):
            parsed[key] = value
        elif isinstance(value, str):
            decoded = php_json_decode(value)
            parsed[key] = _operator(key, decoded) if _is_operator_shape(decoded) else value
        elif _is_operator_shape(value):
            parsed[key] = _operator(key, value)
        elif isinstance(value, dict):
            parsed[key] = parse_operators(value)
        elif isinstance(value, list):  # integer keys: only nested arrays are walked
            parsed[key] = [parse_operators(v) if isinstance(v, dict) else v for v in value]
        else:
            parsed[key] = value
    return parsed


# --- checking (Validator/Operator.php) ------------------------------------------------------------------------------


def _refused(message: str) -> EngineError:
    return EngineError(400, "row_invalid_structure", f"Invalid document structure: {message}")


def check(column: Column, op: Op, current: Any, *, created: bool = False) -> None:
    """Validator/Operator.php `validateOperatorForAttribute` for one column and the row as read; `created`: a row
    the upsert creates, with no row to predict from (the overflow and length checks need a `currentDocument`)."""
    method, key, values = op.method, column.key, op.values
    is_string = column.kind in ("string", "enum")  # utopia stores an enum as a string with a format
    if method in NUMERIC:
        if not column.numeric:
            raise _refused(f"Cannot apply {method} operator to non-numeric field '{key}'")
        if values.get(0) is None or not php_is_numeric(values[0]):
            raise _refused(f"Cannot apply {method} operator: value must be numeric, got {_gettype(values.get(0))}")
        if method in ("divide", "modulo") and float(php_number(values[0])) == 0.0:
            raise _refused(f"Cannot apply {method} operator: {'division' if method == 'divide' else 'modulo'} by zero")
        if len(values) > 1 and values.get(1) is not None and not php_is_numeric(values[1]):
            raise _refused(f"Cannot apply {method} operator: max/min limit must be numeric, got "
                           f"{_gettype(values[1])}")
        if values.get(1) is None and not created:
            try:
                predicted = _arithmetic(method, current or 0, php_number(values[0]))
            except ZeroDivisionError:  # PHP: 0 ** -1 is INF
                predicted = math.inf
            except OverflowError:
                predicted = math.inf
            if isinstance(predicted, complex):  # PHP: NAN, which passes both comparisons
                predicted = 0
            if predicted > MAX_INT:
                raise _refused(f"Cannot apply {method} operator: would overflow maximum value of {MAX_INT}")
            if predicted < MIN_INT:
                raise _refused(f"Cannot apply {method} operator: would underflow minimum value of {MIN_INT}")
    elif method.startswith("array"):
        _check_array(column, op)
    elif method == "stringConcat":
        if not is_string:
            raise _refused(f"Cannot apply {method} operator to non-string field '{key}'")
        if not values or not isinstance(values.get(0), str):
            raise _refused(f"Cannot apply {method} operator: requires a string value")
        size = column.size or 0
        if size > 0 and not created and len((current or "").encode()) + len(values[0].encode()) > size:
            raise _refused(f"Cannot apply {method} operator: result would exceed maximum length of {size} characters")
    elif method == "stringReplace":
        if not is_string:
            raise _refused(f"Cannot apply {method} operator to non-string field '{key}'")
        if len(values) != 2 or not isinstance(values.get(0), str) or not isinstance(values.get(1), str):
            raise _refused(f"Cannot apply {method} operator: requires exactly 2 string values (search and replace)")
    elif method == "toggle":
        if column.kind != "boolean":
            raise _refused(f"Cannot apply {method} operator to non-boolean field '{key}'")
    elif method in ("dateAddDays", "dateSubDays", "dateSetNow"):
        if column.kind != "datetime":
            raise _refused(f"Cannot apply {method} operator to non-datetime field '{key}'")
        if method != "dateSetNow" and (not values or type(values.get(0)) is not int):
            raise _refused(f"Cannot apply {method} operator: requires an integer number of days")


def _check_array(column: Column, op: Op) -> None:
    """Every column the stack serves is a non-array one: the refusal Validator/Operator.php gives there."""
    method, key = op.method, column.key
    if method in ("arrayIntersect", "arrayDiff"):
        raise _refused(f"Cannot use {method} operator on non-array attribute '{key}'")
    raise _refused(f"Cannot apply {method} operator to non-array field '{key}'")


# --- applying (MariaDB getOperatorSQL) ------------------------------------------------------------------------------


def _arithmetic(method: str, base: Any, operand: Any) -> Any:
    if method == "increment":
        return base + operand
    if method == "decrement":
        return base - operand
    if method == "multiply":
        return base * operand
    if method == "divide":
        return base / operand
    if method == "modulo":  # MOD: the dividend's sign
        if isinstance(base, int) and isinstance(operand, int):
            remainder = abs(base) % abs(operand)
            return remainder if base >= 0 else -remainder
        return math.fmod(base, operand)
    return base ** operand


def _bounded(method: str, base: Any, operand: Any, bound: Any) -> Any:
    """The `CASE` each bounded numeric operator compiles to."""
    if method == "increment":
        return bound if base >= bound or base > bound - operand else base + operand
    if method == "decrement":
        return bound if base <= bound or base < bound + operand else base - operand
    if method == "multiply":
        if base >= bound or (operand > 0 and base > bound / operand) or (operand < 0 and base < bound / operand):
            return bound
        return base * operand
    if method == "divide":
        return bound if base / operand <= bound else base / operand
    if method == "power":
        if base >= bound:
            return bound
        if base <= 1:
            return base
        return bound if operand * math.log(base) > math.log(bound) else base ** operand
    return _arithmetic(method, base, operand)  # modulo takes no bound


def _numeric(column: Column, op: Op, current: Any) -> int:
    base = current if current is not None else 0
    operand = php_number(op.at(0, 1))
    bound = op.values.get(1)
    try:
        result = _arithmetic(op.method, base, operand) if bound is None else \
            _bounded(op.method, base, operand, php_number(bound))
    except (ZeroDivisionError, OverflowError, ValueError):  # an SQL error on MariaDB: Appwrite answers 500
        raise EngineError(500, "general_unknown", "Server Error") from None
    if isinstance(result, complex):
        raise EngineError(500, "general_unknown", "Server Error")
    # Every numeric column served is an integer one: MariaDB rounds a fractional value stored into an INT half away
    # from zero.
    return int(math.copysign(math.floor(abs(result) + 0.5), result)) if isinstance(result, float) else result


def apply(column: Column, op: Op, current: Any) -> Any:
    """The column's new value, once `check` passed."""
    method = op.method
    if method in NUMERIC:
        return _numeric(column, op, current)
    if method == "stringConcat":
        return (current or "") + op.values[0]
    if method == "stringReplace":
        search, replace = op.values[0], op.values[1]
        return current if current is None or search == "" else current.replace(search, replace)
    if method == "toggle":
        return not bool(current)
    if method == "dateSetNow":
        return format_datetime(now().replace(microsecond=0))
    base = parse_datetime(current)
    if base is None:
        return None
    days = op.values[0]
    return format_datetime(base + timedelta(days=days if method == "dateAddDays" else -days))


def apply_created(column: Column, op: Op) -> Any:
    """The value a row the upsert creates stores: SQL.php `applyOperatorToValue` on the column's default (no bound,
    NULL read as 0, '' or false), once `check(..., created=True)` passed."""
    method, default = op.method, column.default
    if method in NUMERIC:
        unbounded = Op(method, {0: op.at(0, 1)})
        return _numeric(column, unbounded, default)
    if method == "stringConcat":
        return (default or "") + (op.values.get(0) or "")
    if method == "stringReplace":
        search, replace = op.values.get(0) or "", op.values.get(1) or ""
        return (default or "") if search == "" else (default or "").replace(search, replace)
    if method == "toggle":
        return not bool(default)
    if method == "dateSetNow":
        return format_datetime(now())
    return default  # dateAddDays, dateSubDays: the default as it is
