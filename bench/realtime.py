"""What Realtime changes for the people on both sides, on the local stack, in Chromium (docs/visitor-side.md, "Live").

    .venv/bin/python -m bench.realtime [--replies 40] [--waiters 20]

  reply       an agent's reply (a touch-session execution, timed from before the call) until it is in the visitor's
              widget (a MutationObserver on the widget's message log, in the page): p50, p95, max
  new waiter  a visitor's "Talk to a person" (an escalate execution, timed from before the call) until the session
              is in the queue of an agent's console (its timer set to an hour: only the socket explains it; the
              console shows a new waiter from its signal row at once, before the refresh that comes at most once in
              its 5 s period), one every 5.5 s: p50, p95
  checks      the widget's executions other than the visitor's own while this ran (the safety net)
  signals     signal rows written per operation, counted from the stack's events (one request whenever there are any:
              the session's row, and the queue's in the same upsertRows when the write moved the queue)

Both sides are real: the widget of the demo page and the agent console, each with its own socket. The reference
bot is switched off so that it adds no message of its own. Times are wall-clock milliseconds on one machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from stack_support import Party, disable_functions, function_variables  # noqa: E402
from test_console_browser import CHROMIUM_FLAGS, chromium_path, open_console  # noqa: E402

from bench import ROOMY_BUDGETS  # noqa: E402
from devstack.server import Stack  # noqa: E402

OBSERVE = """() => { window.__seen = {};
  const host = [...document.querySelectorAll("body > *")]
    .find((e) => e.shadowRoot && e.shadowRoot.querySelector("[role=log]"));
  const log = host.shadowRoot.querySelector("[role=log]");
  new MutationObserver(() => { for (const li of log.querySelectorAll("li.msg.agent")) {
    for (const m of li.textContent.match(/reply-\\d+/g) || [])
      if (!(m in window.__seen)) window.__seen[m] = Date.now(); }
  }).observe(log, { childList: true, subtree: true, characterData: true }); }"""
QUEUE = """() => { window.__queued = {};
  new MutationObserver(() => { for (const li of document.querySelectorAll("#queue li[data-session]"))
    if (!(li.dataset.session in window.__queued)) window.__queued[li.dataset.session] = Date.now(); })
  .observe(document.getElementById("queue"), { childList: true, subtree: true }); }"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def figures(values: list[float]) -> str:
    return (f"p50 {statistics.median(values):.0f} ms, p95 {percentile(values, 0.95):.0f} ms, "
            f"max {max(values):.0f} ms (n={len(values)})")


def measure(replies: int, waiters: int) -> dict:
    from playwright.sync_api import sync_playwright
    out: dict = {}
    with tempfile.TemporaryDirectory() as data, function_variables(ROOMY_BUDGETS), \
            Stack(ROOT, data_dir=Path(data), port=0, run_scheduler=False) as stack, sync_playwright() as pw:
        disable_functions(stack, "bot")
        writes: list[str] = []
        stack.engine.subscribe(lambda event: writes.append(event["tableId"]))
        browser = pw.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS)
        site = stack.endpoint.removesuffix("/v1")

        # The visitor, live, talking to an agent who claimed the chat.
        page = browser.new_context().new_page()
        page.goto(f"{site}/demo/")
        page.get_by_role("button", name="Trailhead help").click()
        box = page.get_by_role("textbox", name="Your message")
        box.fill("I want to talk to a person")
        box.press("Enter")
        page.get_by_role("status").filter(has_text="Waiting for an agent").wait_for(timeout=20_000)
        session_id = page.evaluate("""() => { for (const k of Object.keys(localStorage))
            if (k.startsWith("chat-widget:")) return JSON.parse(localStorage.getItem(k)).session.id; }""")
        agent = Party(stack, signed_in="agent-alice")
        assert agent.run("assign-agent", {"sessionId": session_id}, path="/claim")[0] == 200
        page.get_by_role("log", name="Messages").locator("li.note", has_text="joined the chat").wait_for(
            timeout=20_000)
        page.evaluate(OBSERVE)
        checks_before = _checks(stack, session_id)
        took = []
        for i in range(replies):
            started = time.time() * 1000
            status, _ = agent.run("touch-session", {"sessionId": session_id,
                                                    "message": {"role": "agent", "text": f"reply-{i}"}})
            assert status == 200
            page.wait_for_function(f"() => 'reply-{i}' in window.__seen", timeout=20_000)
            took.append(page.evaluate(f"window.__seen['reply-{i}']") - started)
            time.sleep(0.05)
        out["reply"] = took
        out["checks"] = _checks(stack, session_id) - checks_before

        # The console, live; new visitors ask for a person.
        console = browser.new_context().new_page()
        open_console(console, stack, "agent-bob", 3600)  # its timer once an hour: only the socket explains it
        console.locator("#refresh-status", has_text="live").wait_for(timeout=20_000)
        console.evaluate(QUEUE)
        queued = []
        for _ in range(waiters):
            visitor = Party(stack, key=False)
            status, created = visitor.run("create-session", {})
            sid = created["sessionId"]
            started = time.time() * 1000
            assert visitor.run("escalate", {"sessionId": sid}, headers={"x-session-token": created["token"]})[0] == 200
            console.wait_for_function(f"() => '{sid}' in window.__queued", timeout=20_000)
            queued.append(console.evaluate(f"window.__queued['{sid}']") - started)
            # The console shows the waiter from its signal at once; its refresh (at most once in its 5 s period)
            # fills in the rest. Spaced as a quiet desk's arrivals.
            time.sleep(5.5)
        out["waiter"] = queued

        # Requests the design adds: signal rows per operation.
        def signals_of(action) -> int:
            writes.clear()
            action()
            stack.wait_idle(10)
            return writes.count("signals")
        visitor = Party(stack, key=False)
        created = visitor.run("create-session", {})[1]
        sid, me = created["sessionId"], {"x-session-token": created["token"]}
        out["per-op"] = {
            "create-session": signals_of(lambda: None),
            "visitor message": signals_of(lambda: visitor.run("touch-session", {"sessionId": sid, "message": {
                "text": "hi"}}, headers=me)),
            "heartbeat": signals_of(lambda: visitor.run("touch-session", {"sessionId": sid}, headers=me)),
            "check (GET /messages)": signals_of(lambda: visitor.run(
                "touch-session", method="GET", path=f"/messages?sessionId={sid}", headers=me)),
            "escalate": signals_of(lambda: visitor.run("escalate", {"sessionId": sid}, headers=me)),
            "claim": signals_of(lambda: agent.run("assign-agent", {"sessionId": sid}, path="/claim")),
            "agent message": signals_of(lambda: agent.run("touch-session", {"sessionId": sid, "message": {
                "role": "agent", "text": "hello"}})),
            "close": signals_of(lambda: agent.run("close-session", {"sessionId": sid})),
        }
        browser.close()
    return out


def _checks(stack: Stack, session_id: str) -> int:
    return sum(1 for e in stack.runtime.list_executions("touch-session")
               if e["requestMethod"] == "GET" and session_id in e["requestPath"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replies", type=int, default=40)
    parser.add_argument("--waiters", type=int, default=20)
    args = parser.parse_args()
    out = measure(args.replies, args.waiters)
    print(f"agent's reply on the visitor's screen: {figures(out['reply'])}")
    print(f"the widget's checks meanwhile: {out['checks']}")
    print(f"new waiting visitor in the console: {figures(out['waiter'])}")
    print("signal rows written per operation (one request whenever any: upsertRow, or upsertRows for the session's"
          " row and the queue's):")
    for op, n in out["per-op"].items():
        print(f"  {op}: {n}")


if __name__ == "__main__":
    main()
