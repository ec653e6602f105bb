"""The input/output boundary: strict JSON in and out, full-match IDs, ASCII-only numbers that cannot overflow,
cursors that reveal nothing, and answers shaped alike wherever a session is shown."""

from __future__ import annotations

import json

import pytest
from chat_core import jsonio
from chat_core.edge import http
from chat_core.edge.http import App
from conftest import ADMIN_SECRET, BOT_SECRET, Widget, execute, load_main, row, strict_json
from hardening_support import snapshot

from devstack.context import RuntimeContext, RuntimeRequest


def nested(depth: int) -> dict:
    """An object `depth` levels deep: nested(1) == {}."""
    value: dict = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def nested_text(depth: int) -> str:
    """nested(depth) as JSON text, built without recursion."""
    return '{"a":' * (depth - 1) + "{}" + "}" * (depth - 1)


def create_raw(body: bytes):
    return execute("create-session", raw=body)


# --- strict JSON in ------------------------------------------------------------------------------

@pytest.mark.parametrize("body", [
    b'{"userMeta": {"a": NaN}}', b'{"userMeta": {"a": Infinity}}', b'{"theme": {"a": -Infinity}}',
    b'{"userMeta": {"a": 1e400}}', b'{"userMeta": {"a": -1e999}}', b'{"userMeta": {"a": ' + b"9" * 400 + b"}}",
    b'{"userMeta": "{\\"a\\": NaN}"}', b'{"theme": "{\\"a\\": [Infinity]}"}', b'{"userMeta": "{\\"a\\": 1e309}"}',
    json.dumps({"userMeta": nested(32)}).encode(),  # the body is one level more: 33
    json.dumps({"userMeta": json.dumps(nested(33))}).encode(),  # a JSON string field has its own 32 levels
    json.dumps({"theme": nested_text(2000)}).encode(),
    b'{"userMeta": {"a": ' + b"[" * 983 + b"]" * 983 + b"}}",
    b"[" * 30_000 + b"]" * 30_000,
], ids=lambda body: body[:40].decode(errors="replace"))
def test_bodies_that_are_not_strict_json_are_refused_and_write_nothing(appwrite, body):
    Widget()  # the counters row exists: a stray write would show
    before = snapshot(appwrite)
    result = create_raw(body)
    assert (result.status, result.error) == (400, "invalid_json"), result
    assert snapshot(appwrite) == before


def test_the_depth_limit_is_32_levels(appwrite):
    assert create_raw(json.dumps({"userMeta": nested(31)}).encode()).status == 201  # body: 32 levels
    assert create_raw(json.dumps({"userMeta": json.dumps(nested(32))}).encode()).status == 201
    escalate = execute("escalate", raw=json.dumps({"sessionId": "s_x", "reason": "r", "x": nested(32)}).encode())
    assert escalate.error == "invalid_json"  # every function's body, not only userMeta
    assert jsonio.MAX_DEPTH == 32


def test_stored_rows_that_are_not_strict_json_show_as_empty_objects(appwrite):
    """Rows written before the strict check (NaN, deeper than Python parses, not an object) degrade to {}: one
    hostile session must not break the queue for every agent."""
    good = Widget(userMeta={"page": "/pricing"})
    bad_values = ['{"a": NaN}', '{"a": Infinity}', '{"a": ' + "[" * 1015 + "]" * 1015 + "}", "[1, 2]", "1e400",
                  "not json", nested_text(40)]
    bad = []
    for value in bad_values:
        w = Widget()
        execute("escalate", {"sessionId": w.session_id}, token=w.token)
        appwrite.engine.update_row("chat", "sessions", w.session_id, {"userMeta": value, "theme": value})
        bad.append(w.session_id)
    for query in ("/", "/?status=active&needsHuman=true&limit=100"):
        listing = execute("list-sessions", method="GET", path=query, user="agent-alice")
        assert listing.status == 200, listing
        shown = {s["sessionId"]: s for s in listing.json["sessions"]}
        assert all(shown[sid]["userMeta"] == {} and shown[sid]["theme"] == {} for sid in bad)
    one = execute("list-sessions", method="GET", path=f"/{bad[0]}", user="agent-alice")
    assert one.status == 200 and one.json["session"]["userMeta"] == {}
    assert execute("list-sessions", method="GET", path=f"/{good.session_id}",
                   user="agent-alice").json["session"]["userMeta"] == {"page": "/pricing"}


# --- strict JSON out -----------------------------------------------------------------------------

def test_an_answer_with_no_strict_json_form_is_a_logged_500(monkeypatch):
    app = App("probe")

    @app.route("GET", "/nan")
    def nan(req):
        return {"value": float("nan")}

    monkeypatch.setattr(http, "_core", lambda req, context, **_: None)  # this route needs no Appwrite
    context = RuntimeContext(RuntimeRequest("GET", "/nan", {"x-appwrite-trigger": "http"}))
    output = app.run(context)
    assert output["statusCode"] == 500 and output["headers"]["content-type"] == "application/json"
    assert strict_json(output["body"])["error"]["code"] == "internal_error"
    assert "NaN" not in output["body"].decode()
    assert any("no strict JSON form" in line for line in context.errors), context.errors


# --- full-match patterns -------------------------------------------------------------------------

def test_ids_with_a_trailing_newline_are_refused(appwrite, widget):
    widget.say("first", id="c1")
    before = snapshot(appwrite)
    for client_id in ("c1\n", "a" * 64 + "\n", "c1\r", "\nc1"):
        answer = widget.say("again", id=client_id)
        assert (answer.status, answer.error) == (400, "invalid_id"), (client_id, answer)
    for session_id in (widget.session_id + "\n", "s_x\n"):
        answer = execute("touch-session", {"sessionId": session_id}, token=widget.token)
        assert (answer.status, answer.error) == (400, "invalid_id"), answer
    answer = execute("list-sessions", method="GET", path="/?assignedAgent=agent-bob%0A", secret=ADMIN_SECRET)
    assert answer.error == "invalid_id"
    assert snapshot(appwrite) == before
    assert widget.say("a 64-character id is fine", id="a" * 64).status == 200


def test_routes_match_the_whole_path(appwrite, widget):
    answer = execute("assign-agent", {"sessionId": widget.session_id}, path="/claim\n", user="agent-alice")
    assert (answer.status, answer.error) == (404, "route_not_found")


@pytest.mark.parametrize(("path", "status", "answer"), [
    ("/", 200, {"root": {}}), ("", 200, {"root": {}}), ("/s_1", 200, {"one": {"sid": "s_1"}}),
    ("/s_1/", 200, {"one": {"sid": "s_1"}}), ("/s_1/messages", 200, {"messages": {"sid": "s_1"}}),
    ("/s_1/messages/", 200, {"messages": {"sid": "s_1"}}), ("/a%20b\n", 200, {"one": {"sid": "a%20b\n"}}),
    ("/audit", 200, {"audit": {}}),  # the first route that matches answers: before /{sid}
    ("//", 404, None), ("/s_1//", 404, None), ("//messages", 404, None), ("/s_1/messages/x", 404, None),
    ("s_1", 404, None), ("/s_1/other", 404, None),
])
def test_a_route_matches_its_path_segment_by_segment(monkeypatch, path, status, answer):
    """A route's path parameter is one non-empty segment; one trailing "/" is allowed, nothing else."""
    app = App("probe")
    for name, route in (("root", "/"), ("audit", "/audit"), ("one", "/{sid}"), ("messages", "/{sid}/messages")):
        app.route("GET", route)(lambda req, name=name: {name: req.params})
    monkeypatch.setattr(http, "_core", lambda req, context, **_: None)  # these routes need no Appwrite
    output = app.run(RuntimeContext(RuntimeRequest("GET", path, {"x-appwrite-trigger": "http"})))
    assert output["statusCode"] == status
    body = strict_json(output["body"])
    assert body == answer if status == 200 else body["error"]["code"] == "route_not_found"
    posted = app.run(RuntimeContext(RuntimeRequest("POST", path, {"x-appwrite-trigger": "http"})))
    assert strict_json(posted["body"])["error"]["code"] == ("method_not_allowed" if status == 200 else
                                                             "route_not_found")


# --- numbers, durations and dates ----------------------------------------------------------------

@pytest.mark.parametrize("query", [
    "limit=%C2%B2",  # "²": str.isdigit() says yes, int() says no
    "limit=%D9%A3",  # Arabic-Indic 3: int() reads it
    "limit=%EF%BC%95",  # fullwidth 5
    "limit=101", "limit=0", "limit=1%0A",
    "idleFor=1000000d", "idleFor=3651d", "idleFor=999999999", "idleFor=%D9%A3m", "idleFor=15m%0A",
    "createdAfter=0001-01-01T00:00:00%2B14:00", "createdBefore=9999-12-31T23:59:59-14:00",
    "createdAfter=1969-12-31T23:59:59Z", "createdAfter=%D9%A2%D9%A0%D9%A2%D9%A0-01-01",
])
def test_out_of_range_or_non_ascii_numbers_are_400s(appwrite, query):
    answer = execute("list-sessions", method="GET", path=f"/?{query}", secret=ADMIN_SECRET)
    assert (answer.status, answer.error) == (400, "invalid_query"), answer


def test_the_edges_of_the_ranges_are_accepted(appwrite, widget):
    for query in ("limit=100", "limit=1", "idleFor=3650d", "idleFor=87600h", "createdAfter=1970-01-01T00:00:00Z",
                  "createdBefore=9999-12-30T23:59:59%2B14:00"):
        answer = execute("list-sessions", method="GET", path=f"/?{query}", secret=ADMIN_SECRET)
        assert answer.status == 200, (query, answer)


def test_the_visitor_transcript_refuses_unicode_digits(appwrite, widget):
    answer = execute("touch-session", method="GET", path=f"/messages?sessionId={widget.session_id}&limit=%C2%B2",
                     token=widget.token)
    assert (answer.status, answer.error) == (400, "invalid_query")


# --- cursors -------------------------------------------------------------------------------------

def test_another_sessions_message_is_answered_like_a_made_up_cursor(appwrite):
    mine, theirs = Widget(), Widget()
    mine.say("one")
    mine.say("two")
    their_message = theirs.say("secret").json["message"]["messageId"]

    def transcript(cursor: str):
        return execute("touch-session", method="GET", token=mine.token,
                       path=f"/messages?sessionId={mine.session_id}&limit=1&cursor={cursor}")

    def agent_page(cursor: str):
        return execute("list-sessions", method="GET", user="agent-alice",
                       path=f"/{mine.session_id}/messages?limit=1&cursor={cursor}")

    for read in (transcript, agent_page):
        made_up, foreign = read("m_" + "0" * 32), read(their_message)
        assert (foreign.status, foreign.json) == (made_up.status, made_up.json) == (
            400, {"error": {"code": "invalid_cursor", "message": "unknown cursor"}})
        first = execute("touch-session", method="GET", token=mine.token,
                        path=f"/messages?sessionId={mine.session_id}&limit=1")
        own = read(first.json["nextCursor"])
        assert own.status == 200 and [m["text"] for m in own.json["messages"]] == ["two"]


# --- the same shape everywhere -------------------------------------------------------------------

def test_create_session_answers_user_meta_and_theme_as_objects_like_lists(appwrite):
    created = execute("create-session", {"userMeta": {"browser": "Firefox", "n": 1.5}, "theme": '{"color": "#123"}'})
    assert created.status == 201
    assert created.json["userMeta"] == {"browser": "Firefox", "n": 1.5}
    assert created.json["theme"] == {"color": "#123"}
    listed = execute("list-sessions", method="GET", path=f"/{created.json['sessionId']}", secret=ADMIN_SECRET)
    assert {k: listed.json["session"][k] for k in ("userMeta", "theme")} == \
        {k: created.json[k] for k in ("userMeta", "theme")}
    assert row(appwrite, "sessions", created.json["sessionId"])["userMeta"] == '{"browser":"Firefox","n":1.5}'


def test_the_bots_body_is_as_strict_as_anyones(appwrite, widget):
    raw = b'{"sessionId": "' + widget.session_id.encode() + b'", "message": {"text": "x", "role": "bot", "id": NaN}}'
    answer = execute("touch-session", raw=raw, secret=BOT_SECRET)
    assert (answer.status, answer.error) == (400, "invalid_json")


# --- the console's refresh period ----------------------------------------------------------------

@pytest.mark.parametrize(("configured", "seconds"), [("3000000", 3600), ("0", 1), ("-7", 1), ("30", 30), ("x", 5)])
def test_the_console_refresh_period_is_clamped(monkeypatch, configured, seconds):
    """setTimeout overflows past 2**31-1 ms and fires at once: a huge period would be a tight loop."""
    page_config = load_main("agent-console").__globals__["page_config"]
    monkeypatch.setenv("CONSOLE_REFRESH_SECONDS", configured)
    assert page_config()["refreshSeconds"] == seconds
