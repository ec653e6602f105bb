"""What ``POST /v1/functions/{id}/executions`` accepts and what an Execution model shows its caller, on the local
stack (``devstack.devapp``): the parameters and headers as Appwrite validates them (``Executions/Create.php``,
``Functions/Validator/Headers.php``), who may read an execution, and the model a caller gets back
(``src/Appwrite/Utopia/Response/Model/Execution.php`` and the 2.0.0 response filter).
"""

from __future__ import annotations

import json
import re
from typing import Any

from . import params as params_module
from .functions import METHODS, ApiError, Caller
from .versions import version_tuple

MAX_EXECUTION_HEADERS, MAX_EXECUTION_HEADER_BYTES = 100, 16384  # Functions/Validator/Headers.php
_HEADER_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$")


def _may_read(record: dict, caller: Caller) -> bool:
    if caller.api_key and not caller.user_id:
        return True
    return bool(caller.user_id) and f'read("user:{caller.user_id}")' in record["$permissions"]


def _visible(record: dict, caller: Caller, headers: dict[str, str]) -> dict:
    """The Execution model as the caller gets it: logs and errors only for API-key callers; `resourceId` and
    `resourceType` on the 2.x line, which an SDK asking for a response format below 2.0.0 (SDK 16 asks 1.8.0) gets
    back as `functionId` (appwrite `src/Appwrite/Utopia/Response/Model/Execution.php` and the response filter
    `src/Appwrite/Utopia/Response/Filters/V27.php` "Convert 2.0.0 Data format to 1.9.5 format", applied in
    `app/controllers/general.php` when `version_compare($responseFormat, '2.0.0', '<')`, on main after 1.9.6)."""
    model = {k: v for k, v in record.items() if k != "functionId"}
    requested = headers.get("x-appwrite-response-format", "")
    if requested and version_tuple(requested) < (2, 0, 0):
        model = {k: v for k, v in record.items() if k not in ("resourceId", "resourceType")}
    if caller.api_key:
        return model
    return {**model, "logs": "", "errors": ""}


def _json_object(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        params = params_module.php_json(body)  # no NaN, no nesting past 512, no RecursionError (devstack/params.py)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "general_argument_invalid", f"Invalid JSON body: {exc}") from None
    if not isinstance(params, dict):
        raise ApiError(400, "general_argument_invalid", "The JSON body must be an object.")
    return params


def parse_execution_params(body: bytes) -> dict[str, Any]:
    """Validate ``{body, async, path, method, headers}`` as Appwrite does. ``scheduledAt`` (a delayed execution) is
    not served: nothing here sends it."""
    params = _json_object(body)
    text, is_async = params.get("body", ""), params.get("async", False)
    path, method = params.get("path", "/") or "/", str(params.get("method", "POST") or "POST").upper()
    headers = params.get("headers") or {}
    if params.get("scheduledAt") not in (None, ""):
        raise _invalid("scheduledAt", "is not served by the local stack")
    if not isinstance(text, str):
        raise _invalid("body", "must be a string")
    is_async = params_module.boolean(is_async, "async", loose=True)  # Executions/Create.php: Boolean(true)
    if not isinstance(path, str):
        raise _invalid("path", "must be a string")
    if method not in METHODS:
        raise _invalid("method", f"must be one of {', '.join(METHODS)}")
    if isinstance(headers, str):  # the param is an object or a JSON string holding one
        try:
            headers = json.loads(headers) if headers.strip() else {}
        except ValueError:
            raise _invalid("headers", "must be an object") from None
    if not isinstance(headers, dict):
        raise _invalid("headers", "must be an object")
    headers = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in headers.items()}
    check_execution_headers(headers)
    return {"body": text, "async": is_async, "path": path if path.startswith("/") else "/" + path,
            "method": method, "headers": headers}


def check_execution_headers(headers: dict[str, str]) -> None:
    """Appwrite 1.8.1 `Functions/Validator/Headers.php`: at most 100 names of letters, digits and inner hyphens,
    under 16 KB in all, none starting with `x-appwrite-`. That last check is case-sensitive: `X-Appwrite-User-Id`
    passes, and the function then sees the caller's value (docs/platform.md)."""
    size = 0
    for name, value in headers.items():
        size += len(name.encode()) + len(value.encode())
        if (len(headers) > MAX_EXECUTION_HEADERS or size >= MAX_EXECUTION_HEADER_BYTES
                or not _HEADER_NAME.match(name) or name.startswith("x-appwrite-")):
            raise ApiError(400, "general_argument_invalid",
                           'Invalid headers: Alphanumeric characters or hyphens only, cannot start with "x-appwrite",'
                           f" maximum {MAX_EXECUTION_HEADERS} keys, and total size {MAX_EXECUTION_HEADER_BYTES}.")


def _invalid(name: str, why: str) -> ApiError:
    return ApiError(400, "general_argument_invalid", f"Invalid `{name}` param: {why}.")
