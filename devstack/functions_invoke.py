"""One execution as the runtime sees it, on the local stack (``devstack.functions``): the headers Appwrite and the
executor hand it (Appwrite 1.8.1 ``Executions/Create.php``; open-runtimes/executor ``src/Executor/Runner/Docker.php``),
``context.req`` as the Python runtime builds it (aiohttp, yarl), the entrypoint imported from its file as a package
member (relative imports between files of ``src/`` work as in the runtime), and what ``main`` returned, checked as
the runtime checks it.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import re
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yarl import URL

from .functions_model import ExecRequest

MISSING_RETURN = "Return statement missing. return context.res.empty() if no response is expected."


@dataclass
class _Outcome:
    status: int = 500
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    error: str = ""


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


def _outcome_of(result: Any) -> _Outcome:
    """Check what ``main`` returned, as the runtime does (it must be one of ``context.res.*``)."""
    if not isinstance(result, dict) or "statusCode" not in result:
        return _Outcome(500, error=MISSING_RETURN)
    body = result.get("body", b"")
    if isinstance(body, str):
        body = body.encode()
    headers = {str(k).lower(): str(v) for k, v in (result.get("headers") or {}).items()}
    return _Outcome(int(result["statusCode"]), bytes(body), headers)


Headers = list[tuple[str, str]]


def _assign(headers: Headers, name: str, value: str) -> Headers:
    """PHP's `$headers[$name] = $value`: replaces an entry of exactly that name in place, else appends."""
    for i, (existing, _) in enumerate(headers):
        if existing == name:
            return [*headers[:i], (name, value), *headers[i + 1:]]
    return [*headers, (name, value)]


def appwrite_headers(request: ExecRequest, execution_id: str, key: str) -> Headers:
    """The caller's headers, then Appwrite's own, as Appwrite 1.8.1 hands them to the executor
    (`Executions/Create.php`: `$headers['x-appwrite-...'] = ...` after the caller's `headers` param). The caller's
    names were checked case-sensitively (`Functions/Validator/Headers.php`), so a mixed-case `X-Appwrite-User-Id`
    is still here, ahead of Appwrite's lower-case one. For events and schedules the caller sent nothing."""
    headers: Headers = list(request.headers.items())
    own = {
        "x-appwrite-execution-id": execution_id, "x-appwrite-key": key, "x-appwrite-trigger": request.trigger,
        "x-appwrite-event": request.event, "x-appwrite-user-id": request.caller.user_id,
        "x-appwrite-user-jwt": request.user_jwt, "x-appwrite-country-code": "", "x-appwrite-continent-code": "",
        "x-appwrite-continent-eu": "false", "x-appwrite-client-ip": request.client_ip,
    }
    for name, value in own.items():
        headers = _assign(headers, name, value)
    # curl drops a header line with an empty value: an anonymous caller's user ID never arrives (docs/platform.md).
    return [(name, value) for name, value in headers if value != ""]


def executor_headers(headers: Headers, secret: str, timeout: float) -> Headers:
    """What the executor adds before it calls the runtime (open-runtimes/executor
    `src/Executor/Runner/Docker.php`): `Authorization: Basic base64("opr:" + secret)` on every execution,
    replacing only a caller header spelled exactly `Authorization`."""
    basic = "Basic " + base64.b64encode(f"opr:{secret}".encode()).decode()
    for name, value in (("x-open-runtimes-logging", "enabled"), ("Authorization", basic),
                        ("x-open-runtimes-secret", secret), ("x-open-runtimes-timeout", str(max(int(timeout), 1)))):
        headers = _assign(headers, name, value)
    return headers


def runtime_headers(headers: Headers) -> dict[str, str]:
    """`context.req.headers` as the Python runtime builds it: lower-case names, `x-open-runtimes-*` removed, and
    the FIRST value of a repeated name (`dict()` over aiohttp's case-insensitive multidict; docs/platform.md)."""
    seen: dict[str, str] = {}
    for name, value in headers:
        lower = name.lower()
        if not lower.startswith("x-open-runtimes-"):
            seen.setdefault(lower, value)
    return seen


def runtime_target(target: str) -> tuple[str, str]:
    """(`req.path`, `req.query_string`) for a request target, decoded by yarl as the runtime's aiohttp does:
    the path percent-decoded, the query partly decoded (`%20`, `+`, `%25` and UTF-8; `%2B`, `%26`, `%3D` kept)."""
    try:
        url = URL(target if target.startswith("/") else "/" + target, encoded=True)
        return url.path or "/", url.query_string
    except (ValueError, UnicodeError):
        path, _, query = target.partition("?")
        return path or "/", query


def _header_list(headers: dict[str, str]) -> list[dict[str, str]]:
    return [{"name": k, "value": v} for k, v in headers.items()]


def _import_entrypoint(entrypoint: Path) -> types.ModuleType:
    """Import ``src/main.py`` as a member of a synthetic package named after its folder, so
    ``from .helpers import x`` works as in the runtime. Re-importing drops the old members."""
    package = "_devstack_fn_" + hashlib.sha1(str(entrypoint.parent).encode()).hexdigest()[:12]
    for name in [n for n in sys.modules if n == package or n.startswith(package + ".")]:
        del sys.modules[name]
    holder = types.ModuleType(package)
    holder.__path__ = [str(entrypoint.parent)]
    sys.modules[package] = holder
    name = package + "." + re.sub(r"\W", "_", entrypoint.stem)
    spec = importlib.util.spec_from_file_location(name, entrypoint)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {entrypoint}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module
