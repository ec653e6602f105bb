"""Text that Appwrite would read as an operation instead of storing it.

On an update or upsert (and their bulk forms), Appwrite turns any string value whose JSON decodes to an object with a
known `method` into an atomic operator, whatever the column's type: `{"method": "stringReplace", "values": ["a",
"b"]}` sent as a rating comment would rewrite the stored comment instead of being stored (appwrite/appwrite
`src/Appwrite/Platform/Modules/Databases/Http/Databases/Action.php` `parseOperators`, 1.8.1 through the 2.x line;
the methods are utopia-php/database `src/Database/Operator.php` `isMethod`). A create never parses them. So every
caller-supplied text that the functions write with an update is checked here first (docs/platform.md).

The check is a superset of Appwrite's: Python's JSON reader accepts a little more than PHP's `json_decode` (NaN,
nesting past 512), so a string it flags may be one Appwrite would have stored; never the other way round.
"""

from __future__ import annotations

import json
from typing import Any

METHODS = frozenset({
    "increment", "decrement", "multiply", "divide", "modulo", "power",
    "stringConcat", "stringReplace",
    "arrayAppend", "arrayPrepend", "arrayInsert", "arrayRemove", "arrayUnique", "arrayIntersect", "arrayDiff",
    "arrayFilter",
    "toggle", "dateAddDays", "dateSubDays", "dateSetNow",
})


JSON_WHITESPACE = " \t\n\r"


def reads_as_operator(value: Any) -> bool:
    """True if Appwrite may apply `value` as an operator when it arrives in an update's or upsert's data."""
    # Cheap exit: only a JSON object can be one. (Not a search for "method": `\u006dethod` decodes to it.)
    if not isinstance(value, str) or not value.lstrip(JSON_WHITESPACE).startswith("{"):
        return False
    try:
        decoded = json.loads(value)
    except (ValueError, RecursionError):
        return False
    method = decoded.get("method") if isinstance(decoded, dict) else None
    return isinstance(method, str) and method in METHODS


def operator_columns(data: dict[str, Any]) -> list[str]:
    """The columns of an update's `data` whose values Appwrite would read as operators."""
    return sorted(key for key, value in data.items() if reads_as_operator(value))


# Derived text the functions copy from a visitor's words onto the session (the queue's preview of the first message):
# it must be stored whatever it says, so one that reads as an operator is stored behind an invisible separator that
# no JSON text can start with, and read back without it.
SHIELD = "\u2063"


def shield(value: str | None) -> str | None:
    return SHIELD + value if value is not None and reads_as_operator(value) else value


def unshield(value: str | None) -> str | None:
    return value.removeprefix(SHIELD) if isinstance(value, str) else value
