"""What a browser can receive over Realtime (docs/security.md, "Realtime: what a browser can receive"), on the local
stack with the real functions: each session's signal row and message rows reach its own visitor and the staff, and
nobody else; a signal holds nothing but what the visitor reads in the functions' answers, a message row nothing but
the message and its admission nonce; no other table sends anything to anyone. A plain message writes no signal.

The stack filters deliveries by the table's and the row's read permissions as Appwrite does
(tests/devstack/test_realtime.py cites app/realtime.php); what is tested here is what the functions write."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from chat_core.domain import queue as queue_line
from chat_core.domain import signals
from chat_core.domain.model import parse_time
from stack_support import BOT_SECRET, Party, function_variables
from websockets.sync.client import ClientConnection, connect

from devstack.server import Stack

ROOT = Path(__file__).resolve().parent.parent
TABLES = ("sessions", "messages", "counters", "agents", "jobs", "limits", "audit", "signals")
INTERNAL = ("tokenHash", "writeLog", "counted", "foldFrom", "foldBatch", "dirty", "transitions", "auditSeq",
            "auditPending", "rateWindowStart", "rateWindowCount", "admission", "ratingScore", "ratingComment",
            "userMeta", "theme", "lastSeen", "ownerId")
MESSAGE_COLUMNS = ("sessionId", "role", "text", "handoff", "authorId", "clientMessageId", "admission", "botDecided")
SIGNALS, MESSAGES = "tablesdb.chat.tables.signals.rows", "tablesdb.chat.tables.messages.rows"


OPEN: list[ClientConnection] = []


@pytest.fixture(autouse=True)
def _close_sockets():
    yield
    while OPEN:
        OPEN.pop().close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with function_variables({"BOT_SECRET": BOT_SECRET}), \
            Stack(ROOT, data_dir=tmp_path_factory.mktemp("signals"), port=0, run_scheduler=False) as running:
        yield running


def _post(stack: Stack, path: str, body: dict, headers: dict | None = None) -> tuple[dict, dict]:
    request = urllib.request.Request(f"{stack.endpoint}{path}", data=json.dumps(body).encode(), method="POST",
                                     headers={"content-type": "application/json",
                                              "x-appwrite-project": stack.project_id, **(headers or {})})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read()), {k.lower(): v for k, v in answer.headers.items()}


class Visitor:
    """What the widget does: an anonymous account (its secret for the socket, a JWT for create-session), a session,
    and a socket subscribed to every signal row (what it may read is what it receives)."""

    def __init__(self, stack: Stack, *, signed_in: bool = True, email: str = "") -> None:
        self.stack = stack
        self.secret = None
        headers = {}
        if signed_in or email:
            path, body = (("/account/sessions/email", {"email": email, "password": stack.dev_password}) if email
                          else ("/account/sessions/anonymous", {}))
            model, answer_headers = _post(stack, path, body)
            self.user_id = model["userId"]
            fallback = answer_headers["x-fallback-cookies"]
            self.secret = json.loads(fallback)[f"a_session_{stack.project_id}"]
            headers["X-Chat-JWT"] = _post(stack, "/account/jwts", {}, {"x-fallback-cookies": fallback})[0]["jwt"]
        self.party = Party(stack, key=False, headers=headers)
        self.session_id = self.token = None
        self.ws: ClientConnection | None = None

    def start(self) -> Visitor:
        status, answer = self.party.run("create-session", {})
        assert status == 201, answer
        self.session_id, self.token = answer["sessionId"], answer["token"]
        return self

    def say(self, text: str) -> dict:
        status, answer = self.party.run("touch-session", {"sessionId": self.session_id, "message": {"text": text}},
                                        headers={"X-Session-Token": self.token})
        assert status == 200, answer
        return answer

    def listen(self, *channels: str) -> Visitor:
        url = f"ws://127.0.0.1:{self.stack.port}/v1/realtime?project={self.stack.project_id}"
        self.ws = connect(url, open_timeout=10, close_timeout=5)
        OPEN.append(self.ws)
        assert _recv(self.ws)["type"] == "connected"
        if self.secret:
            answer = _send(self.ws, {"type": "authentication", "data": {"session": self.secret}})
            assert answer["data"]["success"] is True
        answer = _send(self.ws, {"type": "subscribe", "data": [{"channels": list(channels or (
            "tablesdb.chat.tables.signals.rows",))}]})
        assert answer["type"] == "response" and answer["data"]["success"] is True, answer
        return self

    def payloads(self, until_session: str) -> list[dict]:
        """Every payload received up to the first of `until_session`'s rows (a fence: the writes made before it and
        not received were not sent to this connection)."""
        got = []
        while True:
            event = _recv(self.ws)
            assert event["type"] == "event", event
            got.append(event["data"]["payload"])
            if event["data"]["payload"].get("sessionId") == until_session:
                return got


def _recv(ws: ClientConnection) -> dict[str, Any]:
    return json.loads(ws.recv(timeout=10))


def _send(ws: ClientConnection, message: dict) -> dict:
    ws.send(json.dumps(message))
    return _recv(ws)


def _only_public(payload: dict) -> None:
    """A signal row holds its allow-list (and the queue's `line`, empty on a session's row); a message row its
    message's columns (and the admission nonce, which docs/security.md explains); neither anything of the session's
    ledger, token, page or rating."""
    columns = set(payload) - {k for k in payload if k.startswith("$")}
    if payload["$tableId"] == "messages":
        assert columns == set(MESSAGE_COLUMNS)
    else:
        assert columns == {*signals.COLUMNS, "line"} and payload["line"] is None
    assert not columns & (set(INTERNAL) - {"admission"})


def test_a_visitor_receives_its_own_rows_and_no_one_elses(stack):
    every = [f"tablesdb.chat.tables.{t}.rows" for t in TABLES]
    alice, bob = Visitor(stack).start(), Visitor(stack).start()
    guest = Visitor(stack, signed_in=False).start()
    agent = Visitor(stack, email="agent-alice@example.test")
    alice.listen(*every), bob.listen(*every), agent.listen(*every)

    alice.say("Where is my order #1042?")
    guest.say("hello from a guest")
    bob.say("Bob here")  # the fence for everyone
    # Alice receives her message's row (and the bot's reply's, which may come first or between): nothing of Bob's,
    # of the guest's, or of any table but messages and signals.
    for payload in alice.payloads(until_session=alice.session_id):
        assert payload["sessionId"] == alice.session_id and payload["$permissions"] == [
            f'read("user:{alice.user_id}")', 'read("label:agent")', 'read("label:admin")']
        assert payload["$tableId"] in ("messages", "signals")
        _only_public(payload)
    seen_by_bob = bob.payloads(until_session=bob.session_id)
    assert {p["sessionId"] for p in seen_by_bob} == {bob.session_id}
    # The staff receive every session's rows, guests' included (a guest session's rows are theirs alone).
    staff = agent.payloads(until_session=bob.session_id)
    assert {alice.session_id, guest.session_id} <= {p["sessionId"] for p in staff}
    for payload in staff:
        _only_public(payload)
    assert next(p for p in staff if p["sessionId"] == guest.session_id)["$permissions"] == [
        'read("label:agent")', 'read("label:admin")']


def test_a_message_comes_as_its_row_and_the_signal_carries_the_state_a_write_made(stack):
    visitor = Visitor(stack).start().listen(SIGNALS, MESSAGES)
    said = visitor.say("I want to talk to a person")["message"]
    received = visitor.payloads(until_session=visitor.session_id)
    while not any(p["$tableId"] == "signals" for p in received):  # the row first, then the escalation's signal
        received += visitor.payloads(until_session=visitor.session_id)
    row = next(p for p in received if p["$tableId"] == "messages")
    assert (row["$id"], row["role"], row["text"]) == (said["messageId"], "user", said["text"])
    signal = next(p for p in received if p["$tableId"] == "signals")
    assert signal["needsHuman"] is True and signal["status"] == "active"
    # A heartbeat changes nothing a client shows: no signal (the next one received is the claim's).
    status, _ = visitor.party.run("touch-session", {"sessionId": visitor.session_id},
                                  headers={"X-Session-Token": visitor.token})
    assert status == 200
    agent = Party(stack, signed_in="agent-alice")
    assert agent.run("assign-agent", {"sessionId": visitor.session_id}, path="/claim")[0] == 200
    claimed = visitor.payloads(until_session=visitor.session_id)
    while claimed[-1].get("status") != "agent_assigned":  # the bot's hand-off reply may land in between
        claimed = visitor.payloads(until_session=visitor.session_id)
    assert claimed[-1]["assignedAgent"] == "agent-alice" and claimed[-1]["agentName"] is not None


def test_a_message_the_bot_answers_writes_no_signal(stack):
    """Issue 20: the visitor's message and the bot's answer reach the socket as their rows; the session's state
    did not change, so neither writes the signal row."""
    visitor = Visitor(stack).start().listen(MESSAGES)
    assert stack.wait_idle(20)
    writes: list[str] = []
    unsubscribe = stack.engine.subscribe(lambda event: writes.append(event["tableId"]))
    said = visitor.say("What are your opening hours?")["message"]
    assert stack.wait_idle(20)
    unsubscribe()
    received = visitor.payloads(until_session=visitor.session_id)
    while len(received) < 2:
        received += visitor.payloads(until_session=visitor.session_id)
    assert [(p["role"], p["$id"] == said["messageId"]) for p in received] == [("user", True), ("bot", False)]
    assert "Monday to Friday" in received[1]["text"]
    assert "signals" not in writes and writes.count("messages") == 2


def test_the_queue_row_tells_every_signed_in_visitor_that_the_queue_moved_and_nothing_else(stack):
    """A session entering or leaving the queue writes its own row and the queue's, in one request; the queue's row
    reaches any signed-in visitor (role `users`), and names no session, nobody: its line holds when each waiter
    started waiting and whether they are signed in, and how many wait (docs/security.md)."""
    watcher = Visitor(stack).start().listen(SIGNALS, MESSAGES)
    other = Visitor(stack).start()
    writes: list[str] = []
    unsubscribe = stack.engine.subscribe(lambda event: writes.append(event["tableId"]))
    status, _ = other.party.run("escalate", {"sessionId": other.session_id}, headers={"X-Session-Token": other.token})
    assert status == 200
    watcher.say("hello")  # the fence: a question the FAQ bot answers (one it could not would hand off: a wait)
    unsubscribe()
    received = watcher.payloads(until_session=watcher.session_id)
    (queue,) = [p for p in received if p["sessionId"] == signals.QUEUE]
    assert not [p for p in received if p["sessionId"] == other.session_id]  # the other visitor's own row: never
    assert queue["$permissions"] == ['read("users")']
    assert (queue["status"], queue["assignedAgent"], queue["escalatedAt"]) == (None, None, None)
    assert set(queue) - {k for k in queue if k.startswith("$")} - set(signals.COLUMNS) == {"line"}
    line = queue_line.decode(queue["line"])
    waited = stack.engine.get_row("chat", "sessions", other.session_id)["escalatedAt"]
    waiting = stack.engine.list_rows("chat", "sessions", [json.dumps({"method": "limit", "values": [5000]})])["rows"]
    assert line.entries[-1] == (queue_line.key_ms(parse_time(waited)), True)  # the latest to ask, signed in
    # `at`: when its line was read (by the escalation, before its write: after it started, as the wait did; the read
    # holds the wait it started): a widget holding figures counted later ignores the row (web/widget/queue.js).
    assert parse_time(waited) <= parse_time(queue["at"])
    assert line.waiting == len(line.entries) == sum(1 for r in waiting if r["needsHuman"])
    assert other.session_id not in queue["line"] and other.token not in queue["line"]
    assert writes.count("signals") == 2  # the escalation's two rows (one request); the fence, a message, none
