"""Text that Appwrite would apply as an operation is never sent where Appwrite parses it.

Appwrite turns a string that decodes to `{"method": <known operator>, ...}` into an atomic operation on update and
upsert, whatever the column (appwrite/appwrite `Http/Databases/Action.php` `parseOperators`); a create stores it as
it is. Messages are created: stored verbatim. Reasons and rating comments land on the session by an update: refused
with 400 `operator_text`, and nothing is written.
"""

from __future__ import annotations

import json

import pytest
from chat_core.infra import operators
from conftest import ADMIN_SECRET, Widget, execute, row, rows
from hardening_support import snapshot

OPERATORS = [
    json.dumps({"method": "stringReplace", "values": ["", "pwned"]}),
    json.dumps({"method": "increment", "values": [1]}),
    '  {"method":"stringConcat","values":[" (edited)"]}',
    '{"\\u006dethod": "toggle"}',  # an escaped key decodes to "method" all the same
    '\n{"method": "dateSetNow", "attribute": "closedAt"}',
]
TEXT_LIKE_JSON = [
    '{"method": "get"}',  # not an operator Appwrite knows: stored as text
    '{"method": ["increment"]}',
    '["method", "increment"]',
    'method: increment',
    '{"method": "increment"',  # not JSON
]


@pytest.mark.parametrize("text", OPERATORS)
def test_operator_shaped_text_is_recognised(text):
    assert operators.reads_as_operator(text)


@pytest.mark.parametrize("text", TEXT_LIKE_JSON)
def test_other_text_that_merely_looks_like_json_is_not(text):
    assert not operators.reads_as_operator(text)


@pytest.mark.parametrize("text", OPERATORS)
def test_a_visitor_message_shaped_like_an_operator_is_stored_verbatim(appwrite, text):
    w = Widget()
    answer = w.say(text)
    assert answer.status == 200, answer
    stored = [m for m in rows(appwrite, "messages") if m["sessionId"] == w.session_id]
    assert [m["text"] for m in stored] == [text]
    transcript = execute("touch-session", method="GET", path=f"/messages?sessionId={w.session_id}", token=w.token)
    assert [m["text"] for m in transcript.json["messages"]] == [text]
    # The queue's preview of the first words, copied onto the session by an update, shows them as written too.
    shown = execute("list-sessions", method="GET", path=f"/{w.session_id}", secret=ADMIN_SECRET)
    assert shown.json["session"]["firstWords"] == " ".join(text.split())


@pytest.mark.parametrize("text", OPERATORS)
def test_a_rating_comment_shaped_like_an_operator_is_refused_and_nothing_is_written(appwrite, text):
    w = Widget()
    w.say("hello")
    before = snapshot(appwrite)
    answer = execute("close-session", {"sessionId": w.session_id, "rating": {"score": 5, "comment": text}},
                     token=w.token)
    assert (answer.status, answer.error) == (400, "operator_text")
    assert snapshot(appwrite) == before
    closed = execute("close-session", {"sessionId": w.session_id}, token=w.token)
    assert closed.status == 200, closed
    later = execute("close-session", {"sessionId": w.session_id, "rating": {"score": 4, "comment": text}},
                    path="/rate", token=w.token)
    assert (later.status, later.error) == (400, "operator_text")
    assert row(appwrite, "sessions", w.session_id)["ratingComment"] is None


@pytest.mark.parametrize(("function_id", "text"), [("escalate", OPERATORS[0]), ("close-session", OPERATORS[1]),
                                                    ("escalate", OPERATORS[3]), ("close-session", OPERATORS[2])])
def test_a_reason_shaped_like_an_operator_is_refused_and_nothing_is_written(appwrite, function_id, text):
    w = Widget()
    w.say("hello")
    before = snapshot(appwrite)
    answer = execute(function_id, {"sessionId": w.session_id, "reason": text}, token=w.token)
    assert (answer.status, answer.error) == (400, "operator_text")
    assert snapshot(appwrite) == before


@pytest.mark.parametrize("text", TEXT_LIKE_JSON)
def test_a_comment_that_only_looks_like_json_is_stored_verbatim(appwrite, text):
    w = Widget()
    w.say("hello")
    answer = execute("close-session", {"sessionId": w.session_id, "rating": {"score": 3, "comment": text}},
                     token=w.token)
    assert answer.status == 200, answer
    assert row(appwrite, "sessions", w.session_id)["ratingComment"] == text


def test_the_gateway_never_sends_operator_text_in_a_session_update(appwrite):
    """The backstop behind validation: whatever a rule puts on the session, an update carrying text Appwrite would
    apply as an operation is not sent."""
    from dataclasses import replace

    from chat_core.config import Settings
    from chat_core.errors import BadRequest
    from chat_core.infra.gateway import Gateway
    from conftest import KEY

    w = Widget()
    gateway = Gateway(Settings.from_env(), KEY)
    session = gateway.sessions.get(w.session_id)
    before = snapshot(appwrite)
    with pytest.raises(BadRequest) as refused:
        gateway.sessions.update(session, replace(session, close_reason=OPERATORS[0]))
    assert refused.value.code == "operator_text"
    assert snapshot(appwrite) == before
