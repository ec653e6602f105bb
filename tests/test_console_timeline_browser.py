"""The agent console shows a session's rating and timeline, and admins the visitors' average rating per agent
(headless Chromium, as tests/test_console_browser.py)."""

from __future__ import annotations

import pytest
from test_console_browser import (  # noqa: F401
    WAIT_MS,
    browser,
    call,
    console_page,
    functions,
    open_console,
    row,
    stack,
    widget_session,
)

pytestmark = pytest.mark.browser


def test_the_agent_sees_the_rating_and_the_timeline_of_the_session_they_view(stack, browser):  # noqa: F811
    sid, token = widget_session(stack, "My parcel never came", "I want to talk to a human")
    call(functions(stack, "agent-alice"), "assign-agent", {"sessionId": sid}, path="/claim")
    page, errors = console_page(browser, stack, "agent-alice", 1)
    row(page, "mine", sid).locator(".meta").click()  # (the middle of the row is its transfer box)
    timeline = page.locator("#detail-body ol.timeline")
    timeline.locator("li[data-action=claim]").wait_for(timeout=WAIT_MS)
    assert timeline.locator("li").evaluate_all("items => items.map(i => i.dataset.action)") == [
        "open", "escalate", "claim"]
    assert "Alice (agent) claimed (waiting → assigned:agent-alice)" in timeline.inner_text()  # named (issue 22)

    # The visitor ends the chat and rates it while the agent looks at it: the page shows both at its next refresh.
    call(functions(stack), "close-session", {"sessionId": sid, "rating": {"score": 5, "comment": "Found it, thanks!"}},
         headers={"x-session-token": token})
    timeline.locator("li[data-action=rate]").wait_for(timeout=WAIT_MS)
    details = page.locator("#detail-body dl", has_text="Rating")  # two reads: both show it by the next refresh
    details.wait_for(timeout=WAIT_MS)
    assert "Rating\n5 / 5 — “Found it, thanks!”" in details.inner_text()
    assert "Visitor closed (assigned:agent-alice → closed) — closed by visitor" in timeline.inner_text()
    assert "Visitor rated (closed → rated:5) — 5/5 with a comment" in timeline.inner_text()
    assert "null" not in page.locator("#detail-body").inner_text()  # a closed session has no action buttons

    # An agent sees the visitors' average and their own; an admin sees every agent's.
    page.locator("#ratings li[data-agent=agent-alice]").wait_for(timeout=WAIT_MS)
    assert page.locator("#ratings li").count() == 1
    assert "(you)" in page.locator("#ratings li[data-agent=agent-alice]").inner_text()
    other, other_token = widget_session(stack, "a person please")
    call(functions(stack, "agent-bob"), "assign-agent", {"sessionId": other}, path="/claim")
    call(functions(stack), "close-session", {"sessionId": other, "rating": {"score": 2}},
         headers={"x-session-token": other_token})
    open_console(page, stack, "admin-ada", 1)
    page.locator("#ratings li[data-agent=agent-bob]").wait_for(timeout=WAIT_MS)
    shown = page.locator("#ratings").inner_text()
    assert "agent-alice" in shown and "5.0 / 5" in shown and "2.0 / 5" in shown
    assert page.locator("#ratings-count").inner_text() == "3.5 / 5 from 2"
    assert not errors, errors
    page.close()
