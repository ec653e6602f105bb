"""Issue 22, item 6 (the rest): the history searched by visitor (the name or e-mail in userMeta) and by the text
of the messages, through `searchText` (written by the writes that happen anyway) and Appwrite's `search` on its
fulltext index: no scan, no request of its own."""

from __future__ import annotations

from chat_core.domain import rules, search
from chat_core.domain.model import Session
from conftest import ADMIN_SECRET, Widget, execute


def found(q: str, extra: str = "") -> list[str]:
    answer = execute("list-sessions", method="GET", path=f"/?summary=false&q={q}{extra}", secret=ADMIN_SECRET)
    assert answer.status == 200, answer
    return [s["sessionId"] for s in answer.json["sessions"]]


def test_the_history_finds_a_chat_by_name_email_and_words(appwrite):
    vic = Widget(userMeta={"name": "Vic Walker", "email": "vic@example.com", "page": "/orders"})
    vic.say("My parcel never came, order 1042")
    greta = Widget(userMeta={"email": "greta@shop.test"})
    greta.say("I want a refund for the tent")
    assert execute("escalate", {"sessionId": greta.session_id}, token=greta.token).status == 200
    assert execute("assign-agent", {"sessionId": greta.session_id}, path="/claim", user="agent-alice").status == 200
    reply = {"sessionId": greta.session_id, "message": {"role": "agent", "text": "The refund is on its way"}}
    assert execute("touch-session", reply, user="agent-alice").status == 200

    assert found("walker") == [vic.session_id]
    assert found("Vic%20Walk") == [vic.session_id]          # every word, each a prefix, any case
    assert found("vic%40example.com") == [vic.session_id]   # an e-mail: its words
    assert found("parcel%201042") == [vic.session_id]       # the visitor's words
    assert found("greta") == [greta.session_id]
    assert found("on%20its%20way") == [greta.session_id]     # an agent's words ("on", "its": not indexed)
    assert found("tent%20parcel") == []                      # both words, in one chat
    assert found("refund", "&status=closed") == []           # with the other filters
    assert found("refund", "&assignedAgent=agent-alice") == [greta.session_id]


def test_a_search_without_an_indexable_word_is_refused(appwrite):
    for q in ("a", "on%20to", "%40%40"):
        answer = execute("list-sessions", method="GET", path=f"/?q={q}", secret=ADMIN_SECRET)
        assert answer.status == 400 and answer.error == "invalid_query", q


def test_search_text_is_bounded_and_an_admission_taken_back_leaves_it(appwrite):
    assert search.visitor_text('{"name": " Vic  Walker ", "email": "V@X.io", "page": "/p"}') == "vic walker v@x.io"
    assert search.visitor_text("not json") == "" and search.visitor_text("[1]") == ""
    full = "x" * search.SEARCH_MAX
    assert search.with_message(full, "more") == full
    assert len(search.with_message("x" * (search.SEARCH_MAX - 2), "abcdef")) == search.SEARCH_MAX
    assert search.query_words("The Tent, the TENT and a refund!") == ["tent", "and", "refund"]
    session = Session(id="s_1", status="active", last_seen=None, created_at=None, updated_at="", token_hash="",
                      search_text="vic")
    change, admission = rules.admit(session, "m_1", None, by_owner=False, limit=5, escalation=None,
                                    text="Where  is it?")
    assert change.after.search_text == "vic where is it?" and admission.search_added == " where is it?"
    assert rules.unadmit(change.after, admission).after.search_text == "vic"
