"""The local stack's Appwrite Realtime (``devstack/realtime*.py``, ``devstack/wsframe.py``), over real sockets with an
independent client (the pinned ``websockets`` package). Each test names the upstream source it follows:
appwrite/appwrite at the 1.9.6 line (``app/realtime.php``, ``app/init/realtime/connection.php``,
``src/Appwrite/Messaging/Adapter/Realtime.php``, ``src/Appwrite/Realtime/Message/``, ``src/Appwrite/Event/``,
``tests/e2e/Services/Realtime/``), appwrite/sdk-for-web ``src/client.ts`` for what a browser sends, and the Appwrite
2.x changelog for the policy that denies guests.

No test waits for silence: to show an event did NOT reach a connection, a later event that does reach it (a
"fence" row in a table anyone may read) must arrive first, since a connection's messages keep their order.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from appwrite.client import Client
from appwrite.services.functions import Functions
from appwrite.services.tables_db import TablesDB
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from devstack import realtime, wsframe
from devstack.server import Stack

PROBE = '''
import os

from appwrite.client import Client
from appwrite.services.tables_db import TablesDB


def main(context):
    client = (Client().set_endpoint(os.environ["APPWRITE_FUNCTION_API_ENDPOINT"])
              .set_project(os.environ["APPWRITE_FUNCTION_PROJECT_ID"])
              .set_key(context.req.headers["x-appwrite-key"]))
    row = TablesDB(client).create_row("app", "open", "from-function", {"text": context.req.body_text})
    return context.res.json({"id": row.id}, 201)
'''


def _table(tid: str, permissions: list[str], row_security: bool = False) -> dict:
    return {"$id": tid, "$permissions": permissions, "databaseId": "app", "name": tid, "enabled": True,
            "rowSecurity": row_security, "indexes": [],
            "columns": [{"key": "text", "type": "string", "required": False, "array": False, "size": 300},
                        {"key": "n", "type": "integer", "required": False, "array": False}]}


CONFIG = {
    "projectId": "rt-project",
    "tablesDB": [{"$id": "app", "name": "app", "enabled": True}],
    "tables": [
        _table("open", ['read("any")']),  # the fence: every connection may read it
        _table("members", ['read("users")']),
        _table("staff", ['read("label:agent")', 'write("label:agent")']),
        _table("guestbook", ['read("guests")']),
        _table("private", [], row_security=True),  # only rows' own read permissions
        _table("sealed", ['create("any")']),  # no read at all; rows' permissions ignored (no row security)
    ],
    "functions": [{"$id": "writer", "name": "writer", "runtime": "python-3.12", "execute": ["any"], "events": [],
                   "scopes": ["rows.write"], "schedule": "", "timeout": 10, "enabled": True,
                   "entrypoint": "functions/probe/src/main.py", "path": "."}],
}
PLATFORMS = ("localhost", "shop.example", "*.cdn.example")


def _root(tmp_path: Path) -> Path:
    (tmp_path / "appwrite.json").write_text(json.dumps(CONFIG))
    src = tmp_path / "functions" / "probe" / "src"
    src.mkdir(parents=True)
    (src / "main.py").write_text(PROBE)
    return tmp_path


@pytest.fixture
def stack(tmp_path: Path):
    with Stack(_root(tmp_path), data_dir=tmp_path / "data", port=0, run_scheduler=False,
               web_platforms=PLATFORMS) as running:
        yield running


def _url(stack: Stack, query: str = "", project: str | None = None) -> str:
    project = stack.project_id if project is None else project
    params = "&".join(p for p in (f"project={project}" if project else "", query) if p)
    return f"ws://127.0.0.1:{stack.port}/v1/realtime?{params}"


def _ws(stack: Stack, query: str = "", headers: dict[str, str] | None = None, origin: str | None = None,
        project: str | None = None) -> ClientConnection:
    return connect(_url(stack, query, project), additional_headers=headers or {}, origin=origin,
                   open_timeout=10, close_timeout=5)


def _recv(ws: ClientConnection, timeout: float = 10) -> dict[str, Any]:
    return json.loads(ws.recv(timeout=timeout))


def _send(ws: ClientConnection, message: dict[str, Any]) -> dict[str, Any]:
    ws.send(json.dumps(message))
    return _recv(ws)


def _closed(ws: ClientConnection) -> ConnectionClosed:
    """The close the server sent, once the connection ends (a generous wait for the close frame)."""
    with pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=10)
    return closed.value


def _post(stack: Stack, path: str, body: dict, headers: dict[str, str] | None = None) -> tuple[dict, dict]:
    request = urllib.request.Request(f"http://127.0.0.1:{stack.port}{path}", data=json.dumps(body).encode(),
                                     method="POST", headers={"content-type": "application/json",
                                                             "x-appwrite-project": stack.project_id,
                                                             **(headers or {})})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read()), {k.lower(): v for k, v in answer.headers.items()}


def _session(stack: Stack, email: str = "") -> tuple[str, str]:
    """(user ID, session secret): an anonymous session, or an email one for a seeded user."""
    if email:
        model, headers = _post(stack, "/v1/account/sessions/email",
                               {"email": email, "password": stack.dev_password})
    else:
        model, headers = _post(stack, "/v1/account/sessions/anonymous", {})
    secret = json.loads(headers["x-fallback-cookies"])[f"a_session_{stack.project_id}"]
    return model["userId"], secret


def _cookie(stack: Stack, secret: str) -> dict[str, str]:
    return {"cookie": f"a_session_{stack.project_id}={secret}"}


def _fence(stack: Stack, ws: ClientConnection, subscribed: bool = True) -> None:
    """Write a row everyone may read and receive its event: whatever was written before and not received was not
    sent. ``subscribed=False`` subscribes the connection to the fence's table first."""
    if not subscribed:
        answer = _send(ws, {"type": "subscribe", "data": [{"channels": ["tablesdb.app.tables.open.rows"]}]})
        assert answer["data"]["success"] is True
    row = stack.engine.create_row("app", "open", "unique()", {"text": "fence"})
    event = _recv(ws)
    assert event["type"] == "event" and event["data"]["payload"]["$id"] == row["$id"], event


# --------------------------------------------------------------------------- connecting


def test_connected_without_channels_then_ping_pong(stack: Stack) -> None:
    """app/realtime.php onOpen (lines 992-1014): without channels the answer is ``connected`` with no channels, no
    subscriptions and ``user: null`` for a guest; Handlers/Ping.php: ``ping`` -> ``pong``."""
    with _ws(stack) as ws:
        assert _recv(ws) == {"type": "connected", "data": {"channels": [], "subscriptions": [], "user": None}}
        assert _send(ws, {"type": "ping"}) == {"type": "pong"}


def test_unknown_or_missing_project_is_a_policy_violation(stack: Stack) -> None:
    """app/realtime.php line 908: ``Missing or unknown project ID``, error 1008, then the connection closes."""
    for project in ("", "other-project"):
        with _ws(stack, project=project) as ws:
            assert _recv(ws) == {"type": "error", "data": {"code": 1008, "message": "Missing or unknown project ID"}}
            assert _closed(ws).rcvd.code == 1008
    with _ws(stack, project="", headers={"x-appwrite-project": stack.project_id}) as ws:  # the header also names it
        assert _recv(ws)["type"] == "connected"


def test_channels_in_the_url_each_row_event_with_appwrite_names(stack: Stack) -> None:
    """src/Appwrite/Event/Realtime.php trigger; Event::generateEvents + mirrorCollectionEvents (Event.php lines 486,
    637) and Realtime::fromPayload (Messaging/Adapter/Realtime.php lines 813-1068) for a TablesDB row: 16 channels,
    the event names of tests/e2e/Services/Realtime/RealtimeCustomClientTest.php (lines 2960-2972, 3252-3261), the
    row as payload; app/realtime.php line 773: the matching subscription IDs."""
    with _ws(stack, "channels[]=tablesdb.app.tables.open.rows") as ws:
        connected = _recv(ws)["data"]
        assert connected["channels"] == ["tablesdb.app.tables.open.rows"] and connected["user"] is None
        [subscription] = connected["subscriptions"]
        for action in ("create", "update", "delete"):
            if action == "create":
                row = stack.engine.create_row("app", "open", "r1", {"text": "hello", "n": 1})
            elif action == "update":
                row = stack.engine.update_row("app", "open", "r1", {"text": "changed"})
            else:
                row = stack.engine.delete_row("app", "open", "r1")
            event = _recv(ws)
            data = event["data"]
            assert event["type"] == "event" and data["subscriptions"] == [subscription]
            assert data["payload"] == row and data["payload"]["$id"] == "r1"
            assert data["timestamp"].endswith("+00:00")
            assert len(data["channels"]) == 16
            assert {"rows", "documents", "tablesdb.app.tables.open.rows", "tablesdb.app.tables.open.rows.r1",
                    "databases.app.tables.open.rows", "databases.app.tables.open.rows.r1",
                    "databases.app.collections.open.documents", "databases.app.collections.open.documents.r1",
                    f"rows.{action}", f"tablesdb.app.tables.open.rows.r1.{action}"} <= set(data["channels"])
            assert len(data["events"]) == 64
            assert data["events"][0] == f"tablesdb.app.tables.open.rows.r1.{action}"
            assert {f"databases.app.tables.open.rows.r1.{action}", f"tablesdb.app.tables.open.rows.r1.{action}",
                    f"databases.app.collections.open.documents.r1.{action}", f"databases.*.tables.*.rows.*.{action}",
                    "databases.app.tables.open.rows.r1", "tablesdb.*.tables.*.rows.*", "databases.app",
                    "databases.*", "tablesdb.app"} <= set(data["events"])


@pytest.mark.parametrize("channel, receives", [
    ("rows", {"create", "update", "delete"}),
    ("documents", {"create", "update", "delete"}),
    ("rows.update", {"update"}),
    ("tablesdb.app.tables.open.rows", {"create", "update", "delete"}),
    ("tablesdb.app.tables.open.rows.r1", {"create", "update", "delete"}),
    ("tablesdb.app.tables.open.rows.r1.delete", {"delete"}),
    ("databases.app.tables.open.rows", {"create", "update", "delete"}),
    ("databases.app.collections.open.documents.r1.create", {"create"}),
    ("tablesdb.app.tables.open.rows.other", set()),
    ("tablesdb.app.tables.members.rows", set()),
])
def test_each_channel_form_receives_its_events(stack: Stack, channel: str, receives: set[str]) -> None:
    """Messaging/Adapter/Realtime.php getDatabaseChannels (line 1020) and the action suffix of fromPayload (line
    994): the channel forms a client may subscribe to for rows, and which of a row's create/update/delete each
    receives. A ``subscribe`` message (Handlers/Subscribe.php) adds the fence's channel."""
    with _ws(stack, f"channels[]={channel}") as ws:
        sub = _recv(ws)["data"]["subscriptions"][0]
        fence = _send(ws, {"type": "subscribe", "data": [{"subscriptionId": "fence",
                                                           "channels": ["tablesdb.app.tables.open.rows.fence"]}]})
        assert fence["data"]["subscriptions"][0]["subscriptionId"] == "fence"
        stack.engine.create_row("app", "open", "r1", {"text": "a"})
        stack.engine.update_row("app", "open", "r1", {"text": "b"})
        stack.engine.delete_row("app", "open", "r1")
        got = set()
        stack.engine.create_row("app", "open", "fence", {"text": "fence"})
        while True:
            data = _recv(ws)["data"]
            if data["payload"]["$id"] == "fence":
                break
            assert data["subscriptions"] == [sub]
            got.add(data["events"][0].rsplit(".", 1)[1])
        assert got == receives


def test_events_come_from_the_writes_functions_make(stack: Stack) -> None:
    """src/Appwrite/Event/Realtime.php trigger: the row a function's execution writes (with its API key) reaches
    the socket, after the write committed (Engine.subscribe)."""
    with _ws(stack, "channels[]=tablesdb.app.tables.open.rows") as ws:
        _recv(ws)
        client = Client().set_endpoint(stack.endpoint).set_project(stack.project_id)
        execution = Functions(client).create_execution("writer", body="written by a function")
        assert execution.responsestatuscode == 201
        data = _recv(ws)["data"]
        assert data["events"][0] == "tablesdb.app.tables.open.rows.from-function.create"
        assert data["payload"]["text"] == "written by a function"
        assert stack.engine.get_row("app", "open", "from-function")["$id"] == "from-function"


def test_a_transaction_sends_its_events_at_commit(stack: Stack) -> None:
    """src/Appwrite/Platform/Modules/Databases/Http/TablesDB/Transactions/Update.php (the events after the commit):
    a row staged in a transaction reaches the socket when the transaction commits, not when it is staged."""
    tables = TablesDB(Client().set_endpoint(stack.endpoint).set_project(stack.project_id).set_key(stack.api_key))
    with _ws(stack, "channels[]=tablesdb.app.tables.open.rows") as ws:
        _recv(ws)
        transaction = tables.create_transaction()
        tables.create_row("app", "open", "staged", {"text": "in a transaction"}, transaction_id=transaction.id)
        _fence(stack, ws)
        tables.update_transaction(transaction.id, commit=True)
        data = _recv(ws)["data"]
        assert data["events"][0] == "tablesdb.app.tables.open.rows.staged.create"
        assert data["payload"]["text"] == "in a transaction"


# --------------------------------------------------------------------------- who receives what


def test_delivery_follows_the_table_and_row_read_permissions(stack: Stack) -> None:
    """Messaging/Adapter/Realtime.php getSubscribers (line 464) with the roles of fromPayload (line 891: the table's
    read roles, plus the row's when the table has row security) and User::getRoles
    (src/Appwrite/Utopia/Database/Documents/User.php): ``any`` reaches all, ``guests`` only guests, ``users`` every
    signed-in user, ``label:agent`` agents, ``user:<id>`` that user; a table without row security ignores rows'
    permissions."""
    visitor, visitor_secret = _session(stack)
    _, agent_secret = _session(stack, "agent-alice@example.test")
    channels = "channels[]=rows"
    with contextlib.ExitStack() as sockets:
        conns = {name: sockets.enter_context(_ws(stack, channels, headers)) for name, headers in (
            ("guest", {}), ("visitor", _cookie(stack, visitor_secret)), ("agent", _cookie(stack, agent_secret)))}
        for name, ws in conns.items():
            assert (_recv(ws)["data"]["user"] is None) == (name == "guest")
        writes = [("members", {}, None), ("staff", {}, None), ("guestbook", {}, None),
                  ("private", {}, [f'read("user:{visitor}")']), ("private", {}, []),
                  ("sealed", {}, ['read("any")']), ("private", {}, ['read("label:agent")'])]
        ids = {}
        for index, (table, data, permissions) in enumerate(writes):
            row = stack.engine.create_row("app", table, f"w{index}", {"text": table, **data}, permissions)
            ids[row["$id"]] = table
        fence = stack.engine.create_row("app", "open", "fence", {"text": "fence"})
        received: dict[str, list[str]] = {}
        for name, ws in conns.items():
            received[name] = []
            while (payload := _recv(ws)["data"]["payload"])["$id"] != fence["$id"]:
                received[name].append(payload["$id"])
        # w3, w6: a table that grants nothing, with row security (the chat's `messages` and `signals`): a row's
        # own user or label role alone reaches the socket.
        assert received == {"guest": ["w2"], "visitor": ["w0", "w3"], "agent": ["w0", "w1", "w6"]}


def test_queries_on_a_subscription_filter_and_never_grant(stack: Stack) -> None:
    """Handlers/Subscribe.php with RuntimeQuery (src/Appwrite/Utopia/Database/RuntimeQuery.php): queries filter a
    subscription's events (AND at the top, ``or`` nested, strict equality); a query never lets a guest receive a
    row its roles may not read (getSubscribers checks roles first)."""
    with _ws(stack) as ws:
        _recv(ws)
        answer = _send(ws, {"type": "subscribe", "data": [
            {"subscriptionId": "ones", "channels": ["rows"],
             "queries": ['{"method":"equal","attribute":"n","values":[1]}']},
            {"subscriptionId": "big-or-b", "channels": ["rows"],
             "queries": ['{"method":"or","values":[{"method":"greaterThan","attribute":"n","values":[5]},'
                         '{"method":"equal","attribute":"text","values":["b"]}]}']}]})
        assert answer == {"type": "response", "data": {"to": "subscribe", "success": True, "subscriptions": [
            {"subscriptionId": "ones", "channels": ["rows"],
             "queries": ['{"method":"equal","attribute":"n","values":[1]}']},
            {"subscriptionId": "big-or-b", "channels": ["rows"],
             "queries": ['{"method":"or","values":[{"method":"greaterThan","attribute":"n","values":[5]},'
                         '{"method":"equal","attribute":"text","values":["b"]}]}']}]}}
        stack.engine.create_row("app", "open", "a1", {"text": "a", "n": 1})
        stack.engine.create_row("app", "open", "a2", {"text": "a", "n": 2})
        stack.engine.create_row("app", "open", "b9", {"text": "b", "n": 9})
        stack.engine.create_row("app", "members", "m1", {"text": "b", "n": 1})  # a guest may not read members
        stack.engine.create_row("app", "open", "c7", {"text": "c", "n": 7})
        got = [(d["payload"]["$id"], d["subscriptions"]) for d in (_recv(ws)["data"] for _ in range(3))]
        assert got == [("a1", ["ones"]), ("b9", ["big-or-b"]), ("c7", ["big-or-b"])]


def test_subscribing_again_with_an_id_replaces_its_queries(stack: Stack) -> None:
    """Messaging/Adapter/Realtime.php subscribe (line 141: ``[$channel][$identifier][$subscriptionId] = $data``): the
    same subscription ID on the same channel again replaces its queries (the console's message rows follow the
    sessions its agent holds this way)."""
    equal = '{{"method":"equal","attribute":"n","values":[{}]}}'
    with _ws(stack) as ws:
        _recv(ws)
        _send(ws, {"type": "authentication", "data": {"session": _session(stack)[1]}})
        for n in (1, 2):
            answer = _send(ws, {"type": "subscribe", "data": [{"subscriptionId": "mine", "queries": [equal.format(n)],
                                                               "channels": ["tablesdb.app.tables.open.rows"]}]})
            assert answer["data"]["success"] is True
        for n in (1, 2):
            stack.engine.create_row("app", "open", f"r{n}", {"text": "x", "n": n})
        event = _recv(ws)["data"]
        assert (event["payload"]["n"], event["subscriptions"]) == (2, ["mine"])


def test_url_channel_queries_make_subscriptions(stack: Stack) -> None:
    """Messaging/Adapter/Realtime.php constructSubscriptions (line 701): a channel's queries come from the parameter
    named like it (``.`` as ``_``); ``rows[]=q1&rows[]=q2`` is two subscriptions, and the ``connected`` answer maps
    each to its ID."""
    equal_one = '{"method":"equal","attribute":"n","values":[1]}'
    equal_two = '{"method":"equal","attribute":"n","values":[2]}'
    query = f"channels[]=tablesdb.app.tables.open.rows&tablesdb.app.tables.open.rows[]={equal_one}" \
            f"&tablesdb.app.tables.open.rows[]={equal_two}"
    with _ws(stack, query.replace("{", "%7B").replace("}", "%7D").replace('"', "%22")) as ws:
        first, second = _recv(ws)["data"]["subscriptions"]
        for n in (3, 2, 1):
            stack.engine.create_row("app", "open", f"n{n}", {"text": "x", "n": n})
        assert [(d["payload"]["n"], d["subscriptions"]) for d in (_recv(ws)["data"] for _ in range(2))] == \
            [(2, [second]), (1, [first])]


def test_unsubscribe_by_id(stack: Stack) -> None:
    """Handlers/Unsubscribe.php and Realtime::unsubscribeSubscription: ``removed`` says whether the ID was there;
    the connection stays and an unsubscribed subscription receives nothing more."""
    with _ws(stack, "channels[]=tablesdb.app.tables.members.rows") as ws:  # a guest's: never receives members
        _recv(ws)
        _send(ws, {"type": "subscribe", "data": [{"subscriptionId": "s1", "channels": ["documents"]}]})
        answer = _send(ws, {"type": "unsubscribe", "data": [{"subscriptionId": "s1"}, {"subscriptionId": "nope"}]})
        assert answer == {"type": "response", "data": {"to": "unsubscribe", "success": True, "subscriptions": [
            {"subscriptionId": "s1", "removed": True}, {"subscriptionId": "nope", "removed": False}]}}
        stack.engine.create_row("app", "open", "gone", {"text": "not for s1"})
        _fence(stack, ws, subscribed=False)


def test_bad_messages_get_errors_and_the_connection_stays(stack: Stack) -> None:
    """app/realtime.php onMessage (lines 1240-1250, 1332) and Message/Dispatcher.php: a bad message is answered
    with error 1003 (only a 1008 closes); Validators/SubscribePayload.php descriptions; convertQueries (adapter line
    773): queries must parse and use Realtime's methods; select other than ``*`` is an uncaught exception
    (code 0, ``Error: Server Error``)."""
    with _ws(stack) as ws:
        _recv(ws)
        cases = [
            ("not json", {"code": 1003, "message": "Message format is not valid."}),
            ({"data": {}, "type": "shout"}, {"code": 1003, "message": "Message type is not valid."}),
            ({"type": "subscribe"}, {"code": 1003, "message": "Payload is not valid. Items is required"}),
            ({"type": "subscribe", "data": [{"queries": []}]},
             {"code": 1003, "message": "items: channels is not present in payload."}),
            ({"type": "subscribe", "data": [{"channels": ["rows"], "subscriptionId": "-bad"}]},
             {"code": 1003, "message": "items: subscriptionId is not a valid id."}),
            ({"type": "subscribe", "data": [{"channels": ["rows"], "queries": ["{nope"]}]},
             {"code": 1003, "message": "Invalid query: Invalid query: Syntax error"}),
            ({"type": "subscribe", "data": [{"channels": ["rows"],
                                             "queries": ['{"method":"limit","values":[1]}']}]},
             {"code": 1003, "message": "Invalid query: Query method 'limit' is not supported in Realtime queries. "
                                       "Allowed: equal, notEqual, lessThan, lessThanEqual, greaterThan, "
                                       "greaterThanEqual, isNull, isNotNull, and, or, select"}),
            ({"type": "subscribe", "data": [{"channels": ["rows"],
                                             "queries": ['{"method":"select","values":["text"]}']}]},
             {"code": 0, "message": "Error: Server Error"}),
            ({"type": "unsubscribe", "data": [{}]},
             {"code": 1003, "message": "items: Each unsubscribe payload must include a non-empty subscriptionId."}),
            ({"type": "authentication", "data": {}},
             {"code": 1003, "message": "Payload is not valid. Session is required"}),
            ({"type": "authentication", "data": {"session": "not-a-session"}},
             {"code": 1003, "message": "Session is not valid."}),
        ]
        for message, error in cases:
            ws.send(message if isinstance(message, str) else json.dumps(message))
            assert _recv(ws) == {"type": "error", "data": error}, message
        assert _send(ws, {"type": "ping"}) == {"type": "pong"}


# --------------------------------------------------------------------------- authentication


def test_session_cookie_makes_the_connection_the_user(stack: Stack) -> None:
    """app/init/realtime/connection.php lines 223-245: the ``a_session_<project>`` cookie (else X-Appwrite-Session,
    else X-Fallback-Cookies) is the user; ``connected`` carries the account; Realtime::convertChannels (adapter line
    605): ``account`` adds ``account.<user>``, another user's ``account.<id>`` is dropped."""
    user_id, secret = _session(stack, "agent-alice@example.test")
    for headers in (_cookie(stack, secret), {"x-fallback-cookies": json.dumps({f"a_session_{stack.project_id}":
                                                                                secret})}):
        with _ws(stack, "channels[]=account&channels[]=account.someone-else", headers) as ws:
            data = _recv(ws)["data"]
            assert data["user"]["$id"] == user_id == "agent-alice" and data["user"]["labels"] == ["agent"]
            assert data["channels"] == ["account", "account.agent-alice"]
    with _ws(stack, "channels[]=account", {"cookie": f"a_session_{stack.project_id}=stale"}) as ws:
        assert _recv(ws)["data"] == {"channels": ["account"], "subscriptions": [AnyId()], "user": None}


class AnyId:
    """Equal to any ID of 20 hex digits (``ID::unique()``)."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and len(other) == 20


def test_authentication_message_with_the_fallback_session(stack: Stack) -> None:
    """Handlers/Authentication.php: ``authentication {session}`` (what sdk-for-web src/client.ts sends from the
    ``cookieFallback`` when ``connected`` has no user) makes the connection that user: ``response {to:
    authentication, success, user}``, and its subscriptions now deliver what the user's roles may read."""
    visitor, secret = _session(stack)
    with _ws(stack, "channels[]=tablesdb.app.tables.members.rows") as ws:
        assert _recv(ws)["data"]["user"] is None
        stack.engine.create_row("app", "members", "before", {"text": "not for a guest"})
        _fence(stack, ws, subscribed=False)
        answer = _send(ws, {"type": "authentication", "data": {"session": secret}})
        assert answer["type"] == "response" and answer["data"]["to"] == "authentication"
        assert answer["data"]["success"] is True and answer["data"]["user"]["$id"] == visitor
        stack.engine.create_row("app", "members", "after", {"text": "for users"})
        assert _recv(ws)["data"]["payload"]["$id"] == "after"


def test_jwt_in_the_query_or_header(stack: Stack) -> None:
    """app/init/realtime/connection.php line 274: a JWT in X-Appwrite-JWT or ``?jwt=`` is the user; with a session
    too, error 403 (USER_JWT_AND_COOKIE_SET, line 277); an invalid one, error 401 ``Failed to verify JWT.`` (line
    285); either closes the connection (app/realtime.php line 1116)."""
    user_id, secret = _session(stack, "agent-bob@example.test")
    jwt = _post(stack, "/v1/account/jwts", {}, _cookie(stack, secret))[0]["jwt"]
    with _ws(stack, f"jwt={jwt}") as ws:
        assert _recv(ws)["data"]["user"]["$id"] == user_id
    with _ws(stack, headers={"x-appwrite-jwt": jwt}) as ws:
        assert _recv(ws)["data"]["user"]["$id"] == user_id
    with _ws(stack, f"jwt={jwt}", _cookie(stack, secret)) as ws:
        error = _recv(ws)
        assert error["type"] == "error" and error["data"]["code"] == 403
        assert error["data"]["message"].startswith("JWT and cookie used in the same request.")
        assert _closed(ws).rcvd.code == 1008
    with _ws(stack, "jwt=not.a.jwt") as ws:
        assert _recv(ws) == {"type": "error", "data": {"code": 401, "message": "Failed to verify JWT. Invalid token"}}
        assert _closed(ws).rcvd.code == 1008


def test_a_project_that_denies_guests(tmp_path: Path) -> None:
    """Appwrite 2.x changelog, "Deny guests from subscribing to Realtime": a guest listing channels is refused
    (here error 1008, closing), a guest may connect without channels and authenticate but not subscribe (here
    error 401, the connection staying open), and once signed in it subscribes and receives."""
    with Stack(_root(tmp_path), data_dir=tmp_path / "data", port=0, run_scheduler=False,
               deny_realtime_guests=True) as stack:
        with _ws(stack, "channels[]=rows") as ws:
            assert _recv(ws) == {"type": "error", "data": {"code": 1008, "message": realtime.GUESTS_DENIED_CONNECT}}
            assert _closed(ws).rcvd.code == 1008
        _, secret = _session(stack)
        with _ws(stack) as ws:
            assert _recv(ws)["type"] == "connected"
            refused = _send(ws, {"type": "subscribe", "data": [{"channels": ["tablesdb.app.tables.open.rows"]}]})
            assert refused == {"type": "error", "data": {"code": 401, "message": realtime.GUESTS_DENIED_SUBSCRIBE}}
            assert _send(ws, {"type": "authentication", "data": {"session": secret}})["data"]["success"] is True
            _fence(stack, ws, subscribed=False)
        with _ws(stack, "channels[]=tablesdb.app.tables.open.rows", _cookie(stack, secret)) as ws:
            assert _recv(ws)["data"]["user"] is not None
            _fence(stack, ws)


# --------------------------------------------------------------------------- origin and limits


@pytest.mark.parametrize("origin, problem", [
    (None, None),  # no Origin: not a browser, not checked
    ("http://127.0.0.1:{port}", None),  # the demo's own page (127.0.0.1 counts as localhost)
    ("http://localhost:3000", None),
    ("https://shop.example", None),  # a registered Web platform
    ("https://www.cdn.example", None),  # *.cdn.example
    ("https://evil.example", "Invalid Origin. Register your new client (evil.example) as a new Web platform on "
                             "your project console dashboard"),
    ("https://cdn.example", "Invalid Origin. Register your new client (cdn.example) as a new Web platform on your "
                            "project console dashboard"),
    ("myapp://callback", "Invalid Scheme. The scheme used (myapp) in the Origin (myapp://callback) is not "
                         "supported. If you are using a custom scheme, please change it to "
                         "`appwrite-callback-rt-project`"),
])
def test_origin_must_be_a_registered_web_platform(stack: Stack, origin: str | None, problem: str | None) -> None:
    """app/realtime.php line 966 with app/init/realtime/connection.php (line 186: the project's platforms) and
    src/Appwrite/Network/Validator/Origin.php: a sent Origin must name the API's host or a Web platform's hostname
    (wildcards allowed; 127.0.0.1 and [::1] stand for localhost), else error 1008 with the validator's
    description, and the connection closes."""
    with _ws(stack, origin=origin.format(port=stack.port) if origin else None) as ws:
        first = _recv(ws)
        if problem is None:
            assert first["type"] == "connected"
        else:
            assert first == {"type": "error", "data": {"code": 1008, "message": problem}}
            assert _closed(ws).rcvd.code == 1008


def test_128_connections_a_minute_per_ip(stack: Stack) -> None:
    """app/realtime.php line 943: 128 connections a minute per IP (key ``url:{url},ip:{ip}``, utopia-php/abuse
    TimeLimit's window aligned to the minute); the 129th gets error 1013 ``Too many requests`` and is closed; the
    next minute admits again. The clock is pinned so no window boundary falls inside the test."""
    moment = [1_800_000_000.0]  # a multiple of 60
    stack.realtime.clock = lambda: moment[0]
    for _ in range(realtime.CONNECTIONS_PER_MINUTE):
        with _ws(stack) as ws:
            assert _recv(ws)["type"] == "connected"
    with _ws(stack) as ws:
        assert _recv(ws) == {"type": "error", "data": {"code": 1013, "message": "Too many requests"}}
        assert _closed(ws).rcvd.code == 1013
    moment[0] += 60
    with _ws(stack) as ws:
        assert _recv(ws)["type"] == "connected"


def test_32_messages_a_minute_per_connection(stack: Stack) -> None:
    """app/realtime.php line 1221: 32 messages a minute per connection (pings included: the limit is checked before
    the message is read); the 33rd gets error 1013 ``Too many messages.`` and the connection stays open (only 1008
    closes, line 1332); the next minute answers again."""
    moment = [1_800_000_000.0]
    stack.realtime.clock = lambda: moment[0]
    with _ws(stack) as ws:
        _recv(ws)
        for _ in range(realtime.MESSAGES_PER_MINUTE):
            assert _send(ws, {"type": "ping"}) == {"type": "pong"}
        assert _send(ws, {"type": "ping"}) == {"type": "error", "data": {"code": 1013,
                                                                          "message": "Too many messages."}}
        moment[0] += 60
        assert _send(ws, {"type": "ping"}) == {"type": "pong"}


# --------------------------------------------------------------------------- the socket itself


def test_pings_keep_a_connection_and_silence_ends_it(stack: Stack) -> None:
    """sdk-for-web src/client.ts createHeartbeat: the client pings every 20 s to keep its socket. The stack closes a
    connection that sent nothing for ``idle_seconds`` (60 s; 2 s here) with 1001: pings at shorter intervals keep
    it open well past that, then silence ends it."""
    stack.realtime.idle_seconds = 2.0
    with _ws(stack) as ws:
        _recv(ws)
        started = time.monotonic()
        while time.monotonic() - started < 2.5 * stack.realtime.idle_seconds:
            assert _send(ws, {"type": "ping"}) == {"type": "pong"}
            time.sleep(stack.realtime.idle_seconds / 5)
        closed = _closed(ws)
        assert closed.rcvd.code == 1001 and closed.rcvd.reason == "Idle connection"


def test_client_close_is_answered_and_the_connection_forgotten(stack: Stack) -> None:
    """RFC 6455 section 5.5.1 (the close handshake, as sdk-for-web's closeSocket starts it with 1000): the stack
    answers the close frame and drops the connection and its subscriptions."""
    with _ws(stack, "channels[]=rows") as ws:
        _recv(ws)
        assert len(stack.realtime.connections) == 1
    assert ws.close_code == 1000 and ws.close_reason == ""
    deadline = time.monotonic() + 10
    while stack.realtime.connections and time.monotonic() < deadline:
        time.sleep(0.01)
    assert stack.realtime.connections == []


def test_stopping_the_stack_closes_sockets_with_going_away(tmp_path: Path) -> None:
    """app/realtime.php onClose: connections end when the server stops; the stack sends 1001 (going away) to each
    before its HTTP server stops, without waiting on a silent client."""
    stack = Stack(_root(tmp_path), data_dir=tmp_path / "data", port=0, run_scheduler=False).start()
    try:
        with _ws(stack, "channels[]=rows") as talking, \
                socket.create_connection(("127.0.0.1", stack.port)) as silent:  # never answers a close frame
            _recv(talking)
            silent.sendall(_handshake(stack))
            assert silent.recv(12) == b"HTTP/1.1 101"
            stack.stop()
            closed = _closed(talking)
            assert closed.rcvd.code == 1001 and closed.rcvd.reason == "The stack is stopping"
            silent.settimeout(10)
            rest = b""
            while chunk := silent.recv(4096):  # the server ends the silent one too: its close frame, then EOF
                rest += chunk
            assert wsframe.encode_frame(wsframe.OP_CLOSE, wsframe.close_payload(1001, "The stack is stopping")) \
                in rest
    finally:
        stack.stop()


def _handshake(stack: Stack, version: str = "13", host: str = "127.0.0.1") -> bytes:
    return (f"GET /v1/realtime?project={stack.project_id} HTTP/1.1\r\nHost: {host}:{stack.port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            f"Sec-WebSocket-Version: {version}\r\n\r\n").encode()


def test_handshake_checks_and_plain_http(stack: Stack) -> None:
    """RFC 6455 section 4.2: the accept key of the RFC's own example; a bad version is refused in HTTP (400); a
    non-loopback Host is refused like any request to the stack (403); a GET without Upgrade is no socket (404)."""
    with socket.create_connection(("127.0.0.1", stack.port), timeout=10) as raw:
        raw.sendall(_handshake(stack))
        head = raw.recv(4096).partition(b"\r\n\r\n")[0].decode()  # the `connected` frame may follow at once
        assert head.startswith("HTTP/1.1 101 ") and "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in head
    for version, host, status in (("8", "127.0.0.1", "400"), ("13", "attacker.example", "403")):
        with socket.create_connection(("127.0.0.1", stack.port), timeout=10) as raw:
            raw.sendall(_handshake(stack, version, host))
            assert raw.recv(4096).decode().startswith(f"HTTP/1.1 {status} ")
    with pytest.raises(urllib.error.HTTPError) as plain:
        urllib.request.urlopen(f"http://127.0.0.1:{stack.port}/v1/realtime?project={stack.project_id}", timeout=10)
    assert plain.value.code == 404


def test_oversized_message_closes_with_1009(stack: Stack) -> None:
    """app/realtime.php: ``setPackageMaxLength(64000)``; a larger message ends the connection (RFC 6455 close code
    1009, message too big)."""
    with connect(_url(stack), max_size=None, open_timeout=10) as ws:
        _recv(ws)
        ws.send("x" * (realtime.MAX_MESSAGE_BYTES + 1))
        assert _closed(ws).rcvd.code == 1009


# --------------------------------------------------------------------------- pure functions


def test_channel_conversion_and_rebinding() -> None:
    """Messaging/Adapter/Realtime.php convertChannels (line 605) and rebindAccountChannels (line 653)."""
    assert realtime.convert_channels(["account", "account.create", "account.x", "rows"], "u1") == \
        ["account", "account.u1.create", "rows", "account.u1"]
    assert realtime.convert_channels(["account", "account.create", "account.x"], "") == ["account", "account.create"]
    assert realtime.rebind_account_channels(["account.create", "account", "rows"], "", "u2") == \
        ["account.u2.create", "account", "rows"]
    assert realtime.rebind_account_channels(["account.u1", "account.u1.delete"], "u1", "u2") == \
        ["account.u2", "account.u2.delete"]


def test_php_query_parsing() -> None:
    """What Swoole's ``$request->get`` holds (PHP's rules): ``[]`` appends, ``[k]`` nests, ``.`` becomes ``_``."""
    assert realtime.php_query("project=p&channels[]=rows&channels[]=a.b&a.b[0][]=q1&a.b[0][]=q2&a.b[1][]=q3") == {
        "project": "p", "channels": ["rows", "a.b"], "a_b": [["q1", "q2"], ["q3"]]}
