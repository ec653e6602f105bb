"""The whole story on the local stack over real HTTP, through the real SDK: widget, AI bot, two agents, an admin."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone

import pytest
from stack_support import Party, disable_functions, function_variables

from devstack.server import Stack

ADMIN_SECRET, BOT_SECRET = "e2e-admin-secret", "e2e-bot-secret"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with function_variables({"ADMIN_SECRET": ADMIN_SECRET, "BOT_SECRET": BOT_SECRET, "IDLE_CLOSE_MINUTES": "30"}), \
            Stack(data_dir=tmp_path_factory.mktemp("stack"), port=0, run_scheduler=False) as running:
        disable_functions(running, "bot")  # the story plays its own AI bot
        yield running


# Headers a caller may add that Appwrite lets through (mixed case, PLATFORM.md): the story must not change.
# (A forged JWT or key is refused outright: tests/test_security_stack.py.)
FORGED = {"X-Appwrite-User-Id": "admin-ada", "Authorization": f"Bearer {ADMIN_SECRET}",
          "X-Appwrite-Client-Ip": "10.9.8.7", "X-Appwrite-Country-Code": "ZZ"}


@pytest.mark.parametrize("forged", [{}, FORGED, {"authorization": "Basic b3ByOmd1ZXNz"}], ids=["plain", "forged",
                                                                                              "authorization"])
def test_the_whole_story(stack, forged):
    """What Appwrite and its executor deliver (the stack adds `Authorization: Basic` to every execution), with
    agents signed in for real, and with or without headers a caller forged on top."""
    widget = Party(stack, key=False, headers=forged)  # a browser: no key, a guest
    bot = Party(stack, key=False, headers={**forged, "X-Chat-Secret": BOT_SECRET})
    alice, bob = Party(stack, signed_in="agent-alice"), Party(stack, signed_in="agent-bob")
    admin = Party(stack, headers={"x-chat-secret": ADMIN_SECRET})

    status, created = widget.run("create-session", {"userMeta": {"browser": "Firefox"}})
    assert status == 201
    session_id, token = created["sessionId"], created["token"]
    me = {"x-session-token": token}
    assert widget.run("touch-session", {"sessionId": session_id, "message": {"text": "Hi", "id": "w1"}},
                      headers=me)[0] == 200
    status, reply = bot.run("touch-session", {"sessionId": session_id,
                                              "message": {"role": "bot", "text": "Hello! How can I help?"}})
    assert status == 200 and reply["session"]["botShouldReply"] is True

    # The visitor asks for a person: the message event escalates the session, asynchronously as on Appwrite.
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


def test_strangers_are_kept_out(stack):
    guest = Party(stack, key=False)
    # Appwrite's execute permissions stop a guest before the function runs...
    with pytest.raises(Exception) as refused:
        guest.run("list-sessions", method="GET")
    assert getattr(refused.value, "code", None) == 401
    # ...and the functions check again: a server key without a secret is not an agent.
    status, answer = Party(stack).run("list-sessions", method="GET")
    assert (status, answer["error"]["code"]) == (401, "unauthorized")


def test_agents_claiming_at_once_over_http_have_one_winner(stack):
    widget = Party(stack, key=False)
    agents = {name: Party(stack, user=name) for name in ("agent-alice", "agent-bob")}
    for _ in range(5):
        _, created = widget.run("create-session", {})
        widget.run("escalate", {"sessionId": created["sessionId"]}, headers={"x-session-token": created["token"]})
        barrier, results = threading.Barrier(2), {}

        def claim(name, session_id=created["sessionId"], barrier=barrier, results=results):
            barrier.wait(5)
            results[name] = agents[name].run("assign-agent", {"sessionId": session_id}, path="/claim")

        threads = [threading.Thread(target=claim, args=(name,)) for name in agents]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        statuses = sorted(status for status, _ in results.values())
        assert statuses == [200, 409]
        winner = next(answer["session"]["assignedAgent"] for status, answer in results.values() if status == 200)
        loser = next(answer for status, answer in results.values() if status == 409)
        assert loser["error"]["assignedAgent"] == winner


def test_the_schedule_closes_idle_sessions(stack):
    widget = Party(stack, key=False)
    _, idle = widget.run("create-session", {})
    _, fresh = widget.run("create-session", {})
    long_ago = (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat()
    stack.engine.update_row("chat", "sessions", idle["sessionId"], {"lastSeen": long_ago})
    stack.fire_schedule("close-session")
    assert stack.wait_idle(10)
    assert stack.engine.get_row("chat", "sessions", idle["sessionId"])["status"] == "closed"
    assert stack.engine.get_row("chat", "sessions", fresh["sessionId"])["status"] == "active"


def test_every_function_proves_an_agent_with_nothing_cached_and_no_users_scope(stack):
    """On Appwrite each function is its own process: nothing verified by one is known to another. The JWT is the
    agent's own credential, so no function needs `users.read` to prove who calls (only assign-agent keeps it, for
    the agent an assign or transfer names)."""
    from chat_core import gateway

    widget, alice = Party(stack, key=False), Party(stack, signed_in="agent-alice")
    _, created = widget.run("create-session", {})
    session_id = created["sessionId"]
    for function_id, body, path in (
        ("escalate", {"sessionId": session_id}, "/"),
        ("assign-agent", {"sessionId": session_id}, "/claim"),
        ("touch-session", {"sessionId": session_id, "message": {"role": "agent", "text": "Alice here"}}, "/"),
        ("list-sessions", None, f"/{session_id}"),
        ("close-session", {"sessionId": session_id}, "/"),
    ):
        gateway._jwt_cache.clear()
        gateway._label_cache.clear()
        status, answer = alice.run(function_id, body, path=path, method="GET" if body is None else "POST")
        assert status == 200, (function_id, answer)
    scopes = {spec.id: spec.scopes for spec in stack.runtime.functions.values()}
    assert [fid for fid, granted in scopes.items() if "users.read" in granted] == ["assign-agent"]


def test_the_boundary_holds_over_http(stack):
    """Issue 10's repros through the stack: a NaN body, a hostile stored row in the queue, a Unicode digit."""
    def strict(text: str):
        def refuse(name):
            raise ValueError(f"{name} is not JSON")
        return json.loads(text, parse_constant=refuse)

    widget = Party(stack, key=False)
    admin = Party(stack, headers={"X-Chat-Secret": ADMIN_SECRET})
    status, refused = widget.run("create-session", {"userMeta": {"a": float("nan")}})  # json.dumps writes NaN
    assert (status, refused["error"]["code"]) == (400, "invalid_json")
    _, hostile = widget.run("create-session", {})
    widget.run("escalate", {"sessionId": hostile["sessionId"]}, headers={"x-session-token": hostile["token"]})
    stack.engine.update_row("chat", "sessions", hostile["sessionId"],
                            {"userMeta": '{"a": ' + "[" * 1015 + "]" * 1015 + "}", "theme": '{"a": NaN}'})
    for path in ("/?needsHuman=true", f"/{hostile['sessionId']}", "/?limit=%C2%B2", "/?idleFor=1000000d"):
        execution = admin.functions.create_execution("list-sessions", path=path, method="GET",
                                                     headers=admin.headers)
        answer = strict(execution.responsebody)
        assert execution.responsestatuscode in (200, 400), (path, answer)
        if execution.responsestatuscode == 400:
            assert answer["error"]["code"] == "invalid_query"
        else:
            shown = answer["sessions"] if "sessions" in answer else [answer["session"]]
            mine = next(s for s in shown if s["sessionId"] == hostile["sessionId"])
            assert mine["userMeta"] == {} and mine["theme"] == {}
