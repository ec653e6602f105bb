"""Issue 22, item 7: a session carries its visitor's first words (the queue's and the alerts' preview), stored by
the write that admits the first visitor message."""

from __future__ import annotations

from chat_core.domain import rules
from conftest import ADMIN_SECRET, Widget, execute, listed


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


def test_staff_answers_name_other_agents_at_one_users_read_per_agent_and_warm_instance(appwrite):
    """Item 7: the console labels other agents by name: a session's `assignedAgentName`, an agent message's
    `authorName`, a timeline entry's `actorName`, the team's `name`; each agent's name is read once per warm instance
    (infra.users remembers it for 10 minutes), whatever the number of sessions in the page."""
    from chat_core.infra import users

    appwrite.engine.put_user("agent-alice", "Alice Martin", ["agent"])
    appwrite.engine.put_user("agent-bob", "Bob Stone", ["agent"])
    held = {}
    for agent in ("agent-alice", "agent-bob", "agent-bob"):
        w = Widget()
        w.say("hello")
        assert execute("escalate", {"sessionId": w.session_id}, token=w.token).status == 200
        assert execute("assign-agent", {"sessionId": w.session_id}, path="/claim", user=agent).status == 200
        held.setdefault(agent, w.session_id)
    bobs = held["agent-bob"]
    assert execute("touch-session", {"sessionId": bobs, "message": {"role": "agent", "text": "Bob here"}},
                   user="agent-bob").status == 200

    users.MEMORY.clear()  # a cold list-sessions
    appwrite.reset_counts()
    page = execute("list-sessions", method="GET", path="/", user="agent-alice").json
    names = {s["assignedAgent"]: s["assignedAgentName"] for s in page["sessions"]}
    assert names == {"agent-alice": "Alice Martin", "agent-bob": "Bob Stone"}
    user_reads = [p for _, p in appwrite.requests if "/users/" in p]
    assert len(user_reads) <= 2, user_reads  # one per agent, not per session
    appwrite.reset_counts()
    opened = execute("list-sessions", method="GET", path=f"/{bobs}/messages", user="agent-alice").json
    assert opened["session"]["assignedAgentName"] == "Bob Stone"
    assert [(m["role"], m.get("authorName")) for m in opened["messages"]] == [("user", None), ("agent", "Bob Stone")]
    timeline = execute("list-sessions", method="GET", path=f"/{bobs}/history", user="agent-alice").json["history"]
    assert [e["actorName"] for e in timeline if e["action"] == "claim"] == ["Bob Stone"]
    assert [e["actorName"] for e in timeline if e["actor"] == "visitor"] == [None] * sum(
        e["actor"] == "visitor" for e in timeline)
    assert [p for _, p in appwrite.requests if "/users/" in p] == []  # remembered by the warm instance
    team = execute("list-sessions", method="GET", path="/agents", secret=ADMIN_SECRET).json["agents"]
    assert {a["agentId"]: a["name"] for a in team} == {"agent-alice": "Alice Martin", "agent-bob": "Bob Stone"}
    unnamed = execute("list-sessions", method="GET", path="/", secret=ADMIN_SECRET).json["sessions"]
    assert all(s["assignedAgentName"] for s in unnamed)
