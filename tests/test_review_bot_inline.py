"""Review findings (branch review): the FAQ bot's pair of rows when the bulk create's answer is lost twice.
Failing tests prove them."""

from __future__ import annotations

from conftest import Widget, row
from test_bot_inline import BULK, inline, messages_of  # noqa: F401 (the fixture)


def test_a_pair_stored_by_a_create_whose_answers_were_lost_stays_counted(inline):  # noqa: F811
    """The first createRows lands but its answer is lost; the second attempt's answer is lost too (503 to the
    widget). `_store` raises, `post` takes both admissions back though both rows are stored (and the hand-off reply
    already reached the visitor's socket): messageCount 0 over 2 rows, the session not waiting after 'I'll get a
    colleague'. The widget's retry meets rows carrying the taken-back admission's nonce, calls them another attempt's
    and takes its own admissions back too: the count never comes back (the sweep deletes 'empty' sessions)."""
    w = Widget()
    inline.fail_next("applied_timeout", match=BULK)
    inline.fail_next("timeout", match=BULK)
    first = w.say("My tent has a hole", id="c1")
    stored = messages_of(inline, w.session_id)
    session = row(inline, "sessions", w.session_id)
    assert first.status == 503 and len(stored) == 2  # both rows stored, the caller told it failed
    retried = w.say("My tent has a hole", id="c1").json  # the widget's retry, same client ID
    session = row(inline, "sessions", w.session_id)
    assert len(messages_of(inline, w.session_id)) == 2
    assert session["messageCount"] == 2, "messageCount must match the stored rows"
    assert session["needsHuman"] is True, "the stored hand-off reply told the visitor a colleague comes"
    assert retried["reply"] is not None
