"""The FAQ bot's pair of rows when the bulk create's answers are lost: rows that landed stay counted."""

from __future__ import annotations

from conftest import Widget, row
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
