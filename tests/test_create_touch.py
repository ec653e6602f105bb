"""create-session and touch-session through each function's main, against the fake Appwrite."""

import re
from datetime import datetime, timezone

from chat_core.edge import http
from chat_core.infra import users
from conftest import Widget, execute, row, rows

NOW = datetime(2026, 11, 25, 14, 0, 20, tzinfo=timezone.utc)


def test_create_answers_an_unguessable_id_and_a_token_it_never_stores(appwrite):
    first, second = Widget(userMeta={"browser": "Firefox"}), Widget()
    assert re.fullmatch(r"s_[0-9a-f]{32}", first.session_id)
    assert first.session_id != second.session_id
    assert len(first.token) >= 43  # 32 random bytes, URL-safe base64
    stored = row(appwrite, "sessions", first.session_id)
    assert first.token not in str(stored)
    assert stored["status"] == "active" and stored["needsHuman"] is False
    assert stored["userMeta"] == '{"browser":"Firefox"}'
    assert first.created["status"] == "active" and first.created["botShouldReply"] is True


def test_create_binds_a_signed_in_visitor(appwrite):
    result = execute("create-session", {}, user="visitor-vic")
    assert row(appwrite, "sessions", result.json["sessionId"])["ownerId"] == "visitor-vic"
    touched = execute("touch-session", {"sessionId": result.json["sessionId"]}, user="visitor-vic")
    assert touched.status == 200


def test_create_accepts_meta_as_a_json_string(appwrite):
    result = execute("create-session", {"userMeta": '{"device": "Desktop"}', "theme": {"color": "#123"}})
    assert result.status == 201
    assert row(appwrite, "sessions", result.json["sessionId"])["theme"] == '{"color":"#123"}'


def test_bad_create_requests_are_refused_and_write_nothing(appwrite):
    cases = [
        ({"userMeta": "not json"}, "invalid_json"),
        ({"userMeta": [1, 2]}, "invalid_type"),
        ({"theme": {"x": "y" * 3000}}, "too_large"),
        ({"sessionId": "mine"}, "unknown_field"),
        ([], "invalid_body"),
    ]
    for body, code in cases:
        result = execute("create-session", body)
        assert (result.status, result.error) == (400, code), body
    assert execute("create-session", raw=b"{not json").error == "invalid_json"
    assert execute("create-session", raw=b"\xff\xfe").error == "invalid_json"
    assert execute("create-session", method="GET").status == 405
    assert execute("create-session", path="/nope").status == 404
    assert rows(appwrite, "sessions") == []


def test_create_costs_three_appwrite_requests(appwrite, monkeypatch):
    monkeypatch.setattr(http, "utcnow", lambda: NOW)  # one budget window throughout
    Widget()  # the first one also creates the minute's budget rows
    appwrite.reset_counts()
    Widget()
    assert [(m, p.split("/")[5]) for m, p in appwrite.requests] == [
        ("PATCH", "limits"), ("PATCH", "limits"),  # the guests' budget, the project's ceiling
        ("POST", "sessions")]  # no counter write: the counters take it in at the next fold (chat_core.consistency)


def test_touch_moves_last_seen_and_a_message_bumps_the_count(appwrite, widget):
    before = row(appwrite, "sessions", widget.session_id)["lastSeen"]
    heartbeat = execute("touch-session", {"sessionId": widget.session_id}, token=widget.token)
    assert heartbeat.status == 200 and heartbeat.json["session"]["lastSeen"] >= before
    result = widget.say("Hello")
    assert result.status == 200, result
    assert result.json["session"]["messageCount"] == 1
    assert result.json["session"]["status"] == "active"
    assert result.json["message"]["role"] == "user" and result.json["message"]["text"] == "Hello"
    assert [m["text"] for m in rows(appwrite, "messages")] == ["Hello"]


def test_touch_with_a_message_costs_four_requests(appwrite, monkeypatch):
    monkeypatch.setattr(http, "utcnow", lambda: NOW)
    Widget().say("first")  # opens the minute's budget row
    widget = Widget()
    appwrite.reset_counts()
    widget.say("hi")
    assert [(m, p.split("/")[5]) for m, p in appwrite.requests] == [
        ("GET", "sessions"), ("PATCH", "limits"),  # the visitor's budget
        ("PATCH", "sessions"), ("POST", "messages")]  # admitted by a conditional write, then stored; the row
    # reaches the visitor's socket itself (Realtime): no signal row, the session's state did not change


def test_touch_refuses_strangers_unknown_and_closed_sessions(appwrite, widget):
    wrong = execute("touch-session", {"sessionId": widget.session_id, "message": {"text": "x"}}, token="guess")
    assert (wrong.status, wrong.error) == (403, "forbidden")
    anonymous = execute("touch-session", {"sessionId": widget.session_id})
    assert anonymous.status == 403
    unknown = execute("touch-session", {"sessionId": "s_missing"}, token=widget.token)
    assert (unknown.status, unknown.error) == (404, "session_not_found")
    execute("close-session", {"sessionId": widget.session_id}, token=widget.token)
    closed = widget.say("still there?")
    assert (closed.status, closed.error) == (409, "session_closed")
    assert rows(appwrite, "messages") == []


def test_token_in_the_body_works_like_the_header(appwrite, widget):
    result = execute("touch-session", {"sessionId": widget.session_id, "token": widget.token,
                                       "message": {"text": "hi"}})
    assert result.status == 200


def test_a_retried_message_with_the_same_id_is_stored_once(appwrite, widget):
    first = widget.say("only once", id="c-1")
    again = widget.say("only once", id="c-1")
    assert again.status == 200 and again.json["duplicate"] is True
    assert again.json["message"]["messageId"] == first.json["message"]["messageId"]
    assert len(rows(appwrite, "messages")) == 1
    assert row(appwrite, "sessions", widget.session_id)["messageCount"] == 1


def test_roles_are_enforced(appwrite, widget):
    assert widget.say("I am the bot", role="bot").status == 403
    bot = execute("touch-session", {"sessionId": widget.session_id, "message": {"text": "Hi!", "role": "bot"}},
                  secret="bot-secret-for-tests")
    assert bot.status == 200 and bot.json["message"]["role"] == "bot"
    stranger_agent = execute("touch-session", {"sessionId": widget.session_id,
                                               "message": {"text": "hi", "role": "agent"}}, user="agent-bob")
    assert stranger_agent.status == 403
    assert widget.say("x", role="wizard").error == "invalid_role"
    assert widget.say("x", handoff=True).error == "invalid_handoff"


def test_bot_and_agent_messages_do_not_count_as_visitor_activity(appwrite, widget):
    before = row(appwrite, "sessions", widget.session_id)["lastSeen"]
    execute("touch-session", {"sessionId": widget.session_id, "message": {"text": "Hi!", "role": "bot"}},
            secret="bot-secret-for-tests")
    assert row(appwrite, "sessions", widget.session_id)["lastSeen"] == before


def test_message_validation(appwrite, widget):
    assert widget.say("").error == "invalid_length"
    assert widget.say("x" * 4001).error == "invalid_length"
    assert widget.say("x", id="has space").error == "invalid_id"
    assert widget.say("x", colour="red").error == "unknown_field"
    assert rows(appwrite, "messages") == []


def test_flood_limit_answers_429(appwrite, widget, monkeypatch):
    monkeypatch.setenv("MAX_MESSAGES_PER_MINUTE", "3")
    statuses = [widget.say(f"m{i}").status for i in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    assert row(appwrite, "sessions", widget.session_id)["messageCount"] == 3


def test_the_widget_reads_its_transcript(appwrite, widget):
    for text in ("one", "two", "three"):
        widget.say(text)
    page = execute("touch-session", method="GET", path="/messages", token=widget.token,
                   headers={}, body=None,)
    assert page.status == 400  # sessionId missing
    first = execute("touch-session", method="GET", path=f"/messages?sessionId={widget.session_id}&limit=2",
                    token=widget.token)
    assert [m["text"] for m in first.json["messages"]] == ["one", "two"]
    rest = execute("touch-session", method="GET",
                   path=f"/messages?sessionId={widget.session_id}&limit=2&cursor={first.json['nextCursor']}",
                   token=widget.token)
    assert [m["text"] for m in rest.json["messages"]] == ["three"] and rest.json["nextCursor"] is None
    stranger = execute("touch-session", method="GET", path=f"/messages?sessionId={widget.session_id}")
    assert stranger.status == 403


def test_the_bot_and_the_widget_cannot_collide_on_message_ids(appwrite, widget):
    widget.say("from the visitor", id="1")
    bot = execute("touch-session", {"sessionId": widget.session_id,
                                    "message": {"text": "from the bot", "role": "bot", "id": "1"}},
                  secret="bot-secret-for-tests")
    assert bot.json["duplicate"] is False and bot.json["message"]["text"] == "from the bot"
    assert row(appwrite, "sessions", widget.session_id)["messageCount"] == 2


def test_the_widget_reads_its_agents_name_at_one_users_read_per_warm_instance(appwrite, monkeypatch):
    """The session's `agentName` and each agent message's `authorName`, for "Alice joined the chat" and her initials;
    a warm instance reads a name once (10 minutes), and an agent whose JWT it verified costs no read at all."""
    monkeypatch.setattr(http, "utcnow", lambda: NOW)
    appwrite.engine.put_user("agent-alice", "Alice Martin", ["agent"])
    visitor = Widget()
    polled = execute("touch-session", method="GET", path=f"/messages?sessionId={visitor.session_id}",
                     token=visitor.token)
    assert "agentName" not in polled.json["session"]  # no agent: nothing read, nothing said
    assert execute("assign-agent", {"sessionId": visitor.session_id}, path="/claim", user="agent-alice").status == 200
    users.MEMORY.clear()  # another instance: touch-session has never seen Alice
    appwrite.reset_counts()
    touched = visitor.say("hello?")
    assert touched.json["session"]["agentName"] == "Alice Martin"
    assert [p.split("/")[2] for _, p in appwrite.requests].count("users") == 1
    assert execute("touch-session", {"sessionId": visitor.session_id, "message": {"role": "agent", "text": "Hi!"}},
                   user="agent-alice").status == 200
    appwrite.reset_counts()
    polled = execute("touch-session", method="GET", path=f"/messages?sessionId={visitor.session_id}",
                     token=visitor.token)
    assert polled.json["session"]["agentName"] == "Alice Martin"
    assert [(m["role"], m.get("authorName")) for m in polled.json["messages"]] == [("user", None),
                                                                                   ("agent", "Alice Martin")]
    assert [p for _, p in appwrite.requests if "/users/" in p] == []  # remembered
