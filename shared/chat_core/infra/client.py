"""The Appwrite SDK's client, sending through a transport that sets a timeout and reuses connections.

The SDK 27 `Client.call` sends every request with the module-level `requests.request`: no timeout (a hung Appwrite
would hang the function until the runtime kills it) and a new connection each time (a TLS handshake per request).
It has no hook for a session or a timeout, so `AppwriteClient` overrides `call`, the one method the services
(TablesDB, Users, Account, Functions) send through: it builds the request exactly as the SDK does (headers, JSON
body, flattened query), sends it through a `Transport`, and answers or raises `AppwriteException` as the SDK does.
The SDK module itself is left as it is: other clients in the process (the tools, the local stack) are unaffected.
Multipart requests (file uploads) are the SDK's own business; the functions make none, and this client refuses them.
tests/test_client.py holds the two clients' requests side by side.
"""

from __future__ import annotations

import json
import sys
import threading
from typing import Any, Protocol

import requests
from appwrite.client import Client
from appwrite.encoders.value_class_encoder import ValueClassEncoder
from appwrite.exception import AppwriteException
from appwrite.query import Query


class Transport(Protocol):
    """Sends one HTTP request (the arguments of `requests.request`) and returns its response."""

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response: ...


class PooledTransport:
    """One `requests.Session` (a connection pool) per thread, kept for the life of the process: a warm instance
    reuses its connections from one execution to the next."""

    def __init__(self) -> None:
        self._local = threading.local()

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session.request(method, url, **kwargs)


POOL = PooledTransport()  # the process's connections; every gateway of a warm instance sends through it


class AppwriteClient(Client):
    """An SDK client whose requests go through `transport`, each with `timeout` seconds to connect and to read."""

    def __init__(self, timeout: float, transport: Transport = POOL) -> None:
        super().__init__()
        self.timeout = timeout
        self.transport = transport

    def call(self, method: str, path: str = "", headers: dict | None = None, params: dict | None = None,
             response_type: str = "json") -> Any:
        # As appwrite 27.0.0 client.py `Client.call`, minus multipart, plus the transport and the timeout.
        headers = {**self._global_headers, **(headers or {})}
        params = {key: Query._flatten(value) for key, value in (params or {}).items()}
        data: Any = {}
        if method != "get":
            data, params = params, {}
        if headers["content-type"].startswith("multipart/form-data"):
            raise AppwriteException("multipart requests are not sent through this client")
        if headers["content-type"].startswith("application/json"):
            data = json.dumps(data, cls=ValueClassEncoder)
        response = None
        try:
            response = self.transport.request(
                method, self._endpoint + path, params=self.flatten(params), data=data, headers=headers,
                verify=not self._self_signed, allow_redirects=response_type != "location", timeout=self.timeout)
            response.raise_for_status()
            warnings = response.headers.get("x-appwrite-warning")
            for warning in warnings.split(";") if warnings else ():
                print(f"Warning: {warning}", file=sys.stderr)
            content_type = response.headers["Content-Type"]
            if response_type == "location":
                return response.headers.get("Location")
            if response_type == "text":
                return response.content.decode("utf-8")
            if content_type.startswith("application/json"):
                return response.json()
            return response._content
        except Exception as exc:
            if response is None:
                raise AppwriteException(exc) from None
            if response.headers["Content-Type"].startswith("application/json"):
                raise AppwriteException(response.json()["message"], response.status_code, response.json().get("type"),
                                        response.text) from None
            raise AppwriteException(response.text, response.status_code, None, response.text) from None
