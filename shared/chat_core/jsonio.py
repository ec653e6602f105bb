"""Strict JSON in and out: only what a browser's `JSON.parse` reads back as the same value.

Python's `json` reads and writes `NaN`, `Infinity` and `-Infinity`, turns `1e400` into `inf`, and nests as deep as
the interpreter's stack allows. None of that is JSON a browser can use, so requests carrying it are refused, and
an answer carrying it is a bug (see http.App).
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_DEPTH = 32  # levels of objects/arrays: `{}` is 1, `{"a": []}` is 2


class NotStrictJSON(ValueError):
    """The text is not strict JSON within MAX_DEPTH; the message says why, in words fit for an answer."""


def _no_constant(name: str) -> Any:
    raise NotStrictJSON(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise NotStrictJSON("a number is too large")
    return value


def _double_int(text: str) -> int:
    value = int(text)
    try:
        float(value)  # a browser reads an integer beyond the double range as Infinity
    except OverflowError:
        raise NotStrictJSON("a number is too large") from None
    return value


def loads(text: str | bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """The value, or NotStrictJSON: bad syntax, NaN/Infinity, a number beyond a double, or too deep."""
    try:
        value = json.loads(text, parse_constant=_no_constant, parse_float=_finite_float, parse_int=_double_int)
    except NotStrictJSON:
        raise
    except RecursionError:
        raise NotStrictJSON(f"nested deeper than {max_depth} levels") from None
    except ValueError:  # JSONDecodeError, and int() refusing more than sys.get_int_max_str_digits() digits
        raise NotStrictJSON("not valid JSON") from None
    if too_deep(value, max_depth):
        raise NotStrictJSON(f"nested deeper than {max_depth} levels")
    return value


def too_deep(value: Any, max_depth: int = MAX_DEPTH) -> bool:
    """Whether objects/arrays nest deeper than max_depth. Iterative: a deep value must not exhaust the stack."""
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        if level > max_depth:
            return True
        stack.extend((child, level + 1) for child in children)
    return False


def dumps(value: Any, *, ensure_ascii: bool = True) -> str:
    """Compact strict JSON (as the runtime's res.json writes it, minus NaN). Raises ValueError, TypeError or
    RecursionError for a value that has no strict JSON form."""
    return json.dumps(value, allow_nan=False, separators=(",", ":"), ensure_ascii=ensure_ascii)
