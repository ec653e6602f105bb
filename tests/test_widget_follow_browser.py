"""The widget keeps the newest message in view and says who the visitor talks to, on a desktop and on a phone, in
headless Chromium on the demo page (issue 22, items 1 and 2; the visitor's language too).

- New messages: a reload opens at the newest message; a visitor who scrolled up to read stays where they are and a
  "new message" cue appears, which brings them to the end; the rating comes at the end of the conversation and
  never squeezes it.
- Who: "Trailbot is writing…" while the bot (named by the site) thinks; the agent's name (the Appwrite user's) and
  initials on their messages, "Alice Martin joined the chat.", "You're chatting with Alice Martin.".
- Polish: the launcher turns into a small round button under the open panel; one row of actions at most.

Screenshots go where test_widget_browser.py puts them (WIDGET_SCREENSHOTS=docs writes docs/widget-*.png).
"""

from __future__ import annotations

import pytest
from stack_support import OWN_BOT, Party, disable_functions, function_variables
from test_widget_browser import BOT_SECRET, WAIT_MS, Widget, browser, shot, site, stack, stored, watch  # noqa: F401

pytestmark = pytest.mark.browser

VIEWPORTS = {"desktop": {"viewport": {"width": 1280, "height": 760}},
             "phone": {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True,
                       "has_touch": True}}
LOG = "document.querySelector('#chat-widget').shadowRoot.querySelector('.log')"


def log_metrics(page) -> dict:
    return page.evaluate(f"() => {{ const l = {LOG}; return {{top: l.scrollTop, height: l.clientHeight, "
                         "scroll: l.scrollHeight}; }")


def at_end(page) -> bool:
    m = log_metrics(page)
    return m["scroll"] - m["top"] - m["height"] <= 60


def in_view(page, locator) -> bool:
    """Whether the element shows inside the log's visible part."""
    box, log = locator.bounding_box(), page.locator("#chat-widget .log").bounding_box()
    return box is not None and box["y"] >= log["y"] - 1 and box["y"] + box["height"] <= log["y"] + log["height"] + 1


@pytest.fixture(scope="module")
def alice(stack):  # noqa: F811
    """Alice's Appwrite user has a name: the widget shows it."""
    stack.engine.put_user("agent-alice", "Alice Martin", ["agent"], email="agent-alice@example.test")
    return Party(stack, signed_in="agent-alice")


@pytest.mark.parametrize("device", list(VIEWPORTS))
def test_new_messages_stay_in_view_and_the_visitor_knows_who_writes(stack, browser, alice, device):  # noqa: F811
    context = browser.new_context(**VIEWPORTS[device])
    context.add_init_script("window.ChatWidgetTexts = { bot: 'Trailbot' };")  # the site names its bot
    page = context.new_page()
    problems = watch(page)
    page.goto(f"{site(stack)}/demo/")
    widget = Widget(page).open()
    if device == "desktop":  # the launcher stays, as a small round button under the panel (its name unchanged)
        launcher, panel = widget.launcher.bounding_box(), widget.panel.bounding_box()
        assert launcher["width"] <= 56 and launcher["y"] >= panel["y"] + panel["height"]
    actions = page.locator("#chat-widget .actions")
    assert actions.bounding_box()["height"] <= 56  # one row: "Talk to a person"

    # While the bot thinks: "Trailbot is writing…"; its answer then carries its name and initials. The test plays the
    # bot (the reference bot answers in milliseconds on the local stack, too fast to see the indicator).
    disable_functions(stack, "bot")
    with function_variables(OWN_BOT):  # nor the FAQ bot in touch-session: the answer carries no reply
        widget.say("What are your opening hours?")
        writing = widget.log.get_by_text("Trailbot is writing…")
        writing.wait_for(timeout=WAIT_MS)
    shot(page, f"widget-bot-writing-{device}")
    session_id = stored(page)["session"]["id"]
    bot = Party(stack, key=False, headers={"X-Chat-Secret": BOT_SECRET})
    assert bot.run("touch-session", {"sessionId": session_id, "message": {
        "role": "bot", "text": "We are open Monday to Friday, 9 to 6."}})[0] == 200
    answer = widget.reply("bot", "Monday to Friday")
    disable_functions(stack, "bot", enabled=True)  # the module's other tests talk to the reference bot
    writing.wait_for(state="hidden", timeout=WAIT_MS)
    assert (answer.locator(".avatar").inner_text(), answer.locator(".who").text_content()) == ("T", "TTrailbot")

    # A long chat: a reload opens it at the newest message.
    for n in range(1, 16):
        status, _ = bot.run("touch-session", {"sessionId": session_id,
                                              "message": {"role": "bot", "text": f"Tip {n}: pack light."}})
        assert status == 200
    widget.reply("bot", "Tip 15")
    page.reload()
    newest = widget.reply("bot", "Tip 15")
    page.wait_for_function(f"() => {{ const l = {LOG}; return l.scrollHeight - l.scrollTop - l.clientHeight <= 60; }}")
    assert in_view(page, newest)

    # The visitor scrolls up to read; an agent joins and writes: the view stays, a cue says so.
    page.evaluate(f"() => {{ {LOG}.scrollTop = 0; }}")
    page.wait_for_timeout(100)
    assert alice.run("assign-agent", {"sessionId": session_id}, path="/claim")[0] == 200
    assert alice.run("touch-session", {"sessionId": session_id, "message": {
        "role": "agent", "text": "Hi, I'm Alice. Anything I can help with?"}})[0] == 200
    cue = page.locator("#chat-widget .cue")
    reply = widget.reply("agent", "I'm Alice")
    cue.wait_for(timeout=WAIT_MS)
    assert "new message" in cue.inner_text().lower()
    assert log_metrics(page)["top"] == 0 and not in_view(page, reply)  # nothing moved under the reader's eyes
    shot(page, f"widget-new-message-cue-{device}")
    if device == "desktop":
        cue.click()  # the cue brings the visitor to the end
    else:
        page.evaluate(f"() => {{ const l = {LOG}; l.scrollTop = l.scrollHeight; }}")  # so does scrolling there
    cue.wait_for(state="hidden")
    assert at_end(page) and in_view(page, reply)
    assert (reply.locator(".avatar").inner_text(), reply.locator(".who").text_content()) == ("AM", "AMAlice Martin")
    widget.note("Alice Martin joined the chat.")
    widget.status.filter(has_text="You're chatting with Alice Martin.").wait_for(timeout=WAIT_MS)
    assert writing.is_hidden()  # the bot is quiet once an agent has the chat
    shot(page, f"widget-agent-named-{device}")

    # The chat ends: the rating comes last in the conversation, in view, and the transcript keeps its room.
    widget.say("All good, thanks!")
    widget.choose("End chat")
    ended = widget.note("You ended the chat.")
    rating = page.get_by_role("form", name="How was this chat?")
    rating.wait_for()
    page.wait_for_timeout(200)
    assert in_view(page, rating.get_by_role("radio", name="5 out of 5"))
    assert log_metrics(page)["height"] >= (320 if device == "desktop" else 600)
    assert in_view(page, ended)
    assert actions.bounding_box()["height"] <= 56  # "Start a new chat"
    shot(page, f"widget-ended-{device}")
    assert not problems, problems
    context.close()


def test_the_menu_works_from_the_keyboard(stack, browser):  # noqa: F811
    """"More options" opens on Enter with the focus on its first item; arrows move, Escape closes it and gives the
    focus back to its button (and leaves the panel open)."""
    page = browser.new_context().new_page()
    page.goto(f"{site(stack)}/demo/")
    widget = Widget(page).open()
    widget.say("Hello")
    more = widget.panel.get_by_role("button", name="More options")
    more.wait_for(timeout=WAIT_MS)
    focused = "() => document.activeElement.shadowRoot.activeElement.textContent"
    more.focus()
    page.keyboard.press("Enter")
    assert more.get_attribute("aria-expanded") == "true"
    assert page.evaluate(focused) == "Download transcript"
    page.keyboard.press("ArrowDown")
    assert page.evaluate(focused) == "End chat"
    page.keyboard.press("ArrowDown")
    assert page.evaluate(focused) == "Download transcript"  # round
    page.keyboard.press("Escape")
    assert widget.panel.get_by_role("menu").is_hidden() and widget.panel.is_visible()
    assert more.get_attribute("aria-expanded") == "false"
    assert page.evaluate("() => document.activeElement.shadowRoot.activeElement.className") == "more"
    page.context.close()


def test_the_visitor_reads_the_widget_in_the_pages_language(stack, browser):  # noqa: F811
    """The page says <html lang="de">: every text of the widget is German (the site's own title stays)."""
    context = browser.new_context(**VIEWPORTS["phone"])
    page = context.new_page()

    def german(route):
        response = route.fetch()
        route.fulfill(response=response, body=response.text().replace('<html lang="en">', '<html lang="de">'))

    page.route("**/demo/", german)
    page.goto(f"{site(stack)}/demo/")
    Widget(page).launcher.tap()
    box = page.get_by_role("textbox", name="Ihre Nachricht")
    box.wait_for()
    assert box.get_attribute("placeholder") == "Nachricht schreiben…"
    assert page.get_by_role("button", name="Mit einem Menschen sprechen").is_visible()
    assert page.get_by_role("log", name="Nachrichten").is_visible()
    box.fill("Wie lange dauert der Versand?")
    box.press("Enter")
    reply = page.locator("#chat-widget li.msg.bot").nth(0)  # in the message's own answer (the FAQ bot)
    reply.wait_for(timeout=WAIT_MS)
    assert "Assistent" in reply.locator(".who").text_content()
    page.get_by_role("button", name="Weitere Optionen").tap()
    assert page.get_by_role("menuitem", name="Chat beenden").is_visible()
    shot(page, "widget-german-phone")
    context.close()
