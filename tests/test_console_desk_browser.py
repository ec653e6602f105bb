"""Issue 22, items 5 and 7, in headless Chromium against the local stack, at desktop and phone widths: an agent who
signs in is Offline (the default) and a banner says so while a visitor waits; "Go available" ends it (and the
visitor is assigned); the choice survives signing out and in; a queue row names the visitor (the page and a short
number when the site passed no name) with their first words; messages are labelled Visitor, Bot and the agent's
name. Screenshots go to .local/desk/ (DESK_SCREENSHOTS=docs writes the docs' console-desk*.png)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from stack_support import OWN_BOT, disable_functions, function_variables
from test_console_browser import call, console_page, functions, open_console, row
from test_widget_browser import browser  # noqa: F401  (the Chromium fixture)

from devstack.server import Stack

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / os.environ.get("DESK_SCREENSHOTS", ".local/desk")
WAIT_MS = 20_000
WIDTHS = {"desktop": (1280, 800), "phone": (390, 844)}


@pytest.fixture
def stack(tmp_path):
    with function_variables(OWN_BOT), Stack(ROOT, data_dir=tmp_path, port=0, run_scheduler=False) as running:
        disable_functions(running, "bot")  # the labels below are the visitor's and the agent's; the bot plays itself
        yield running


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def nameless_waiting_visitor(stack) -> str:
    """A visitor on /pricing the site did not name writes, then asks for a person (the messages event escalates)."""
    fn = functions(stack)
    created = call(fn, "create-session", {"userMeta": {"page": "/pricing", "language": "en"}})
    sid, token = created["sessionId"], created["token"]
    for text in ("My parcel never came, order 1042", "I want to talk to a person"):
        call(fn, "touch-session", {"sessionId": sid, "message": {"text": text}}, headers={"x-session-token": token})
    assert stack.wait_idle(10)
    return sid


@pytest.mark.parametrize("width", WIDTHS)
def test_offline_banner_names_and_first_words(stack, browser, width):  # noqa: F811
    sid = nameless_waiting_visitor(stack)
    number = str(int(sid[2:6], 16))
    page, errors = console_page(browser, stack, "agent-alice", 1, WIDTHS[width])

    # Offline by default, and told so while the visitor waits.
    banner = page.locator("#offline-banner")
    banner.wait_for(timeout=WAIT_MS)
    assert page.locator("#availability").input_value() == "offline"
    assert banner.inner_text().startswith("1 visitor is waiting and you are Offline")
    queued = row(page, "queue", sid)
    assert queued.locator(".name").inner_text() == f"Visitor {number} on /pricing"
    assert queued.locator(".first").inner_text() == "\u201cMy parcel never came, order 1042\u201d"
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTHS[width][0]  # no sideways scrolling
    shot(page, "console-desk" + ("-phone" if width == "phone" else ""))

    # "Go available": the banner goes, and the waiting visitor is assigned to her.
    page.locator("#go-available").click()
    page.locator("#availability-dot.available").wait_for(timeout=WAIT_MS)
    banner.wait_for(state="hidden", timeout=WAIT_MS)
    row(page, "mine", sid).wait_for(timeout=WAIT_MS)

    # The messages by who wrote them.
    row(page, "mine", sid).click()
    page.locator("#reply-text").fill("Hi, I'm Alice. Let me look at order 1042.")
    page.locator("#reply button[type=submit]").click()
    page.locator("#messages .msg.agent .role").first.wait_for(timeout=WAIT_MS)
    roles = page.locator("#messages .msg .role").all_inner_texts()
    assert roles == ["Visitor", "Visitor", "Alice (agent)"], roles  # (no BOT_SECRET: "Bot" is unit-tested)
    assert page.locator("#detail-name").inner_text() == f"with Visitor {number} on /pricing"
    shot(page, "console-desk-messages" + ("-phone" if width == "phone" else ""))

    # Signing out sets her offline; signing in again restores her choice.
    page.goto(page.url)
    page.locator("#sign-out").click()
    page.locator("#email").wait_for(timeout=WAIT_MS)
    open_console(page, stack, "agent-alice", 1)
    page.locator("#availability-dot.available").wait_for(timeout=WAIT_MS)
    assert page.locator("#availability").input_value() == "available"
    assert not errors, errors


def closed_rated_chat(stack, name: str, score: int) -> str:
    fn, alice = functions(stack), functions(stack, "agent-alice")
    created = call(fn, "create-session", {"userMeta": {"name": name, "page": "/orders"}})
    sid, token = created["sessionId"], created["token"]
    visitor = {"x-session-token": token}
    call(fn, "touch-session", {"sessionId": sid, "message": {"text": f"{name}: my tent never came"}}, headers=visitor)
    call(fn, "escalate", {"sessionId": sid}, headers=visitor)
    call(alice, "assign-agent", {"sessionId": sid}, path="/claim")
    call(alice, "touch-session", {"sessionId": sid, "message": {"role": "agent", "text": "It ships today."}})
    call(fn, "close-session", {"sessionId": sid, "rating": {"score": score, "comment": f"{score} stars"}},
         headers=visitor)
    assert stack.wait_idle(10)
    return sid


@pytest.mark.parametrize("width", WIDTHS)
def test_the_history_finds_a_closed_chat_and_opens_it(stack, browser, width):  # noqa: F811
    good, bad = closed_rated_chat(stack, "Greta", 5), closed_rated_chat(stack, "Boris", 2)
    page, errors = console_page(browser, stack, "agent-alice", 5, WIDTHS[width])
    page.locator("#history-agent").fill("agent-alice")
    page.locator("#history-form button[type=submit]").click()
    row(page, "history", good).wait_for(timeout=WAIT_MS)
    row(page, "history", bad).wait_for(timeout=WAIT_MS)
    page.locator("#history-rating").select_option("1,2")  # the unhappy ones
    page.locator("#history-form button[type=submit]").click()
    row(page, "history", good).wait_for(state="detached", timeout=WAIT_MS)
    assert row(page, "history", bad).locator(".badge.rating").inner_text() == "\u2605 2/5"
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTHS[width][0]
    shot(page, "console-history" + ("-phone" if width == "phone" else ""))
    row(page, "history", bad).click()
    page.locator("#detail-body .timeline li[data-action=rate]").wait_for(timeout=WAIT_MS)
    assert "2 / 5" in page.locator("#detail-body").inner_text()
    assert page.locator("#messages .msg .role").all_inner_texts() == ["Visitor", "Alice (agent)"]
    assert page.locator("#detail-name").inner_text() == "with Boris"
    shot(page, "console-history-open" + ("-phone" if width == "phone" else ""))
    assert not errors, errors


@pytest.mark.parametrize("size", [(1280, 720), (1280, 600), (360, 640)])
def test_the_shortcuts_dialog_shows_all_its_text(stack, browser, size):  # noqa: F811
    page = browser.new_context(viewport={"width": size[0], "height": size[1]}).new_page()
    open_console(page, stack, "agent-alice", 5)
    page.keyboard.press("?")
    dialog = page.locator("#help")
    dialog.wait_for(timeout=WAIT_MS)
    box = dialog.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= size[0]
    assert box["y"] >= 0 and box["y"] + box["height"] <= size[1]
    # Nothing cut: no cell or the dialog is wider than shown; what does not fit the height scrolls inside the dialog.
    cut = page.evaluate("""[...document.querySelectorAll('#help td, #help')]
                             .filter((e) => e.scrollWidth > e.clientWidth + 1)
                             .map((e) => [e.tagName, e.scrollWidth, e.clientWidth])""")
    assert cut == [], cut
    shot(page, f"help-{size[0]}x{size[1]}")
    page.locator("#help-close").scroll_into_view_if_needed()
    page.locator("#help-close").click()
    dialog.wait_for(state="hidden", timeout=WAIT_MS)


@pytest.mark.parametrize("width", WIDTHS)
def test_other_agents_show_by_name(stack, browser, width):  # noqa: F811
    """Item 7: an admin sees Bob's session, his message, his claim in the timeline and his Team row under his name
    (the Appwrite user's, `Bob (agent)` on the local stack), not as `agent-bob`."""
    fn, bob = functions(stack), functions(stack, "agent-bob")
    created = call(fn, "create-session", {"userMeta": {"name": "Nora", "page": "/orders"}})
    sid, visitor = created["sessionId"], {"x-session-token": created["token"]}
    call(fn, "touch-session", {"sessionId": sid, "message": {"text": "Where is my tent?"}}, headers=visitor)
    call(fn, "escalate", {"sessionId": sid}, headers=visitor)
    call(bob, "assign-agent", {"sessionId": sid}, path="/claim")  # (before going available: no auto-assignment)
    call(bob, "assign-agent", {"availability": "available"}, path="/availability")
    call(bob, "touch-session", {"sessionId": sid, "message": {"role": "agent", "text": "Bob here: it ships today."}})
    assert stack.wait_idle(10)
    page, errors = console_page(browser, stack, "admin-ada", 5, WIDTHS[width])
    listed = row(page, "active", sid)
    listed.wait_for(timeout=WAIT_MS)
    assert "With Bob (agent)" in listed.inner_text()
    assert "agent-bob" not in listed.inner_text()
    team = page.locator("#team li[data-agent=agent-bob] strong")
    team.wait_for(timeout=WAIT_MS)
    assert team.inner_text() == "Bob (agent)"
    listed.click()
    page.locator("#messages .msg.agent .role").first.wait_for(timeout=WAIT_MS)
    assert page.locator("#messages .msg .role").all_inner_texts() == ["Visitor", "Bob (agent)"]
    claim = page.locator("#detail-body .timeline li[data-action=claim]")
    claim.wait_for(timeout=WAIT_MS)
    assert claim.locator(".action").inner_text() == "Bob (agent) claimed"
    assert "Bob (agent)" in page.locator("#detail-body").inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTHS[width][0]
    shot(page, "console-desk-names" + ("-phone" if width == "phone" else ""))
    assert not errors, errors
