"""Bounded abuse over real HTTP on the local stack, with the identities Appwrite really provides: a widget that
signs its visitor in anonymously (POST /v1/account/sessions/anonymous) gets budgets of its own, proven by the
user JWT Appwrite hands its executions; callers without one share the guests' budget; no header changes either."""

from __future__ import annotations

import json
import urllib.request
from datetime import datetime, timezone

import pytest
from appwrite.client import Client
from appwrite.services.functions import Functions
from chat_core.edge import http
from stack_support import function_variables

from devstack.server import Stack

BUDGETS = {"USER_SESSIONS_PER_MINUTE": "3", "GUEST_SESSIONS_PER_MINUTE": "2", "SESSIONS_PER_MINUTE": "100",
           "USER_MESSAGES_PER_MINUTE": "4", "GUEST_MESSAGES_PER_MINUTE": "3", "MAX_MESSAGES_PER_MINUTE": "20"}
# A forged user JWT is refused outright (test_security_stack.py); these arrive and are ignored.
FORGED = {"X-Appwrite-Client-Ip": "203.0.113.9", "X-Forwarded-For": "198.51.100.7",
          "X-Appwrite-User-Id": "someone-else", "X-Appwrite-Country-Code": "zz"}


@pytest.fixture
def stack(tmp_path, monkeypatch):
    monkeypatch.setattr(http, "utcnow", lambda: datetime(2026, 11, 25, 14, 0, 5, tzinfo=timezone.utc))
    with function_variables(BUDGETS), Stack(data_dir=tmp_path, port=0, run_scheduler=False) as running:
        yield running


class Visitor:
    """A browser with the widget: anonymous (`signed_in=False`) or signed in with an anonymous Appwrite session,
    whose executions then carry `x-appwrite-user-jwt` (Appwrite adds it for a caller with a session)."""

    def __init__(self, stack: Stack, *, signed_in: bool) -> None:
        client = Client().set_endpoint(stack.endpoint).set_project(stack.project_id)
        self.user_id = None
        if signed_in:
            request = urllib.request.Request(f"{stack.endpoint}/account/sessions/anonymous", data=b"{}",
                                             method="POST", headers={"content-type": "application/json",
                                                                     "x-appwrite-project": stack.project_id})
            with urllib.request.urlopen(request, timeout=10) as answer:
                self.user_id = json.loads(answer.read())["userId"]
                cookies = json.loads(answer.headers["x-fallback-cookies"])
            client.set_session(cookies[f"a_session_{stack.project_id}"])
        self.functions = Functions(client)
        self.sessions: list[dict] = []

    def run(self, function_id: str, body: dict, headers: dict | None = None) -> tuple[int, dict]:
        execution = self.functions.create_execution(function_id, body=json.dumps(body), path="/", method="POST",
                                                    headers={"content-type": "application/json", **(headers or {})})
        return execution.responsestatuscode, json.loads(execution.responsebody)

    def start(self, headers: dict | None = None) -> tuple[int, dict]:
        status, answer = self.run("create-session", {}, headers)
        if status == 201:
            self.sessions.append(answer)
        return status, answer

    def say(self, session: dict, text: str, headers: dict | None = None) -> tuple[int, dict]:
        return self.run("touch-session", {"sessionId": session["sessionId"], "message": {"text": text}},
                        {"x-session-token": session["token"], **(headers or {})})


def test_a_signed_in_visitor_has_its_own_budgets_and_guests_share_theirs(stack):
    alice, bob = Visitor(stack, signed_in=True), Visitor(stack, signed_in=True)
    assert [alice.start()[0] for _ in range(3)] == [201] * 3
    status, refused = alice.start(FORGED)
    assert (status, refused["error"]["code"], refused["error"]["budget"]) == (429, "too_many_sessions", "user")
    owners = {stack.engine.get_row("chat", "sessions", s["sessionId"])["ownerId"] for s in alice.sessions}
    assert owners == {alice.user_id}  # the session belongs to the user Appwrite vouched for
    assert bob.start()[0] == 201  # another visitor: another budget

    guest = Visitor(stack, signed_in=False)
    assert [guest.start(FORGED)[0] for _ in range(2)] == [201, 201]
    status, refused = guest.start(FORGED)
    assert (status, refused["error"]["budget"]) == (429, "guests")
    assert Visitor(stack, signed_in=False).start()[0] == 429  # every caller without a JWT shares it

    # Messages: alice's budget covers all her sessions; the guests share theirs.
    sent = [alice.say(alice.sessions[i % 3], f"m{i}")[0] for i in range(5)]
    assert sent == [200, 200, 200, 200, 429]
    assert bob.say(bob.sessions[0], "hello")[0] == 200
    assert [guest.say(guest.sessions[i % 2], "x", FORGED)[0] for i in range(4)] == [200, 200, 200, 429]
