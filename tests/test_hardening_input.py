"""Bad input: generated requests against every function and route.

Random bodies (JSON of any shape, deep nesting, huge strings, invalid UTF-8, lone surrogates, wrong types,
unknown and missing fields), query strings, paths, methods, callers (anonymous, right and wrong tokens, users
with and without labels, bot/admin/wrong secrets, garbage Authorization) and forged x-appwrite-* headers.

Properties, for every request:
  - the answer body is strict JSON, read as a browser would (NaN and Infinity are syntax errors), and its status is
    below 500 (no fault is injected here, so Appwrite never fails);
  - a 4xx answer wrote nothing: the SQLite connection behind the fake saw no change, and the function sent
    Appwrite no write request.

test_boundary_cases aims at the edges of the parsing rules: nesting around the 32-level limit, NaN, Infinity and
numbers beyond a double, Unicode digits, durations and dates that overflow, and IDs with a trailing newline; each
of these that breaks a rule must be a 4xx.

One fake serves a whole test (a fresh one per example costs more than the request) and holds seeded sessions
in every state, with their tokens, so generated requests also reach the authorized paths.

HARDENING_EXAMPLES sets the examples per test (default 150: a few seconds). For the README figure:
    HARDENING_EXAMPLES=1300 HARDENING_REPORT_DIR=.local .venv/bin/python -m pytest tests/test_hardening_input.py -q -s
(8 tests x 1300 examples >= 10,000 requests); the totals are printed and written to .local/hardening-input.json.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import pytest
from chat_core.infra import users
from conftest import (
    ADMIN_SECRET,
    BOT_SECRET,
    ENDPOINT,
    KEY,
    PROJECT,
    ROOMY_BUDGETS,
    ROOT,
    USERS,
    load_main,
    strict_json,
)
from hardening_support import violations, write_report
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from devstack.context import RuntimeContext, RuntimeRequest
from devstack.fake import FakeAppwrite

EXAMPLES = int(os.environ.get("HARDENING_EXAMPLES", "150"))
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much, HealthCheck.large_base_example])
FIGURES = {"requests": 0, "server_errors": 0, "stray_writes": 0, "by_status": {}, "boundary_cases": {}}


# --- the seeded world ------------------------------------------------------------------------------

class World:
    def __init__(self, fake: FakeAppwrite) -> None:
        self.fake = fake
        self.sessions: dict[str, str] = {}  # session id -> token

    def call(self, function_id: str, body, *, path: str = "/", method: str = "POST", **headers) -> dict:
        all_headers = {"content-type": "application/json", "x-appwrite-key": KEY, "x-appwrite-trigger": "http",
                       "x-appwrite-user-id": "", **headers}
        context = RuntimeContext(RuntimeRequest(method, path, all_headers, json.dumps(body).encode()))
        output = load_main(function_id)(context)
        return json.loads(output["body"])

    def new_session(self) -> str:
        created = self.call("create-session", {"userMeta": {"seed": True}})
        self.sessions[created["sessionId"]] = created["token"]
        return created["sessionId"]

    def seed(self) -> None:
        active = self.new_session()
        self.call("touch-session", {"sessionId": active, "message": {"text": "hello", "id": "seed-1"}},
                  **{"x-session-token": self.sessions[active]})
        waiting = self.new_session()
        self.call("escalate", {"sessionId": waiting}, **{"x-session-token": self.sessions[waiting]})
        for agent in ("agent-alice", "agent-bob"):
            assigned = self.new_session()
            self.call("escalate", {"sessionId": assigned}, **{"x-session-token": self.sessions[assigned]})
            self.call("assign-agent", {"sessionId": assigned}, path="/claim", **{"x-appwrite-user-id": agent})
        closed = self.new_session()
        self.call("close-session", {"sessionId": closed}, **{"x-session-token": self.sessions[closed]})
        idle = self.new_session()
        long_ago = (datetime.now(timezone.utc) - timedelta(hours=3)).isoformat()
        self.fake.engine.update_row("chat", "sessions", idle, {"lastSeen": long_ago})


@pytest.fixture(scope="module")
def world():
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("APPWRITE_FUNCTION_API_ENDPOINT", ENDPOINT)
        mp.setenv("APPWRITE_FUNCTION_PROJECT_ID", PROJECT)
        mp.setenv("ADMIN_SECRET", ADMIN_SECRET)
        mp.setenv("BOT_SECRET", BOT_SECRET)
        mp.setenv("MAX_MESSAGES_PER_MINUTE", "1000")  # the rate limit has its own test; here it would hide paths
        for name, value in ROOMY_BUDGETS.items():  # so do the budgets (test_budgets.py)
            mp.setenv(name, value)
        users.MEMORY.labels.clear()
        with FakeAppwrite(ROOT / "appwrite.json", endpoint=ENDPOINT, project=PROJECT, key=KEY) as fake:
            for user_id, labels in USERS.items():
                fake.engine.put_user(user_id, user_id, labels)
            w = World(fake)
            w.seed()
            yield w
            assert violations(fake) == []  # thousands of requests later, the books still balance
    _report()


def _report() -> None:
    line = (f"hardening input: {FIGURES['requests']} generated requests, {FIGURES['server_errors']} server "
            f"errors, {FIGURES['stray_writes']} stray writes; by status {dict(sorted(FIGURES['by_status'].items()))}; "
            f"boundary cases {dict(sorted(FIGURES['boundary_cases'].items()))}")
    print("\n" + line)
    write_report("hardening-input.json", FIGURES)


# --- strategies ------------------------------------------------------------------------------------

def _surrogate_text():
    return st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=3)


scalars = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True)
           | st.text(max_size=30) | _surrogate_text() | st.sampled_from(["", " ", "\x00", "{}", "[]", "null"]))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=12)
huge_text = st.integers(min_value=4000, max_value=70_000).map(lambda n: "x" * n)


def session_ids(world: World):
    known = st.sampled_from(sorted(world.sessions))
    return st.one_of(known, known, st.just("s_missing"), st.text(max_size=40), json_values, huge_text)


def bodies(world: World, fields: dict):
    """Objects with the function's fields (plausible or not), some missing, plus unknown ones."""
    names = sorted(fields)
    plausible = {name: st.one_of(strategy, strategy, json_values) for name, strategy in fields.items()}

    chosen = st.lists(st.sampled_from(names), unique=True, max_size=len(names))
    unknown = st.text(max_size=12)
    dice = st.integers(0, 9)

    @st.composite
    def build(draw):
        body = {}
        for name in draw(chosen):
            body[name] = draw(plausible[name])
        if draw(dice) == 0:
            body[draw(unknown)] = draw(json_values)
        return body
    return build()


def _deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def _nested_object(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def encodings(objects):
    """The raw body: JSON of the object, or something worse."""
    return st.one_of(
        objects.map(lambda body: json.dumps(body).encode()),  # surrogates become \\udXXX escapes
        objects.map(lambda body: json.dumps(body).encode()),
        objects.map(lambda body: json.dumps(body, ensure_ascii=False).encode("utf-8", "surrogatepass")),
        json_values.map(lambda value: json.dumps(value).encode()),
        st.binary(max_size=64),
        st.sampled_from([b"", b"   ", b"null", b"{", b'{"sessionId":', b"\xff\xfe\x00", b'"\xed\xa0\x80"',
                         b'{"sessionId":"\xc3\x28"}', _deep(50_000), _nested_object(5_000),
                         b'{"userMeta":' + _nested_object(3_000) + b"}", b'{"a":"' + b"x" * 70_000 + b'"}']),
    )


def callers(world: World):
    """Header sets for who calls (x-appwrite-* included: forged combinations too)."""
    tokens = st.sampled_from(sorted(world.sessions.values()))
    users = st.sampled_from([*USERS, "ghost-user", "", "a" * 70, "../users", "x?y#z", "ü"]) | st.text(max_size=20)
    auth = st.sampled_from([f"Bearer {ADMIN_SECRET}", f"Bearer {BOT_SECRET}", "Bearer wrong", "Bearer ",
                            "Basic abc", "bearer " + ADMIN_SECRET.upper(), "Bearer  " + ADMIN_SECRET,
                            f"Bearer {ADMIN_SECRET}\u00e9", "Bearer \ud800"]) | st.text(max_size=30)
    return st.fixed_dictionaries({}, optional={
        "x-session-token": tokens | st.text(max_size=50) | st.just("\ud800"),
        "x-appwrite-user-id": users,
        "authorization": auth,  # the executor's header: ignored whatever it holds
        "x-chat-secret": st.sampled_from([ADMIN_SECRET, BOT_SECRET, "wrong", "", ADMIN_SECRET + "\u00e9", "\ud800",
                                          "x" * 5000]) | st.text(max_size=30),
        "x-chat-jwt": st.text(max_size=40),
        "content-type": st.sampled_from(["application/json", "text/plain", "", "application/json; charset=latin1"]),
        "x-appwrite-user-jwt": st.text(max_size=20),
        "x-appwrite-trigger": st.sampled_from(["http", "http", "event", "schedule", "", "HTTP", "cron"]),
        "x-appwrite-event": st.sampled_from(["databases.chat.tables.messages.rows.m1.create",
                                             "databases.chat.tables.sessions.rows.s1.update", "", "x" * 300])
        | st.text(max_size=40),
    })


def query_strings(world: World):
    keys = st.sampled_from(["sessionId", "limit", "cursor", "status", "needsHuman", "assignedAgent", "idleFor",
                            "createdAfter", "createdBefore", "order", "summary", "bogus"])
    values = st.one_of(st.sampled_from(sorted(world.sessions)), st.sampled_from(
        ["1", "0", "100", "101", "-1", "true", "false", "asc", "desc", "active,closed", "waiting", "2h", "15m",
         "2020-01-01T00:00:00Z", "not-a-date", "%ff%fe", "%", "%E2%82", "agent-alice", "m_unknown"]),
        st.text(max_size=20))
    pairs = st.lists(st.tuples(keys | st.text(max_size=8), values), max_size=5)
    return st.one_of(pairs.map(lambda ps: "&".join(f"{k}={v}" for k, v in ps)), st.text(max_size=50),
                     st.just("a=" + "x" * 5000))


def methods(right: str):
    return st.one_of(st.just(right), st.just(right), st.just(right),
                     st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "get", "BREW"]))


def paths(routes: list[str]):
    return st.one_of(st.sampled_from(routes), st.sampled_from(routes), st.text(max_size=30).map(lambda t: "/" + t),
                     st.sampled_from(["", "//", "/../", "/%2e%2e/", "/claim/", "/recount/x", "/" + "a" * 3000]))


def requests_for(world: World, function_id: str, method: str, routes: list[str], fields: dict):
    """Built once per test: strategies built per example would cost more than the requests."""
    query = st.one_of(st.just(""), query_strings(world).map(lambda q: "?" + q))
    return st.fixed_dictionaries({
        "function_id": st.just(function_id), "method": methods(method),
        "path": st.tuples(paths(routes), query).map("".join), "headers": callers(world),
        "body": encodings(bodies(world, fields))})


def _reason():
    return st.text(max_size=80) | huge_text


# --- the property ----------------------------------------------------------------------------------

def check(world: World, request: dict) -> None:
    fake = world.fake
    headers = {"x-appwrite-key": KEY, "x-appwrite-trigger": "http", "x-appwrite-user-id": "",
               "content-type": "application/json", **request["headers"]}
    context = RuntimeContext(RuntimeRequest(request["method"], request["path"], headers, request["body"]))
    changes_before = fake.engine._conn.total_changes
    fake.reset_counts()
    output = load_main(request["function_id"])(context)
    status = output["statusCode"]
    FIGURES["requests"] += 1
    FIGURES["by_status"][str(status)] = FIGURES["by_status"].get(str(status), 0) + 1
    if status >= 500:
        FIGURES["server_errors"] += 1
    body = strict_json(output["body"])  # JSON a browser can parse (no NaN/Infinity), whatever came in
    assert output["headers"].get("content-type") == "application/json"
    assert status < 500, (request, status, body, context.errors)
    assert isinstance(body, dict)
    if 400 <= status < 500:
        wrote = fake.engine._conn.total_changes != changes_before
        writes = [r for r in fake.requests if r[0] in WRITE_METHODS]
        if wrote or writes:
            FIGURES["stray_writes"] += 1
        assert not wrote and not writes, (request, status, body, writes)
        assert "error" in body and isinstance(body["error"].get("code"), str)
    return status


# One test per function (each with its own examples budget), every route of it in reach.

def test_create_session(world):
    fields = {"userMeta": json_values | st.dictionaries(st.text(max_size=5), st.text(max_size=5)) | huge_text,
              "theme": json_values | st.just({"color": "#123"}) | st.just({"x": "y" * 3000})}

    @SETTINGS
    @given(requests_for(world, "create-session", "POST", ["/"], fields))
    def run(request):
        check(world, request)
    run()


def test_touch_session(world):
    message = st.fixed_dictionaries({"text": st.text(max_size=50) | huge_text | _surrogate_text()},
                                    optional={"role": st.sampled_from(["user", "bot", "agent", "system", "wizard"]),
                                              "id": st.text(max_size=70) | st.sampled_from(["seed-1", "c1"]),
                                              "handoff": st.booleans() | json_values})
    fields = {"sessionId": session_ids(world), "token": st.sampled_from(sorted(world.sessions.values())),
              "message": message}

    @SETTINGS
    @given(requests_for(world, "touch-session", "POST", ["/", "/messages"], fields))
    def run(request):
        check(world, request)
    run()


def test_touch_session_transcript(world):
    @SETTINGS
    @given(st.builds(dict, function_id=st.just("touch-session"), method=methods("GET"),
                     path=st.tuples(st.sampled_from(["/messages?", "/export?"]), query_strings(world)).map("".join),
                     headers=callers(world),
                     body=st.just(b"")))
    def run(request):
        check(world, request)
    run()


def test_escalate(world):
    fields = {"sessionId": session_ids(world), "token": st.sampled_from(sorted(world.sessions.values())),
              "reason": _reason()}

    @SETTINGS
    @given(requests_for(world, "escalate", "POST", ["/"], fields))
    def run(request):
        check(world, request)
    run()


def test_escalate_events(world):
    message_row = st.fixed_dictionaries({}, optional={
        "$id": st.sampled_from(["m_1", "m_2"]) | json_values, "sessionId": session_ids(world),
        "role": st.sampled_from(["user", "bot", "agent"]) | json_values,
        "text": st.sampled_from(["a real person please", "hi", "HUMAN"]) | json_values | huge_text,
        "handoff": st.booleans() | json_values, "$tableId": st.sampled_from(["messages", "sessions"])})
    events = st.sampled_from([
        "databases.chat.collections.messages.documents.m_1.create", "databases.chat.tables.messages.rows.m_1.create",
        "tablesdb.chat.tables.messages.rows.m_1.create", "databases.chat.tables.sessions.rows.s_1.update",
        "databases.chat.tables.counters.rows.global.update", "databases.chat.tables.messages.rows.m_1.delete",
        "databases.other.tables.messages.rows.m_1.create", "", "a.b.c.d.e.f.g"]) | st.text(max_size=60)

    @SETTINGS
    @given(st.builds(dict, function_id=st.just("escalate"), method=methods("POST"), path=paths(["/"]),
                     headers=st.tuples(callers(world), events).map(
                         lambda pair: {**pair[0], "x-appwrite-trigger": "event", "x-appwrite-event": pair[1],
                                       "x-appwrite-user-id": ""}),
                     body=encodings(message_row)))
    def run(request):
        check(world, request)
    run()


def test_assign_agent(world):
    fields = {"sessionId": session_ids(world),
              "agentId": st.sampled_from([*USERS, "ghost-user"]) | st.text(max_size=40) | json_values,
              "availability": st.sampled_from(["available", "away", "offline", "Available"]) | json_values,
              "capacity": st.integers(-2, 1002) | json_values, "overCapacity": st.booleans() | json_values}

    @SETTINGS
    @given(requests_for(world, "assign-agent", "POST", ["/claim", "/assign", "/transfer", "/unassign",
                                                         "/availability", "/capacity"], fields))
    def run(request):
        check(world, request)
    run()


def test_close_session(world):
    fields = {"sessionId": session_ids(world), "token": st.sampled_from(sorted(world.sessions.values())),
              "reason": _reason()}

    @SETTINGS
    @given(requests_for(world, "close-session", "POST", ["/"], fields))
    def run(request):
        check(world, request)
    run()


def test_list_sessions(world):
    ids = sorted(world.sessions)
    routes = ["/", "/recount", "/agents", *(f"/{i}" for i in ids[:3]), *(f"/{i}/messages" for i in ids[:3]),
              "/s_missing", "/s_missing/messages", "/%00/messages", "/" + "x" * 40, *(f"/{i}/export" for i in ids[:2]),
              "/s_missing/export"]

    @SETTINGS
    @given(requests_for(world, "list-sessions", "GET", routes, {"anything": json_values}))
    def run(request):
        check(world, request)
    run()


def test_agent_console(world):
    """The page function: HTML for GET/HEAD of its one page, a JSON 4xx for anything else, never Appwrite I/O."""

    @SETTINGS
    @given(requests_for(world, "agent-console", "GET", ["/", "/index.html"], {"page": json_values}))
    def run(request):
        context = RuntimeContext(RuntimeRequest(request["method"], request["path"],
                                                {"x-appwrite-trigger": "http", **request["headers"]}, request["body"]))
        world.fake.reset_counts()
        output = load_main("agent-console")(context)
        status = output["statusCode"]
        FIGURES["requests"] += 1
        FIGURES["by_status"][str(status)] = FIGURES["by_status"].get(str(status), 0) + 1
        FIGURES["server_errors"] += status >= 500
        assert status < 500 and world.fake.requests == []
        if status == 200:
            assert output["headers"]["content-type"].startswith("text/html")
            assert request["method"].upper() in ("GET", "HEAD")  # the runtime upper-cases the method
        else:
            assert 400 <= status < 500 and "code" in json.loads(output["body"])["error"]
    run()


# --- the boundary's edges ------------------------------------------------------------------------

NON_FINITE = ["NaN", "Infinity", "-Infinity", "1e400", "-1e999", "9" * 400]
UNICODE_DIGITS = st.characters(categories=["Nd", "No"]).filter(lambda c: not c.isascii())
OVERFLOWING = ["1000000d", "999999999", "3651d", "87601h", "999999999d"]
CALENDAR_EDGES = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "0001-01-01", "1969-12-31T23:59:59Z"]


def _nested_text(depth: int) -> str:
    return '{"a":' * (depth - 1) + "{}" + "}" * (depth - 1)


def boundary_cases(world: World):
    """(category, request, breaks_a_rule) at the edges of the parsing rules."""
    sids = st.sampled_from(sorted(world.sessions))
    token_of = world.sessions.__getitem__
    whos = st.sampled_from([{}, {"x-appwrite-user-id": "agent-alice"}, {"authorization": f"Bearer {ADMIN_SECRET}"},
                            {"authorization": f"Bearer {BOT_SECRET}"}])

    def request(function_id, body: bytes = b"", path="/", method="POST", **headers):
        return {"function_id": function_id, "method": method, "path": path, "body": body, "headers": headers}

    @st.composite
    def depth(draw):
        level, as_string = draw(st.integers(28, 40)), draw(st.booleans())
        meta = json.dumps(_nested_text(level)) if as_string else _nested_text(level)
        field = draw(st.sampled_from(["userMeta", "theme"]))
        # an object field sits one level inside the body; a JSON string field has its own 32 levels
        breaks = level > 32 if as_string else level + 1 > 32
        return "depth", request("create-session", f'{{"{field}": {meta}}}'.encode()), breaks

    @st.composite
    def non_finite(draw):
        literal, sid = draw(st.sampled_from(NON_FINITE)), draw(sids)
        function_id, template = draw(st.sampled_from([
            ("create-session", '{"userMeta": {"a": LIT}}'), ("create-session", '{"theme": "{\\"a\\": [LIT]}"}'),
            ("touch-session", '{"sessionId": "SID", "message": {"text": "x", "id": LIT}}'),
            ("escalate", '{"sessionId": "SID", "reason": LIT}'), ("close-session", '{"sessionId": "SID", "x": [LIT]}'),
            ("assign-agent", '{"sessionId": "SID", "agentId": LIT}')]))
        body = (function_id, template.replace("SID", sid).replace("LIT", literal))
        path = "/claim" if body[0] == "assign-agent" else "/"
        return "nan", request(body[0], body[1].encode(), path, **{"x-session-token": token_of(sid)},
                              **draw(whos)), True

    def _listing(draw, query: str):
        sid = draw(sids)
        function_id, path, headers = draw(st.sampled_from([
            ("list-sessions", f"/?{query}", {"authorization": f"Bearer {ADMIN_SECRET}"}),
            ("list-sessions", f"/{sid}/messages?{query}", {"x-appwrite-user-id": "agent-alice"}),
            ("touch-session", f"/messages?sessionId={sid}&{query}", {"x-session-token": token_of(sid)})]))
        return request(function_id, path=path, method="GET", **headers)

    @st.composite
    def unicode_digit(draw):
        digit = quote(draw(UNICODE_DIGITS))
        name = draw(st.sampled_from(["limit", "idleFor", "createdAfter"]))
        value = {"limit": digit, "idleFor": f"1{digit}m", "createdAfter": f"202{digit}-01-01T00:00:00Z"}[name]
        if name != "limit":
            return "unicode_digit", request("list-sessions", path=f"/?{name}={value}", method="GET",
                                            authorization=f"Bearer {ADMIN_SECRET}"), True
        return "unicode_digit", _listing(draw, f"limit={value}"), True

    @st.composite
    def overflow(draw):
        name = draw(st.sampled_from(["idleFor", "createdAfter", "createdBefore"]))
        value = draw(st.sampled_from(OVERFLOWING if name == "idleFor" else CALENDAR_EDGES))
        return "overflow", request("list-sessions", path=f"/?{name}={quote(value)}", method="GET",
                                   **draw(whos)), True

    @st.composite
    def trailing_newline(draw):
        sid = draw(sids)
        token = {"x-session-token": token_of(sid)}
        function_id, body, path, method, headers = draw(st.sampled_from([
            ("touch-session", {"sessionId": sid, "message": {"text": "x", "id": "c1\n"}}, "/", "POST", token),
            ("touch-session", {"sessionId": sid, "message": {"text": "x", "id": "a" * 64 + "\n"}}, "/", "POST",
             token),
            ("touch-session", {"sessionId": sid + "\n"}, "/", "POST", token),
            ("escalate", {"sessionId": sid + "\n"}, "/", "POST", token),
            ("close-session", {"sessionId": sid + "\n"}, "/", "POST", token),
            ("assign-agent", {"sessionId": sid + "\n"}, "/claim", "POST", {"x-appwrite-user-id": "agent-alice"}),
            ("assign-agent", {"sessionId": sid, "agentId": "agent-bob\n"}, "/assign", "POST",
             {"authorization": f"Bearer {ADMIN_SECRET}"}),
            ("assign-agent", {"sessionId": sid}, "/claim\n", "POST", {"x-appwrite-user-id": "agent-alice"}),
            ("list-sessions", None, "/?assignedAgent=agent-bob%0A", "GET", {"x-appwrite-user-id": "agent-alice"}),
            ("list-sessions", None, f"/{sid}/messages?cursor=m_1%0A", "GET", {"x-appwrite-user-id": "agent-alice"}),
            ("touch-session", None, f"/messages?sessionId={sid}%0A", "GET", token)]))
        raw = b"" if body is None else json.dumps(body).encode()
        return "trailing_newline", request(function_id, raw, path, method, **headers), True

    return st.one_of(depth(), non_finite(), unicode_digit(), overflow(), trailing_newline())


def test_boundary_cases(world):
    reached = FIGURES["boundary_cases"]

    @SETTINGS
    @given(boundary_cases(world))
    def run(case):
        category, request, breaks = case
        event(category)
        status = check(world, request)
        reached[category] = reached.get(category, 0) + 1
        if breaks:
            assert 400 <= status < 500, (category, request, status)
    run()
    assert set(reached) == {"depth", "nan", "unicode_digit", "overflow", "trailing_newline"}, reached
