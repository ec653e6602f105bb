"""The reference bot's rules, its FAQ, its model client (against a loopback stand-in) and its event handler.

The handler runs against the fake Appwrite; it writes its reply itself, as the bot, through the operation
touch-session runs. Here it answers (the fake runs BOT_INLINE off: as with a model, or a bot of your own); the FAQ bot
answering in the visitor's own write is tests/test_bot_inline.py.
"""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest
from chat_core.bot import faq as faqs
from chat_core.bot import policy, provider
from chat_core.domain.model import Message, Session
from conftest import ROOT, Widget, execute, row, rows
from llm_standin import ChatApiStandIn, completion

FAQ = faqs.Faq.load(faqs.FAQ_FILE)
PHRASES = ("human", "real person", "a person")
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)


def message(text: str = "hi", role: str = "user", **extra) -> Message:
    return Message(id=extra.pop("id", "m_1"), session_id="s_1", role=role, text=text, created_at=NOW, **extra)


def session(status: str = "active", needs_human: bool = False) -> Session:
    return Session(id="s_1", status=status, last_seen=NOW, created_at=NOW, updated_at="", token_hash="",
                   needs_human=needs_human, assigned_agent="agent-alice" if status == "agent_assigned" else None)


# --- the FAQ ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("question", "expected"), [
    ("What are your opening hours?", "Monday to Friday"),
    ("Hi, where is my order?", "tracking link"),  # "order" outweighs the greeting
    ("How long does shipping take?", "working days"),
    ("Can I get a REFUND?", "30 days"),
    ("do you take paypal", "PayPal"),
    ("I forgot my password", "Forgot password"),
    ("Hello", "virtual assistant"),
    ("My returns", "30 days"),  # a plural of a keyword
])
def test_the_shipped_faq_answers_the_common_questions(question, expected):
    assert expected in FAQ.answer(question)


@pytest.mark.parametrize("question", ["Can you recommend a tent for four?", "history", "Ohio", "shippingx"])
def test_a_question_the_faq_does_not_cover_gets_no_answer(question):
    assert FAQ.answer(question) is None  # whole words only: "hi" is not in "history" or "Ohio"


@pytest.mark.parametrize(("data", "problem"), [
    ([], "must be an object"),
    ({"entries": [], "extra": 1}, "must be an object"),
    ({"entries": {}}, "'entries' must be a list"),
    ({"entries": [{"keywords": ["a"]}]}, "entries[0] must have exactly"),
    ({"entries": [{"keywords": [], "answer": "x"}]}, "entries[0].keywords must be a non-empty list"),
    ({"entries": [{"keywords": [" "], "answer": "x"}]}, "entries[0].keywords must be strings"),
    ({"entries": [{"keywords": ["a"], "answer": ""}]}, "entries[0].answer must be a string of 1 to 4000"),
    ({"entries": [{"keywords": ["a"], "answer": "x" * 4001}]}, "entries[0].answer must be a string of 1 to 4000"),
    ({"entries": [], "replies": {"hello": "x"}}, "'replies' may only hold"),
    ({"entries": [], "replies": {"handoff": 3}}, "replies.handoff must be a string"),
])
def test_a_malformed_faq_is_refused_saying_where(data, problem):
    with pytest.raises(faqs.FaqError) as refused:
        faqs.Faq.parse(data)
    assert problem in str(refused.value)


def test_a_faq_without_replies_uses_the_defaults():
    faq = faqs.Faq.parse({"entries": [{"keywords": ["Tent"], "answer": "Tents are in aisle 4."}]})
    assert faq.answer("Where are the tents?") == "Tents are in aisle 4."  # keywords match in any case
    assert faq.replies == faqs.DEFAULT_REPLIES


# --- the rules --------------------------------------------------------------------------------------

@pytest.mark.parametrize("role", ["bot", "agent", "system"])
def test_the_bot_never_answers_anything_but_a_visitor(role):
    assert policy.quiet_reason(message(role=role), session()) == "not a visitor message"


def test_the_bot_stays_quiet_once_an_agent_holds_the_session_or_it_closed():
    assert policy.quiet_reason(message(), session("agent_assigned")) == "an agent has the session"
    assert policy.quiet_reason(message(), session("closed")) == "session closed"
    assert policy.quiet_reason(message(), session()) is None
    assert policy.quiet_reason(message(), session(needs_human=True)) is None  # botShouldReply is still true


def test_asked_for_a_person_it_hands_off_once_and_then_only_reassures():
    first = policy.decide(message("Can I talk to a human?"), session(), FAQ, PHRASES)
    assert first == policy.Reply(FAQ.replies["handoff"], handoff=True)
    again = policy.decide(message("a human please!"), session(needs_human=True), FAQ, PHRASES)
    assert again == policy.Reply(FAQ.replies["waiting"], handoff=False)


def test_a_queue_entered_by_this_very_message_is_not_waiting_yet():
    """escalate handles the same event, maybe first: the bot's answer must not depend on which ran first."""
    queued_by_it = dataclasses.replace(session(needs_human=True), escalated_by="message:m_1")
    assert policy.decide(message("human please", id="m_1"), queued_by_it, FAQ, PHRASES).handoff is True


def test_it_answers_from_the_faq_and_hands_off_what_it_cannot_answer():
    assert policy.decide(message("When are you open?"), session(), FAQ, PHRASES) == policy.Reply(
        FAQ.answer("open"), handoff=False)
    assert policy.decide(message("My tent has a hole"), session(), FAQ, PHRASES) == policy.Reply(
        FAQ.replies["unknown"], handoff=True)


def test_while_the_visitor_waits_it_answers_faq_questions_and_is_quiet_otherwise():
    waiting = session(needs_human=True)
    assert policy.decide(message("and your opening hours?"), waiting, FAQ, PHRASES).handoff is False
    assert policy.decide(message("My tent has a hole"), waiting, FAQ, PHRASES) is None


def test_the_reply_key_is_derived_from_the_message_and_is_a_valid_message_id():
    assert policy.reply_key("m_0123abcd") == "re-m_0123abcd" == policy.reply_key("m_0123abcd")
    odd = policy.reply_key("a.b")  # a row ID may hold '.', which a message id may not
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", odd) and odd != policy.reply_key("a.c")


# --- the model client ---------------------------------------------------------------------------------

def test_the_model_gets_the_faq_as_facts_and_the_conversation_in_its_roles():
    history = [message("Hi"), message("Hello! How can I help?", role="bot"), message("Is it raining?"),
               message("Alice here", role="agent"), message("note", role="system")]
    body = provider.completion_request(provider.LlmSettings(endpoint="x", model="m-1"), FAQ, history)
    assert body["model"] == "m-1"
    system, *turns = body["messages"]
    assert system["role"] == "system" and FAQ.entries[1].answer in system["content"]
    assert [(t["role"], t["content"]) for t in turns] == [
        ("user", "Hi"), ("assistant", "Hello! How can I help?"), ("user", "Is it raining?"),
        ("assistant", "Alice here")]


@pytest.mark.parametrize(("content", "expected"), [
    ("We open at 9.", policy.Reply("We open at 9.")),
    ("HANDOFF: A colleague will join you.", policy.Reply("A colleague will join you.", True)),
    ("handoff", policy.Reply(FAQ.replies["handoff"], True)),
    ("  " + "x" * 5000, policy.Reply("x" * 4000)),
])
def test_a_completion_is_read_and_a_handoff_marker_asks_for_a_person(content, expected):
    assert provider.parse_completion(completion(content)[1], FAQ) == expected


@pytest.mark.parametrize("data", [{}, {"choices": []}, {"choices": [{"message": {"content": None}}]},
                                  {"choices": [{"message": {"content": "  "}}]}, [], "text"])
def test_an_unusable_completion_is_an_error(data):
    with pytest.raises(provider.LlmError):
        provider.parse_completion(data, FAQ)


def test_the_client_posts_to_chat_completions_with_the_key():
    with ChatApiStandIn(completion("We open at 9.")) as api:
        settings = provider.LlmSettings(endpoint=api.endpoint, key="sk-test-key", model="tiny")
        assert provider.ask_llm(settings, FAQ, [message("When do you open?")]) == policy.Reply("We open at 9.")
    (sent,) = api.requests
    assert sent["path"] == "/v1/chat/completions"
    assert sent["headers"]["authorization"] == "Bearer sk-test-key"
    assert sent["body"]["model"] == "tiny" and sent["body"]["messages"][-1] == {
        "role": "user", "content": "When do you open?"}


@pytest.mark.parametrize("answer", [(500, {"error": "boom"}), (200, b"<html>"), (401, {"error": "bad key"})])
def test_a_failing_api_is_an_error_that_never_shows_the_key(answer):
    with ChatApiStandIn(answer) as api, pytest.raises(provider.LlmError) as failed:
        provider.ask_llm(provider.LlmSettings(endpoint=api.endpoint, key="sk-secret"), FAQ, [message()])
    assert "sk-secret" not in str(failed.value)


def test_an_api_that_does_not_answer_in_time_is_an_error():
    with ChatApiStandIn() as api:
        api.hold()
        with pytest.raises(provider.LlmError) as failed:
            provider.ask_llm(provider.LlmSettings(endpoint=api.endpoint, timeout_seconds=0.2), FAQ, [message()])
        api.release()
    assert "unreachable" in str(failed.value)


def test_model_settings_come_from_variables_and_stay_in_range():
    assert not provider.LlmSettings.from_env({}).enabled
    settings = provider.LlmSettings.from_env({"BOT_LLM_ENDPOINT": " http://x/v1/ ", "BOT_LLM_TIMEOUT_SECONDS": "999",
                                         "BOT_LLM_HISTORY": "zero"})
    assert (settings.endpoint, settings.timeout_seconds, settings.history, settings.model) == (
        "http://x/v1", 25, 12, "gpt-4o-mini")


# --- the event handler: it writes its reply itself, as the bot ------------------------------------

@pytest.fixture
def executions(appwrite, monkeypatch):
    """Executions the handler creates through `POST /v1/functions/{id}/executions` (it should create none: it
    writes its reply itself)."""
    made: list[dict] = []
    handle = appwrite.api.handle

    def serve(method, path, query, headers, body):
        if method == "POST" and re.fullmatch(r"/v1/functions/([^/]+)/executions", path):
            made.append(json.loads(body))
        return handle(method, path, query, headers, body)

    monkeypatch.setattr(appwrite.api, "handle", serve)
    return made


def deliver_to_bot(appwrite, message_id: str):
    stored = row(appwrite, "messages", message_id)
    return execute("bot", stored, trigger="event", event=f"databases.chat.tables.messages.rows.{message_id}.create")


def replies(appwrite, session_id: str) -> list[dict]:
    return [m for m in rows(appwrite, "messages") if m["sessionId"] == session_id and m["role"] == "bot"]


def test_a_visitor_question_is_answered_with_three_requests_and_no_execution(appwrite, executions):
    w = Widget()
    said = w.say("What are your opening hours?", id="c1").json["message"]
    appwrite.reset_counts()
    result = deliver_to_bot(appwrite, said["messageId"])
    assert result.status == 200 and result.json["replied"] is True and result.json["handoff"] is False
    (reply,) = replies(appwrite, w.session_id)
    assert "Monday to Friday" in reply["text"] and reply["clientMessageId"] == f"re-{said['messageId']}"
    assert executions == []
    # The message is read off the event (no re-read); the session, the admitting write, the message row, which
    # Realtime sends to the visitor's socket itself: no signal row (docs/security.md).
    assert appwrite.count() == 3
    assert row(appwrite, "sessions", w.session_id)["messageCount"] == 2


def test_an_answered_visitor_message_costs_seven_requests_when_the_bot_function_answers(appwrite, executions):
    """With a model or BOT_INLINE off (the FAQ bot answering in the visitor's write costs 4: test_bot_inline.py):
    the widget's message (4: read, the message budget, the admitting write, the row), the bot on its event (3), the
    bot on its reply's event (0); three executions, no escalate. Both message rows reach the
    visitor's socket as rows (Realtime, row security on `messages`): neither writes a signal, the session's state
    did not change. Steady state: the guests' message budget row of this minute exists (its first use in a minute
    adds one request)."""
    Widget().say("warming the guests' budget")
    w = Widget()
    appwrite.reset_counts()
    said = w.say("What are your opening hours?").json["message"]
    assert deliver_to_bot(appwrite, said["messageId"]).json["replied"] is True
    (reply,) = replies(appwrite, w.session_id)
    assert deliver_to_bot(appwrite, reply["$id"]).json == {"ignored": "not a visitor message"}
    assert appwrite.count() == 7 and executions == []


def test_a_duplicate_delivery_stores_one_reply(appwrite, executions):
    w = Widget()
    said = w.say("hello").json["message"]
    first, again = deliver_to_bot(appwrite, said["messageId"]), deliver_to_bot(appwrite, said["messageId"])
    assert (first.json["duplicate"], again.json["duplicate"]) == (False, True)
    assert len(replies(appwrite, w.session_id)) == 1
    assert row(appwrite, "sessions", w.session_id)["messageCount"] == 2


def test_the_bots_own_reply_costs_no_request_and_gets_no_answer(appwrite, executions):
    w = Widget()
    deliver_to_bot(appwrite, w.say("hello").json["message"]["messageId"])
    (reply,) = replies(appwrite, w.session_id)
    appwrite.reset_counts()
    assert deliver_to_bot(appwrite, reply["$id"]).json == {"ignored": "not a visitor message"}
    assert appwrite.count() == 0 and executions == []


def test_it_hands_off_what_it_cannot_answer_and_its_reply_escalates(appwrite, executions):
    w = Widget()
    result = deliver_to_bot(appwrite, w.say("My tent has a hole").json["message"]["messageId"])
    assert result.json["handoff"] is True
    (reply,) = replies(appwrite, w.session_id)
    assert reply["handoff"] is True
    session = row(appwrite, "sessions", w.session_id)  # escalated by the write that admitted the reply
    assert session["needsHuman"] is True and session["escalationReason"] == "bot handed off"
    late = execute("escalate", reply, trigger="event",
                   event=f"databases.chat.tables.messages.rows.{reply['$id']}.create")
    assert late.json == {"ignored": "already_escalated", "sessionId": w.session_id}


def test_it_is_quiet_while_an_agent_holds_the_session(appwrite, executions):
    w = Widget()
    said = w.say("hello").json["message"]
    execute("assign-agent", {"sessionId": w.session_id}, path="/claim", user="agent-alice")
    assert deliver_to_bot(appwrite, said["messageId"]).json == {"ignored": "an agent has the session",
                                                                "sessionId": w.session_id}
    assert executions == [] and replies(appwrite, w.session_id) == []


def test_what_is_not_a_message_row_event_is_ignored_without_a_request(appwrite):
    appwrite.reset_counts()
    other = execute("bot", {"$id": "s_1"}, trigger="event", event="databases.chat.tables.sessions.rows.s_1.create")
    broken = execute("bot", {"$id": "m_1", "role": "user"}, trigger="event",
                     event="databases.chat.tables.messages.rows.m_1.create")
    assert other.json == broken.json == {"ignored": "not a new chat message"} and appwrite.count() == 0


def test_without_a_bot_secret_it_still_answers(appwrite, executions, monkeypatch):
    """BOT_SECRET is for external bots calling touch-session; the reference bot writes with its own key."""
    w = Widget()
    said = w.say("hello").json["message"]
    monkeypatch.delenv("BOT_SECRET")
    assert deliver_to_bot(appwrite, said["messageId"]).json["replied"] is True


def test_a_broken_faq_file_hands_every_question_to_a_person(appwrite, executions, tmp_path, monkeypatch):
    broken = tmp_path / "faq.json"
    broken.write_text('{"entries": [{"keywords": "open"}]}')
    shipped = faqs.shipped
    monkeypatch.setattr(faqs, "shipped", lambda path=broken: shipped(path))
    w = Widget()
    result = deliver_to_bot(appwrite, w.say("When are you open?").json["message"]["messageId"])
    assert result.json["handoff"] is True
    assert any("faq.json: entries[0] must have exactly" in line for line in result.context.logs)


def test_a_call_that_is_not_an_event_finds_nothing(appwrite):
    result = execute("bot", {"sessionId": "s_1"})
    assert (result.status, result.error) == (404, "route_not_found")


def test_only_appwrite_runs_it_and_it_writes_rows_but_runs_no_function(appwrite):
    """execute [] is what makes its event payload trustworthy (docs/security.md); it needs rows.write for its
    replies and no longer execution.write."""
    functions = json.loads(Path(ROOT / "appwrite.json").read_text())["functions"]
    spec = next(f for f in functions if f["$id"] == "bot")
    assert set(spec["scopes"]) == {"rows.read", "rows.write"} and spec["execute"] == []
    assert spec["events"] == ["databases.chat.tables.messages.rows.*.create"]
    # The only function on message events: one execution per stored message.
    assert [f["$id"] for f in functions if f["events"]] == ["bot"]
