"""The FAQ bot's pair of rows when the bulk create's answers are lost: rows that landed stay counted."""

from __future__ import annotations

from conftest import Widget, row, rows
from test_bot_inline import BULK, inline, messages_of  # noqa: F401 (the fixture)


def test_a_pair_stored_by_a_create_whose_answers_were_lost_stays_counted(inline):  # noqa: F811
    """The first createRows lands but its answer is lost; the second attempt's answer is lost too. The rows are
    there, with this admission's nonce: the post reads the visitor's row, finds it its own and answers as stored
    (before, it took both admissions back: messageCount 0 over 2 rows, and the session not waiting after 'I'll get a
    colleague', which the visitor had already received). The widget's retry is then a duplicate, counted once."""
    w = Widget()
    inline.fail_next("applied_timeout", match=BULK)
    inline.fail_next("timeout", match=BULK)
    first = w.say("My tent has a hole", id="c1")
    stored = messages_of(inline, w.session_id)
    session = row(inline, "sessions", w.session_id)
    assert first.status == 200 and len(stored) == 2 and first.json["reply"] is not None
    assert session["messageCount"] == 2 and session["needsHuman"] is True
    retried = w.say("My tent has a hole", id="c1").json  # the widget's retry, same client ID
    session = row(inline, "sessions", w.session_id)
    assert len(messages_of(inline, w.session_id)) == 2
    assert session["messageCount"] == 2, "messageCount must match the stored rows"
    assert session["needsHuman"] is True, "the stored hand-off reply told the visitor a colleague comes"
    assert retried["reply"] is not None


def _escalations_used(appwrite) -> int:
    return sum(r["used"] for r in rows(appwrite, "limits") if r["name"].startswith("escalations:"))


def test_a_hand_off_decided_on_a_stale_read_gives_its_escalation_budget_back(inline):  # noqa: F811
    """The FAQ bot would hand off an unknown question on the session as read, so the escalation budget is spent;
    meanwhile the session started waiting (another message asked for a person), the write decides again on the
    fresh row and hands nothing off (while a visitor waits the bot only answers from the FAQ). Only the escalation
    that happened counts against the visitor's budget."""
    w = Widget()
    w.say("I want to talk to a person")  # waits now: one escalation spent
    spent = _escalations_used(inline)
    waiting = row(inline, "sessions", w.session_id)
    inline.engine.update_row("chat", "sessions", w.session_id, {"needsHuman": False, "escalatedAt": None,
                                                                "escalatedBy": None})
    admitting = {"seen": False}

    def another_escalation_lands_first(index, method, path):
        if method == "PATCH" and path.endswith(f"/sessions/rows/{w.session_id}") and not admitting["seen"]:
            admitting["seen"] = True  # between this call's read and its admitting write
            inline.engine.update_row("chat", "sessions", w.session_id, {
                "needsHuman": True, "escalatedAt": waiting["escalatedAt"], "escalatedBy": waiting["escalatedBy"]})
        return None

    inline.fault = another_escalation_lands_first
    try:
        answer = w.say("My tent has a hole")
    finally:
        inline.fault = None
    assert answer.status == 200 and answer.json["reply"] is None  # no second hand-off
    assert _escalations_used(inline) == spent  # the stale decision's escalation was given back
