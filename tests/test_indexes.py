"""Issue 20, item 4: every filter and order the sweeps, the minute's pass, the lists and the repair send is served by
an index of appwrite.json. The queries are captured as the stack receives them while a day's worth of operations
runs (every list-sessions filter and sort, the audit trail, the idle sweep, the fold, the queue's pass, the repair).

A list is served when (rules of a B-tree index on MariaDB/PostgreSQL, the engines Appwrite supports):
- with filters: some index leads with a column the query filters, and every equality filter on a column that is
  not a boolean is in that index's equality prefix (a boolean splits a table in two: it narrows nothing alone but
  may lead an index of its own, as `dirty` does). Range filters and the order may be residual (the index reads a
  range of rows that all match the prefix);
- without filters: its order column leads an index, or it orders on nothing (a walk by `$id`, which is the
  primary key);
- an `or`: each branch is served on its own (the engines merge the indexes).
Appwrite indexes `$id`, `$createdAt`, `$updatedAt` itself (utopia-php/database `Database::createCollection`:
the `_uid` unique key, `_created_at`, `_updated_at` indexes)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs

from conftest import ADMIN_SECRET, BOT_SECRET, Widget, execute

ROOT = Path(__file__).resolve().parent.parent
BUILT_IN = {"$id", "$createdAt", "$updatedAt", "$sequence"}
EQUALITY = {"equal", "isNull"}
FILTERS = {"equal", "notEqual", "lessThan", "lessThanEqual", "greaterThan", "greaterThanEqual", "isNull",
           "isNotNull", "between", "startsWith", "search", "contains"}
IGNORED = {"limit", "offset", "cursorAfter", "cursorBefore", "select"}


def schema() -> dict[str, dict]:
    tables = json.loads((ROOT / "appwrite.json").read_text())["tables"]
    return {t["$id"]: {"indexes": [i["columns"] for i in t["indexes"]],
                       "booleans": {c["key"] for c in t["columns"] if c["type"] == "boolean"}} for t in tables}


def capture(appwrite, monkeypatch) -> list[tuple[str, list[dict]]]:
    seen: list[tuple[str, list[dict]]] = []
    handle = appwrite.api.handle

    def recording(method, path, query, headers, body, *rest):
        parts = path.strip("/").split("/")
        if method in ("GET", "DELETE") and len(parts) == 6 and parts[1] == "tablesdb" and parts[5] == "rows":
            sent = [v for k, values in parse_qs(query).items() if k.startswith("queries[") for v in values]
            sent = sent or json.loads(body or b"{}").get("queries", [])  # a bulk delete's, in its body
            seen.append((parts[4], [json.loads(q) for q in sent]))
        return handle(method, path, query, headers, body, *rest)
    monkeypatch.setattr(appwrite.api, "handle", recording)
    return seen


def served(table: dict, queries: list[dict]) -> str | None:
    """None when an index serves these queries, else why not."""
    filters = [q for q in queries if q["method"] in FILTERS]
    orders = [q["attribute"] for q in queries if q["method"] in ("orderAsc", "orderDesc")]
    branches = [q for q in queries if q["method"] == "or"]
    for branch in branches:
        for alternative in branch["values"]:
            why = served(table, [*filters, *(alternative if isinstance(alternative, list) else [alternative])])
            if why:
                return f"or-branch: {why}"
    if branches:
        return None
    unknown = {q["method"] for q in queries} - FILTERS - IGNORED - {"orderAsc", "orderDesc", "and"}
    assert not unknown, unknown
    if not filters:
        if not orders or orders[0] in BUILT_IN or any(ix[0] == orders[0] for ix in table["indexes"]):
            return None
        return f"no index leads with the order column {orders[0]}"
    filtered = {q["attribute"] for q in filters}
    must = {q["attribute"] for q in filters if q["method"] in EQUALITY and q["attribute"] not in table["booleans"]
            and q["attribute"] not in BUILT_IN}
    if filtered & BUILT_IN and not must:
        return None
    for index in table["indexes"]:
        if index[0] not in filtered:
            continue
        prefix = set()
        for column in index:
            if column not in filtered:
                break
            prefix.add(column)
        if must <= prefix:
            return None
    return f"no index leads with a filtered column and holds the equality filters {sorted(must)}"


def run_the_day(clock) -> None:
    """Every list and sweep once: sessions in every state, the lists with every filter and sort, the trail, the
    transcripts, the minute's pass, the idle sweep (empty and idle closes, and the deletion of closed empty ones),
    the repair."""
    execute("assign-agent", {"availability": "available"}, path="/availability", user="agent-alice")
    execute("assign-agent", {"agentId": "agent-alice", "capacity": 1}, path="/capacity", secret=ADMIN_SECRET)
    chats = [Widget() for _ in range(6)]
    for w in chats[:4]:
        w.say("hello")
    execute("escalate", {"sessionId": chats[0].session_id}, token=chats[0].token)
    execute("escalate", {"sessionId": chats[1].session_id}, token=chats[1].token)
    signed_in = execute("create-session", {}, user="visitor-vic").json
    execute("escalate", {"sessionId": signed_in["sessionId"]}, user="visitor-vic", token=signed_in["token"])
    execute("assign-agent", {"sessionId": chats[2].session_id}, path="/claim", user="agent-bob")
    execute("close-session", {"sessionId": chats[3].session_id, "reason": "solved"}, token=chats[3].token)
    execute("list-sessions", trigger="schedule")
    for query in ("", "?status=active", "?status=closed&summary=false", "?needsHuman=true&sort=escalatedAt&order=asc",
                  "?needsHuman=false", "?assignedAgent=agent-bob", "?assignedAgent=agent-bob&status=agent_assigned",
                  "?idleFor=5m", "?createdAfter=2020-01-01T00:00:00Z&createdBefore=2100-01-01T00:00:00Z",
                  "?status=active&needsHuman=false&sort=lastSeen&order=asc"):
        answer = execute("list-sessions", method="GET", path=f"/{query}", secret=ADMIN_SECRET)
        assert answer.status == 200, (query, answer)
    for path in ("/agents", "/audit", "/audit?agent=agent-bob&order=desc",
                 "/audit?from=2020-01-01T00:00:00Z&to=2100-01-01T00:00:00Z", f"/{chats[0].session_id}",
                 f"/{chats[0].session_id}/messages", f"/{chats[0].session_id}/history",
                 f"/{chats[0].session_id}/export?format=csv"):
        assert execute("list-sessions", method="GET", path=path, secret=ADMIN_SECRET).status == 200, path
    execute("touch-session", method="GET", path=f"/messages?sessionId={chats[0].session_id}", token=chats[0].token)
    execute("touch-session", method="GET", path=f"/export?sessionId={chats[0].session_id}", token=chats[0].token)
    execute("touch-session", method="GET", path=f"/messages?sessionId={chats[5].session_id}", secret=BOT_SECRET)
    clock.advance(45)  # idle: the empty ones close as empty, the others as idle
    execute("close-session", trigger="schedule")
    execute("list-sessions", trigger="schedule")
    clock.advance(2)
    execute("close-session", trigger="schedule")  # the empty ones, folded, are deleted
    execute("list-sessions", trigger="schedule")
    assert execute("list-sessions", {"settleSeconds": 0}, path="/recount", secret=ADMIN_SECRET).status == 200
    clock.now += timedelta(days=2)
    execute("close-session", trigger="schedule")  # past budget windows


def test_every_query_of_the_sweeps_and_lists_is_served_by_an_index(appwrite, clock, monkeypatch):
    seen = capture(appwrite, monkeypatch)
    run_the_day(clock)
    tables = schema()
    shapes = {}
    for table, queries in seen:
        shape = (table, json.dumps([{k: v for k, v in q.items() if k != "values" or q["method"] == "or"}
                                    for q in queries if q["method"] not in IGNORED], sort_keys=True))
        shapes.setdefault(shape, queries)
    unserved = {shape: why for shape, queries in shapes.items() if (why := served(tables[shape[0]], queries))}
    assert unserved == {}
    captured = {table for table, _ in shapes}
    assert {"sessions", "messages", "audit", "counters", "agents", "limits"} <= captured, captured
    ran = " ".join(shape for _, shape in shapes)
    for column in ("closeReason", "messageCount", "ownerId", "assignedBy", "windowStart", "agentId", "load"):
        assert f'"{column}"' in ran, column  # the sweeps, the queue's rate, the budgets' and agents' lists ran


def test_the_rule_flags_a_filter_without_an_index():
    tables = schema()
    close_reason = [{"method": "equal", "attribute": "status", "values": ["closed"]},
                    {"method": "equal", "attribute": "closeReason", "values": ["empty"]},
                    {"method": "equal", "attribute": "dirty", "values": [False]}]
    assert served(tables["sessions"], close_reason) is None
    bare = {"indexes": [["status", "lastSeen"]], "booleans": {"dirty"}}
    assert served(bare, close_reason) is not None  # the index before issue 20: status alone leads
    assert served(bare, [{"method": "orderAsc", "attribute": "escalatedAt"}]) is not None


def test_the_minutes_fold_keeps_up_with_a_sweep_at_full_capacity(appwrite, clock, monkeypatch):
    """Issue 20, item 4 (no backlog): at full capacity the idle sweep closes its capacity of empty sessions and as
    many idle ones in a run; the next minute's pass folds them all, and the sessions started meanwhile, so no
    summary reader ever folds first. Here the sweep's capacity is 60 (SESSIONS_PER_MINUTE 30, the floor lowered)."""
    from chat_core.config import Settings
    from chat_core.ops import schedule, sweep

    monkeypatch.setattr(sweep, "IDLE_CLOSE_MAX_PER_RUN", 60)
    monkeypatch.setenv("SESSIONS_PER_MINUTE", "30")
    settings = Settings.from_env({"SESSIONS_PER_MINUTE": "30"})
    capacity = sweep.sweep_capacity(settings)
    assert capacity == 60
    assert schedule.fold_capacity(settings) >= 2 * capacity + settings.sessions_per_minute
    assert schedule.fold_capacity(Settings.from_env({})) == 3600  # the defaults: the sweep's 2 x 1,200, 2 x 600
    chats = []
    for _ in range(4):
        chats += [Widget() for _ in range(30)]
        clock.advance(1)
    for w in chats[:capacity]:
        assert w.say("hello").status == 200
    execute("list-sessions", trigger="schedule")
    clock.advance(45)
    swept = execute("close-session", trigger="schedule").json
    assert (swept["closed"], swept["closedAsEmpty"]) == (capacity, capacity)
    for _ in range(30):  # the minute's own traffic at the ceiling
        Widget()
    passed = execute("list-sessions", trigger="schedule").json
    assert passed["folded"] == 2 * capacity + 30
    appwrite.reset_counts()
    listed = execute("list-sessions", method="GET", path="/", secret=ADMIN_SECRET)
    assert listed.status == 200 and listed.json["summary"]["total"] == 30 + capacity  # the empty ones count nowhere
    assert appwrite.count() == 4  # no fold first: the page, the counter rows, nothing pending, the team
