"""Issue 22, item 7: a session carries its visitor's first words (the queue's and the alerts' preview), stored by
the write that admits the first visitor message."""

from __future__ import annotations

from chat_core.domain import rules
from conftest import ADMIN_SECRET, Widget, execute


def listed(session_id: str) -> dict:
    answer = execute("list-sessions", method="GET", path=f"/{session_id}", secret=ADMIN_SECRET)
    assert answer.status == 200, answer
    return answer.json.get("session", answer.json)


def test_the_visitors_first_message_is_the_sessions_first_words(appwrite):
    w = Widget()
    assert listed(w.session_id)["firstWords"] is None
    assert w.say("  Where is\nmy order?  ").status == 200
    assert w.say("Hello?").status == 200
    assert listed(w.session_id)["firstWords"] == "Where is my order?"
    queue = execute("list-sessions", method="GET", path="/", secret=ADMIN_SECRET).json["sessions"]
    assert [s["firstWords"] for s in queue] == ["Where is my order?"]


def test_first_words_are_bounded_and_only_the_visitors():
    long = rules.first_words("word " * 100)
    assert len(long) == rules.FIRST_WORDS and long.endswith("\u2026")
    assert rules.first_words("a\tb\n c") == "a b c"


def test_the_history_lists_closed_chats_by_agent_rating_and_date(appwrite):
    rated = {}
    for score in (5, 2):
        w = Widget(userMeta={"name": f"Rated {score}"})
        w.say("hello")
        assert execute("escalate", {"sessionId": w.session_id}, token=w.token).status == 200
        assert execute("assign-agent", {"sessionId": w.session_id}, path="/claim", user="agent-alice").status == 200
        assert execute("close-session", {"sessionId": w.session_id}, token=w.token).status == 200
        rating = {"sessionId": w.session_id, "rating": {"score": score}}
        answer = execute("close-session", rating, path="/rate", token=w.token)
        assert answer.status == 200, answer
        rated[score] = w.session_id
    Widget().say("still open")

    def found(query: str) -> list[str]:
        answer = execute("list-sessions", method="GET", path=f"/?status=closed&summary=false&{query}",
                         user="agent-alice")
        assert answer.status == 200, answer
        return [s["sessionId"] for s in answer.json["sessions"]]

    assert sorted(found("assignedAgent=agent-alice")) == sorted(rated.values())
    assert found("rating=5") == [rated[5]]
    assert sorted(found("rating=1,2,5")) == sorted(rated.values())
    assert found("assignedAgent=agent-bob") == []
    assert found("createdBefore=2000-01-01T00:00:00Z") == []
    bad = execute("list-sessions", method="GET", path="/?rating=6", user="agent-alice")
    assert bad.status == 400 and bad.error == "invalid_query"
