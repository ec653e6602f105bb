"""The devstack engine through the real Appwrite SDK (TablesDB, Users) against FakeAppwrite."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
import requests
from appwrite.exception import AppwriteException
from appwrite.id import ID
from appwrite.operator import Operator
from appwrite.query import Query
from appwrite.services.tables_db import TablesDB
from appwrite.services.users import Users

from devstack.engine import LIMIT_COUNT, Engine, EngineError
from devstack.fake import FakeAppwrite
from devstack.rest import KeyRing, RestApi
from devstack.versions import SERVER_VERSION

APPWRITE_JSON = Path(__file__).resolve().parents[2] / "appwrite.json"
DB = "chat"


@pytest.fixture
def fake():
    with FakeAppwrite(APPWRITE_JSON) as fake:
        yield fake


@pytest.fixture
def tables(fake):
    return TablesDB(fake.client())


def session(**overrides):
    data = {"status": "active", "lastSeen": "2024-05-01T10:00:00Z", "tokenHash": "h" * 64}
    data.update(overrides)
    return data


def error_of(call, *args, **kwargs) -> AppwriteException:
    with pytest.raises(AppwriteException) as info:
        call(*args, **kwargs)
    return info.value


# -- CRUD ------------------------------------------------------------------------------------


def test_create_get_row_shape_and_defaults(tables):
    row = tables.create_row(DB, "sessions", "s1", session(lastSeen="2024-05-01T12:00:00+02:00"))
    assert (row.id, row.sequence, row.tableid, row.databaseid) == ("s1", "1", "sessions", DB)
    assert row.data["lastSeen"] == "2024-05-01T10:00:00.000+00:00"  # normalized to UTC, ms
    assert row.data["needsHuman"] is False and row.data["messageCount"] == 0
    assert row.data["userMeta"] == "{}" and row.data["assignedAgent"] is None
    assert row.createdat.endswith("+00:00") and len(row.createdat) == 29
    fetched = tables.get_row(DB, "sessions", "s1")
    assert fetched.data == row.data and fetched.permissions == []


def test_unique_id_and_sequence_grow(tables):
    first = tables.create_row(DB, "sessions", "unique()", session())
    second = tables.create_row(DB, "sessions", ID.unique(), session())
    assert len(first.id) == 20 and int(second.sequence) == int(first.sequence) + 1


def test_update_is_partial_and_bumps_updated_at(tables):
    row = tables.create_row(DB, "sessions", "s1", session(assignedAgent="a1"))
    updated = tables.update_row(DB, "sessions", "s1", {"status": "closed", "closeReason": "done"},
                                permissions=['read("any")'])
    assert updated.data["assignedAgent"] == "a1" and updated.data["status"] == "closed"
    assert updated.updatedat > row.updatedat and updated.createdat == row.createdat
    assert updated.permissions == ['read("any")']


def test_upsert_creates_then_merges(tables):
    created = tables.upsert_row(DB, "sessions", "s1", session(ownerId="u1"))
    updated = tables.upsert_row(DB, "sessions", "s1", {"status": "closed"})
    assert updated.sequence == created.sequence
    assert updated.data["ownerId"] == "u1" and updated.data["status"] == "closed"


def test_delete_then_not_found(tables):
    tables.create_row(DB, "sessions", "s1", session())
    assert tables.delete_row(DB, "sessions", "s1") == b""
    assert error_of(tables.get_row, DB, "sessions", "s1").type == "row_not_found"
    err = error_of(tables.delete_row, DB, "sessions", "s1")
    assert (err.code, err.type) == (404, "row_not_found")


def test_bulk_delete_takes_the_matching_rows_and_answers_the_first_hundred(fake, tables):
    """TablesDB deleteRows (server 1.8.1): filters and `limit` choose the rows, `total` counts them, the answer
    and the delete events carry at most 100 (APP_LIMIT_DATABASE_BATCH)."""
    events = []
    fake.engine.subscribe(events.append)
    for i in range(130):
        tables.create_row(DB, "sessions", f"s{i}", session(status="closed" if i % 2 else "active"))
    events.clear()
    answer = tables.delete_rows(DB, "sessions", [Query.equal("status", ["closed"]), Query.limit(60)])
    assert (answer.total, len(answer.rows)) == (60, 60)
    answer = tables.delete_rows(DB, "sessions", [Query.equal("status", ["closed"])])
    assert (answer.total, len(answer.rows)) == (5, 5)
    assert tables.list_rows(DB, "sessions", [Query.limit(500)]).total == 65  # the active ones
    answer = tables.delete_rows(DB, "sessions")  # no queries: every row
    assert (answer.total, len(answer.rows)) == (65, 65)
    tables.create_row(DB, "sessions", "s-last", session(status="agent_assigned"))
    for i in range(120):
        tables.create_row(DB, "sessions", f"t{i}", session())
    answer = tables.delete_rows(DB, "sessions", [Query.equal("status", ["active"])])
    assert (answer.total, len(answer.rows)) == (120, 100)
    assert [e["action"] for e in events].count("delete") == 60 + 5 + 65 + 100
    assert {r.id for r in tables.list_rows(DB, "sessions").rows} == {"s-last"}
    assert tables.delete_rows(DB, "sessions", [Query.equal("status", ["closed"])]).total == 0


def test_bulk_delete_ignores_x_appwrite_timestamp(fake, tables):
    """appwrite 1.9.6 `src/Appwrite/Platform/Modules/Databases/Http/Databases/Collections/Documents/Bulk/Delete.php`
    injects no `requestTimestamp` and calls `deleteDocuments` outside `withRequestTimestamp`: a row updated after the
    header's time is deleted all the same (the header is only checked for its form)."""
    first = tables.create_row(DB, "sessions", "s1", session())
    tables.create_row(DB, "sessions", "s2", session())
    tables.update_row(DB, "sessions", "s2", {"status": "closed"})
    stale = TablesDB(fake.client())
    stale.client.add_header("x-appwrite-timestamp", first.updatedat)
    assert stale.delete_rows(DB, "sessions").total == 2
    assert tables.list_rows(DB, "sessions").total == 0
    stale.client.add_header("x-appwrite-timestamp", "not a time")
    assert error_of(stale.delete_rows, DB, "sessions").type == "general_argument_invalid"


def test_unknown_database_and_table(tables):
    assert error_of(tables.get_row, "nope", "sessions", "x").type == "database_not_found"
    assert error_of(tables.list_rows, DB, "nope").type == "table_not_found"


def test_duplicate_id_and_unique_index(tables):
    tables.create_row(DB, "sessions", "s1", session())
    err = error_of(tables.create_row, DB, "sessions", "s1", session())
    assert (err.code, err.type) == (409, "row_already_exists")
    tables.create_row(DB, "counters", "c1", {"agentId": "a1"})
    err = error_of(tables.create_row, DB, "counters", "c2", {"agentId": "a1"})
    assert (err.code, err.type) == (409, "row_already_exists")
    tables.create_row(DB, "counters", "c3", {"agentId": "a3"})
    assert error_of(tables.update_row, DB, "counters", "c3", {"agentId": "a1"}).code == 409


# -- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize("data, needle", [
    (session(bogus=1), "bogus"),
    (session(status="open"), "status"),
    (session(messageCount="3"), "messageCount"),
    (session(messageCount=-1), "messageCount"),
    (session(messageCount=1.5), "messageCount"),
    (session(needsHuman="yes"), "needsHuman"),
    (session(lastSeen="yesterday"), "lastSeen"),
    (session(assignedAgent="x" * 65), "assignedAgent"),
    ({"status": "active", "lastSeen": "2024-05-01T10:00:00Z"}, "tokenHash"),
    (session(tokenHash=None), "tokenHash"),
])
def test_invalid_structure(tables, data, needle):
    err = error_of(tables.create_row, DB, "sessions", "s1", data)
    assert (err.code, err.type) == (400, "row_invalid_structure") and needle in err.message
    assert tables.list_rows(DB, "sessions").total == 0


def test_invalid_row_id_and_update_validation(tables):
    err = error_of(tables.create_row, DB, "sessions", "_bad", session())
    assert (err.code, err.type) == (400, "general_argument_invalid")
    assert error_of(tables.create_row, DB, "sessions", "x" * 37, session()).code == 400
    tables.create_row(DB, "sessions", "s1", session())
    assert error_of(tables.update_row, DB, "sessions", "s1", {"status": None}).type == "row_invalid_structure"
    assert error_of(tables.update_row, DB, "sessions", "s1", {"nope": 1}).type == "row_invalid_structure"


# -- queries ---------------------------------------------------------------------------------


@pytest.fixture
def seeded(fake, tables):
    rows = [
        ("a", session(lastSeen="2024-01-01T00:00:00Z", assignedAgent="ag1", messageCount=5, needsHuman=True)),
        ("b", session(lastSeen="2024-01-02T00:00:00Z", status="closed", messageCount=10, ownerId="Bob")),
        ("c", session(lastSeen="2024-01-03T00:00:00Z", status="agent_assigned", assignedAgent="ag2",
                      messageCount=15, escalationReason="angry customer wants refund")),
        ("d", session(lastSeen="2024-01-04T00:00:00Z", messageCount=20, userMeta='{"lang":"de"}')),
    ]
    for row_id, data in rows:
        tables.create_row(DB, "sessions", row_id, data)
    return tables


@pytest.mark.parametrize("query, expected", [
    (Query.equal("status", ["active"]), "ad"),
    (Query.equal("status", ["closed", "agent_assigned"]), "bc"),
    (Query.equal("needsHuman", [True]), "a"),
    (Query.less_than("messageCount", 10), "a"),
    (Query.less_than_equal("messageCount", 10), "ab"),
    (Query.greater_than("messageCount", 10), "cd"),
    (Query.greater_than_equal("messageCount", 15), "cd"),
    (Query.less_than("lastSeen", "2024-01-02T01:00:00+01:00"), "a"),
    (Query.greater_than("lastSeen", "2024-01-03T00:00:00.000Z"), "d"),
    (Query.is_null("assignedAgent"), "bd"),
    (Query.is_not_null("assignedAgent"), "ac"),
    (Query.equal("$id", ["b", "d"]), "bd"),
    (Query.greater_than("$sequence", "2"), "cd"),
    (Query.or_queries([Query.equal("$id", ["a"]), Query.greater_than("messageCount", 15)]), "ad"),
    (Query.equal("assignedAgent", ["ag1", None]), "abd"),
])
def test_filters(seeded, query, expected):
    result = seeded.list_rows(DB, "sessions", [query])
    assert "".join(r.id for r in result.rows) == expected and result.total == len(expected)


def test_order_limit_select(seeded):
    ids = lambda queries: "".join(r.id for r in seeded.list_rows(DB, "sessions", queries).rows)  # noqa: E731
    assert ids([Query.order_desc("lastSeen")]) == "dcba"
    assert ids([Query.order_asc("status"), Query.order_desc("messageCount")]) == "dacb"
    assert ids([Query.order_desc("$sequence"), Query.limit(2)]) == "dc"
    assert ids([Query.order_desc("$createdAt"), Query.order_desc("$sequence"), Query.limit(1)]) == "d"  # same ms: tie
    row = seeded.list_rows(DB, "sessions", [Query.select(["status"]), Query.limit(1)]).rows[0]
    assert row.data == {"status": "active"} and row.id == "a" and row.sequence == "1"


def test_cursor_paging_with_ties(fake, tables):
    same = "2024-02-01T00:00:00Z"
    for i in range(7):
        last_seen = same if i % 2 else f"2024-01-0{i + 1}T00:00:00Z"
        tables.create_row(DB, "sessions", f"r{i}", session(lastSeen=last_seen))
    order = [Query.order_desc("lastSeen")]
    everything = [r.id for r in tables.list_rows(DB, "sessions", order + [Query.limit(100)]).rows]
    pages, cursor = [], None
    while True:
        queries = order + [Query.limit(3)] + ([Query.cursor_after(cursor)] if cursor else [])
        page = [r.id for r in tables.list_rows(DB, "sessions", queries).rows]
        if not page:
            break
        pages += page
        cursor = page[-1]
    assert pages == everything and everything[:3] == ["r1", "r3", "r5"]


def test_total_saturates_and_can_be_skipped(fake, tables):
    fake.engine.bulk_insert(DB, "messages", (
        {"sessionId": "s", "role": "user", "text": str(i)} for i in range(LIMIT_COUNT + 1)))
    assert tables.list_rows(DB, "messages", [Query.limit(1)]).total == LIMIT_COUNT
    result = tables.list_rows(DB, "messages", [Query.limit(2)], total=False)
    assert result.total == 0 and len(result.rows) == 2


@pytest.mark.parametrize("queries, kind", [
    ([Query.equal("nope", ["x"])], "general_query_invalid"),
    ([Query.order_desc("nope")], "general_query_invalid"),
    (["not json"], "general_query_invalid"),
    ([Query.equal("messageCount", ["ten"])], "general_query_invalid"),
    ([Query.regex("status", "a.*")], "general_query_invalid"),
    # Methods the product never sends are not served: refused, never answered differently from Appwrite.
    ([Query.contains("escalationReason", "refund")], "general_query_invalid"),
    ([Query.offset(1)], "general_query_invalid"),
    ([Query.cursor_before("a")], "general_query_invalid"),
    ([Query.and_queries([Query.equal("status", ["a"]), Query.equal("status", ["b"])])], "general_query_invalid"),
    ([Query.cursor_after("missing")], "general_cursor_not_found"),
    ([Query.limit(1)] * 101, "general_argument_invalid"),
    ([Query.equal("status", ["x" * 5000])], "general_argument_invalid"),
])
def test_bad_queries(tables, queries, kind):
    err = error_of(tables.list_rows, DB, "sessions", queries)
    assert (err.code, err.type) == (400, kind)


def test_list_queries_use_indexes(fake):
    plans = {
        "status_lastSeen": [Query.equal("status", ["active"]), Query.order_desc("lastSeen")],
        "waiting": [Query.equal("needsHuman", [True]), Query.order_desc("lastSeen")],
        "waiting_since": [Query.equal("needsHuman", [True]), Query.order_asc("escalatedAt")],  # the queue
        "agent_status": [Query.equal("assignedAgent", ["a"]), Query.equal("status", ["active"]),
                         Query.order_desc("lastSeen")],
        "createdAt": [Query.order_desc("$createdAt")],
    }
    for index, queries in plans.items():
        plan = " ".join(fake.engine.explain(DB, "sessions", queries + [Query.limit(25)]))
        assert f"chat_sessions_{index}" in plan and "TEMP B-TREE" not in plan, plan
    # The sweep: empty sessions (an index range on lastSeen, not a scan), past budget windows.
    empty = [Query.equal("status", ["active"]), Query.equal("needsHuman", [False]), Query.equal("messageCount", [0]),
             Query.less_than("lastSeen", "2026-01-01T00:00:00Z"), Query.order_asc("lastSeen"), Query.limit(100)]
    plan = " ".join(fake.engine.explain(DB, "sessions", empty))
    assert "USING INDEX" in plan and "lastSeen<?" in plan, plan
    plan = " ".join(fake.engine.explain(DB, "limits", [Query.less_than("windowStart", "2026-01-01T00:00:00Z"),
                                                       Query.order_asc("windowStart")]))
    assert "chat_limits_windowStart" in plan, plan


# -- operators and counters ------------------------------------------------------------------


def test_operators_in_data(tables):
    """Operators in `data` on update (utopia-php/database 6.0.0 `src/Database/Adapter/MariaDB.php` `getOperatorSQL`:
    bounded ones cap at their bound; an operator's result is not held to the column's min/max, which the structure
    validator skips for operators, `src/Database/Validator/Structure.php`). Create does not parse them."""
    err = error_of(tables.create_row, DB, "sessions", "s0", session(messageCount=Operator.increment(2)))
    assert err.type == "row_invalid_structure"  # create: the operator's text is a value, not an integer
    tables.create_row(DB, "sessions", "s1", session(messageCount=2))
    steps = [
        (Operator.increment(3), 5), (Operator.multiply(4), 20), (Operator.divide(2), 10),
        (Operator.decrement(4), 6), (Operator.decrement(10, 0), 0), (Operator.increment(50, 30), 30),
        (Operator.divide(4), 8),  # 7.5 stored in an integer column: rounded half away from zero
    ]
    for operator, expected in steps:
        row = tables.update_row(DB, "sessions", "s1", {"messageCount": operator})
        assert row.data["messageCount"] == expected
    assert tables.update_row(DB, "sessions", "s1", {"messageCount": Operator.decrement(9)}).data["messageCount"] == -1
    toggled = tables.update_row(DB, "sessions", "s1", {"needsHuman": Operator.toggle()})
    assert toggled.data["needsHuman"] is True


def test_operator_text_in_string_column_is_literal(tables):
    text = Operator.increment(1)
    row = tables.create_row(DB, "messages", "m1", {"sessionId": "s1", "role": "user", "text": text})
    assert row.data["text"] == text == '{"method":"increment","values":[1]}'


def test_increment_and_decrement_columns(tables):
    tables.create_row(DB, "counters", "c1", {"agentId": "a1"})
    assert tables.increment_row_column(DB, "counters", "c1", "assigned", 2).data["assigned"] == 2
    assert tables.increment_row_column(DB, "counters", "c1", "assigned", 1, max=3).data["assigned"] == 3
    err = error_of(tables.increment_row_column, DB, "counters", "c1", "assigned", 1, max=3)
    assert (err.code, err.type) == (400, "column_limit_exceeded")
    assert tables.decrement_row_column(DB, "counters", "c1", "assigned", 3, min=0).data["assigned"] == 0
    assert error_of(tables.decrement_row_column, DB, "counters", "c1", "assigned", 1, min=0).code == 400
    assert error_of(tables.decrement_row_column, DB, "counters", "c1", "assigned", 1).code == 400  # col min 0
    assert error_of(tables.increment_row_column, DB, "counters", "c1", "agentId").code == 400
    assert error_of(tables.increment_row_column, DB, "counters", "c1", "nope").type == "column_not_found"


def test_concurrent_increments_are_atomic(fake):
    fake.engine.create_row(DB, "counters", "c1", {"agentId": "a1"})

    def worker():
        for _ in range(50):
            fake.engine.update_row(DB, "counters", "c1", {"closed": Operator.increment(1)})
    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert fake.engine.get_row(DB, "counters", "c1")["closed"] == 200


# -- optimistic concurrency ------------------------------------------------------------------


def test_timestamp_conflict(fake, tables):
    seen = tables.create_row(DB, "sessions", "s1", session())
    tables.update_row(DB, "sessions", "s1", {"status": "closed"})  # someone else writes
    stale = fake.client().add_header("x-appwrite-timestamp", seen.updatedat)
    stale_tables = TablesDB(stale)
    for call, args in [(stale_tables.update_row, ({"status": "agent_assigned"},)),
                       (stale_tables.delete_row, ())]:
        err = error_of(call, DB, "sessions", "s1", *args)
        assert (err.code, err.type) == (409, "row_update_conflict")
    current = tables.get_row(DB, "sessions", "s1")
    assert current.data["status"] == "closed" and current.data["messageCount"] == 0
    # docs/platform.md: only updateRow and deleteRow honour it; upsert and increment write over a stale timestamp.
    assert stale_tables.increment_row_column(DB, "sessions", "s1", "messageCount", 1).data["messageCount"] == 1
    assert stale_tables.upsert_row(DB, "sessions", "s1", {"status": "active"}).data["status"] == "active"
    current = tables.get_row(DB, "sessions", "s1")
    fresh = TablesDB(fake.client().add_header("x-appwrite-timestamp", current.updatedat))
    assert fresh.update_row(DB, "sessions", "s1", {"status": "closed"}).data["status"] == "closed"


def test_updates_in_one_millisecond_get_distinct_timestamps(fake):
    first = fake.engine.create_row(DB, "sessions", "s1", session())
    stamps = [first["$updatedAt"]]
    for count in range(1, 21):  # each write changes a value: a write that changes nothing keeps `$updatedAt`
        stamps.append(fake.engine.update_row(DB, "sessions", "s1", {"messageCount": count})["$updatedAt"])
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    with pytest.raises(EngineError) as info:
        fake.engine.update_row(DB, "sessions", "s1", {"messageCount": 2}, timestamp=stamps[-2])
    assert info.value.type == "row_update_conflict"


# -- events ----------------------------------------------------------------------------------


def test_events_after_commit(fake, tables):
    events = []
    fake.engine.subscribe(lambda e: 1 / 0)  # a broken listener must not break writes
    unsubscribe = fake.engine.subscribe(events.append)
    tables.create_row(DB, "sessions", "s1", session())
    tables.update_row(DB, "sessions", "s1", {"status": "closed"})
    tables.upsert_row(DB, "sessions", "s2", session())
    tables.increment_row_column(DB, "sessions", "s1", "messageCount")
    error_of(tables.create_row, DB, "sessions", "s1", session())  # failed writes emit nothing
    tables.delete_row(DB, "sessions", "s1")
    assert [(e["rowId"], e["action"]) for e in events] == [
        ("s1", "create"), ("s1", "update"), ("s2", "create"), ("s1", "update"), ("s1", "delete")]
    assert events[1]["row"]["status"] == "closed" and events[0]["databaseId"] == DB
    assert events[0]["tableId"] == "sessions" and events[0]["row"]["$sequence"] == "1"
    unsubscribe()
    tables.delete_row(DB, "sessions", "s2")
    assert len(events) == 5


# -- users -----------------------------------------------------------------------------------


def test_users(fake):
    users = Users(fake.client())
    fake.engine.put_user("agent1", "Ann", ["agent"])
    fake.engine.put_user("admin1", "Bob", ["admin", "agent"], email="bob@example.com")
    fake.engine.put_user("user1", "Cy")
    user = users.get("admin1")
    assert user.labels == ["admin", "agent"] and user.email == "bob@example.com" and user.status is True
    assert error_of(users.get, "ghost").type == "user_not_found"


# -- auth and the REST surface ---------------------------------------------------------------


def test_auth(fake):
    bad_key = TablesDB(fake.client(key="wrong"))
    err = error_of(bad_key.list_rows, DB, "sessions")
    assert (err.code, err.type) == (401, "general_unauthorized_scope")
    assert error_of(TablesDB(fake.client(project="other")).list_rows, DB, "sessions").code == 401
    fake.keys.add("reader", {"rows.read"})
    reader = TablesDB(fake.client(key="reader"))
    assert reader.list_rows(DB, "sessions").total == 0
    assert error_of(reader.create_row, DB, "sessions", "s1", session()).code == 401
    assert error_of(Users(fake.client(key="reader")).get, "u").code == 401


def call(api, method, path, query="", body=b"", headers=None):
    headers = {"X-Appwrite-Project": "p", "X-Appwrite-Key": "k", **(headers or {})}
    status, response_headers, payload = api.handle(method, path, query, headers, body)
    return status, response_headers, json.loads(payload) if payload else None


def test_rest_routes_and_errors():
    api = RestApi(Engine(APPWRITE_JSON), KeyRing().add("k"), "p")
    rows = "/v1/tablesdb/chat/tables/messages/rows"
    assert call(api, "GET", "/v1/health/version")[2] == {"version": SERVER_VERSION}
    assert call(api, "GET", "/v1/users")[0] == 404  # listing users: nobody asks
    assert call(api, "GET", "/v1/nope")[2]["type"] == "general_route_not_found"
    assert call(api, "POST", rows + "/m1")[0] == 404  # wrong method on a known path
    status, _, body = call(api, "POST", rows, body=b"{oops")  # no parameters (utopia-php/http Swoole/Request.php 274)
    assert (status, body["type"], body["version"]) == (400, "row_missing_data", SERVER_VERSION)
    assert call(api, "POST", rows, body=b"x" * (10 * 1024 * 1024 + 1))[0] == 400
    assert call(api, "POST", rows, body=b'{"data": {}}')[2]["type"] == "row_missing_data"  # Documents/Create.php 168
    for row_id in ("m1", "m2"):
        data = {"rowId": row_id, "data": {"sessionId": "s", "role": "bot", "text": row_id}}
        assert call(api, "POST", rows, body=json.dumps(data).encode())[0] == 201
    query = "queries[]=" + requests.utils.quote(Query.order_desc("$sequence")) + "&total=false"
    status, _, body = call(api, "GET", rows, query)
    assert [r["$id"] for r in body["rows"]] == ["m2", "m1"] and body["total"] == 0
    status, headers, body = call(api, "DELETE", rows + "/m1")
    assert status == 204 and body is None and "content-type" in headers
    assert call(api, "GET", rows, headers={"X-Appwrite-Key": None})[0] == 401


def test_rest_never_raises(monkeypatch):
    engine = Engine(APPWRITE_JSON)
    monkeypatch.setattr(engine, "list_rows", lambda *a, **k: 1 / 0)
    api = RestApi(engine, KeyRing().add("k"))
    status, _, body = call(api, "GET", "/v1/tablesdb/chat/tables/messages/rows")
    assert (status, body["type"]) == (500, "general_unknown")


# -- fault injection -------------------------------------------------------------------------


@pytest.mark.parametrize("kind, code", [("500", 500), ("502", 502), ("503", 503)])
def test_http_faults_do_not_write(fake, tables, kind, code):
    fake.fail_next(kind)
    assert error_of(tables.create_row, DB, "sessions", "s1", session()).code == code
    assert fake.engine.list_rows(DB, "sessions")["total"] == 0
    assert tables.create_row(DB, "sessions", "s1", session()).id == "s1"  # one-shot


@pytest.mark.parametrize("kind, exc", [("timeout", requests.exceptions.ConnectTimeout),
                                       ("reset", requests.exceptions.ConnectionError)])
def test_connection_faults(fake, tables, kind, exc):
    fake.fail_next(kind)
    err = error_of(tables.create_row, DB, "sessions", "s1", session())
    assert err.code == 0 and isinstance(err.message, exc)
    assert fake.engine.list_rows(DB, "sessions")["total"] == 0


def test_garbage_faults(fake, tables):
    fake.fail_next("garbage")
    with pytest.raises(ValueError):  # the SDK fails to decode the body and lets that escape
        tables.list_rows(DB, "sessions")
    fake.fail_next("garbage_html")
    with pytest.raises(AttributeError):  # the SDK hands the raw bytes to the Row model
        tables.get_row(DB, "sessions", "x")


def test_fail_kth_request_and_counting(fake, tables):
    fake.reset_counts()
    fake.fail_next("503", match=r"^POST ", after=1)
    tables.create_row(DB, "sessions", "s1", session())
    tables.list_rows(DB, "sessions")
    assert error_of(tables.create_row, DB, "sessions", "s2", session()).code == 503
    assert fake.requests == [("POST", "/v1/tablesdb/chat/tables/sessions/rows"),
                             ("GET", "/v1/tablesdb/chat/tables/sessions/rows"),
                             ("POST", "/v1/tablesdb/chat/tables/sessions/rows")]
    assert fake.count("POST") == 2
    fake.reset_counts()
    fake.fault = lambda index, method, path: "reset" if index == 1 else None
    tables.get_row(DB, "sessions", "s1")
    assert error_of(tables.get_row, DB, "sessions", "s1").code == 0
    assert len(fake.requests) == 2 and fake.engine.list_rows(DB, "sessions")["total"] == 1


def test_applied_timeout_writes_but_client_sees_timeout(fake, tables):
    fake.fail_next("applied_timeout")
    err = error_of(tables.create_row, DB, "sessions", "s1", session())
    assert isinstance(err.message, requests.exceptions.ReadTimeout)
    assert fake.engine.get_row(DB, "sessions", "s1")["$id"] == "s1"


def test_file_engine_persists(tmp_path):
    path = tmp_path / "stack.db"
    engine = Engine(APPWRITE_JSON, path)
    engine.create_row(DB, "sessions", "s1", session())
    engine.put_user("u1", "Ann", ["agent"])
    engine.close()
    reopened = Engine(APPWRITE_JSON, path)
    assert reopened.get_row(DB, "sessions", "s1")["status"] == "active"
    assert reopened.get_user("u1")["labels"] == ["agent"]
    assert reopened.create_row(DB, "sessions", "s2", session())["$sequence"] == "2"


def test_bulk_upsert_writes_each_row_with_its_permissions_and_one_event_each(fake, tables):
    """appwrite `TablesDB/Tables/Rows/Bulk/Upsert.php` (PUT /tablesdb/{db}/tables/{t}/rows, `rows` with `$id` and
    `$permissions`, at most APP_LIMIT_DATABASE_BATCH) and `Documents/Action.php` `triggerBulk` (one event, Realtime
    included, per row): what the signals' writes use (chat_core/infra/signals.py)."""
    events = []
    fake.engine.subscribe(events.append)
    tables.upsert_row(DB, "signals", "s1", {"sessionId": "s1", "status": "active", "at": "2026-01-01T00:00:00Z"})
    answer = tables.upsert_rows(DB, "signals", [
        {"$id": "s1", "$permissions": ['read("user:u1")'], "sessionId": "s1", "status": "closed",
         "at": "2026-01-01T00:00:01Z"},
        {"$id": "queue", "$permissions": ['read("users")'], "sessionId": "queue", "at": "2026-01-01T00:00:01Z"}])
    assert answer.total == 2 and [r.id for r in answer.rows] == ["s1", "queue"]
    assert [(e["rowId"], e["action"]) for e in events] == [("s1", "create"), ("s1", "update"), ("queue", "create")]
    assert tables.get_row(DB, "signals", "s1").permissions == ['read("user:u1")']
    assert tables.get_row(DB, "signals", "queue").data["status"] is None
    assert error_of(tables.upsert_rows, DB, "signals", [{"sessionId": "x", "at": "2026-01-01T00:00:00Z"}]).code == 400
    assert error_of(tables.upsert_rows, DB, "signals", [{"$id": f"r{i}", "at": "2026-01-01T00:00:00Z"}
                                                        for i in range(101)]).code == 400


def test_bulk_create_stores_every_row_or_none_with_its_permissions_and_one_event_each(fake, tables):
    """appwrite 1.9.6 `src/Appwrite/Platform/Modules/Databases/Http/Databases/Collections/Documents/Create.php`, bulk
    path (POST /tablesdb/{db}/tables/{t}/rows with `rows`, each with `$id` and `$permissions`; `triggerBulk`: one
    event per row) over utopia-php/database `Database::createDocuments` (one transaction per chunk: a duplicate ID
    fails the call and stores nothing). What a visitor's message and the FAQ bot's answer use
    (chat_core/infra/messages.py `create_many`)."""
    events = []
    fake.engine.subscribe(events.append)
    mine = ['read("user:u1")', 'read("label:agent")']

    def message(row_id, text, **extra):
        return {"$id": row_id, "$permissions": mine, "sessionId": "s1", "role": "user", "text": text, **extra}
    answer = tables.create_rows(DB, "messages", [message("m1", "hi"), message("m2", "hello", role="bot")])
    assert answer.total == 2 and [r.id for r in answer.rows] == ["m1", "m2"]
    assert answer.rows[0].createdat == answer.rows[1].createdat  # one $createdAt for the call
    assert [(e["rowId"], e["action"]) for e in events] == [("m1", "create"), ("m2", "create")]
    assert tables.get_row(DB, "messages", "m2").permissions == mine
    # A row that exists: 409 for the whole call, the new row in it not stored, no event.
    duplicate = error_of(tables.create_rows, DB, "messages", [message("m3", "new"), message("m1", "again")])
    assert (duplicate.code, duplicate.type) == (409, "row_already_exists")
    assert error_of(tables.get_row, DB, "messages", "m3").code == 404 and len(events) == 2
    # Values only: an operator's text is stored as the text it is (a create parses none).
    text = '{"method":"increment","values":[1]}'
    assert tables.create_rows(DB, "messages", [message("m4", text)]).rows[0].data["text"] == text
    assert error_of(tables.create_rows, DB, "messages", [message(f"r{i}", "x") for i in range(101)]).code == 400
    both = fake.api.handle("POST", "/v1/tablesdb/chat/tables/messages/rows", "", {
        "x-appwrite-project": fake.project, "x-appwrite-key": fake.key, "content-type": "application/json"},
        json.dumps({"rowId": "m5", "data": {"sessionId": "s1", "role": "user", "text": "x"},
                    "rows": [message("m6", "y")]}).encode())
    assert both[0] == 400
