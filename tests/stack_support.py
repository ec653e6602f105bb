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

ADMIN_SECRET, BOT_SECRET = "e2e-admin-secret", "e2e-bot-secret"
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


OWN_BOT = {"BOT_INLINE": "off"}  # a site with its own bot: touch-session's FAQ bot stays quiet (with `bot` disabled)


def disable_functions(stack: Stack, *function_ids: str, enabled: bool = False) -> None:
    """Switch functions off (or, `enabled`, back on) as an admin does (Console → the function's Settings → Enabled;
    here the same Functions API call): events no longer reach them. Tests that play their own AI bot switch the
    reference bot off, and set BOT_INLINE=off (the FAQ bot in touch-session), as a site with its own bot would."""
    functions = Functions(Client().set_endpoint(stack.endpoint).set_project(stack.project_id).set_key(stack.api_key))
    for function_id in function_ids:
        functions.update(function_id, name=functions.get(function_id).name, enabled=enabled)
        assert stack.runtime.functions[function_id].enabled is enabled


def sign_in(stack: Stack, user: str) -> str:
    """What the agent console does: an email/password session, then a JWT for it (Account API over HTTP)."""
    return _session_jwt(stack, "/account/sessions/email", {"email": f"{user}@example.test",
                                                           "password": stack.dev_password})


def visitor_jwt(stack: Stack) -> str:
    """What the widget does for each visitor: an anonymous session, then a JWT for it."""
    return _session_jwt(stack, "/account/sessions/anonymous", {})


def _session_jwt(stack: Stack, path: str, body: dict) -> str:
    def post(path: str, body: dict, headers: dict) -> tuple[dict, dict]:
        request = urllib.request.Request(f"{stack.endpoint}{path}", data=json.dumps(body).encode(), method="POST",
                                         headers={"content-type": "application/json",
                                                  "x-appwrite-project": stack.project_id, **headers})
        with urllib.request.urlopen(request, timeout=10) as answer:
            return dict(answer.headers), json.loads(answer.read())
    answer_headers, _ = post(path, body, {})
    fallback = {k.lower(): v for k, v in answer_headers.items()}["x-fallback-cookies"]
    return post("/account/jwts", {}, {"x-fallback-cookies": fallback})[1]["jwt"]


def set_function_variables(stack: Stack, values: dict[str, str]) -> None:
    """Deployed builds read Appwrite function variables, not this process's environment: set them through the
    Functions API on every function, as an admin does on a real server (docs/deploy.md)."""
    client = Client().set_endpoint(stack.endpoint).set_project(stack.project_id).set_key(stack.api_key)
    functions = Functions(client)
    for function_id in list(stack.runtime.functions):
        for key, value in values.items():
            functions.create_variable(function_id, "unique()", key, value)


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
            client.add_header("x-appwrite-impersonate-user-id", user)
        self.functions = Functions(client)

    def run(self, function_id: str, body: dict | None = None, *, path: str = "/", method: str = "POST",
            headers: dict | None = None) -> tuple[int, dict]:
        execution = self.functions.create_execution(
            function_id, body=json.dumps(body) if body is not None else "", xasync=False, path=path, method=method,
            headers={"content-type": "application/json", **self.headers, **(headers or {})})
        return execution.responsestatuscode, json.loads(execution.responsebody)


# Headers a caller may add that Appwrite lets through (mixed case, docs/platform.md): the story must not change.
# (A forged JWT or key is refused outright: tests/test_security_stack.py.)
FORGED = {"X-Appwrite-User-Id": "admin-ada", "Authorization": f"Bearer {ADMIN_SECRET}",
          "X-Appwrite-Client-Ip": "10.9.8.7", "X-Appwrite-Country-Code": "ZZ"}


def run_whole_story(stack: Stack, forged: dict | None = None) -> None:
    """Widget -> bot -> handoff by event -> agent claim -> reply -> transcript -> admin listing -> close, as Appwrite
    and its executor deliver it (every execution carries `Authorization: Basic`), with agents signed in for real,
    and with `forged` headers on top of the widget's and the bot's calls. Runs against the working tree
    (tests/test_e2e_stack.py) and against the build the CLI deployed (tests/test_deploy_local.py); the functions
    must see ADMIN_SECRET and BOT_SECRET."""
    forged = forged or {}
    widget = Party(stack, key=False, headers=forged)  # a browser: no key, a guest
    bot = Party(stack, key=False, headers={**forged, "X-Chat-Secret": BOT_SECRET})
    alice, bob = Party(stack, signed_in="agent-alice"), Party(stack, signed_in="agent-bob")
    admin = Party(stack, headers={"X-Chat-Secret": ADMIN_SECRET})

    status, created = widget.run("create-session", {"userMeta": {"browser": "Firefox"}})
    assert status == 201
    session_id, token = created["sessionId"], created["token"]
    me = {"x-session-token": token}
    assert widget.run("touch-session", {"sessionId": session_id, "message": {"text": "Hi", "id": "w1"}},
                      headers=me)[0] == 200
    status, reply = bot.run("touch-session", {"sessionId": session_id,
                                              "message": {"role": "bot", "text": "Hello! How can I help?"}})
    assert status == 200 and reply["session"]["botShouldReply"] is True

    # The visitor asks for a person: the write that admits the message escalates the session.
    widget.run("touch-session", {"sessionId": session_id, "message": {"text": "I want to talk to a human"}},
               headers=me)
    assert stack.wait_idle(10)
    status, queue = alice.run("list-sessions", path="/?needsHuman=true", method="GET")
    assert status == 200 and [s["sessionId"] for s in queue["sessions"]] == [session_id]
    assert queue["sessions"][0]["messageCount"] == 3 and queue["summary"]["needsHuman"] == 1

    status, claimed = alice.run("assign-agent", {"sessionId": session_id}, path="/claim")
    assert status == 200 and claimed["session"]["assignedAgent"] == "agent-alice"
    status, lost = bob.run("assign-agent", {"sessionId": session_id}, path="/claim")
    assert status == 409 and lost["error"]["assignedAgent"] == "agent-alice"
    status, reply = bot.run("touch-session", {"sessionId": session_id, "message": {"role": "bot", "text": "?"}})
    assert reply["session"]["botShouldReply"] is False  # the bot stays quiet once an agent has it
    assert alice.run("touch-session", {"sessionId": session_id,
                                       "message": {"role": "agent", "text": "Alice here"}})[0] == 200

    status, transcript = widget.run("touch-session", path=f"/messages?sessionId={session_id}", method="GET",
                                    headers=me)
    assert [m["role"] for m in transcript["messages"]] == ["user", "bot", "user", "bot", "agent"]

    status, listing = admin.run("list-sessions", method="GET")
    assert listing["summary"]["byStatus"]["agent_assigned"] == 1 and listing["summary"]["agents"] == {
        "agent-alice": 1}
    assert token not in json.dumps(listing)

    status, closed = alice.run("close-session", {"sessionId": session_id, "reason": "solved"})
    assert status == 200 and closed["session"]["status"] == "closed"
    assert widget.run("touch-session", {"sessionId": session_id, "message": {"text": "hello?"}},
                      headers=me)[1]["error"]["code"] == "session_closed"
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
