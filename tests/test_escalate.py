"""escalate over HTTP and from database events."""

import pytest
from conftest import ADMIN_SECRET, BOT_SECRET, EVENT_SPELLINGS, Widget, deliver, execute, row, rows


def stored_message(appwrite, widget, text, role="user", handoff=False):
    """A message row stored by something other than touch-session (an older deployment, a restore), so that only
    the event can escalate for it: touch-session escalates in the write that admits a message."""
    count = row(appwrite, "sessions", widget.session_id)["messageCount"]
    appwrite.engine.update_row("chat", "sessions", widget.session_id, {"messageCount": count + 1})
    return appwrite.engine.create_row("chat", "messages", "unique()", {
        "sessionId": widget.session_id, "role": role, "text": text, "handoff": handoff})


def test_a_message_asking_for_a_person_escalates_as_it_is_admitted(appwrite, widget):
    said = widget.say("Can I talk to a real person please?")
    assert said.status == 200 and said.json["session"]["needsHuman"] is True, said
    message_id = said.json["message"]["messageId"]
    stored = row(appwrite, "sessions", widget.session_id)
    assert stored["escalatedBy"] == f"message:{message_id}" and stored["escalationReason"].startswith("visitor asked")
    event = deliver(appwrite.engine.get_row("chat", "messages", message_id))
    assert event.json == {"ignored": "already_escalated", "sessionId": widget.session_id}
    bot = execute("touch-session", {"sessionId": Widget().session_id, "message": {
        "text": "Let me find a colleague", "role": "bot", "handoff": True}}, secret=BOT_SECRET)
    assert bot.json["session"]["needsHuman"] is True


def test_the_owner_escalates_once_and_a_repeat_says_so(appwrite, widget):
    first = execute("escalate", {"sessionId": widget.session_id, "reason": "billing"}, token=widget.token)
    assert first.status == 200 and first.json["escalated"] is True
    stored = row(appwrite, "sessions", widget.session_id)
    assert stored["needsHuman"] is True and stored["escalationReason"] == "billing" and stored["escalatedAt"]
    again = execute("escalate", {"sessionId": widget.session_id}, token=widget.token)
    assert again.json == {**again.json, "escalated": False, "detail": "already_escalated"}
    assert row(appwrite, "sessions", widget.session_id)["escalationReason"] == "billing"


def test_the_bot_escalates_with_its_secret_and_strangers_cannot(appwrite, widget):
    assert execute("escalate", {"sessionId": widget.session_id}).status == 403
    assert execute("escalate", {"sessionId": widget.session_id}, secret="wrong").status == 401
    assert execute("escalate", {"sessionId": widget.session_id}, secret=BOT_SECRET).json["escalated"] is True


def test_escalating_an_assigned_session_is_a_noop_and_a_closed_one_a_conflict(appwrite):
    assigned, closed = Widget(), Widget()
    execute("assign-agent", {"sessionId": assigned.session_id}, path="/claim", user="agent-alice")
    result = execute("escalate", {"sessionId": assigned.session_id}, token=assigned.token)
    assert result.json["detail"] == "agent_assigned" and result.json["session"]["status"] == "agent_assigned"
    assert result.json["session"]["botShouldReply"] is False
    execute("close-session", {"sessionId": closed.session_id}, token=closed.token)
    conflict = execute("escalate", {"sessionId": closed.session_id}, token=closed.token)
    assert (conflict.status, conflict.error) == (409, "session_closed")


@pytest.mark.parametrize("spelling", EVENT_SPELLINGS)
def test_a_visitor_asking_for_a_person_escalates_in_every_event_spelling(appwrite, widget, spelling):
    message = stored_message(appwrite, widget, "Can I talk to a real person please?")
    result = deliver(message, spelling)
    assert result.status == 200 and result.json["escalated"] is True, result
    stored = row(appwrite, "sessions", widget.session_id)
    assert stored["needsHuman"] is True and stored["escalatedBy"] == f"message:{message['$id']}"


def test_a_bot_handoff_escalates_and_ordinary_messages_do_not(appwrite, widget):
    plain = stored_message(appwrite, widget, "What are your opening hours?")
    assert deliver(plain).json == {"ignored": "no escalation rule matched"}
    humane = stored_message(appwrite, widget, "I'm humane")  # 'human' only as a whole word
    assert deliver(humane).json["ignored"] == "no escalation rule matched"
    assert row(appwrite, "sessions", widget.session_id)["needsHuman"] is False
    handoff = stored_message(appwrite, widget, "Let me find a colleague", role="bot", handoff=True)
    assert deliver(handoff).json["escalated"] is True


def test_phrases_are_configurable(appwrite, widget, monkeypatch):
    monkeypatch.setenv("HANDOFF_PHRASES", "escalate me, manager")
    assert deliver(stored_message(appwrite, widget, "a real person")).json["ignored"]
    assert deliver(stored_message(appwrite, widget, "Get me a MANAGER")).json["escalated"] is True


def test_a_duplicate_delivery_escalates_once(appwrite, widget):
    message = stored_message(appwrite, widget, "human please")
    assert deliver(message).json["escalated"] is True
    assert deliver(message).json["ignored"] == "already_escalated"
    summary = execute("list-sessions", method="GET", secret=ADMIN_SECRET).json["summary"]
    assert summary["needsHuman"] == 1


def test_events_it_does_not_handle_are_ignored_with_a_log_line(appwrite, widget):
    session_update = execute("escalate", row(appwrite, "sessions", widget.session_id), trigger="event",
                             event=f"databases.chat.tables.sessions.rows.{widget.session_id}.update")
    assert session_update.status == 200 and "ignored" in session_update.json
    assert session_update.context.logs
    garbage = execute("escalate", {"hello": 1}, trigger="event",
                      event="databases.chat.tables.messages.rows.x.create")
    assert garbage.status == 200 and "ignored" in garbage.json
    orphan = appwrite.engine.create_row("chat", "messages", "m_orphan",
                                        {"sessionId": "s_gone", "role": "user", "text": "human"})
    result = deliver(orphan)
    assert result.json == {"ignored": "session_not_found"} and result.context.logs


def test_an_event_naming_no_stored_message_is_refused_and_writes_nothing(appwrite, widget):
    before = rows(appwrite, "sessions")
    forged = {"$id": "m_forged", "sessionId": widget.session_id, "role": "user", "text": "a human please"}
    result = deliver(forged)
    assert (result.status, result.error) == (404, "message_not_found")
    assert rows(appwrite, "sessions") == before


def test_an_event_acts_on_the_stored_message_not_on_the_payload(appwrite, widget):
    quiet = stored_message(appwrite, widget, "thanks, all good")
    lying = {**quiet, "text": "get me a human", "role": "user"}  # the stored row says otherwise
    assert deliver(lying).json == {"ignored": "no escalation rule matched"}
    assert row(appwrite, "sessions", widget.session_id)["needsHuman"] is False


def test_an_event_for_a_closed_session_is_ignored(appwrite, widget):
    message = stored_message(appwrite, widget, "human")
    execute("close-session", {"sessionId": widget.session_id}, token=widget.token)
    assert deliver(message).json == {"ignored": "session_closed"}


def test_event_escalation_costs_four_requests_and_a_check_two(appwrite, widget):
    message = stored_message(appwrite, widget, "human")
    appwrite.reset_counts()
    deliver(message)
    # re-read the message, read the session, write it, the queue's line and its signal row with the queue's row;
    # the agent rows (nobody available)
    assert len(appwrite.requests) == 6
    again = appwrite.engine.get_row("chat", "messages", widget.say("human again").json["message"]["messageId"])
    appwrite.reset_counts()
    deliver(again)
    assert len(appwrite.requests) == 2  # the admission escalated already: two reads find nothing to do
