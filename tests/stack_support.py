"""Helpers for tests that drive the local stack over HTTP through the real SDK."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager

from appwrite.client import Client
from appwrite.services.functions import Functions

from devstack.server import Stack


@contextmanager
def function_variables(values: dict[str, str]) -> Iterator[None]:
    """The stack runs functions in-process: their variables are this process's environment, restored after."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class Party:
    """One caller with its own SDK client: a widget (no key), an agent (key + impersonation), the bot or an admin."""

    def __init__(self, stack: Stack, *, user: str | None = None, key: bool = True, headers: dict | None = None):
        client = Client().set_endpoint(stack.endpoint).set_project(stack.project_id)
        if key:
            client.set_key(stack.api_key)
        if user:
            client.add_header("x-appwrite-impersonate-user-id", user)
        self.functions = Functions(client)
        self.headers = headers or {}

    def run(self, function_id: str, body: dict | None = None, *, path: str = "/", method: str = "POST",
            headers: dict | None = None) -> tuple[int, dict]:
        execution = self.functions.create_execution(
            function_id, body=json.dumps(body) if body is not None else "", xasync=False, path=path, method=method,
            headers={"content-type": "application/json", **self.headers, **(headers or {})})
        return execution.responsestatuscode, json.loads(execution.responsebody)
