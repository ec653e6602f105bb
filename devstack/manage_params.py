"""A management request on the local stack (``devstack.manage``): its path, query and body (JSON or
``multipart/form-data``, as CLI 12.0.1 sends deployments), its parameters checked as Appwrite's validators check them
(``Boolean``, ``Text``, ``Range``, ``FloatValidator``, roles and permissions), and the answers in Appwrite's shapes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from . import params
from .engine import EngineError
from .versions import SERVER_VERSION

VERSION = SERVER_VERSION  # the one version the stack plays (devstack/versions.py)
Response = tuple[int, dict[str, str], bytes]
_QUERY_KEY = re.compile(r"^queries\[(\d*)\]$")
LIMIT_DEFAULT = 25


class Request:
    """One parsed management request: path segments, query list, JSON or multipart params."""

    def __init__(self, method: str, segments: list[str], query: list[tuple[str, str]], headers: dict[str, str],
                 params: dict[str, Any], files: dict[str, tuple[str, bytes]]) -> None:
        self.method, self.segments, self.query, self.headers = method, segments, query, headers
        self.params, self.files = params, files

    def param(self, name: str, default: Any = None) -> Any:
        for key, value in self.query:
            if key == name:
                return value
        return self.params.get(name, default)

    def queries(self) -> list[dict[str, Any]]:
        raw = [(int(m.group(1)) if m.group(1) else i, v) for i, (k, v) in enumerate(self.query)
               if (m := _QUERY_KEY.match(k))] or list(enumerate(self.params.get("queries") or []))
        parsed = []
        for _, text in sorted(raw):
            try:
                query = json.loads(text) if isinstance(text, str) else text
            except ValueError:
                raise EngineError(400, "general_query_invalid", f"Invalid query: {text}") from None
            if not isinstance(query, dict) or "method" not in query:
                raise EngineError(400, "general_query_invalid", f"Invalid query: {text}")
            parsed.append(query)
        return parsed


Handler = Callable[[Request], Response]


# --------------------------------------------------------------------------- helpers


def _json(status: int, payload: Any) -> Response:
    return status, {"content-type": "application/json"}, json.dumps(payload).encode()


def _error(code: int, type_: str, message: str) -> Response:
    body = {"message": message, "code": code, "type": type_, "version": VERSION}
    return code, {"content-type": "application/json"}, json.dumps(body).encode()


def _page(items: list[dict[str, Any]], queries: list[dict[str, Any]], wrapper: str) -> dict[str, Any]:
    """limit, offset and equal, the queries the CLI's ``paginate`` and list calls send."""
    limit, offset = LIMIT_DEFAULT, 0
    for query in queries:
        method, values = query.get("method"), query.get("values") or []
        if method == "limit" and values and isinstance(values[0], int) and values[0] >= 0:
            limit = values[0]
        elif method == "offset" and values and isinstance(values[0], int) and values[0] >= 0:
            offset = values[0]
        elif method == "equal" and isinstance(query.get("attribute"), str):
            items = [i for i in items if i.get(query["attribute"]) in values]
        else:
            raise EngineError(400, "general_query_invalid", f"Invalid query: {json.dumps(query)}")
    return {"total": len(items), wrapper: items[offset:offset + limit]}


def _parse_body(method: str, headers: dict[str, str], body: bytes) -> tuple[dict[str, Any], dict]:
    if method == "GET" or not body.strip():
        return {}, {}
    content_type = headers.get("content-type", "")
    if content_type.lower().startswith("multipart/form-data"):
        return parse_multipart(body, content_type)
    try:
        parsed = params.php_json(body)  # no NaN (a float column's bounds), no RecursionError (devstack/params.py)
    except ValueError:
        raise EngineError(400, "general_argument_invalid", "Invalid JSON body.") from None
    if not isinstance(parsed, dict):
        raise EngineError(400, "general_argument_invalid", "The request body must be a JSON object.")
    return parsed, {}


def parse_multipart(body: bytes, content_type: str) -> tuple[dict[str, Any], dict[str, tuple[str, bytes]]]:
    """``multipart/form-data`` fields and files; array fields ``name[0]`` become lists."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not match:
        raise EngineError(400, "general_argument_invalid", "Multipart body without a boundary.")
    delimiter = b"--" + match.group(1).encode()
    fields: dict[str, Any] = {}
    files: dict[str, tuple[str, bytes]] = {}
    for part in body.split(delimiter)[1:]:
        if part.startswith(b"--"):
            break
        head, sep, content = part.partition(b"\r\n\r\n")
        if not sep:
            raise EngineError(400, "general_argument_invalid", "Malformed multipart body.")
        content = content.removesuffix(b"\r\n")
        disposition = next((line for line in head.decode("utf-8", "replace").split("\r\n")
                            if line.lower().startswith("content-disposition")), "")
        name = re.search(r'\bname="([^"]*)"', disposition)
        filename = re.search(r'\bfilename="([^"]*)"', disposition)
        if name is None:
            continue
        if filename is not None:
            files[name.group(1)] = (filename.group(1), content)
            continue
        value = content.decode("utf-8", "replace")
        array = re.match(r"^(.+)\[\d*\]$", name.group(1))
        if array:
            fields.setdefault(array.group(1), []).append(value)
        else:
            fields[name.group(1)] = value
    return fields, files


def _required(r: Request, name: str) -> Any:
    value = r.param(name)
    if value is None:
        raise EngineError(400, "general_argument_invalid", f'Param "{name}" is not optional.')
    return value


def _text(value: Any, name: str, size: int) -> str:
    if not isinstance(value, str) or len(value) > size:
        raise EngineError(400, "general_argument_invalid",
                          f"Invalid `{name}` param: Value must be a valid string and at most {size} chars")
    return value


# Appwrite 1.9.6 declares `rowSecurity` (TablesDB/Tables/Create.php) and `activate` (Functions/Http/Deployments/
# Create.php) `Boolean(true)`; `enabled`, `required`, `array`, `encrypt`, `logging`, `secret` plain `Boolean()`, which
# takes only a JSON boolean (devstack/params.py).
_LOOSE_BOOLEANS = frozenset({"rowSecurity", "activate"})


def _bool(value: Any, name: str) -> bool:
    return params.boolean(value, name, loose=name in _LOOSE_BOOLEANS)


def _float(value: Any, name: str) -> float:
    """`FloatValidator` (not loose): a number, not a boolean."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise EngineError(400, "general_argument_invalid", f"Invalid `{name}` param: Value must be a valid float")
    return float(value)


def _int(value: Any, name: str, low: int, high: int) -> int:
    return params.integer_range(value, name, low, high)


def _string_list(value: Any, name: str, most: int) -> list[str]:
    if not isinstance(value, list) or len(value) > most or not all(isinstance(v, str) for v in value):
        raise EngineError(400, "general_argument_invalid", f"Invalid `{name}` param: Value must be an array of "
                          f"at most {most} strings")
    return value


def _roles(value: Any) -> list[str]:
    roles = _string_list(value, "execute", 100)
    for role in roles:
        if not re.match(r"^(any|users|guests|label:[A-Za-z0-9]+|team:[^/]+(/[^/]+)?|user:[^/]+(/[^/]+)?"
                        r"|member:[^/]+)$", role):
            raise EngineError(400, "general_argument_invalid", f'Invalid `execute` param: Role "{role}" is not '
                              "allowed.")
    return roles


def _permissions(value: Any) -> list[str]:
    permissions = _string_list(value, "permissions", 100)
    for permission in permissions:
        if not re.match(r'^(read|create|update|delete|write)\("[^"]+"\)$', permission):
            raise EngineError(400, "general_argument_invalid", f"Invalid `permissions` param: {permission}")
    return permissions


def _elements(value: Any) -> list[str]:
    elements = _string_list(value, "elements", 100)
    if not elements or any(not e or len(e) > 255 for e in elements):
        raise EngineError(400, "general_argument_invalid", "Invalid `elements` param: Value must be an array of "
                          "non-empty strings of at most 255 chars")
    return elements
