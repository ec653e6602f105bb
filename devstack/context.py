"""The function runtime's `context` object, following the open-runtimes v5 contract.

Used by the local stack to run functions and by the unit tests to call `main(context)`
directly. Mirrors what docs/platform.md documents: `req.body` is a dict for a JSON content
type (text otherwise), `req.query` is a naive split (not URL-decoded), header names are
lower-case, `res.json` mutates the headers dict it is given, log lines are cut at 8000.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

LOG_LIMIT = 8000


class RuntimeRequest:
    def __init__(self, method: str = "POST", path: str = "/", headers: dict[str, str] | None = None,
                 body: bytes | str | dict | None = b"", url: str = "http://localhost/",
                 query_string: str | None = None) -> None:
        if isinstance(body, dict):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        self.body_binary: bytes = body or b""
        self.headers: dict[str, str] = {}
        for name, value in (headers or {}).items():  # the runtime keeps the first value of a repeated name
            self.headers.setdefault(name.lower(), value)
        self.method = method.upper()
        if query_string is None:  # unit tests pass "path?query"; the stack passes both parts, already decoded
            path, _, query_string = path.partition("?")
        self.path = path or "/"
        self.query_string = query_string
        self.query = _naive_query(query_string)
        parts = urlsplit(url)
        self.scheme = parts.scheme or "http"
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (443 if self.scheme == "https" else 80)
        self.url = f"{self.scheme}://{self.host}:{self.port}{self.path}" + (
            f"?{query_string}" if query_string else "")

    @property
    def body_text(self) -> str:
        return self.body_binary.decode()  # raises on invalid UTF-8, as the runtime does

    @property
    def body_json(self) -> Any:
        return json.loads(self.body_text)

    @property
    def body(self) -> Any:
        if self.headers.get("content-type", "").startswith("application/json"):
            return self.body_json if self.body_binary else {}
        return self.body_text


def _naive_query(query_string: str) -> dict[str, str]:
    query: dict[str, str] = {}
    for pair in query_string.split("&"):
        if pair:
            key, _, value = pair.partition("=")
            query[key] = value
    return query


class RuntimeResponse:
    def json(self, obj: Any, statusCode: int = 200, headers: dict | None = None) -> dict:  # noqa: N803
        headers = {} if headers is None else headers
        headers["content-type"] = "application/json"
        return self.binary(json.dumps(obj).encode(), statusCode, headers)

    def text(self, body: str, statusCode: int = 200, headers: dict | None = None) -> dict:  # noqa: N803
        return self.binary(body.encode(), statusCode, headers)

    def binary(self, body: bytes, statusCode: int = 200, headers: dict | None = None) -> dict:  # noqa: N803
        return {"body": body, "statusCode": statusCode, "headers": headers or {}}

    def empty(self) -> dict:
        return self.binary(b"", 204, {})

    def redirect(self, url: str, statusCode: int = 301, headers: dict | None = None) -> dict:  # noqa: N803
        headers = {} if headers is None else headers
        headers["location"] = url
        return self.binary(b"", statusCode, headers)


class RuntimeContext:
    def __init__(self, req: RuntimeRequest) -> None:
        self.req = req
        self.res = RuntimeResponse()
        self.logs: list[str] = []
        self.errors: list[str] = []

    def log(self, *messages: Any) -> None:
        self.logs.append(_format(messages))

    def error(self, *messages: Any) -> None:
        self.errors.append(_format(messages))


def _format(messages: tuple) -> str:
    text = " ".join(m if isinstance(m, str) else json.dumps(m, default=str) for m in messages)
    return text[:LOG_LIMIT]
