"""Auto-assignment seen from both sides, in headless Chromium against the local stack: an available agent receives
waiting visitors in the console without clicking anything, a waiting visitor in the widget sees their place in the
queue drop to 0 and then an agent join, and the agent's load never exceeds their capacity (every write of their
slots row is watched, and the console's own load display too); an admin's console shows the team. Screenshots go to
.local/assignment/."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from stack_support import Party, function_variables, visitor_jwt
from test_console_browser import open_console, row
from test_widget_browser import Widget, browser, site, stored, watch  # noqa: F401  (browser: the fixture)

from devstack.server import Stack

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / os.environ.get("ASSIGNMENT_SCREENSHOTS", ".local/assignment")
ADMIN_SECRET, BOT_SECRET = "assign-browser-admin-secret", "assign-browser-bot-secret"
WAIT_MS = 40_000  # the widget's checks slow down to 10-13 s apart


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    env = {"ADMIN_SECRET": ADMIN_SECRET, "BOT_SECRET": BOT_SECRET, "AUTO_ASSIGN": "on"}
    with function_variables(env), \
            Stack(ROOT, data_dir=tmp_path_factory.mktemp("assign-browser"), port=0, run_scheduler=False) as running:
        yield running


def is_check(url: str) -> bool:
    """The widget's touch-session executions (its checks and heartbeats)."""
    return "/functions/touch-session/executions" in url


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def waiting_visitor(stack: Stack, name: str) -> str:
    """A visitor (another browser, through the API) asks for a person, signed in anonymously as the widget signs
    its visitors in: signed-in visitors wait in the order they asked (guests come after them)."""
    visitor = Party(stack, key=False, headers={"X-Chat-JWT": visitor_jwt(stack)})
    status, created = visitor.run("create-session", {"userMeta": {"name": name}})
    assert status == 201
    status, answer = visitor.run("escalate", {"sessionId": created["sessionId"], "reason": f"{name} needs help"},
                                 headers={"x-session-token": created["token"]})
    assert status == 200, answer
    return created["sessionId"]


def test_an_available_agent_receives_waiting_visitors_and_the_visitor_sees_the_queue_move(stack, browser):  # noqa: F811
    loads: list[int] = []  # every value alice's slots row took
    stack.engine.subscribe(lambda e: loads.append(e["row"]["load"]) if e["tableId"] == "agents"
                           and e["row"]["agentId"] == "agent-alice" and e["row"]["$id"].startswith("a_") else None)
    admin = Party(stack, headers={"x-chat-secret": ADMIN_SECRET})
    assert admin.run("assign-agent", {"agentId": "agent-alice", "capacity": 1}, path="/capacity")[0] == 200

    # Alice opens the console and says she is available.
    console = browser.new_context(viewport={"width": 1280, "height": 860}).new_page()
    console_problems: list[str] = []  # script errors (a signed-out page's GET /account answers 401 by design)
    console.on("pageerror", lambda exc: console_problems.append(str(exc)))
    open_console(console, stack, "agent-alice", 1)
    console.locator("#presence").wait_for(timeout=WAIT_MS)
    console.locator("#availability").select_option("available")
    console.locator("#availability-dot.available").wait_for(timeout=WAIT_MS)
    console.locator("#load", has_text="load 0 / 1").wait_for(timeout=WAIT_MS)

    # 1. A visitor asks for a person: they arrive in My sessions on their own, with a notice. No click.
    first = waiting_visitor(stack, "Wanda")
    row(console, "mine", first).wait_for(timeout=WAIT_MS)
    assert "new" in row(console, "mine", first).locator(".badge.new").inner_text()
    console.locator("#notice-text", has_text="Wanda").wait_for(timeout=WAIT_MS)
    assert "was assigned to you" in console.locator("#notice-text").inner_text()
    console.locator("#load.full", has_text="load 1 / 1").wait_for(timeout=WAIT_MS)
    shot(console, "1-console-a-visitor-arrives")

    # 2. Alice is full: the next visitor waits, and so does the one in the widget, second in line.
    second = waiting_visitor(stack, "Xavier")
    visitor = browser.new_context(viewport={"width": 1280, "height": 760}).new_page()
    visitor_problems = watch(visitor)
    visitor.goto(f"{site(stack)}/demo/")
    widget = Widget(visitor).open()
    widget.say("Can I talk to a human, please?")
    widget.status.filter(has_text="1 person ahead of you").wait_for(timeout=WAIT_MS)
    assert "Expected wait" in widget.status.inner_text()  # alice is available: there is an estimate
    mine = stored(visitor)["session"]["id"]
    row(console, "queue", second).wait_for(timeout=WAIT_MS)
    row(console, "queue", mine).wait_for(timeout=WAIT_MS)
    shot(visitor, "2-widget-one-person-ahead")

    # 3. Alice ends her first chat: her freed slot takes the longest waiting, and the widget's visitor is next.
    checks: list = []  # the widget's checks from here on, held (answered after the place moved)
    visitor.route(is_check, lambda route: checks.append(route))
    row(console, "mine", first).locator("button[data-action=close]").click()
    console.locator("#confirm-ok").click()
    row(console, "mine", second).wait_for(timeout=WAIT_MS)
    # The write that gave Xavier to Alice moved the queue: its row carries the queue's line, and the widget counts
    # its visitor's place from it when it arrives over Realtime (docs/assignment.md). No minute's pass (the stack's
    # scheduler is off), and no check: the widget's touch-session calls are held until it shows the new place.
    widget.status.filter(has_text="You're next").wait_for(timeout=WAIT_MS)
    shot(visitor, "3-widget-next")
    visitor.unroute(is_check)
    for held in checks:
        held.continue_()

    # 4. And again: now the widget's visitor gets Alice, without anyone claiming anything.
    row(console, "mine", second).locator("button[data-action=close]").click()
    console.locator("#confirm-ok").click()
    row(console, "mine", mine).wait_for(timeout=WAIT_MS)
    widget.note("Alice (agent) joined the chat.")  # by the agent's name (the Appwrite user's)
    widget.status.filter(has_text="chatting with Alice (agent)").wait_for(timeout=WAIT_MS)
    console.locator("#load", has_text="load 1 / 1").wait_for(timeout=WAIT_MS)
    shot(console, "4-console-the-widget-visitor-arrives")
    shot(visitor, "4-widget-an-agent-joined")

    # An admin's console shows the team: who is available, and their load against capacity.
    admin_page = browser.new_context(viewport={"width": 1280, "height": 860}).new_page()
    open_console(admin_page, stack, "admin-ada", 1)
    alice = admin_page.locator("#team li[data-agent='agent-alice']")
    alice.wait_for(timeout=WAIT_MS)
    assert "available" in alice.inner_text() and "load 1 / 1" in alice.locator("[data-role=load]").inner_text()
    shot(admin_page, "5-console-the-team")
    admin_page.context.close()

    session = stack.engine.get_row("chat", "sessions", mine)
    assert (session["assignedAgent"], session["assignedBy"]) == ("agent-alice", "auto")
    assert loads and max(loads) <= 1, loads  # never above her capacity, at any write
    assert not console_problems and not visitor_problems, (console_problems, visitor_problems)
    console.context.close()
    visitor.context.close()
