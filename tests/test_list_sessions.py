"""list-sessions: filters, pages, counts, summary, and what it never shows."""

import json
from datetime import datetime, timedelta, timezone

from conftest import ADMIN_SECRET, Widget, execute


def listing(query: str = "", **who):
    who = who or {"secret": ADMIN_SECRET}
    return execute("list-sessions", method="GET", path=f"/?{query}" if query else "/", **who)


def test_only_agents_and_admins_list(appwrite, widget):
    assert listing(user=None, token=widget.token).status == 401
    assert listing(user="visitor-vic").error == "not_an_agent"
    assert listing(user="agent-alice").status == 200
    assert listing(secret="not-the-secret").status == 401


def test_each_session_shows_counts_idle_time_and_never_its_token(appwrite):
    w = Widget(userMeta={"browser": "Chrome"})
    w.say("one")
    w.say("two")
    result = listing()
    assert result.status == 200
    (session,) = result.json["sessions"]
    assert session["sessionId"] == w.session_id and session["messageCount"] == 2
    assert session["lastSeenAgo"] == "just now" and session["userMeta"] == {"browser": "Chrome"}
    assert {"duration", "durationSeconds", "idleSeconds", "status", "needsHuman", "assignedAgent"} <= set(session)
    text = json.dumps(result.json)
    assert w.token not in text and "tokenHash" not in text
    assert appwrite.engine.get_row("chat", "sessions", w.session_id)["tokenHash"] not in text


def test_filters(appwrite):
    waiting, assigned, quiet = Widget(), Widget(), Widget()
    execute("escalate", {"sessionId": waiting.session_id}, token=waiting.token)
    execute("escalate", {"sessionId": assigned.session_id}, token=assigned.token)
    execute("assign-agent", {"sessionId": assigned.session_id}, path="/claim", user="agent-bob")
    old = (datetime.now(timezone.utc) - timedelta(hours=3)).isoformat()
    appwrite.engine.update_row("chat", "sessions", quiet.session_id, {"lastSeen": old})

    def ids(query):
        result = listing(query)
        assert result.status == 200, result
        return {s["sessionId"] for s in result.json["sessions"]}

    assert ids("needsHuman=true") == {waiting.session_id}
    assert ids("status=agent_assigned") == {assigned.session_id}
    assert ids("assignedAgent=agent-bob") == {assigned.session_id}
    assert ids("status=active,agent_assigned") == {waiting.session_id, assigned.session_id, quiet.session_id}
    assert ids("idleFor=2h") == {quiet.session_id}
    future = (datetime.now(timezone.utc) + timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
    assert ids(f"createdAfter={future}") == set()
    assert len(ids(f"createdBefore={future}")) == 3
    newest_first = [s["sessionId"] for s in listing().json["sessions"]]
    assert newest_first[-1] == quiet.session_id
    assert [s["sessionId"] for s in listing("order=asc").json["sessions"]][0] == quiet.session_id


def test_bad_queries_are_400(appwrite):
    for query in ("status=open", "needsHuman=yes", "limit=0", "limit=101", "idleFor=soon", "order=up",
                  "createdAfter=yesterday", "colour=red", "cursor=../x", "limit=1&limit=2"):
        result = listing(query)
        assert result.status == 400, query
    assert listing("cursor=s_unknown").error == "invalid_cursor"


def test_the_queue_is_served_oldest_waiting_first(appwrite, monkeypatch):
    """The repro: the queue was asked for by lastSeen, newest first, so 100 sessions escalated later (and active
    since) pushed the longest waiter off the page. Sorted by when each started waiting, it stays on top."""
    from chat_core.edge import http
    clock = [datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)]
    monkeypatch.setattr(http, "utcnow", lambda: clock[0])
    real = Widget()
    execute("escalate", {"sessionId": real.session_id}, token=real.token)
    flood = []
    for _ in range(105):
        clock[0] += timedelta(seconds=2)
        w = Widget()
        execute("escalate", {"sessionId": w.session_id}, token=w.token)
        flood.append(w)
    for w in flood[:50]:  # a later message makes them the freshest
        w.say("still here")
    queue = listing("needsHuman=true&sort=escalatedAt&order=asc&limit=100")
    ids = [s["sessionId"] for s in queue.json["sessions"]]
    assert ids[0] == real.session_id and ids[1:] == [w.session_id for w in flood[:99]]
    assert queue.json["summary"]["needsHuman"] == 106  # the true number waiting, beyond the page
    by_last_seen = [s["sessionId"] for s in listing("needsHuman=true&limit=100").json["sessions"]]
    assert real.session_id not in by_last_seen  # what the console used to ask for
    seen, cursor = [], None
    while True:  # pages in this order cover everyone once
        page = listing("needsHuman=true&sort=escalatedAt&order=asc&limit=40&summary=false"
                       + (f"&cursor={cursor}" if cursor else "")).json
        seen += [s["sessionId"] for s in page["sessions"]]
        if not (cursor := page["nextCursor"]):
            break
    assert seen == [real.session_id] + [w.session_id for w in flood]
    assert listing("sort=createdAt").status == 400 and listing("sort=escalatedAt&sort=lastSeen").status == 400


def test_cursor_pages_cover_everything_once(appwrite):
    made = {Widget().session_id for _ in range(7)}
    seen, cursor, pages = [], None, 0
    while True:
        result = listing("limit=3" + (f"&cursor={cursor}" if cursor else "") + "&summary=false")
        assert "summary" not in result.json
        seen += [s["sessionId"] for s in result.json["sessions"]]
        pages += 1
        cursor = result.json["nextCursor"]
        if not cursor:
            break
    assert pages == 3 and sorted(seen) == sorted(made)


def test_summary_counts(appwrite):
    a, b, c, d = Widget(), Widget(), Widget(), Widget()
    for w in (a, b, c):
        execute("escalate", {"sessionId": w.session_id}, token=w.token)
    execute("assign-agent", {"sessionId": a.session_id}, path="/claim", user="agent-alice")
    execute("assign-agent", {"sessionId": b.session_id}, path="/claim", user="agent-bob")
    execute("close-session", {"sessionId": d.session_id}, token=d.token)
    summary = listing().json["summary"]
    assert summary["total"] == 4
    assert summary["byStatus"] == {"active": 1, "agent_assigned": 2, "closed": 1}
    assert summary["needsHuman"] == 1
    assert summary["agents"] == {"agent-alice": 1, "agent-bob": 1}
    assert summary["assignments"] == 2 and summary["averageSecondsToAssignment"] is not None


def test_a_list_page_costs_the_same_for_5_or_30_sessions(appwrite):
    for _ in range(5):
        Widget()
    appwrite.reset_counts()
    listing()
    few = len(appwrite.requests)
    for _ in range(25):
        Widget().say("hi")
    appwrite.reset_counts()
    listing("limit=100")
    # the page, the counter rows, the sessions they do not hold yet, and for an admin the agent rows (the team)
    assert len(appwrite.requests) == few == 4


def test_summary_stays_exact_beyond_appwrites_5000_count_cap(appwrite):
    """Bulk rows stand in for 5,100 visitors; recount rebuilds the counters from them; a new one adds 1."""
    now = datetime.now(timezone.utc).isoformat()
    appwrite.engine.bulk_insert("chat", "sessions", [
        {"$id": f"s_bulk{i:05d}", "status": "active", "lastSeen": now, "tokenHash": "x" * 64,
         "needsHuman": i % 10 == 0} for i in range(5100)])
    assert execute("list-sessions", method="POST", path="/recount", secret=ADMIN_SECRET).status == 200
    Widget()
    summary = listing("limit=1").json["summary"]
    assert summary["total"] == 5101 and summary["byStatus"]["active"] == 5101 and summary["needsHuman"] == 510


def test_recount_repairs_counters_and_is_admin_only(appwrite):
    w = Widget()
    execute("escalate", {"sessionId": w.session_id}, token=w.token)
    assert execute("list-sessions", method="GET", path="/?limit=1", secret=ADMIN_SECRET).status == 200
    execute("list-sessions", trigger="schedule")  # the fold: the counters now hold the session
    appwrite.engine.update_row("chat", "counters", "global", {"total": 99, "waiting": 7})
    assert listing().json["summary"]["total"] == 99
    assert execute("list-sessions", method="POST", path="/recount", user="agent-alice").error == "not_an_admin"
    repaired = execute("list-sessions", method="POST", path="/recount", secret=ADMIN_SECRET).json["summary"]
    assert repaired["total"] == 1 and repaired["needsHuman"] == 1


def test_one_session_and_its_messages(appwrite, widget):
    for text in ("a", "b", "c"):
        widget.say(text)
    one = execute("list-sessions", method="GET", path=f"/{widget.session_id}", user="agent-alice")
    assert one.json["session"]["messageCount"] == 3
    page = execute("list-sessions", method="GET", path=f"/{widget.session_id}/messages?limit=2", user="agent-bob")
    assert [m["text"] for m in page.json["messages"]] == ["a", "b"] and page.json["nextCursor"]
    assert execute("list-sessions", method="GET", path="/s_nope", user="agent-bob").error == "session_not_found"
    assert execute("list-sessions", method="GET", path=f"/{widget.session_id}", token=widget.token).status == 401
