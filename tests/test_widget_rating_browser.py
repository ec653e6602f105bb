"""The widget's rating after a chat ends (headless Chromium on the demo page, as tests/test_widget_browser.py): it
appears for a chat closed by anyone, asks for a score first, is sent once, and a chat rated already (another tab)
is not asked again."""

from __future__ import annotations

import json

import pytest
from test_widget_browser import WAIT_MS, Widget, browser, site, stack, stored, watch  # noqa: F401

pytestmark = pytest.mark.browser


def close_as_agent(stack, session_id: str) -> None:  # noqa: F811
    from appwrite.client import Client
    from appwrite.services.functions import Functions

    client = Client().set_endpoint(stack.endpoint).set_project(stack.project_id).set_key(stack.api_key)
    client.add_header("x-appwrite-impersonate-user-id", "agent-bob")
    answer = Functions(client).create_execution("close-session", body=json.dumps({"sessionId": session_id}),
                                                headers={"content-type": "application/json"})
    assert answer.responsestatuscode == 200, answer.responsebody


def test_a_chat_closed_by_the_agent_is_rated_once_and_a_second_tab_is_told(stack, browser):  # noqa: F811
    context = browser.new_context()
    page = context.new_page()
    problems = watch(page)
    page.goto(f"{site(stack)}/demo/")
    widget = Widget(page).open()
    widget.say("Do you ship to Norway?")
    widget.reply("bot", "")
    session_id = stored(page)["session"]["id"]
    close_as_agent(stack, session_id)
    widget.note("This chat has been closed.")
    rating = page.get_by_role("form", name="How was this chat?")
    rating.wait_for(timeout=WAIT_MS)

    rating.get_by_role("button", name="Send rating").click()  # no score picked: nothing is sent
    widget.note("Pick a score from 1 to 5 first.")
    assert stack.engine.get_row("chat", "sessions", session_id)["ratingScore"] is None

    other = context.new_page()  # the same visitor in a second tab rates first
    other.goto(f"{site(stack)}/demo/")
    second = Widget(other)
    second.launcher.wait_for()
    if second.launcher.get_attribute("aria-expanded") != "true":  # the panel opens as the first tab left it
        second.open()
    other_rating = other.get_by_role("form", name="How was this chat?")
    other_rating.get_by_role("radio", name="2 out of 5").check()
    other_rating.get_by_role("button", name="Send rating").click()
    second.note("Thank you for rating this chat.")

    rating.get_by_role("radio", name="5 out of 5").check()
    rating.get_by_role("button", name="Send rating").click()
    widget.note("This chat was rated already.")
    rating.wait_for(state="hidden")
    assert stack.engine.get_row("chat", "sessions", session_id)["ratingScore"] == 2  # the first one stays
    assert not problems, problems
    context.close()
