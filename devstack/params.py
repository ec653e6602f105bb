"""Request parameters checked as Appwrite's validators check them, with Appwrite's messages.

Appwrite (1.9.6, the 2.x line's readable source) declares each route parameter with a Utopia validator; utopia-php/http
(2.0.0-rc9, `src/Http/Http.php` `validate()`) answers a value the validator refuses with
``Invalid `<name>` param: <the validator's description>``, which Appwrite's error handler
(`app/controllers/general.php`, `Utopia\\Http\\Exception` with code 400) types `general_argument_invalid`.

- `Boolean(loose)` (utopia-php/validators 0.2.6 `src/Validator/Boolean.php`): a JSON boolean always; loose also the
  strings `"true"`, `"false"`, `"1"`, `"0"` and the integers 1 and 0, nothing else (not `"False"`, not `"yes"`, not
  1.0). SDK 16 sent Python's `False` as the text `False` in a query string: refused.
- `Range(min, max)` (same package, `src/Validator/Range.php`, over `Numeric`): PHP `is_numeric`, then the value plus
  zero must be a PHP int (so `"900"` passes, `900.0` and `"9e2"` do not), within the bounds; the description prints
  the bounds with `number_format` (`3,600`).
- `Numeric` (`src/Validator/Numeric.php`): PHP `is_numeric`.
- The JSON body: utopia-php/http (2.0.0-rc23) `src/Http/Adapter/Swoole/Request.php` 270 runs PHP's `json_decode`
  (depth 512), which refuses `NaN`, `Infinity` and `-Infinity` (Python's json takes them) and a nesting deeper than
  512; Python's own limit is the interpreter's recursion limit (a RecursionError, not a ValueError). `php_json`
  refuses all of these with a ValueError, so every caller answers them as it answers any undecodable body.
"""

from __future__ import annotations

import json
import re
from typing import Any

from devstack.values import EngineError

# PHP 8 `is_numeric` on a string: optional leading and trailing whitespace, a sign, digits with an optional
# fraction (or a bare fraction), an optional exponent. No hex, no "inf"/"nan".
_PHP_NUMERIC = re.compile(r"^[ \t\n\r\v\f]*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?[ \t\n\r\v\f]*$")
_PHP_INTEGER = re.compile(r"^[ \t\n\r\v\f]*[+-]?\d+[ \t\n\r\v\f]*$")
PHP_INT_MAX = 2**63 - 1
PHP_JSON_DEPTH = 512  # json_decode's default $depth


def invalid(name: str, description: str) -> EngineError:
    return EngineError(400, "general_argument_invalid", f"Invalid `{name}` param: {description}")


def boolean(value: Any, name: str, *, loose: bool) -> bool:
    """Utopia `Boolean(loose)`; answers the value as PHP's `bool` parameter receives it."""
    if isinstance(value, bool):
        return value
    if loose and (value in ("true", "1") or (type(value) is int and value == 1)):
        return True
    if loose and (value in ("false", "0") or (type(value) is int and value == 0)):
        return False
    raise invalid(name, "Value must be a valid boolean")


def php_is_numeric(value: Any) -> bool:
    """PHP 8 `is_numeric`: ints and floats, and numeric strings; never a boolean."""
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    return isinstance(value, str) and bool(_PHP_NUMERIC.match(value))


def php_number(value: Any) -> int | float:
    """A value `php_is_numeric` accepted, as PHP's `$value + 0` makes it (an integer string within PHP's int range
    stays an int, anything else is a float)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    text = str(value).strip(" \t\n\r\v\f")
    if _PHP_INTEGER.match(text) and abs(int(text)) <= PHP_INT_MAX:
        return int(text)
    return float(text)


def integer_range(value: Any, name: str, low: int, high: int) -> int:
    """Utopia `Range(low, high)` (integer format)."""
    if php_is_numeric(value):
        number = php_number(value)
        if type(number) is int and low <= number <= high:
            return number
    raise invalid(name, f"Value must be a valid range between {low:,} and {high:,}")


def numeric(value: Any, name: str) -> int | float:
    """Utopia `Numeric`; answers the number PHP's `int|float` parameter receives."""
    if not php_is_numeric(value):
        raise invalid(name, "Value must be a valid number")
    return php_number(value)


def php_json(body: bytes | str) -> Any:
    """`json.loads` as strict as PHP's `json_decode` (depth 512): ValueError for NaN/Infinity and for a nesting of
    more than 512 arrays and objects (PHP's parser `PHP_JSON_PARSER_CHECK_DEPTH`: `++depth > max_depth`)."""
    try:
        parsed = json.loads(body, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError("JSON nesting too deep") from None
    raw = body.encode(errors="replace") if isinstance(body, str) else body
    if raw.count(b"{") + raw.count(b"[") > PHP_JSON_DEPTH and _depth(parsed) > PHP_JSON_DEPTH:  # few brackets: shallow
        raise ValueError("JSON nesting too deep")
    return parsed


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
