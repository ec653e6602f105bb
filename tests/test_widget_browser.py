"""The visitor's widget in a real browser (headless Debian Chromium, driven by Playwright), on the demo page the
local stack serves at /demo/.

The story (with a screenshot of each step): a visitor chats with the bot, asks for a person, an agent claims and
replies in the console, the visitor sees it and ends the chat. Then what the story cannot show: retries without
duplicates, a reload resuming the chat, the keyboard and screen-reader view, a phone, the theme's checks. Screenshots
go to .local/widget/ (WIDGET_SCREENSHOTS=docs make test writes the README's, in docs/).

The polling policy is tested apart, with Playwright's fake clock and the four functions answered by the test
(`FakeChat`): simulated minutes take milliseconds, and every execution the widget makes is counted.
"""

from __future__ import annotations

import csv
import http.server
import io
import json
import os
import re
import threading
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from stack_support import Party, function_variables
from test_console_browser import CHROMIUM_FLAGS, chromium_path, open_console

from devstack.server import Stack

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / os.environ.get("WIDGET_SCREENSHOTS", ".local/widget")
BOT_SECRET = "widget-test-bot-secret"
WAIT_MS = 40_000  # the widget's checks slow down to 10-13 s apart: a reply may take that long to show


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with function_variables({"BOT_SECRET": BOT_SECRET}), \
            Stack(ROOT, data_dir=tmp_path_factory.mktemp("widget"), port=0, run_scheduler=False) as running:
        yield running


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the playwright package is missing: pip install -r requirements-dev.txt")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


def site(stack: Stack) -> str:
    return stack.endpoint.removesuffix("/v1")


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def watch(page) -> list[str]:
    """Script errors and console errors (a CSP violation is one) the page reports."""
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"pageerror: {exc}"))
    page.on("console", lambda message: problems.append(f"console: {message.text}")
            if message.type == "error" else None)
    return problems


def refuse_anonymous_sessions(page) -> None:
    """Appwrite with anonymous sessions off (or its 50 an hour per IP used up): the widget's sign-in is refused."""
    page.route("**/v1/account/**", lambda route: route.fulfill(
        status=501, content_type="application/json",
        body='{"message":"Anonymous sessions are disabled","code":501,"type":"user_anonymous_console_prohibited"}'))


def stored(page) -> dict:
    return page.evaluate("""() => { for (const k of Object.keys(localStorage))
        if (k.startsWith("chat-widget:")) return JSON.parse(localStorage.getItem(k)); return {}; }""")


class Widget:
    """The visitor's side of one page, found as a screen reader would: by role and name."""

    def __init__(self, page, title: str = "Trailhead help") -> None:
        self.page = page
        self.launcher = page.get_by_role("button", name=title)
        self.panel = page.get_by_role("dialog", name=title)
        self.box = page.get_by_role("textbox", name="Your message")
        self.log = page.get_by_role("log", name="Messages")
        self.status = page.get_by_role("status")

    def open(self) -> Widget:
        self.launcher.click()
        self.box.wait_for()
        return self

    def say(self, text: str) -> None:
        self.box.fill(text)
        self.box.press("Enter")

    def reply(self, role: str, text: str):
        found = self.log.locator(f"li.msg.{role}", has_text=text)
        found.wait_for(timeout=WAIT_MS)
        return found

    def choose(self, item: str) -> None:
        """An item of the header's menu ("More options"): "Download transcript", "End chat"."""
        self.panel.get_by_role("button", name="More options").click()
        self.panel.get_by_role("menuitem", name=item).click()

    def note(self, text: str):
        found = self.log.locator("li.note", has_text=text)
        found.wait_for(timeout=WAIT_MS)
        return found


def transcript(stack: Stack, session_id: str) -> list[tuple[str, str]]:
    limit = json.dumps({"method": "limit", "values": [5000]})
    rows = [r for r in stack.engine.list_rows("chat", "messages", [limit])["rows"] if r["sessionId"] == session_id]
    return [(r["role"], r["text"]) for r in sorted(rows, key=lambda r: r["$createdAt"])]


# --- the story ------------------------------------------------------------------------------------------

def test_a_visitor_chats_with_the_bot_asks_for_a_person_and_an_agent_answers(stack, browser):
    visitor_page = browser.new_context(viewport={"width": 1280, "height": 760}).new_page()
    problems = watch(visitor_page)
    visitor_page.goto(f"{site(stack)}/demo/")
    widget = Widget(visitor_page).open()
    assert "Ask me about orders" in widget.log.inner_text()  # the theme's greeting

    # 1. The bot answers from its FAQ.
    widget.say("What are your opening hours?")
    widget.reply("bot", "Monday to Friday")
    shot(visitor_page, "widget-1-bot-answers")

    # A reload resumes the same chat: the same session, its messages, and no second session.
    session_id = stored(visitor_page)["session"]["id"]
    created = len(stack.runtime.list_executions("create-session"))
    visitor_page.reload()
    widget.reply("bot", "Monday to Friday")
    assert stored(visitor_page)["session"]["id"] == session_id
    assert len(stack.runtime.list_executions("create-session")) == created

    # 2. The visitor asks for a person: the bot hands off, and the widget says the visitor waits.
    widget.say("Can I talk to a human, please?")
    widget.reply("bot", "I'll get a colleague")
    widget.status.filter(has_text="Waiting for an agent").wait_for(timeout=WAIT_MS)
    assert widget.launcher.get_attribute("aria-expanded") == "true"
    shot(visitor_page, "widget-2-asks-for-a-person")

    # 3. An agent, in the console in another tab, claims the session and replies.
    agent_page = browser.new_context(viewport={"width": 1280, "height": 760}).new_page()
    open_console(agent_page, stack, "agent-alice", 1)
    queued = agent_page.locator(f"#queue li[data-session='{session_id}']")
    queued.wait_for(timeout=WAIT_MS)
    queued.locator("button[data-action=claim]").click()
    agent_page.locator("#messages .msg.user", has_text="talk to a human").wait_for(timeout=WAIT_MS)
    agent_page.locator("#reply-text").fill("Hi, I'm Alice from Trailhead. What can I do for you?")
    agent_page.locator("#reply button[type=submit]").click()
    agent_page.locator("#messages .msg.agent", has_text="I'm Alice").wait_for(timeout=WAIT_MS)
    shot(agent_page, "widget-3-agent-claims-and-replies")

    # 4. The visitor sees that an agent joined, and the reply; the bot stays quiet from now on.
    widget.note("Alice (agent) joined the chat.")  # the agent's name: their Appwrite user's
    widget.reply("agent", "I'm Alice")
    widget.status.filter(has_text="chatting with Alice (agent)").wait_for(timeout=WAIT_MS)
    widget.say("My tent pole snapped on the first night.")
    agent_page.locator("#messages .msg.user", has_text="tent pole").wait_for(timeout=WAIT_MS)
    widget.log.locator("li.msg.user", has_text="tent pole").locator(".meta").wait_for(state="hidden")
    shot(visitor_page, "widget-4-visitor-sees-the-agent")

    # 5. The visitor ends the chat and rates it: 1 to 5 (radio buttons, keyboard first) and a comment.
    widget.choose("End chat")
    widget.note("You ended the chat.")
    visitor_page.get_by_role("button", name="Start a new chat").wait_for()
    assert widget.box.is_hidden()  # an ended chat takes no message: the rating takes the box's place
    rating = visitor_page.get_by_role("form", name="How was this chat?")
    rating.wait_for()
    assert visitor_page.evaluate("document.activeElement.shadowRoot.activeElement.getAttribute('aria-label')") == \
        "1 out of 5"  # the end of the chat leads the keyboard to the rating
    visitor_page.keyboard.press("ArrowRight")  # a radio group: arrows pick the score
    visitor_page.keyboard.press("ArrowRight")
    visitor_page.keyboard.press("ArrowRight")
    assert rating.get_by_role("radio", name="4 out of 5").is_checked()
    rating.get_by_role("textbox", name="Comment (optional)").fill("Alice sorted out my tent in minutes.")
    shot(visitor_page, "widget-5-chat-ended")
    rating.get_by_role("button", name="Send rating").click()
    widget.note("Thank you for rating this chat.")
    rating.wait_for(state="hidden")
    rated = stack.engine.get_row("chat", "sessions", session_id)
    assert (rated["ratingScore"], rated["ratingComment"]) == (4, "Alice sorted out my tent in minutes.")
    visitor_page.reload()  # rated once: a reload does not ask again
    widget.note("Thank you for rating this chat.")
    assert not rating.is_visible()

    # 6. The agent, still on the session in the console, sees the rating and the timeline.
    agent_page.locator("#detail-body ol.timeline li[data-action=rate]").wait_for(timeout=WAIT_MS)
    agent_page.locator("#detail-body dl", has_text="4 / 5 — “Alice sorted out my tent in minutes.”").wait_for(
        timeout=WAIT_MS)  # (the details and the timeline are two reads: each shows the rating by the next refresh)
    assert agent_page.locator("#detail-body ol.timeline li").evaluate_all("items => items.map(i => i.dataset.action)") \
        == ["open", "escalate", "claim", "close", "rate"]
    shot(agent_page, "widget-6-agent-sees-the-rating-and-timeline")

    assert stack.wait_idle(20)
    assert transcript(stack, session_id) == [
        ("user", "What are your opening hours?"),
        ("bot", transcript(stack, session_id)[1][1]),
        ("user", "Can I talk to a human, please?"),
        ("bot", "I'll get a colleague for you. Please stay on this page: an agent will join this chat shortly."),
        ("agent", "Hi, I'm Alice from Trailhead. What can I do for you?"),
        ("user", "My tent pole snapped on the first night."),
    ]
    # The export of that session, as JSON and as CSV (what an agent downloads), holds what both sides saw, in order.
    alice = Party(stack, signed_in="agent-alice")
    exported = {fmt: alice.run("list-sessions", method="GET", path=f"/{session_id}/export?format={fmt}")[1]
                for fmt in ("json", "csv")}
    assert all(page["nextCursor"] is None for page in exported.values())  # one page holds this chat
    from_json = [(m["role"], m["text"]) for m in json.loads(exported["json"]["chunk"])["messages"]]
    header, *lines = csv.reader(io.StringIO(exported["csv"]["chunk"]))
    from_csv = [(line[header.index("role")], line[header.index("text")]) for line in lines]
    assert from_json == from_csv == transcript(stack, session_id)
    visitor_saw = widget.log.locator("li.msg:not(.greeting)").all_inner_texts()  # the greeting is the page's own
    agent_saw = agent_page.locator("#messages .msg").all_inner_texts()
    for seen in (visitor_saw, agent_saw):
        assert len(seen) == len(from_json), seen
        assert all(text in shown for (_, text), shown in zip(from_json, seen, strict=True)), seen
    row = stack.engine.get_row("chat", "sessions", session_id)
    assert row["status"] == "closed"
    # The visitor was signed in anonymously: the session's owner is an account with no email, with its own budgets.
    assert row["ownerId"] and stack.engine.get_user(row["ownerId"])["email"] == ""
    assert not problems, problems  # no script error, and nothing the page's strict CSP refused
    visitor_page.context.close()
    agent_page.context.close()


def test_a_visitor_who_cannot_sign_in_chats_as_a_guest(stack, browser):
    """Anonymous sessions switched off in the project, or Appwrite's 50 an hour per IP used up: the chat still starts,
    as a guest (the guests' shared budgets)."""
    page = browser.new_context().new_page()
    refuse_anonymous_sessions(page)
    page.goto(f"{site(stack)}/demo/")
    widget = Widget(page).open()
    widget.say("What are your opening hours?")
    widget.reply("bot", "Monday to Friday")
    row = stack.engine.get_row("chat", "sessions", stored(page)["session"]["id"])
    assert row["ownerId"] is None and row["messageCount"] >= 1
    page.context.close()


# --- sending: retries without duplicates ---------------------------------------------------------------

@pytest.mark.parametrize("failure", ["request_lost", "answer_lost"])
def test_a_message_that_failed_on_the_network_is_retried_and_stored_once(stack, browser, failure):
    # Without the Realtime socket: its row could confirm the stored message before the retry (a race), and this
    # is about the retry itself, which a visitor whose socket is blocked depends on.
    context = browser.new_context()
    context.add_init_script(NO_SOCKET)
    page = context.new_page()
    page.goto(f"{site(stack)}/demo/")
    widget = Widget(page).open()
    sent: list[str] = []

    def flaky(route):
        params = json.loads(route.request.post_data or "{}")
        body = json.loads(params.get("body") or "{}")
        if params.get("method") == "POST" and "message" in body:
            sent.append(body["message"]["id"])
            if len(sent) == 1:  # the first attempt fails on the network
                if failure == "answer_lost":
                    route.fetch()  # it reached the functions and was stored; only the answer is lost
                route.abort("connectionreset")
                return
        route.continue_()

    page.route("**/functions/touch-session/executions", flaky)
    widget.say("Is the Ridge 2 tent waterproof?")
    widget.reply("bot", "get a colleague")  # the bot answered, so the message was stored
    bubble = widget.log.locator("li.msg.user", has_text="Ridge 2")
    bubble.locator(".meta").wait_for(state="hidden", timeout=WAIT_MS)  # no longer "sending" or "retrying"
    assert len(sent) == 2 and sent[0] == sent[1]  # the retry carried the same idempotency key
    session_id = stored(page)["session"]["id"]
    assert stack.wait_idle(20)
    assert [t for r, t in transcript(stack, session_id) if r == "user"] == ["Is the Ridge 2 tent waterproof?"]
    assert widget.log.locator("li.msg.user").count() == 1
    page.context.close()


# --- keyboard, screen readers, phones, the theme --------------------------------------------------------

def test_keyboard_and_screen_reader_use(stack, browser):
    page = browser.new_context().new_page()
    page.goto(f"{site(stack)}/demo/")
    widget = Widget(page)
    assert widget.launcher.get_attribute("aria-expanded") == "false"
    widget.launcher.focus()
    page.keyboard.press("Enter")  # a real button: Enter and Space open it
    widget.panel.wait_for()
    assert widget.launcher.get_attribute("aria-expanded") == "true"
    assert page.evaluate("document.activeElement.shadowRoot.activeElement.id") == "cw-input"  # typing can start
    assert widget.log.get_attribute("aria-live") == "polite"  # new messages are read out
    assert widget.status.get_attribute("aria-live") == "polite"
    page.keyboard.type("first line")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("second line")
    assert widget.box.input_value() == "first line\nsecond line"
    page.keyboard.press("Enter")
    widget.log.locator("li.msg.user", has_text="second line").wait_for()
    assert widget.log.locator("li.msg.user .who").inner_text() == "You"  # read out before the text, hidden on screen

    page.keyboard.press("Escape")  # closes the panel and gives the focus back to the launcher
    widget.panel.wait_for(state="hidden")
    assert page.evaluate("document.activeElement.shadowRoot.activeElement.className") == "launcher"
    # The bot's answer arrives while the panel is closed: the launcher says so.
    page.get_by_role("button", name="Trailhead help, 1 new message").wait_for(timeout=WAIT_MS)
    page.keyboard.press("Space")
    widget.reply("bot", "colleague")
    assert widget.launcher.get_attribute("aria-label") == "Trailhead help"
    page.context.close()


def test_on_a_phone_the_chat_fills_the_screen(stack, browser):
    phone = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                                has_touch=True)
    page = phone.new_page()
    problems = watch(page)
    page.goto(f"{site(stack)}/demo/")
    widget = Widget(page)
    widget.launcher.tap()
    widget.panel.wait_for()
    assert widget.panel.bounding_box() == {"x": 0, "y": 0, "width": 390, "height": 844}
    assert widget.launcher.is_hidden()  # the panel's own button minimizes it
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing sticks out sideways
    assert widget.box.evaluate("e => getComputedStyle(e).fontSize") == "16px"  # iOS does not zoom in on it
    send = page.get_by_role("button", name="Send")
    assert send.bounding_box()["height"] >= 44 and send.bounding_box()["width"] >= 44  # a finger's target
    widget.box.fill("How long does delivery take?")
    send.tap()
    widget.reply("bot", "working days")
    shot(page, "widget-6-phone")
    page.get_by_role("button", name="Minimize the chat").tap()
    widget.panel.wait_for(state="hidden")
    assert widget.launcher.is_visible() and not problems, problems
    phone.close()


def test_the_theme_is_checked_before_it_is_used(stack, browser):
    """The page (and so the stored session theme) may carry anything: only plain texts and hex colours are used."""
    page = browser.new_context().new_page()
    url = f"{site(stack)}/a-site-with-an-odd-theme.html"
    tag = (f'<script src="{site(stack)}/functions/widget/widget.js" data-endpoint="{stack.endpoint}" '
           f'data-project="{stack.project_id}" data-title="&lt;img src=x onerror=alert(1)&gt; Help" '
           'data-accent="url(https://evil.test/track.png)" data-background="#101418" '
           f'data-greeting="{"Hej! " * 200}"></script>')
    page.route(url, lambda route: route.fulfill(content_type="text/html", body=f"<!doctype html><body>{tag}</body>"))
    page.goto(url)
    widget = Widget(page, title="<img src=x onerror=alert(1)> Help").open()  # the title is text, never markup
    assert page.evaluate("document.getElementById('chat-widget').shadowRoot.querySelectorAll('img').length") == 0
    assert widget.launcher.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(40, 86, 216)"  # default
    assert widget.panel.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(16, 20, 24)"
    assert widget.panel.evaluate("e => getComputedStyle(e).color") == "rgb(255, 255, 255)"  # readable on dark
    assert len(widget.log.locator("li.greeting").inner_text()) <= 500 + len("Assistant\n")
    widget.say("hello")
    widget.reply("bot", "virtual assistant")
    session = stack.engine.get_row("chat", "sessions", stored(page)["session"]["id"])
    theme = json.loads(session["theme"])  # what create-session stored: only what the widget would use
    assert theme == {"title": "<img src=x onerror=alert(1)> Help", "greeting": ("Hej! " * 200)[:500].strip(),
                     "background": "#101418"}
    page.context.close()


def test_a_site_on_another_origin_embeds_the_widget_with_one_tag_under_a_strict_policy(stack, browser):
    """The site (its own server on another port: another origin) is not the widget's: the loader adds the widget's
    modules from the widget function's domain, which the browser fetches with CORS; the site's policy allows that
    domain only. The tag is there twice: one widget."""
    widget_origin = site(stack)
    socket = widget_origin.replace("http", "ws", 1)  # Appwrite Realtime, on the endpoint's host
    policy = (f"default-src 'none'; script-src {widget_origin}; connect-src {widget_origin} {socket}; img-src data:; "
              "base-uri 'none'")
    tag = (f'<script src="{widget_origin}/functions/widget/widget.js" data-endpoint="{stack.endpoint}" '
           f'data-project="{stack.project_id}" data-title="Shop help" defer></script>')
    page_html = f"<!doctype html><title>Shop</title><body><h1>A shop</h1>{tag}{tag}</body>".encode()

    class Shop(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the stdlib's name)
            self.send_response(200)
            self.send_header("content-type", "text/html; charset=utf-8")
            self.send_header("content-security-policy", policy)
            self.send_header("content-length", str(len(page_html)))
            self.end_headers()
            self.wfile.write(page_html)

        def log_message(self, *args):
            pass

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Shop) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        shop = f"http://localhost:{server.server_address[1]}"
        page = browser.new_context().new_page()
        problems = watch(page)
        modules: list[str] = []
        page.on("request", lambda request: modules.append(request.url) if "/widget/v/" in request.url else None)
        page.goto(f"{shop}/")
        widget = Widget(page, title="Shop help").open()
        widget.say("What are your opening hours?")
        widget.reply("bot", "Monday to Friday")
        assert page.evaluate("document.querySelectorAll('[data-chat-widget]').length") == 1
        assert modules and all(url.startswith(f"{widget_origin}/functions/widget/v/") for url in modules)
        assert {url.rsplit("/", 2)[-2] for url in modules} == {"widget", "shared"}
        assert page.evaluate("location.origin") == shop != widget_origin
        assert not problems, problems
        page.context.close()
        server.shutdown()


def test_the_widget_function_serves_the_script_and_nothing_else(stack):
    import urllib.error
    import urllib.request

    with urllib.request.urlopen(f"{site(stack)}/functions/widget/widget.js", timeout=10) as answer:
        assert answer.headers["content-type"] == "text/javascript; charset=utf-8"
        assert answer.headers["cross-origin-resource-policy"] == "cross-origin"
        loader = answer.read().decode()
    # The loader names the entry module, under the deployment's version (the widget itself is ES modules).
    entry = re.search(r'"(v/[0-9a-f]{16}/widget/app\.js)"', loader).group(1)
    with urllib.request.urlopen(f"{site(stack)}/functions/widget/{entry}", timeout=10) as answer:
        assert answer.headers["content-type"] == "text/javascript; charset=utf-8"
        assert b"createApi" in answer.read()
    for path, status in (("/functions/widget/", 404), ("/functions/widget/widget.js/x", 404)):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{site(stack)}{path}", timeout=10)
        assert refused.value.code == status and json.loads(refused.value.read())["error"]["code"]
    request = urllib.request.Request(f"{site(stack)}/functions/widget/widget.js", data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 405


# --- polling, with simulated time -------------------------------------------------------------------------

class FakeChat:
    """The functions as the widget sees them, answered by the test, so the clock can be simulated. Each execution
    is recorded as (simulated second, function, method, path, body). `bot` answers each visitor message."""

    def __init__(self) -> None:
        self.now = 0
        self.calls: list[tuple[int, str, str, str, dict]] = []
        self.messages: list[dict] = []
        self.status, self.needs_human, self.queue = "active", False, None
        self.bot = True
        self.on_poll = None  # called before a poll is answered
        self.failing_sends = 0  # the next sends answered 503, as when Appwrite fails

    def add(self, role: str, text: str, client_id: str | None = None) -> dict:
        message = {"messageId": f"m{len(self.messages) + 1}", "sessionId": "s_fake", "role": role, "text": text,
                   "clientMessageId": client_id, "handoff": False,
                   "createdAt": f"2026-01-01T00:00:00.{len(self.messages):03d}+00:00"}
        self.messages.append(message)
        return message

    def session(self) -> dict:
        view = {"sessionId": "s_fake", "status": self.status, "botShouldReply": self.status == "active",
                "needsHuman": self.needs_human, "messageCount": len(self.messages)}
        return {**view, "queue": self.queue} if self.queue is not None and self.needs_human else view

    def handle(self, route) -> None:
        params = json.loads(route.request.post_data or "{}")
        function_id = urlsplit(route.request.url).path.split("/")[-2]
        body = json.loads(params.get("body") or "{}")
        self.calls.append((self.now, function_id, params["method"], params["path"], body))
        status, answer = self.answer(function_id, params["method"], params["path"], body)
        route.fulfill(status=201, content_type="application/json",
                      body=json.dumps({"responseStatusCode": status, "responseBody": json.dumps(answer)}))

    def answer(self, function_id: str, method: str, path: str, body: dict) -> tuple[int, dict]:
        if function_id == "create-session":
            return 201, {**self.session(), "token": "fake-token", "theme": body.get("theme", {})}
        if function_id == "escalate":
            self.needs_human = True
            return 200, {"session": self.session(), "escalated": True, "detail": None}
        if function_id == "close-session":
            self.status, self.needs_human = "closed", False
            return 200, {"session": self.session(), "closed": True, "detail": None}
        if method == "GET":
            if self.on_poll:
                self.on_poll()
            cursor = parse_qs(urlsplit(path).query).get("cursor", [None])[0]
            ids = [m["messageId"] for m in self.messages]
            after = self.messages[ids.index(cursor) + 1:] if cursor else self.messages
            return 200, {"session": self.session(), "messages": after[:50],
                         "nextCursor": after[49]["messageId"] if len(after) > 50 else None}
        if "message" not in body:
            return 200, {"session": self.session()}
        if self.failing_sends:
            self.failing_sends -= 1
            return 503, {"error": {"code": "upstream_unavailable", "message": "Appwrite is failing; try again"}}
        if self.status == "closed":
            return 409, {"error": {"code": "session_closed", "message": "session is closed"}}
        known = [m for m in self.messages if m["clientMessageId"] == body["message"]["id"]]
        stored = known[0] if known else self.add("user", body["message"]["text"], body["message"]["id"])
        if self.bot and not known and self.status == "active":
            self.add("bot", f"(bot) you said: {stored['text']}")
        return 200, {"session": self.session(), "message": stored, "duplicate": bool(known)}

    def polls(self, since: int = 0, until: int = 10**9) -> list[int]:
        return [t for t, f, m, _, _ in self.calls if f == "touch-session" and m == "GET" and since <= t < until]

    def heartbeats(self) -> list[int]:
        return [t for t, f, m, _, b in self.calls if f == "touch-session" and m == "POST" and "message" not in b]


# A page whose fetches are counted (so the test knows when the widget has finished reacting) and whose visibility
# the test sets. MessageChannel is not part of the fake clock, so waiting on it does not need the clock to move.
INSTRUMENT = """
window.__inflight = 0;
const realFetch = window.fetch;
window.__starts = [];  // Date.now() as the page sees it, when each execution starts (not the Account requests)
window.fetch = (...args) => {
  if (String((args[0] && args[0].url) || args[0]).includes("/executions")) window.__starts.push(Date.now());
  window.__inflight++;
  return realFetch(...args).then((response) => {
    const json = response.json.bind(response);
    response.json = () => json().finally(() => window.__inflight--);
    return response; }, (error) => { window.__inflight--; throw error; }); };
Object.defineProperty(Document.prototype, "visibilityState", { configurable: true,
    get() { return window.__hidden ? "hidden" : "visible"; } });
Object.defineProperty(Document.prototype, "hidden", { configurable: true, get() { return Boolean(window.__hidden); } });
"""
SETTLE = """() => new Promise((resolve) => { const channel = new MessageChannel(); let quiet = 0;
    channel.port1.onmessage = () => { quiet = window.__inflight === 0 ? quiet + 1 : 0;
        if (quiet >= 3) resolve(); else channel.port2.postMessage(0); };
    channel.port2.postMessage(0); })"""


# The page without WebSocket: the widget's Realtime socket cannot open (as under a policy that blocks it), so these
# tests see the checks, the fallback, alone (tests/test_realtime_browser.py plays the socket).
NO_SOCKET = "delete window.WebSocket;"


class Simulation:
    def __init__(self, stack: Stack, browser, socket: str = NO_SOCKET) -> None:
        self.fake = FakeChat()
        self.context = browser.new_context()
        self.page = self.context.new_page()
        self.page.add_init_script(INSTRUMENT + socket)
        self.page.clock.install(time=0)
        self.page.route("**/v1/functions/*/executions", self.fake.handle)
        self.page.goto(f"{site(stack)}/demo/")
        self.page.clock.pause_at(10_000)  # from now on only `advance` moves the page's time (simulated second 0)
        self.widget = Widget(self.page)

    def settle(self) -> None:
        self.page.evaluate(SETTLE)

    def advance(self, seconds: int) -> None:
        """Simulated seconds, one at a time; after each, the widget finishes whatever it started."""
        for _ in range(seconds):
            self.fake.now += 1
            self.page.clock.run_for(1000)
            self.settle()

    def say(self, text: str) -> None:
        self.widget.say(text)
        self.settle()

    def hide(self, hidden: bool = True) -> None:
        self.page.evaluate(f"window.__hidden = {str(hidden).lower()}; "
                           "document.dispatchEvent(new Event('visibilitychange'))")
        self.settle()

    def close(self) -> None:
        self.context.close()


def gaps(times: list[int]) -> list[int]:
    return [b - a for a, b in zip(times, times[1:], strict=False)]


def test_no_session_no_executions(stack, browser):
    sim = Simulation(stack, browser)
    sim.widget.open()
    sim.advance(600)
    assert sim.fake.calls == []  # ten minutes with the panel open and nothing said: nothing asked
    sim.close()


def test_after_a_message_it_checks_quickly_then_slows_down_and_hides_politely(stack, browser):
    sim = Simulation(stack, browser)
    sim.widget.open()
    sim.say("hello")
    sim.advance(330)
    sim.widget.reply("bot", "you said: hello")
    polls = sim.fake.polls()
    # Quick checks after the message (the first finds the bot's answer), then every 30 s with only the bot around.
    assert polls[:6] == [2, 5, 10, 18, 31, 61], polls
    assert set(gaps(polls)[4:]) == {30}
    assert len(sim.fake.polls(270, 330)) == 2  # a quiet minute: two executions
    assert sim.fake.heartbeats() == [301]  # lastSeen stays fresh while the visitor has the page in front

    sim.hide()
    start = sim.fake.now
    sim.advance(600)
    hidden = sim.fake.polls(start + 1)
    assert len(hidden) == 10 and set(gaps(hidden)) == {60}  # a background tab: once a minute, no heartbeat
    assert sim.fake.heartbeats() == [301]

    sim.hide(False)
    back = sim.fake.now
    sim.advance(5)
    assert sim.fake.polls(back + 1) == [back + 2, back + 5]  # back in front: it looks at once, then quickly
    sim.close()


def test_while_waiting_for_an_agent_it_shows_the_queue_and_checks_every_10_seconds(stack, browser):
    sim = Simulation(stack, browser)
    sim.widget.open()
    sim.fake.queue = {"position": 2, "waiting": 3, "availableAgents": 1, "expectedWaitSeconds": 240}
    sim.page.get_by_role("button", name="Talk to a person").click()
    sim.settle()
    sim.widget.status.filter(has_text="2 people ahead of you. Expected wait: about 4 min.").wait_for()
    sim.widget.note("You asked for a person")
    assert sim.page.get_by_role("button", name="Talk to a person").is_hidden()
    sim.advance(120)
    polls = sim.fake.polls()
    assert gaps(polls)[:4] == [3, 5, 8, 13] and set(gaps(polls)[5:]) == {10}, polls

    sim.fake.queue = {"position": 0, "waiting": 1, "availableAgents": 0, "expectedWaitSeconds": None}
    sim.advance(10)
    sim.widget.status.filter(has_text="You're next. No agent is available right now").wait_for()

    sim.fake.status, sim.fake.needs_human = "agent_assigned", False
    sim.fake.add("agent", "Hi, Bob here.")
    sim.advance(10)
    sim.widget.note("An agent has joined the chat.")
    sim.widget.reply("agent", "Bob here")
    assert "ahead of you" not in sim.widget.status.inner_text()
    sim.close()


def test_never_more_than_20_executions_a_minute_even_in_a_flood(stack, browser):
    """The visitor sends 40 messages in 20 s (each restarts the quick checks) and an agent answers on every check:
    at most 20 executions start in any minute, at most 12 of them checks, and every message is stored once, in
    order."""
    sim = Simulation(stack, browser)
    sim.widget.open()
    sim.fake.bot = False
    sim.fake.on_poll = lambda: sim.fake.add("agent", f"agent line {len(sim.fake.messages)}")
    for n in range(40):
        sim.say(f"message {n}")
        if n % 2:
            sim.advance(1)
    sim.advance(240)
    starts = sorted(t for t, *_ in sim.fake.calls)
    assert max(sum(1 for t in starts if s <= t < s + 60) for s in range(0, 300)) <= 20
    page_clock = sim.page.evaluate("window.__starts")  # the same, by the page's own clock, to the millisecond
    assert max(sum(1 for t in page_clock if s <= t < s + 60_000) for s in page_clock) <= 20
    polls = sim.fake.polls()
    assert max(sum(1 for t in polls if s <= t < s + 60) for s in range(0, 300)) <= 12
    sent = [m["text"] for m in sim.fake.messages if m["role"] == "user"]
    assert sent == [f"message {n}" for n in range(40)]  # in order, each once
    assert sim.widget.log.locator("li.msg.user .meta:visible").count() == 0  # all confirmed
    sim.close()


def test_what_a_typical_chat_costs_in_widget_executions(stack, browser):
    """Two questions to the bot, a request for a person, a wait of 90 s, three messages with an agent, End chat:
    what it costs when the widget can only check (a guest, or a socket that cannot open). Over Realtime the same
    chat: tests/test_realtime_browser.py::test_what_a_typical_chat_costs_over_realtime."""
    sim = Simulation(stack, browser)
    sim.widget.open()
    sim.say("Do you ship to Norway?")
    sim.advance(20)
    sim.say("And how long does it take?")
    sim.advance(40)
    sim.page.get_by_role("button", name="Talk to a person").click()
    sim.settle()
    sim.fake.bot = False
    sim.advance(90)
    sim.fake.status, sim.fake.needs_human = "agent_assigned", False
    sim.fake.add("agent", "Hi, Alice here. Yes, we ship to Norway in 3-5 days.")
    sim.advance(30)
    sim.say("Great, thanks! Is there a customs fee?")
    sim.advance(20)
    sim.fake.add("agent", "No, all fees are included.")
    sim.advance(30)
    sim.widget.choose("End chat")
    sim.settle()
    sim.advance(60)  # nothing more once the chat is over
    kinds: dict[str, int] = {}
    for _, function_id, method, _, body in sim.fake.calls:
        kind = "check" if method == "GET" else "message" if "message" in body else function_id
        kinds[kind] = kinds.get(kind, 0) + 1
    assert sim.fake.now == 290
    # Checks: 4 after the first question, 5 after the second, 13 while waiting and with the agent (quick ones after
    # "Talk to a person", then every 10 s), 6 after the visitor's reply; none after End chat.
    assert kinds == {"create-session": 1, "message": 3, "escalate": 1, "close-session": 1, "check": 28}, kinds
    sim.close()


def test_a_message_still_unsent_survives_a_reload_and_is_sent_once(stack, browser):
    sim = Simulation(stack, browser)
    sim.widget.open()
    sim.say("first")
    sim.fake.failing_sends = 1
    sim.say("second")  # answered 503: it waits for its retry...
    sim.widget.log.locator("li.msg.user", has_text="second").locator(".meta", has_text="retrying").wait_for()
    sim.page.reload()  # ...and the visitor leaves before it comes
    sim.settle()
    sim.advance(3)
    sim.widget.reply("bot", "you said: second")
    attempts = [b["message"]["id"] for _, f, m, _, b in sim.fake.calls if "message" in b and "second" in
                b["message"]["text"]]
    assert len(attempts) == 2 and attempts[0] == attempts[1]  # the page after the reload sent the same id
    assert [m["text"] for m in sim.fake.messages if m["role"] == "user"] == ["first", "second"]
    sim.close()


def test_messages_left_unsent_when_the_chat_closes_say_so(stack, browser):
    sim = Simulation(stack, browser)
    sim.widget.open()
    sim.say("hello")
    sim.fake.failing_sends = 1
    sim.say("are you there?")
    sim.fake.status = "closed"  # an agent (or the idle sweep) closed it meanwhile
    sim.advance(10)
    sim.widget.note("This chat has been closed.")
    bubble = sim.widget.log.locator("li.msg.user", has_text="are you there?")
    bubble.locator(".meta", has_text="Not sent").wait_for()
    assert sim.widget.box.is_hidden() and sim.page.get_by_role("button", name="Start a new chat").is_visible()
    sim.close()
