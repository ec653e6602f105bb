"""The reference bot end to end on the local stack: real events, the bot's own key, and its replies written by
itself, as on Appwrite. Model mode against a loopback stand-in of the chat API."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from appwrite.client import Client
from appwrite.exception import AppwriteException
from appwrite.services.functions import Functions
from llm_standin import ChatApiStandIn, completion
from stack_support import Party, function_variables

from devstack.server import Stack

BOT_SECRET = "stack-bot-secret"
EVENT = "databases.chat.tables.messages.rows.{}.create"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with function_variables({"BOT_SECRET": BOT_SECRET}), \
            Stack(data_dir=tmp_path_factory.mktemp("bot"), port=0, run_scheduler=False) as running:
        yield running


class Visitor:
    def __init__(self, stack: Stack) -> None:
        self.stack, self.party = stack, Party(stack, key=False)
        status, created = self.party.run("create-session", {})
        assert status == 201
        self.session_id, self.headers = created["sessionId"], {"x-session-token": created["token"]}

    def say(self, text: str, **extra) -> dict:
        status, answer = self.party.run("touch-session", {"sessionId": self.session_id,
                                                          "message": {"text": text, **extra}}, headers=self.headers)
        assert status == 200, answer
        assert self.stack.wait_idle(20)
        return answer["message"]

    def transcript(self) -> tuple[dict, list[dict]]:
        status, answer = self.party.run("touch-session", path=f"/messages?sessionId={self.session_id}&limit=100",
                                        method="GET", headers=self.headers)
        assert status == 200
        return answer["session"], answer["messages"]


def executions_since(stack: Stack, seen: set[str]) -> Counter:
    """(function, trigger) of the executions the stack ran that are not in `seen` (which is updated)."""
    counts: Counter = Counter()
    for function_id in stack.runtime.functions:
        for record in stack.runtime.list_executions(function_id):
            if record["$id"] not in seen:
                seen.add(record["$id"])
                counts[(function_id, record["trigger"])] += 1
    return counts


def test_the_bot_answers_hands_off_and_stays_quiet_once_an_agent_joins(stack):
    visitor = Visitor(stack)
    visitor.say("What are your opening hours?")
    session, messages = visitor.transcript()
    assert [m["role"] for m in messages] == ["user", "bot"]
    assert "Monday to Friday" in messages[1]["text"] and not session["needsHuman"]

    visitor.say("Can I talk to a human please?")
    session, messages = visitor.transcript()
    assert [m["role"] for m in messages] == ["user", "bot", "user", "bot"]
    assert messages[3]["handoff"] is True and session["needsHuman"] is True

    visitor.say("And do you take PayPal?")  # waiting: FAQ answers still come
    session, messages = visitor.transcript()
    assert "PayPal" in messages[-1]["text"] and messages[-1]["role"] == "bot"

    alice = Party(stack, signed_in="agent-alice")
    assert alice.run("assign-agent", {"sessionId": visitor.session_id}, path="/claim")[0] == 200
    visitor.say("Hello? What are your opening hours again?")
    session, messages = visitor.transcript()
    assert session["botShouldReply"] is False and messages[-1]["role"] == "user"  # quiet: the agent answers
    assert alice.run("touch-session", {"sessionId": visitor.session_id,
                                       "message": {"role": "agent", "text": "Alice here: 9 to 18."}})[0] == 200
    assert stack.wait_idle(20)
    assert visitor.transcript()[1][-1]["role"] == "agent"  # and never answers an agent


def test_what_one_visitor_message_costs_in_executions(stack):
    """Per visitor message the bot answers: the widget's touch-session, which answers from the FAQ in its own write
    (both rows in one request), and the bot function on each row's event, which ends at once without a request.
    Issue 20: at most 3 executions, one on the visitor's critical path."""
    visitor, seen = Visitor(stack), set()
    executions_since(stack, seen)
    status, answer = visitor.party.run("touch-session", {"sessionId": visitor.session_id, "message": {
        "text": "How long does delivery take?"}}, headers=visitor.headers)
    assert status == 200 and "working days" in answer["reply"]["text"]
    assert stack.wait_idle(20)
    assert executions_since(stack, seen) == {("touch-session", "http"): 1, ("bot", "event"): 2}
    assert [m["role"] for m in visitor.transcript()[1]] == ["user", "bot"]
    ended = sorted(json.loads(r["responseBody"])["ignored"] for r in stack.runtime.list_executions("bot")[:2])
    assert ended == ["answered in the visitor's write", "not a visitor message"]


def test_a_duplicate_event_delivery_stores_one_reply(stack):
    """The bot function answering from the FAQ (BOT_INLINE off: a bot of your own in its place)."""
    visitor = Visitor(stack)
    with function_variables({"BOT_INLINE": "off"}):
        said = visitor.say("hello")
    stored = stack.engine.get_row("chat", "messages", said["messageId"])
    for _ in range(3):  # Appwrite delivering the same event again
        stack.runtime.dispatch_event({"databaseId": "chat", "tableId": "messages", "rowId": said["messageId"],
                                      "action": "create", "row": stored})
    assert stack.wait_idle(20)
    session, messages = visitor.transcript()
    assert [m["role"] for m in messages] == ["user", "bot"] and session["messageCount"] == 2
    answers = [json.loads(r["responseBody"]) for r in stack.runtime.list_executions("bot")
               if r["responseBody"] and json.loads(r["responseBody"]).get("sessionId") == visitor.session_id
               and "replied" in json.loads(r["responseBody"])]
    assert sorted(a["duplicate"] for a in answers) == [False, True, True, True]


def test_nobody_but_appwrite_and_servers_can_run_it_and_a_forged_event_changes_nothing(stack):
    visitor = Visitor(stack)
    said = visitor.say("hello")
    lie = {**stack.engine.get_row("chat", "messages", said["messageId"]), "text": "human!!"}
    with pytest.raises(AppwriteException) as refused:  # execute: [] in appwrite.json
        Party(stack, key=False).run("bot", lie, headers={"X-Appwrite-Trigger": "event",
                                                         "X-Appwrite-Event": EVENT.format(lie["$id"])})
    assert refused.value.code == 401
    status, answer = Party(stack).run("bot", lie, headers={"X-Appwrite-Trigger": "event",
                                                           "X-Appwrite-Event": EVENT.format(lie["$id"])})
    assert stack.wait_idle(20)
    # A project key may run it (Appwrite skips `execute` for keys): a key holder is trusted (docs/security.md); here
    # the stored "hello" was answered in the visitor's write (botDecided), so nothing is read or stored.
    assert status == 200 and answer == {"ignored": "answered in the visitor's write"}
    session, messages = visitor.transcript()
    assert len(messages) == 2 and session["needsHuman"] is False


def test_its_replies_need_the_write_scope_it_declares(stack):
    """Its key carries only the scopes of appwrite.json (Appwrite's dynamic key); writing its reply needs
    `rows.write` (Appwrite app/config/scopes.php)."""
    admin = Functions(Client().set_endpoint(stack.endpoint).set_project(stack.project_id).set_key(stack.api_key))
    admin.update("bot", name="Reference bot", scopes=["rows.read"])
    try:
        assert stack.runtime.functions["bot"].scopes == {"rows.read"}
        visitor = Visitor(stack)
        with function_variables({"BOT_INLINE": "off"}):  # the bot function answers (a model, or BOT_INLINE off)
            visitor.say("hello")
    finally:
        admin.update("bot", name="Reference bot", scopes=["rows.read", "rows.write"])
    refused = [r for r in stack.runtime.list_executions("bot") if r["responseStatusCode"] >= 400]
    assert refused, [r["responseBody"] for r in stack.runtime.list_executions("bot")]
    assert [m["role"] for m in visitor.transcript()[1]] == ["user"]


# --- with a chat API --------------------------------------------------------------------------------

def model_settings(api: ChatApiStandIn) -> dict[str, str]:
    return {"BOT_LLM_ENDPOINT": api.endpoint, "BOT_LLM_API_KEY": "sk-local-test", "BOT_LLM_MODEL": "stand-in-1"}


def test_with_a_chat_api_the_model_answers_with_the_conversation_so_far(stack):
    with ChatApiStandIn(completion("We ship within two days."), completion("HANDOFF: A colleague will join.")) \
            as api, function_variables(model_settings(api)):
        visitor = Visitor(stack)
        visitor.say("Do you ship to Norway?")
        visitor.say("My tent arrived torn")
        session, messages = visitor.transcript()
    assert [(m["role"], m["text"]) for m in messages] == [
        ("user", "Do you ship to Norway?"), ("bot", "We ship within two days."),
        ("user", "My tent arrived torn"), ("bot", "A colleague will join.")]
    assert messages[3]["handoff"] is True and session["needsHuman"] is True
    first, second = (request["body"] for request in api.requests)
    assert first["model"] == "stand-in-1" and api.requests[0]["headers"]["authorization"] == "Bearer sk-local-test"
    assert [t["content"] for t in second["messages"][1:]] == [
        "Do you ship to Norway?", "We ship within two days.", "My tent arrived torn"]


def test_when_the_chat_api_fails_the_faq_answers(stack):
    with ChatApiStandIn((503, {"error": "overloaded"})) as api, function_variables(model_settings(api)):
        visitor = Visitor(stack)
        visitor.say("What are your opening hours?")
        _, messages = visitor.transcript()
    assert "Monday to Friday" in messages[-1]["text"] and len(api.requests) == 1
    logs = " ".join(r["logs"] for r in stack.runtime.list_executions("bot"))
    assert "the chat API answered 503; answering from the FAQ" in logs and "sk-local-test" not in logs


def test_a_request_for_a_person_needs_no_model(stack):
    with ChatApiStandIn() as api, function_variables(model_settings(api)):
        visitor = Visitor(stack)
        visitor.say("I want a real person")
        session, messages = visitor.transcript()
    assert api.requests == [] and messages[-1]["handoff"] is True and session["needsHuman"] is True


def test_an_agent_who_claims_while_the_model_thinks_keeps_the_session_quiet(stack):
    with ChatApiStandIn(completion("Too late.")) as api, function_variables(model_settings(api)):
        visitor = Visitor(stack)
        api.hold()
        status, _ = visitor.party.run("touch-session", {"sessionId": visitor.session_id,
                                                        "message": {"text": "Is the blue tent waterproof?"}},
                                      headers=visitor.headers)
        assert status == 200 and api.wait_for_requests(1)  # the model is thinking
        visitor.party.run("escalate", {"sessionId": visitor.session_id}, headers=visitor.headers)
        assert Party(stack, signed_in="agent-bob").run("assign-agent", {"sessionId": visitor.session_id},
                                                       path="/claim")[0] == 200
        api.release()
        assert stack.wait_idle(20)
        _, messages = visitor.transcript()
    assert len(api.requests) == 1 and [m["role"] for m in messages] == ["user"]


def test_what_a_typical_chat_costs_on_the_server(stack):
    """The chat tests/test_widget_browser.py measures on the widget's side (two questions to the bot, "Talk to a
    person", an agent's claim and two replies, one more visitor message, End chat), replayed here over HTTP: what
    it costs in executions beyond the widget's own calls (README: the visitor's side)."""
    visitor, seen = Visitor(stack), set()
    alice = Party(stack, signed_in="agent-alice")
    executions_since(stack, seen)
    visitor.say("Do you ship to Norway?")
    visitor.say("And how long does it take?")
    visitor.party.run("escalate", {"sessionId": visitor.session_id}, headers=visitor.headers)
    assert alice.run("assign-agent", {"sessionId": visitor.session_id}, path="/claim")[0] == 200
    alice.run("touch-session", {"sessionId": visitor.session_id,
                                "message": {"role": "agent", "text": "Hi, Alice here. Yes, in 3-5 days."}})
    visitor.say("Great, thanks! Is there a customs fee?")
    alice.run("touch-session", {"sessionId": visitor.session_id,
                                "message": {"role": "agent", "text": "No, all fees are included."}})
    visitor.party.run("close-session", {"sessionId": visitor.session_id}, headers=visitor.headers)
    assert stack.wait_idle(20)
    assert executions_since(stack, seen) == {
        ("touch-session", "http"): 3 + 2,  # the visitor's 3 messages, the agent's 2 (the bot writes its own)
        ("escalate", "http"): 1, ("close-session", "http"): 1, ("assign-agent", "http"): 1,
        ("bot", "event"): 7,  # each of the 7 stored messages runs the bot once, and nothing else
    }
    assert [m["role"] for m in visitor.transcript()[1]] == ["user", "bot", "user", "bot", "agent", "user", "agent"]
