"""Helpers for tests that drive the local stack over HTTP through the real SDK."""

from __future__ import annotations

import json
import os
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

from appwrite.client import Client
from appwrite.services.functions import Functions

from devstack.server import Stack

JOIN_SECONDS = 60  # a safety net against a hung thread, not a timed assertion


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


def sign_in(stack: Stack, user: str) -> str:
    """What the agent console does: an email/password session, then a JWT for it (Account API over HTTP)."""
    def post(path: str, body: dict, headers: dict) -> tuple[dict, dict]:
        request = urllib.request.Request(f"{stack.endpoint}{path}", data=json.dumps(body).encode(), method="POST",
                                         headers={"content-type": "application/json",
                                                  "x-appwrite-project": stack.project_id, **headers})
        with urllib.request.urlopen(request, timeout=10) as answer:
            return dict(answer.headers), json.loads(answer.read())
    answer_headers, _ = post("/account/sessions/email",
                             {"email": f"{user}@example.test", "password": stack.dev_password}, {})
    fallback = {k.lower(): v for k, v in answer_headers.items()}["x-fallback-cookies"]
    return post("/account/jwts", {}, {"x-fallback-cookies": fallback})[1]["jwt"]


class Party:
    """One caller with its own SDK client: a widget (no key), an agent, the bot or an admin.

    `signed_in=USER` is a real agent: it signs in and calls with its JWT, as Appwrite authenticates it
    (`X-Appwrite-JWT`) and as the functions verify it (`X-Chat-JWT`). `user=USER` is the stack's dev-only
    impersonation (key + `x-appwrite-impersonate-user-id`), which delivers a session's user JWT."""

    def __init__(self, stack: Stack, *, user: str | None = None, key: bool = True, headers: dict | None = None,
                 signed_in: str | None = None):
        client = Client().set_endpoint(stack.endpoint).set_project(stack.project_id)
        self.headers = dict(headers or {})
        if signed_in:
            jwt = sign_in(stack, signed_in)
            client.set_jwt(jwt)
            self.headers["X-Chat-JWT"] = jwt
        elif key:
            client.set_key(stack.api_key)
        if user:
            client.set_impersonate_user_id(user)
        self.functions = Functions(client)

    def run(self, function_id: str, body: dict | None = None, *, path: str = "/", method: str = "POST",
            headers: dict | None = None) -> tuple[int, dict]:
        execution = self.functions.create_execution(
            function_id, body=json.dumps(body) if body is not None else "", xasync=False, path=path, method=method,
            headers={"content-type": "application/json", **self.headers, **(headers or {})})
        return execution.responsestatuscode, json.loads(execution.responsebody)


def at_once(*actions, timeout: float = JOIN_SECONDS) -> list:
    """Run the actions on their own threads, released together by a barrier; their results in order. `timeout`
    is a safety net against a hung thread, not a timed assertion: give long runs more."""
    barrier, results, failures = threading.Barrier(len(actions)), [None] * len(actions), []

    def go(index: int, action) -> None:
        try:
            barrier.wait(timeout)
            results[index] = action()
        except BaseException as exc:  # noqa: BLE001 - reported below, on the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=go, args=(i, action)) for i, action in enumerate(actions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(thread.is_alive() for thread in threads), "a racing call hung"
    if failures:
        raise failures[0]
    return results
