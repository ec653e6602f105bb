"""Issue 22, item 6 (the rest), in headless Chromium at desktop and phone widths: the History found by the visitor's
name and by words of the chat (list-sessions `q`), then opened. Screenshots go to .local/desk/
(DESK_SCREENSHOTS=docs writes docs/console-history-search*.png)."""

from __future__ import annotations

import pytest
from test_console_browser import console_page, row
from test_console_desk_browser import (  # noqa: F401  (fixtures)
    WAIT_MS,
    WIDTHS,
    browser,
    closed_rated_chat,
    shot,
    stack,
)

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("width", WIDTHS)
def test_the_history_finds_a_chat_by_visitor_and_by_words(stack, browser, width):  # noqa: F811
    greta, boris = closed_rated_chat(stack, "Greta", 5), closed_rated_chat(stack, "Boris", 2)
    page, errors = console_page(browser, stack, "agent-alice", 5, WIDTHS[width])

    def search(q: str) -> None:
        page.locator("#history-q").fill(q)
        page.locator("#history-q").press("Enter")

    search("tent ships")  # the visitor's words and the agent's, in both chats
    row(page, "history", greta).wait_for(timeout=WAIT_MS)
    row(page, "history", boris).wait_for(timeout=WAIT_MS)
    search("bor")  # the start of the visitor's name
    row(page, "history", greta).wait_for(state="detached", timeout=WAIT_MS)
    assert page.locator("#history li.session").count() == 1
    assert row(page, "history", boris).locator(".name").inner_text() == "Boris"
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTHS[width][0]
    shot(page, "console-history-search" + ("-phone" if width == "phone" else ""))
    search("parcel")
    page.locator("#history li.empty").wait_for(timeout=WAIT_MS)
    search("Boris tent")
    row(page, "history", boris).click()
    page.locator("#detail-body .timeline li[data-action=rate]").wait_for(timeout=WAIT_MS)
    assert page.locator("#detail-name").inner_text() == "with Boris"
    assert not errors, errors
