"""Events: duplicates and late deliveries escalate at most once, events for gone or closed sessions are ignored
with a log line, and escalate's own writes can never trigger escalate again.
"""

from __future__ import annotations

import json
import threading

import pytest
from conftest import BOT_SECRET, EVENT_SPELLINGS, ROOT, Widget, deliver, execute, row
from hardening_support import snapshot, violations


def said(appwrite, widget: Widget, text: str) -> dict:
    """A message row stored without touch-session (which escalates in the very write that admits a message), as an
    older deployment or a restore would store it: here the event is what escalates."""
    count = row(appwrite, "sessions", widget.session_id)["messageCount"]
    appwrite.engine.update_row("chat", "sessions", widget.session_id, {"messageCount": count + 1})
    return appwrite.engine.create_row("chat", "messages", "unique()",
                                      {"sessionId": widget.session_id, "role": "user", "text": text})


def escalations(appwrite, widget: Widget) -> int:
    """Writes to the session since it was created (each appends its nonce to writeLog): here, escalations."""
    return len((row(appwrite, "sessions", widget.session_id)["writeLog"] or "").split())


def test_the_same_event_delivered_again_in_every_spelling_escalates_once(appwrite, widget):
    message = said(appwrite, widget, "a real person please")
    answers = [deliver(message, spelling).json for spelling in EVENT_SPELLINGS * 2]
    assert [a.get("escalated") for a in answers] == [True, None, None, None, None, None]
    assert all(a.get("ignored") == "already_escalated" for a in answers[1:])
    assert escalations(appwrite, widget) == 1
    assert violations(appwrite) == []


def test_two_messages_asking_for_a_person_escalate_once(appwrite, widget):
    first, second = said(appwrite, widget, "human"), said(appwrite, widget, "an agent please")
    assert deliver(second).json["escalated"] is True
    assert deliver(first).json["ignored"] == "already_escalated"  # and out of order
    assert row(appwrite, "sessions", widget.session_id)["escalatedBy"] == f"message:{second['$id']}"
    assert escalations(appwrite, widget) == 1


def test_concurrent_duplicate_deliveries_escalate_once(appwrite, widget):
    """The first delivery reads the session, the second one escalates completely, then the first writes."""
    message = said(appwrite, widget, "human")
    second_done = threading.Event()
    results = {}

    first_read = threading.Event()
    handle = appwrite.api.handle

    def hold_first_write(method, path, *args):
        # Wraps the fake's REST handler, outside FakeAppwrite's lock (its `fault` hook runs under that lock,
        # so holding there would stall the other delivery too and the interleaving would never happen).
        if threading.current_thread().name == "first" and method == "PATCH" and "/sessions/" in path:
            first_read.set()
            assert second_done.wait(5)
        return handle(method, path, *args)

    appwrite.api.handle = hold_first_write
    first = threading.Thread(target=lambda: results.update(first=deliver(message)), name="first")
    first.start()
    assert first_read.wait(5)  # the first delivery has read the session and is about to write
    results["second"] = deliver(message, EVENT_SPELLINGS[1])
    second_done.set()
    first.join(10)
    appwrite.api.handle = handle
    assert results["second"].json.get("escalated") is True  # the interleaving happened: the second one won
    assert sorted(json.dumps(r.json.get("escalated", r.json.get("ignored"))) for r in results.values()) == \
        ['"already_escalated"', "true"]
    assert escalations(appwrite, widget) == 1
    assert violations(appwrite) == []


@pytest.mark.parametrize("then", ["claimed", "closed", "claimed_then_closed", "unassigned"])
def test_a_late_event_changes_nothing(appwrite, widget, then):
    message = said(appwrite, widget, "human please")
    execute("escalate", {"sessionId": widget.session_id}, token=widget.token)
    if then in ("claimed", "claimed_then_closed", "unassigned"):
        assert execute("assign-agent", {"sessionId": widget.session_id}, path="/claim",
                       user="agent-alice").status == 200
    if then in ("closed", "claimed_then_closed"):
        assert execute("close-session", {"sessionId": widget.session_id}, token=widget.token).status == 200
    if then == "unassigned":
        assert execute("assign-agent", {"sessionId": widget.session_id}, path="/unassign",
                       user="agent-alice").status == 200
    before = snapshot(appwrite)
    result = deliver(message)
    assert result.status == 200 and "ignored" in result.json, result
    assert snapshot(appwrite) == before
    assert violations(appwrite) == []
    if "closed" in then:
        assert result.json == {"ignored": "session_closed"} and result.context.logs


def test_an_event_for_a_missing_session_is_ignored_with_a_log_line(appwrite):
    orphan = appwrite.engine.create_row("chat", "messages", "m_orphan",
                                        {"sessionId": "s_gone", "role": "user", "text": "human please"})
    before = snapshot(appwrite)
    result = deliver(orphan)
    assert (result.status, result.json) == (200, {"ignored": "session_not_found"})
    assert any("s_gone" in line for line in result.context.logs)
    assert snapshot(appwrite) == before


@pytest.mark.parametrize("event", [
    "databases.chat.tables.sessions.rows.s_1.update",
    "databases.chat.tables.counters.rows.global.update",
    "databases.chat.tables.messages.rows.m_1.update",
    "databases.chat.tables.messages.rows.m_1.delete",
    "databases.other.tables.messages.rows.m_1.create",
    "databases.chat.tables.messages.rows.m_1",
    "",
])
def test_events_it_does_not_handle_are_ignored_with_a_log_line(appwrite, widget, event):
    message = said(appwrite, widget, "human please")
    before = snapshot(appwrite)
    result = execute("escalate", message, trigger="event", event=event)
    assert result.status == 200 and "ignored" in result.json and result.context.logs
    assert snapshot(appwrite) == before


# --- the message subscription: the bot's alone; escalate's writes never trigger it ---------------------

def _subscriptions(function_id: str) -> list[str]:
    config = json.loads((ROOT / "appwrite.json").read_text())
    return next(f for f in config["functions"] if f["$id"] == function_id).get("events", [])


def _canonical(name: str) -> list[str]:
    """The spellings are one event (docs/platform.md: either subscription form matches): compare them as one."""
    parts = name.split(".")
    for index, (old, new) in {0: ("tablesdb", "databases"), 2: ("collections", "tables"),
                              4: ("documents", "rows")}.items():
        if len(parts) > index and parts[index] == old:
            parts[index] = new
    return parts


def _matches(pattern: str, event: str) -> bool:
    """Appwrite's matching: segment by segment, `*` standing for any one segment (broader here, not narrower)."""
    want, got = _canonical(pattern), _canonical(event)
    return len(want) == len(got) and all(w in ("*", g) for w, g in zip(want, got, strict=True))


def _names(event: dict) -> list[str]:
    """Every spelling Appwrite may give the event of a row write (see docs/platform.md), with wildcard-free parts."""
    db, table, row_id, action = event["databaseId"], event["tableId"], event["rowId"], event["action"]
    names = [f"databases.{db}.collections.{table}.documents.{row_id}.{action}",
             f"databases.{db}.tables.{table}.rows.{row_id}.{action}",
             f"tablesdb.{db}.tables.{table}.rows.{row_id}.{action}"]
    shorter = [n.rsplit(".", 2)[0] + f".{row_id}" for n in names] + [n.rsplit(".", 1)[0] for n in names]
    return names + shorter


def test_the_subscription_matches_a_new_message_in_every_spelling():
    """Only the bot runs on message events (escalate no longer does: touch-session escalates in the write that
    admits a message, docs/consistency.md), so each stored message costs one event execution."""
    assert _subscriptions("escalate") == []
    patterns = _subscriptions("bot")
    assert patterns
    new_message = {"databaseId": "chat", "tableId": "messages", "rowId": "m_1", "action": "create"}
    for name in _names(new_message)[:3]:
        assert any(_matches(p, name) for p in patterns), name


def test_escalates_own_writes_never_match_the_message_subscription(appwrite):
    patterns = _subscriptions("bot")
    w = Widget()
    messages = [said(appwrite, w, "human please")]
    bot = execute("touch-session", {"sessionId": w.session_id,
                                    "message": {"text": "handing off", "role": "bot", "handoff": True}},
                  secret=BOT_SECRET)
    messages.append(appwrite.engine.get_row("chat", "messages", bot.json["message"]["messageId"]))
    fresh = Widget()
    messages.append(said(appwrite, fresh, "a real person"))
    written: list[dict] = []
    unsubscribe = appwrite.engine.subscribe(written.append)
    try:
        for message in messages:
            assert deliver(message).status == 200
        assert execute("escalate", {"sessionId": fresh.session_id}, token=fresh.token).status == 200  # HTTP too
    finally:
        unsubscribe()
    assert written, "escalate wrote nothing: the check below would prove nothing"
    assert {e["tableId"] for e in written} <= {"sessions", "counters", "signals"}  # signals: Realtime (issue 21)
    for event in written:
        for name in _names(event):
            assert not any(_matches(p, name) for p in patterns), (name, patterns)
    assert _matches(patterns[0], f"databases.chat.tables.messages.rows.{messages[0]['$id']}.create")
