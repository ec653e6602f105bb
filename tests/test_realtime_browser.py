"""Both sides over Appwrite Realtime, in Chromium (docs/visitor-side.md, "Live"; docs/admin-tools.md, "Live").

On the local stack with its real socket: the visitor's widget and the agent's console talk live (the console's
timer set to an hour and the widget's checks counted, so only the socket can explain what they see); a socket
that drops mid-chat (the checks take over, the reconnect catches up with one check); a guest who cannot sign in
(no socket: the checks alone). With a simulated clock and a socket played by the test: what a typical chat costs.
"""

from __future__ import annotations

import json

import pytest
import test_widget_browser
from stack_support import Party
from test_console_browser import open_console
from test_widget_browser import (
    SETTLE,
    WAIT_MS,
    FakeChat,
    Simulation,
    Widget,
    refuse_anonymous_sessions,
    site,
    stored,
    watch,
)

pytestmark = pytest.mark.browser
stack, browser = test_widget_browser.stack, test_widget_browser.browser  # its fixtures: one stack, one Chromium

LIVE_MS = 5_000  # a pushed reply shows within milliseconds; checks could not explain it within this (the first is
                 # 60 s away while waiting, 300 s otherwise: web/widget/live.js)


def checks(stack, session_id: str) -> int:
    """The widget's checks of a session so far (GET touch-session /messages)."""
    return sum(1 for e in stack.runtime.list_executions("touch-session")
               if e["requestMethod"] == "GET" and session_id in e["requestPath"])


def test_both_sides_talk_live(stack, browser):
    visitor_page = browser.new_context().new_page()
    problems = watch(visitor_page)
    sockets = []
    visitor_page.on("websocket", lambda ws: sockets.append(ws))
    visitor_page.goto(f"{site(stack)}/demo/")
    widget = Widget(visitor_page).open()
    widget.say("What are your opening hours?")
    widget.reply("bot", "Monday to Friday").wait_for(timeout=LIVE_MS)
    session_id = stored(visitor_page)["session"]["id"]
    assert len(sockets) == 1 and "/v1/realtime?project=" in sockets[0].url

    agent_page = browser.new_context().new_page()
    open_console(agent_page, stack, "agent-alice", 3600)  # its timer: once an hour; what it shows came live
    agent_page.locator("#refresh-status", has_text="live").wait_for(timeout=WAIT_MS)
    widget.say("Can I talk to a human, please?")
    widget.status.filter(has_text="Waiting for an agent").wait_for(timeout=LIVE_MS)
    queued = agent_page.locator(f"#queue li[data-session='{session_id}']")
    # The new waiter, pushed: the console refreshes on the signal, at most once in its refresh period (5 s here; its
    # timer, an hour, and the safety net, an hour too with ?refresh=, explain nothing).
    queued.wait_for(timeout=LIVE_MS + 5_000)
    queued.locator("button[data-action=claim]").click()
    widget.note("Alice (agent) joined the chat.").wait_for(timeout=LIVE_MS)  # named (issue 22)
    agent_page.locator("#reply-text").fill("Hi, I'm Alice. How can I help?")
    agent_page.locator("#reply button[type=submit]").click()
    widget.reply("agent", "I'm Alice").wait_for(timeout=LIVE_MS)
    widget.status.filter(has_text="chatting with Alice (agent)").wait_for(timeout=LIVE_MS)  # named (issue 22)
    widget.say("My tent pole snapped.")
    agent_page.locator("#messages .msg.user", has_text="tent pole").wait_for(timeout=LIVE_MS)
    agent_page.locator("#close-session, button[data-action=close]").first.wait_for(timeout=LIVE_MS)
    # Everything the visitor saw came over the socket: the checks are at most one, for the place in the queue if the
    # signal of the wait came before the answer that carries it.
    assert checks(stack, session_id) <= 1
    # The bot's answer came twice, in the answer to the message and as its row over the socket: shown once.
    assert widget.log.locator("li.msg.bot", has_text="Monday to Friday").count() == 1
    widget.choose("End chat")
    widget.note("You ended the chat.")
    assert not problems, problems
    visitor_page.context.close()
    agent_page.context.close()


def test_a_socket_that_drops_mid_chat(stack, browser):
    """The socket ends (a proxy restarts, the laptop sleeps): the widget checks again at once, shows the agent's
    reply sent meanwhile, reconnects and catches up with one check; then it is live again."""
    page = browser.new_context().new_page()
    routes = []

    def proxy(ws):
        routes.append(ws)
        ws.connect_to_server()

    page.route_web_socket("**/v1/realtime**", proxy)
    page.goto(f"{site(stack)}/demo/")
    widget = Widget(page).open()
    widget.say("I want to talk to a person")
    widget.status.filter(has_text="Waiting for an agent").wait_for(timeout=LIVE_MS)
    session_id = stored(page)["session"]["id"]
    from stack_support import Party
    alice = Party(stack, signed_in="agent-alice")
    assert alice.run("assign-agent", {"sessionId": session_id}, path="/claim")[0] == 200
    widget.note("Alice (agent) joined the chat.").wait_for(timeout=LIVE_MS)  # named (issue 22)
    before = checks(stack, session_id)

    page.route_web_socket("**/v1/realtime**", lambda ws: ws.close())  # down, and refused for a while
    routes[-1].close(code=1001)
    assert alice.run("touch-session", {"sessionId": session_id, "message": {
        "role": "agent", "text": "Sent while your socket was down."}})[0] == 200
    widget.reply("agent", "while your socket was down").wait_for(timeout=WAIT_MS)  # a check found it
    assert checks(stack, session_id) > before

    page.route_web_socket("**/v1/realtime**", proxy)  # the socket comes back
    page.wait_for_timeout(12_000)  # the reconnects: 1, 2, 5 s
    assert len(routes) >= 2
    settled = checks(stack, session_id)
    assert alice.run("touch-session", {"sessionId": session_id, "message": {
        "role": "agent", "text": "And this one came live."}})[0] == 200
    widget.reply("agent", "came live").wait_for(timeout=LIVE_MS)
    assert checks(stack, session_id) - settled <= 1  # live again: at most the checks' last quick step
    page.context.close()


def test_a_guest_falls_back_to_polling(stack, browser):
    """Anonymous sessions off (or Appwrite's 50 an hour per IP used up): the visitor is a guest, whose session's
    signal only staff may read. The widget opens no socket, checks as before, and shows the same replies."""
    page = browser.new_context().new_page()
    sockets = []
    page.on("websocket", lambda ws: sockets.append(ws))
    refuse_anonymous_sessions(page)
    page.goto(f"{site(stack)}/demo/")
    widget = Widget(page).open()
    widget.say("What are your opening hours?")
    widget.reply("bot", "Monday to Friday")  # in the answer to the message itself (the FAQ bot answers inline)
    session_id = stored(page)["session"]["id"]
    assert stack.engine.get_row("chat", "sessions", session_id)["ownerId"] is None
    # What only a check can bring: an agent's message.
    alice = Party(stack, signed_in="agent-alice")
    assert alice.run("escalate", {"sessionId": session_id})[0] == 200
    assert alice.run("assign-agent", {"sessionId": session_id}, path="/claim")[0] == 200
    assert alice.run("touch-session", {"sessionId": session_id, "message": {"role": "agent",
                                                                            "text": "Alice here, hello."}})[0] == 200
    widget.reply("agent", "Alice here").wait_for(timeout=WAIT_MS)
    assert checks(stack, session_id) >= 1 and sockets == []
    page.context.close()


# --- the cost, with a simulated clock and a socket played by the test -----------------------------------------

# A WebSocket the test plays as Appwrite's Realtime: `connected`, then it answers `authentication` and
# `subscribe`, and delivers what the test pushes (window.__rt.push) to the subscribed sockets. MessageChannel is not
# part of the fake clock: the socket's answers come at once, whatever the page's time.
FAKE_SOCKET = """
window.__rt = { sockets: [], sent: [] };
window.WebSocket = class FakeSocket {
  constructor(url) {
    this.url = url; this.readyState = 0; this.subscribed = false;
    window.__rt.sockets.push(this);
    this._later(() => { this.readyState = 1;
      this._emit({ type: "connected", data: { channels: [], subscriptions: {}, user: null } }); });
  }
  _later(fn) { window.__inflight++; const ch = new MessageChannel();
    ch.port1.onmessage = () => { window.__inflight--; fn(); }; ch.port2.postMessage(0); }
  _emit(m) { if (this.readyState === 1 && this.onmessage) this.onmessage({ data: JSON.stringify(m) }); }
  send(text) {
    const m = JSON.parse(text); window.__rt.sent.push(m);
    if (m.type === "authentication") this._later(() => this._emit({ type: "response",
      data: { to: "authentication", success: true, user: null } }));
    if (m.type === "subscribe") this._later(() => { this.subscribed = true;
      this._emit({ type: "response", data: { to: "subscribe", success: true, subscriptions: m.data } }); });
  }
  close() { if (this.readyState === 3) return; this.readyState = 3;
    this._later(() => this.onclose && this.onclose({ code: 1000 })); }
};
window.__rt.push = ([payload, channels]) => { for (const s of window.__rt.sockets)
  if (s.readyState === 1 && s.subscribed) s._later(() => s._emit({ type: "event", data: { channels, payload } })); };
"""


MESSAGES = "tablesdb.chat.tables.messages.rows"
SIGNALS = "tablesdb.chat.tables.signals.rows"


class LiveChat(FakeChat):
    """FakeChat whose every stored message is also sent as its row (Realtime, row security on messages), and whose
    every change of state makes a signal row, as the functions write them (domain/signals.py)."""

    def __init__(self) -> None:
        super().__init__()
        self.pending: list[tuple[dict, list[str]]] = []

    def signal(self) -> None:
        s = self.session()
        self.pending.append(({"sessionId": "s_fake", "status": s["status"], "botShouldReply": s["botShouldReply"],
                              "needsHuman": s["needsHuman"], "assignedAgent": None, "escalatedAt": None,
                              "closedAt": None, "at": "2026-01-01T00:00:00.000+00:00"},
                             ["rows", SIGNALS, f"{SIGNALS}.s_fake"]))

    def add(self, role: str, text: str, client_id: str | None = None) -> dict:
        message = super().add(role, text, client_id)
        row = {"$id": message["messageId"], "$createdAt": message["createdAt"], "$tableId": "messages",
               "sessionId": "s_fake", "role": role, "text": text, "handoff": message["handoff"], "authorId": None,
               "clientMessageId": client_id, "admission": "0123456789"}
        self.pending.append((row, ["rows", MESSAGES, f"{MESSAGES}.{row['$id']}"]))
        return message

    def answer(self, function_id: str, method: str, path: str, body: dict) -> tuple[int, dict]:
        before = (self.status, self.needs_human)
        answered = super().answer(function_id, method, path, body)
        if (self.status, self.needs_human) != before:
            self.signal()
        return answered


class LiveSimulation(Simulation):
    def __init__(self, stack, browser) -> None:
        super().__init__(stack, browser, socket=FAKE_SOCKET)
        self.fake.__class__ = LiveChat
        self.fake.pending = []

    def settle(self) -> None:
        self.page.evaluate(SETTLE)
        while self.fake.pending:
            pushed, self.fake.pending = self.fake.pending, []
            for payload in pushed:
                self.page.evaluate("p => window.__rt.push(p)", payload)
            self.page.evaluate(SETTLE)


def test_what_a_typical_chat_costs_over_realtime(stack, browser):
    """The scenario of test_widget_browser.py::test_what_a_typical_chat_costs_in_widget_executions (two questions
    to the bot, a request for a person, 90 s of waiting, an agent who writes twice, one more message, End chat),
    with the socket live: the visitor's own actions, and one check while waiting (the queue's place)."""
    sim = LiveSimulation(stack, browser)
    sim.widget.open()
    sim.say("Do you ship to Norway?")
    sim.widget.reply("bot", "you said: Do you ship")
    sim.advance(20)
    sim.say("And how long does it take?")
    sim.advance(40)
    # As the functions answer a waiting visitor (docs/assignment.md): the place in the queue.
    sim.fake.queue = {"position": 0, "waiting": 1, "availableAgents": 1, "expectedWaitSeconds": 60}
    sim.page.get_by_role("button", name="Talk to a person").click()
    sim.settle()
    sim.fake.bot = False
    sim.advance(90)
    sim.fake.status, sim.fake.needs_human = "agent_assigned", False
    sim.fake.signal()  # the claim's signal row
    sim.fake.add("agent", "Hi, Alice here. Yes, we ship to Norway in 3-5 days.")
    sim.settle()
    sim.widget.reply("agent", "Alice here")  # shown in the same simulated second: pushed
    sim.advance(30)
    sim.say("Great, thanks! Is there a customs fee?")
    sim.advance(20)
    sim.fake.add("agent", "No, all fees are included.")
    sim.settle()
    sim.widget.reply("agent", "all fees are included")
    sim.advance(30)
    sim.widget.choose("End chat")
    sim.settle()
    sim.advance(60)
    kinds: dict[str, int] = {}
    for _, function_id, method, _, body in sim.fake.calls:
        kind = "check" if method == "GET" else "message" if "message" in body else function_id
        kinds[kind] = kinds.get(kind, 0) + 1
    assert sim.fake.now == 290
    assert kinds == {"create-session": 1, "message": 3, "escalate": 1, "close-session": 1, "check": 1}, \
        [(t, f, m) for t, f, m, _, _ in sim.fake.calls]
    sent = sim.page.evaluate("window.__rt.sent.map(m => m.type)")
    # Authenticated and subscribed once; the queue's row watched while waiting; pings: far below 32 a minute.
    assert sent[:2] == ["authentication", "subscribe"] and set(sent[2:]) <= {"ping", "subscribe", "unsubscribe"}
    assert (sent.count("subscribe"), sent.count("unsubscribe")) == (2, 1)
    sim.close()


def test_a_missed_message_row_is_fetched_by_the_next_check(stack, browser):
    """Each message is its own row event, so two messages close together are two events (no signal row to be
    overwritten between them). One that never arrives (Realtime delivers at most once) is found by the next check,
    which reads from the last one's cursor: the safety net, 300 s on, one check."""
    sim = LiveSimulation(stack, browser)
    sim.widget.open()
    sim.say("Hello")
    sim.advance(5)
    checks = len(sim.fake.polls())
    sim.fake.add("bot", "first of two")
    sim.fake.pending.clear()  # its row never arrives
    sim.fake.add("bot", "second of two")
    sim.settle()
    sim.widget.reply("bot", "second of two")  # live: no check
    assert len(sim.fake.polls()) == checks
    sim.advance(300)
    sim.widget.reply("bot", "first of two")
    assert len(sim.fake.polls()) == checks + 1
    sim.close()


ASKED, ASKED_MS = "2026-01-01T00:00:05.000+00:00", 1767225605000


def waiting_since_five(stack, browser) -> tuple[LiveSimulation, int]:
    """A widget, no bot, whose session says it waits since 00:00:05 once it needs a person (and the key in ms)."""
    sim = LiveSimulation(stack, browser)
    sim.widget.open()
    sim.fake.bot = False
    session = sim.fake.session
    sim.fake.session = lambda: {**session(), "escalatedAt": ASKED if sim.fake.needs_human else None}
    return sim, ASKED_MS


def test_when_the_queue_moves_a_waiting_visitor_counts_its_new_place_from_the_row(stack, browser):
    """Someone ahead is served: the queue's row (readable by any signed-in visitor) arrives with the queue's line,
    and the widget counts its new place from it, with no check (docs/assignment.md). A row without a line (written
    before this version) sets off one check instead."""
    sim, asked_ms = waiting_since_five(stack, browser)
    sim.fake.queue = {"position": 1, "waiting": 2, "availableAgents": 1, "expectedWaitSeconds": 120}
    sim.say("Hello")
    sim.page.get_by_role("button", name="Talk to a person").click()
    sim.settle()
    sim.widget.status.filter(has_text="1 person ahead of you").wait_for()
    sent = sim.page.evaluate("window.__rt.sent.filter(m => m.type === 'subscribe').map(m => m.data)")
    assert sent[-1] == [{"subscriptionId": "queue", "channels": ["tablesdb.chat.tables.signals.rows.queue"]}]
    checks = len(sim.fake.polls())
    line = {"waiting": 1, "from": asked_ms, "at": [0], "guests": []}  # the one ahead was served: only this visitor
    sim.fake.pending.append(({"sessionId": "queue", "at": "2026-01-01T00:00:09.000+00:00", "line": json.dumps(line)},
                             ["rows", SIGNALS, f"{SIGNALS}.queue"]))
    sim.settle()
    sim.advance(1)
    sim.widget.status.filter(has_text="You're next").wait_for()
    assert "about 1 min" in sim.widget.status.inner_text()  # the expected wait followed: 120 s for 2, 60 for 1
    assert len(sim.fake.polls()) == checks  # counted from the row: no execution
    sim.fake.queue = {"position": 0, "waiting": 3, "availableAgents": 1, "expectedWaitSeconds": 60}
    sim.fake.pending.append(({"sessionId": "queue", "at": "2026-01-01T00:00:10.000+00:00"},  # no line: ask
                             ["rows", SIGNALS, f"{SIGNALS}.queue"]))
    sim.settle()
    sim.advance(1)
    assert len(sim.fake.polls()) == checks + 1
    sim.close()


def test_a_queue_row_older_than_the_place_shown_does_not_move_it_back(stack, browser):
    """The queue's row is written best effort: when a move's write fails, the row keeps an older line while a check
    has already told the place after the move. A row read before those figures (two rows landing out of order, the
    older last) never moves the visitor back; a row read after them moves them as before (docs/assignment.md)."""
    sim, asked_ms = waiting_since_five(stack, browser)
    # Three waited at 00:00:09 (two ahead); one was served at 00:00:15, but that row write failed; the check at
    # 00:00:20 counted the place after it: one ahead.
    sim.fake.queue = {"position": 1, "waiting": 2, "availableAgents": 1, "expectedWaitSeconds": 120,
                      "asOf": "2026-01-01T00:00:20.000+00:00"}
    sim.say("Hello")
    sim.page.get_by_role("button", name="Talk to a person").click()
    sim.settle()
    sim.widget.status.filter(has_text="1 person ahead of you").wait_for()
    checks = len(sim.fake.polls())

    def row(at: str, line: dict) -> None:
        sim.fake.pending.append(({"sessionId": "queue", "at": at, "line": json.dumps(line)},
                                 ["rows", SIGNALS, f"{SIGNALS}.queue"]))
        sim.settle()
        sim.advance(1)
    row("2026-01-01T00:00:09.000+00:00", {"waiting": 3, "from": asked_ms - 4000, "at": [0, 2000, 4000], "guests": []})
    assert "1 person ahead of you" in sim.widget.status.inner_text()  # the older row: ignored, and no check for it
    assert len(sim.fake.polls()) == checks
    # The other one ahead is served at 00:00:30: the row read then moves the place, with no check.
    row("2026-01-01T00:00:30.000+00:00", {"waiting": 1, "from": asked_ms, "at": [0], "guests": []})
    sim.widget.status.filter(has_text="You're next").wait_for()
    assert len(sim.fake.polls()) == checks
    sim.close()
