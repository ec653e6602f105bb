"""Who is calling and what they may do (chat_core.authz), through the functions, on the fake Appwrite."""

from __future__ import annotations

import pytest
from conftest import ADMIN_SECRET, Widget, execute, jwt_for, row


def account_lookups(appwrite) -> int:
    return appwrite.count("GET", "/v1/account")


def test_a_jwt_is_verified_once_per_warm_instance(appwrite):
    appwrite.reset_counts()
    for _ in range(3):
        assert execute("list-sessions", method="GET", user="agent-alice").status == 200
    assert account_lookups(appwrite) == 1


def test_with_no_cache_every_request_verifies_its_jwt(appwrite, monkeypatch):
    monkeypatch.setenv("LABEL_CACHE_SECONDS", "0")
    appwrite.reset_counts()
    for _ in range(2):
        assert execute("list-sessions", method="GET", user="agent-alice").status == 200
    assert account_lookups(appwrite) == 2


@pytest.mark.parametrize("jwt", ["0\r0", "a.b\n.c", "a b.c.d", "\ud800.x.y", "only-one-part"])
def test_a_jwt_that_is_not_one_is_a_401_without_asking_appwrite(appwrite, jwt):
    appwrite.reset_counts()
    result = execute("create-session", {}, headers={"x-appwrite-user-jwt": jwt})
    assert (result.status, result.error) == (401, "invalid_credentials")
    assert len(appwrite.requests) == 0


def test_a_jwt_appwrite_refuses_is_a_401_and_is_not_remembered(appwrite):
    for jwt in ("a.b.c", jwt_for("agent-alice") + "x"):
        for _ in range(2):
            result = execute("list-sessions", method="GET", headers={"x-chat-jwt": jwt})
            assert (result.status, result.error) == (401, "invalid_credentials")
    appwrite.reset_counts()
    execute("list-sessions", method="GET", headers={"x-chat-jwt": "a.b.c"})
    assert account_lookups(appwrite) == 1


def test_the_jwt_header_of_the_project_proves_a_caller_without_a_session(appwrite):
    result = execute("list-sessions", method="GET", headers={"X-Chat-JWT": jwt_for("admin-ada")})
    assert result.status == 200


@pytest.mark.parametrize("authorization", [f"Bearer {ADMIN_SECRET}", "Basic b3ByOnNlY3JldA==", "", "Bearer "])
def test_the_authorization_header_is_ignored_whatever_it_holds(appwrite, authorization):
    result = execute("list-sessions", method="GET", headers={"authorization": authorization})
    assert (result.status, result.error) == (401, "unauthorized")


def test_a_visitor_with_a_token_costs_no_identity_lookup_even_when_signed_in(appwrite):
    visitor = Widget()
    appwrite.reset_counts()
    result = execute("touch-session", {"sessionId": visitor.session_id, "message": {"text": "hi"}},
                     token=visitor.token, user="visitor-vic")
    assert result.status == 200 and account_lookups(appwrite) == 0


def test_a_signed_in_visitor_owns_their_session_without_the_token(appwrite):
    created = execute("create-session", {}, user="visitor-vic")
    session_id = created.json["sessionId"]
    assert row(appwrite, "sessions", session_id)["ownerId"] == "visitor-vic"
    said = execute("touch-session", {"sessionId": session_id, "message": {"text": "from my phone"}},
                   user="visitor-vic")
    assert said.status == 200
    stranger = execute("touch-session", {"sessionId": session_id, "message": {"text": "me too"}},
                       user="agent-bob")
    assert stranger.status == 403


def test_an_owner_keeps_staff_rights_on_their_own_session(appwrite):
    session_id = execute("create-session", {}, user="admin-ada").json["sessionId"]
    execute("escalate", {"sessionId": session_id}, user="admin-ada")
    assert execute("assign-agent", {"sessionId": session_id, "agentId": "agent-bob"}, path="/assign",
                   user="admin-ada").status == 200
    unassigned = execute("assign-agent", {"sessionId": session_id}, path="/unassign", user="admin-ada")
    assert unassigned.status == 200 and unassigned.json["session"]["assignedAgent"] is None


def test_an_agent_cannot_act_as_another_by_naming_them(appwrite, widget):
    execute("escalate", {"sessionId": widget.session_id}, token=widget.token)
    result = execute("assign-agent", {"sessionId": widget.session_id}, path="/claim", user="agent-bob",
                     headers={"X-Appwrite-User-Id": "agent-alice"})
    assert result.status == 200 and result.json["session"]["assignedAgent"] == "agent-bob"


def test_an_oversized_credential_is_refused_before_anything_else(appwrite, widget):
    result = execute("touch-session", {"sessionId": widget.session_id}, headers={"x-chat-secret": "x" * 5000})
    assert (result.status, result.error) == (401, "invalid_credentials")


@pytest.mark.parametrize("key", ["a\rb", "", "k\u00e9y"])
def test_an_execution_key_no_header_can_carry_is_refused_before_any_request(appwrite, key):
    appwrite.reset_counts()
    result = execute("create-session", {}, headers={"X-Appwrite-Key": key} if key else {"x-appwrite-key": key})
    assert (result.status, result.error) == (401, "execution_key_refused")
    assert len(appwrite.requests) == 0
