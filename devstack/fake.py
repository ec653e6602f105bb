"""An in-process Appwrite for unit tests: the real SDK's HTTP calls are answered by `RestApi`.

    with FakeAppwrite("appwrite.json") as fake:
        tables = TablesDB(fake.client())
        fake.reset_counts()
        fake.fail_next("503", after=2)   # the 3rd Appwrite request from now fails
        ...
        assert len(fake.requests) == 4

Fault kinds: "500" (Appwrite JSON error), "502"/"503" (HTML from a proxy), "timeout"
(ConnectTimeout), "reset" (ConnectionError), "garbage" (200 `<html>oops` labelled JSON),
"garbage_html" (200 text/html): none of these reaches the engine. "applied_timeout" is the
nasty one: the engine applies the request, then the client sees a ReadTimeout.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
import responses

from devstack.engine import Engine
from devstack.rest import KeyRing, RestApi, error_body

FAULT_KINDS = {"500", "502", "503", "timeout", "reset", "garbage", "garbage_html", "applied_timeout"}
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
Fault = Callable[[int, str, str], "str | None"]
Matcher = str | Callable[[str, str], bool] | None


@dataclass
class _Planned:
    kind: str
    match: Matcher
    skip: int  # matching requests still to let through before failing


class FakeAppwrite:
    """Context manager that routes the SDK's requests to an in-memory engine via `responses`."""

    def __init__(self, appwrite_json_path: str | Path, endpoint: str = "http://appwrite.test/v1",
                 project: str = "test-project", key: str = "test-key") -> None:
        self.endpoint = endpoint.rstrip("/")
        self.project = project
        self.key = key
        self.engine = Engine(appwrite_json_path)
        self.keys = KeyRing().add(key)
        self.api = RestApi(self.engine, self.keys, project)
        self.requests: list[tuple[str, str]] = []
        self.fault: Fault | None = None
        self._planned: list[_Planned] = []
        self._lock = threading.Lock()
        self._mock: responses.RequestsMock | None = None

    # -- lifecycle --------------------------------------------------------------------------

    def __enter__(self) -> FakeAppwrite:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._mock = responses.RequestsMock(assert_all_requests_are_fired=False)
        pattern = re.compile(re.escape(self.endpoint) + r"(/.*)?(\?.*)?$")
        for method in METHODS:
            self._mock.add_callback(method, pattern, callback=self._callback, content_type=None)
        self._mock.start()

    def stop(self) -> None:
        if self._mock is not None:
            self._mock.stop()
            self._mock.reset()
            self._mock = None

    def client(self, key: str | None = None, project: str | None = None) -> Any:
        """A real SDK client pointed at this fake (new client each call, so headers don't leak)."""
        from appwrite.client import Client

        return (Client().set_endpoint(self.endpoint).set_project(project or self.project)
                .set_key(key or self.key))

    # -- counting and faults ----------------------------------------------------------------

    def reset_counts(self) -> None:
        with self._lock:
            self.requests.clear()

    def count(self, method: str | None = None, contains: str = "") -> int:
        """How many recorded requests match a method and a path substring."""
        return sum(1 for m, p in self.requests if (method is None or m == method.upper()) and contains in p)

    def fail_next(self, kind: str, *, match: Matcher = None, after: int = 0) -> None:
        """Fail one future request: let `after` matching requests through, fail the next one.
        `match` is a regex searched in "METHOD /v1/path" or a predicate (method, path)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; use one of {sorted(FAULT_KINDS)}")
        with self._lock:
            self._planned.append(_Planned(kind, match, after))

    def clear_faults(self) -> None:
        with self._lock:
            self._planned.clear()
            self.fault = None

    def _pick_planned(self, method: str, path: str) -> str | None:
        for planned in self._planned:
            if not _matches(planned.match, method, path):
                continue
            if planned.skip > 0:
                planned.skip -= 1
                continue
            self._planned.remove(planned)
            return planned.kind
        return None

    # -- the responses callback -------------------------------------------------------------

    def _callback(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], Any]:
        method = (request.method or "GET").upper()
        parts = urlsplit(request.url or "")
        prefix = urlsplit(self.endpoint).path
        path = "/v1" + parts.path[len(prefix):]
        with self._lock:
            index = len(self.requests)
            self.requests.append((method, path))
        # The hook runs outside the lock: a test may hold one thread's request while another proceeds.
        hook = self.fault
        kind = hook(index, method, path) if hook is not None else None
        if kind is None:
            with self._lock:
                kind = self._pick_planned(method, path)
        if kind is not None and kind != "applied_timeout":
            return _faulted(kind, request)
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        status, headers, payload = self.api.handle(method, path, parts.query, dict(request.headers), body)
        if kind == "applied_timeout":
            lost = requests.exceptions.ReadTimeout("fake: response lost after the write", request=request)
            return 0, {}, lost
        return status, headers, payload


def _matches(match: Matcher, method: str, path: str) -> bool:
    if match is None:
        return True
    if callable(match):
        return bool(match(method, path))
    return re.search(match, f"{method} {path}") is not None


def _faulted(kind: str, request: requests.PreparedRequest) -> tuple[int, dict[str, str], Any]:
    if kind == "timeout":
        return 0, {}, requests.exceptions.ConnectTimeout("fake: connect timeout", request=request)
    if kind == "reset":
        return 0, {}, requests.exceptions.ConnectionError("fake: connection reset by peer", request=request)
    if kind == "garbage":
        return 200, {"content-type": "application/json"}, b"<html>oops"
    if kind == "garbage_html":
        return 200, {"content-type": "text/html"}, b"<html>oops</html>"
    if kind == "500":
        return 500, {"content-type": "application/json"}, error_body(500, "general_unknown", "Server Error")
    reason = "Bad Gateway" if kind == "502" else "Service Unavailable"
    html = f"<html><body><h1>{kind} {reason}</h1></body></html>".encode()
    return int(kind), {"content-type": "text/html"}, html
