"""Issue 22, item 9, in headless Chromium against the local stack, at desktop and phone widths: an admin's saved
replies (list-sessions /replies) are offered in the reply box when the agent types `/` and a few letters; the
arrows choose, Enter inserts (it does not send `/re`), Esc leaves the picker and keeps the box; a click inserts too.
Screenshots go to .local/desk/ (DESK_SCREENSHOTS=docs writes docs/console-replies*.png)."""

from __future__ import annotations

import pytest
from test_console_browser import call, console_page, functions, row
from test_console_desk_browser import WAIT_MS, WIDTHS, browser, shot, stack  # noqa: F401  (fixtures)

pytestmark = pytest.mark.browser

REPLIES = {"refund": "Refunds reach your card within 3 to 5 working days.",
           "shipping-refund": "We refund the shipping too, of course.",
           "hello": "Hi! How can I help you today?"}


def alices_chat(stack) -> str:  # noqa: F811
    fn, alice = functions(stack), functions(stack, "agent-alice")
    created = call(fn, "create-session", {"userMeta": {"name": "Rosa", "page": "/orders"}})
    sid, visitor = created["sessionId"], {"x-session-token": created["token"]}
    call(fn, "touch-session", {"sessionId": sid, "message": {"text": "Can I get my money back?"}}, headers=visitor)
    call(fn, "escalate", {"sessionId": sid}, headers=visitor)
    call(alice, "assign-agent", {"sessionId": sid}, path="/claim")
    assert stack.wait_idle(10)
    return sid


@pytest.mark.parametrize("width", WIDTHS)
def test_saved_replies_are_picked_with_slash_and_the_keyboard(stack, browser, width):  # noqa: F811
    admin = functions(stack, "admin-ada")
    for shortcut, text in REPLIES.items():
        call(admin, "list-sessions", {"shortcut": shortcut, "text": text}, path="/replies")
    sid = alices_chat(stack)
    page, errors = console_page(browser, stack, "agent-alice", 5, WIDTHS[width])
    row(page, "mine", sid).click()
    box, picker = page.locator("#reply-text"), page.locator("#reply-picker")
    box.wait_for(timeout=WAIT_MS)

    # "/" offers every reply; "re" narrows to the shortcuts that hold it, those starting with it first.
    box.click()
    box.type("/")
    picker.locator("li[data-shortcut]").first.wait_for(timeout=WAIT_MS)
    assert picker.locator("li[data-shortcut]").count() == 3
    box.type("re")
    picker.locator("li[data-shortcut=hello]").wait_for(state="detached", timeout=WAIT_MS)
    assert picker.locator("li .shortcut").all_inner_texts() == ["/refund", "/shipping-refund"]
    assert picker.locator("li.active").get_attribute("data-shortcut") == "refund"
    assert box.get_attribute("aria-expanded") == "true"
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTHS[width][0]
    box.press("ArrowDown")
    assert picker.locator("li.active").get_attribute("data-shortcut") == "shipping-refund"
    box.press("ArrowUp")
    shot(page, "console-replies" + ("-phone" if width == "phone" else ""))

    # Enter inserts the reply (nothing is sent); the agent may edit it, and Enter then sends it.
    box.press("Enter")
    assert picker.is_hidden() and box.input_value() == REPLIES["refund"]
    assert page.locator("#messages .msg.agent").count() == 0
    box.press("End")
    box.type(" Anything else?")
    box.press("Enter")
    page.locator("#messages .msg.agent").first.wait_for(timeout=WAIT_MS)
    assert page.locator("#messages .msg.agent .text").inner_text() == REPLIES["refund"] + " Anything else?"

    # Esc leaves the picker, not the box; a click inserts too.
    box.type("/hel")
    picker.locator("li[data-shortcut=hello]").wait_for(timeout=WAIT_MS)
    box.press("Escape")
    assert picker.is_hidden() and box.input_value() == "/hel"
    assert page.evaluate("document.activeElement.id") == "reply-text"
    box.type("l")
    picker.locator("li[data-shortcut=hello]").click()
    assert box.input_value() == REPLIES["hello"]

    # A shortcut nobody saved says so.
    box.fill("")
    box.type("/zz")
    picker.locator("li.empty").wait_for(timeout=WAIT_MS)
    assert picker.locator("li.empty").inner_text() == "No saved reply matches /zz"
    assert not errors, errors
