"""The FAQ bot in the visitor's own write (issue 20, item 1): touch-session admits the visitor's message and the bot's
reply in one conditional write, stores both rows in one request, and the `bot` function ends on either row's event
without a request. The guarantees of docs/consistency.md hold for the pair: a retry is the same rows counted once,
a failed store takes both back, a closed session takes neither, the hand-off escalates in that write."""

from __future__ import annotations

import json

import pytest
from conftest import ADMIN_SECRET, Widget, execute, row, rows

BULK = r"^POST .*/tables/messages/rows$"


@pytest.fixture
def inline(appwrite, monkeypatch):
    monkeypatch.setenv("BOT_INLINE", "on")  # the default when deployed (the fake runs no bot otherwise)
    monkeypatch.delenv("BOT_LLM_ENDPOINT", raising=False)
    Widget().say("warming the guests' budget")  # this minute's budget row exists: the steady state
    return appwrite


def messages_of(appwrite, session_id: str) -> list[dict]:
    return sorted((m for m in rows(appwrite, "messages") if m["sessionId"] == session_id),
                  key=lambda m: int(m["$sequence"]))


def on_event(appwrite, row_id: str):
    """Appwrite delivering a message row's create event to the `bot` function."""
    stored = row(appwrite, "messages", row_id)
    return execute("bot", stored, trigger="event", event=f"databases.chat.tables.messages.rows.{row_id}.create")


def test_a_question_is_answered_in_the_visitors_own_execution_with_four_requests(inline):
    """The session, the message budget, the admitting write, both rows (one createRows); then the bot function on
    each row's event: no request. Three executions, one on the visitor's critical path."""
    w = Widget()
    inline.reset_counts()
    answer = w.say("What are your opening hours?", id="c1").json
    assert inline.count() == 4 and inline.count("POST", "/tables/messages/rows") == 1
    assert "Monday to Friday" in answer["reply"]["text"] and answer["reply"]["role"] == "bot"
    assert answer["reply"]["clientMessageId"] == f"re-{answer['message']['messageId']}"  # the bot's reply key
    visitor, reply = messages_of(inline, w.session_id)
    assert (visitor["$id"], reply["$id"]) == (answer["message"]["messageId"], answer["reply"]["messageId"])
    assert visitor["botDecided"] is True and reply["botDecided"] is False
    assert visitor["$permissions"] == reply["$permissions"] and 'read("label:agent")' in reply["$permissions"]
    session = row(inline, "sessions", w.session_id)
    assert (session["messageCount"], session["rateWindowCount"], session["needsHuman"]) == (2, 1, False)
    assert "monday to friday" in session["searchText"]
    inline.reset_counts()
    assert on_event(inline, visitor["$id"]).json == {"ignored": "answered in the visitor's write"}
    assert on_event(inline, reply["$id"]).json == {"ignored": "not a visitor message"}
    assert inline.count() == 0


def test_asking_for_a_person_escalates_and_gets_the_hand_off_reply_in_the_same_write(inline):
    w = Widget()
    answer = w.say("I want to talk to a person").json
    assert answer["session"]["needsHuman"] is True and answer["reply"]["handoff"] is True
    assert answer["reply"]["text"].startswith("I'll get a colleague")
    session = row(inline, "sessions", w.session_id)
    assert session["escalatedBy"] == f"message:{answer['message']['messageId']}"
    (entry,) = json.loads(session["transitions"])
    assert entry[2:6] == ["visitor", "escalate", "active", "waiting"]
    again = w.say("a person, please").json  # waiting already: reassured, no second hand-off
    assert again["reply"]["text"].startswith("You're in the queue") and again["reply"]["handoff"] is False
    assert w.say("hmm").json["reply"] is None  # waiting, and no FAQ answer: quiet
    session = row(inline, "sessions", w.session_id)
    assert session["messageCount"] == 5 and len(json.loads(session["transitions"])) == 1


def test_a_question_the_faq_cannot_answer_is_handed_off_by_the_bot(inline, budgets):
    w = Widget()
    answer = w.say("My tent has a hole").json
    assert answer["reply"]["handoff"] is True and answer["session"]["needsHuman"] is True
    session = row(inline, "sessions", w.session_id)
    assert session["escalationReason"] == "bot handed off"
    assert session["escalatedBy"] == f"message:{answer['reply']['messageId']}"
    (entry,) = json.loads(session["transitions"])
    assert entry[2:7] == ["bot", "escalate", "active", "waiting", "bot handed off"]
    # The hand-off spent the guests' escalation budget, as the bot's own post did; once it is spent, the visitor's
    # message still goes in, and the bot hands nobody off (its own post was refused 429 and stored nothing).
    budgets(GUEST_ESCALATIONS_PER_MINUTE=1)
    other = Widget()
    answer = other.say("Something else entirely")
    assert answer.status == 200 and answer.json["reply"] is None and answer.json["session"]["needsHuman"] is False
    assert [m["role"] for m in messages_of(inline, other.session_id)] == ["user"]
    assert "bot: no hand-off" in " ".join(answer.context.logs)
    assert other.say("Where is my order?").json["reply"]["handoff"] is False  # FAQ answers still come


def test_a_retry_with_the_same_id_is_the_same_rows_counted_once(inline):
    w = Widget()
    first = w.say("Where is my order?", id="c1").json
    inline.reset_counts()
    again = w.say("Where is my order?", id="c1").json
    assert again["duplicate"] is True
    assert (again["message"], again["reply"]) == (first["message"], first["reply"])
    assert len(messages_of(inline, w.session_id)) == 2
    assert row(inline, "sessions", w.session_id)["messageCount"] == 2
    # The session, the budget, the admitting write, one createRows meeting the stored rows, then row by row: the
    # visitor's row read (not this admission's), the reply read; the take-back.
    assert inline.count("POST", "/tables/messages/rows") == 1 and inline.count() == 7


def test_a_retry_of_a_message_stored_without_a_reply_stores_no_reply(inline, monkeypatch):
    """A message stored before the FAQ bot answered inline (or while it was off): the retry meets it, stores no
    reply and counts nothing twice."""
    w = Widget()
    monkeypatch.setenv("BOT_INLINE", "off")
    first = w.say("What are your opening hours?", id="c1").json
    monkeypatch.setenv("BOT_INLINE", "on")
    again = w.say("What are your opening hours?", id="c1").json
    assert again["duplicate"] is True and again["reply"] is None and again["message"] == first["message"]
    assert [m["role"] for m in messages_of(inline, w.session_id)] == ["user"]
    assert row(inline, "sessions", w.session_id)["messageCount"] == 1


def test_a_store_that_fails_takes_both_messages_back(inline):
    w = Widget()
    inline.fail_next("timeout", match=BULK)
    inline.fail_next("timeout", match=BULK)
    result = w.say("My tent has a hole")
    assert result.status == 503
    session = row(inline, "sessions", w.session_id)
    assert (session["messageCount"], session["needsHuman"], session["searchText"]) == (0, False, "")
    assert messages_of(inline, w.session_id) == []
    retried = w.say("My tent has a hole").json  # the widget's retry: both rows now, counted once
    assert retried["duplicate"] is False and retried["reply"]["handoff"] is True
    assert row(inline, "sessions", w.session_id)["messageCount"] == 2


def test_a_create_whose_answer_was_lost_is_resolved_as_ours(inline):
    w = Widget()
    inline.fail_next("applied_timeout", match=BULK)
    answer = w.say("Do you take PayPal?").json
    assert answer["duplicate"] is False and "PayPal" in answer["reply"]["text"]
    assert row(inline, "sessions", w.session_id)["messageCount"] == 2 and len(messages_of(inline, w.session_id)) == 2


def test_no_reply_while_an_agent_holds_the_session_and_the_bot_function_ends_at_once(inline):
    w = Widget()
    execute("escalate", {"sessionId": w.session_id}, token=w.token)
    execute("assign-agent", {"sessionId": w.session_id}, path="/claim", user="agent-alice")
    answer = w.say("What are your opening hours?").json
    assert answer["reply"] is None
    (visitor,) = messages_of(inline, w.session_id)
    assert visitor["botDecided"] is True
    inline.reset_counts()
    assert on_event(inline, visitor["$id"]).json == {"ignored": "answered in the visitor's write"}
    assert inline.count() == 0


def test_a_closed_session_takes_no_message_and_no_reply(inline):
    w = Widget()
    execute("close-session", {"sessionId": w.session_id}, token=w.token)
    result = w.say("What are your opening hours?")
    assert (result.status, result.error) == (409, "session_closed") and messages_of(inline, w.session_id) == []


def test_with_a_model_provider_the_bot_function_answers(inline, monkeypatch):
    monkeypatch.setenv("BOT_LLM_ENDPOINT", "http://127.0.0.1:9/v1")
    w = Widget()
    answer = w.say("What are your opening hours?").json
    assert answer["reply"] is None
    (visitor,) = messages_of(inline, w.session_id)
    assert visitor["botDecided"] is False  # the bot function's event answers it (tests/test_bot.py)


def test_with_a_model_a_visitor_asking_for_a_person_is_handed_off_in_their_own_write(inline, monkeypatch):
    """The model is never asked about a message asking for a person (the bot answers those from its rules), so
    touch-session decides that reply itself: the hand-off in one execution and 8 requests, not 11 and a second
    execution. The model (here unreachable: it would fail the test's bot) is not called."""
    without_model = Widget()
    inline.reset_counts()
    assert without_model.say("I want to talk to a person").json["reply"]["handoff"] is True
    faq_cost = inline.count() - inline.count(contains="/tables/limits/")  # a budget's first use this minute: +1
    monkeypatch.setenv("BOT_LLM_ENDPOINT", "http://127.0.0.1:9/v1")
    w = Widget()
    inline.reset_counts()
    answer = w.say("I want to talk to a person").json
    assert inline.count() - inline.count(contains="/tables/limits/") == faq_cost  # the same as without a model
    assert answer["session"]["needsHuman"] is True and answer["reply"]["handoff"] is True
    assert answer["reply"]["text"].startswith("I'll get a colleague")
    visitor, reply = messages_of(inline, w.session_id)
    assert visitor["botDecided"] is True and reply["role"] == "bot"
    inline.reset_counts()
    ended = on_event(inline, visitor["$id"])
    assert ended.json == {"ignored": "answered in the visitor's write"} and inline.count() == 0
    assert not any("BOT_LLM_ENDPOINT" in line for line in ended.context.logs)  # nothing misconfigured
    assert w.say("a person, please").json["reply"]["text"].startswith("You're in the queue")
    question = w.say("What are your opening hours?").json  # while waiting: the model's, on the event
    assert question["reply"] is None
    assert row(inline, "messages", question["message"]["messageId"])["botDecided"] is False


def test_the_bot_function_says_why_a_model_did_not_answer(inline, monkeypatch):
    w = Widget()
    said = w.say("What are your opening hours?").json["message"]
    monkeypatch.setenv("BOT_LLM_ENDPOINT", "http://127.0.0.1:9/v1")  # set on the bot function only
    result = on_event(inline, said["messageId"])
    assert result.json == {"ignored": "answered in the visitor's write"}
    assert any("set BOT_LLM_ENDPOINT on touch-session too" in line for line in result.context.logs)


def test_staff_see_both_messages_in_order(inline):
    w = Widget()
    w.say("Hello")
    listed = execute("list-sessions", method="GET", path=f"/{w.session_id}/messages", secret=ADMIN_SECRET)
    assert [m["role"] for m in listed.json["messages"]] == ["user", "bot"]


def test_the_flood_window_counts_the_visitors_messages_only(inline, monkeypatch):
    monkeypatch.setenv("MAX_MESSAGES_PER_MINUTE", "3")
    w = Widget()
    for _ in range(3):
        assert w.say("Where is my order?").json["reply"] is not None
    refused = w.say("Where is my order?")
    assert (refused.status, refused.error) == (429, "rate_limited")
    session = row(inline, "sessions", w.session_id)
    assert (session["messageCount"], session["rateWindowCount"]) == (6, 3)
