"""The chat story of issue 20, step by step, on the local stack; and, given a running Node system, on theirs.

    .venv/bin/python -m bench.story [--runs 5] [--node-url URL --node-token TOKEN]

The story: open, three questions the bot answers, ask for a human, claim, agent reply, admin list. Ours runs
through executions over loopback HTTP as a widget, the reference bot (its event executions), an agent and an admin
would; each step waits until the stack is idle (the bot's event executions done), so the requests it counts are the
step's whole cost: every TablesDB/Users request the stack serves meanwhile, bot included. Latency is the step's
execution at the client (the bot's reply is not in the visitor's execution: it arrives over Realtime). Medians over
`--runs` stories.

Theirs (Aamirgheewale/ai-support `apps/api` at 920d408, not part of this repository, started separately): the same
story through its own interface, Socket.IO for the visitor and the agent (`start_session`, `user_message`,
`agent_takeover`, `agent_message`) and HTTP for the admin (`GET /admin/sessions`, bearer `--node-token`); needs the
`python-socketio` client. This driver was written from their routes and has NOT been run against their system;
it times their steps at the client only (their Appwrite requests are not counted yet: that needs their
APPWRITE_ENDPOINT on a counting stack). Without `--node-url` the bench prints ours and says the comparison needs
theirs running.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from stack_support import Party, function_variables  # noqa: E402

from bench import ROOMY_BUDGETS  # noqa: E402
from bench.stack import Counted  # noqa: E402
from devstack.server import Stack  # noqa: E402

ADMIN_SECRET = "story-admin-secret"
AGENT = "agent-story"
QUESTIONS = ("What are your opening hours?", "How long does shipping take?", "How do I return an item?")
HANDOFF = "I want to talk to a person"
STEPS = ("open", "question 1", "question 2", "question 3", "ask for a human", "claim", "agent reply", "admin list")


def step(stack: Stack, counted: Counted, action: Callable[[], tuple[int, dict]]) -> tuple[int, float, dict]:
    """Runs one step: (requests served until the stack is idle again, the client's ms, the answer)."""
    before = counted.count
    started = time.perf_counter()
    status, answer = action()
    took = (time.perf_counter() - started) * 1000
    assert status in (200, 201), (status, answer)
    assert stack.wait_idle(15)
    return counted.count - before, took, answer


def our_story(stack: Stack, counted: Counted, widget: Party, agent: Party, admin: Party) -> dict[str, tuple]:
    figures: dict[str, tuple] = {}
    n, ms, created = step(stack, counted, lambda: widget.run("create-session", {}))
    figures["open"] = (n, ms)
    sid, me = created["sessionId"], {"x-session-token": created["token"]}

    def say(text: str) -> Callable[[], tuple[int, dict]]:
        return lambda: widget.run("touch-session", {"sessionId": sid, "message": {"text": text}}, headers=me)

    for i, question in enumerate(QUESTIONS, 1):
        figures[f"question {i}"] = step(stack, counted, say(question))[:2]
    figures["ask for a human"] = step(stack, counted, say(HANDOFF))[:2]
    figures["claim"] = step(stack, counted, lambda: agent.run("assign-agent", {"sessionId": sid}, path="/claim"))[:2]
    figures["agent reply"] = step(stack, counted, lambda: agent.run(
        "touch-session", {"sessionId": sid, "message": {"role": "agent", "text": "Hello, I am here to help."}}))[:2]
    figures["admin list"] = step(stack, counted, lambda: admin.run("list-sessions", method="GET"))[:2]
    assert admin.run("close-session", {"sessionId": sid})[0] == 200  # not in the story: frees the agent's slot
    assert stack.wait_idle(15)
    return figures


def ours(runs: int, port: int) -> list[dict[str, tuple]]:
    with tempfile.TemporaryDirectory() as data, \
            function_variables({**ROOMY_BUDGETS, "ADMIN_SECRET": ADMIN_SECRET, "AUTO_ASSIGN": "off"}), \
            Stack(data_dir=Path(data), port=port, run_scheduler=False) as stack:
        stack.add_user(AGENT, AGENT, ["agent"])
        counted = Counted(stack.rest)
        widget, agent = Party(stack, key=False), Party(stack, user=AGENT)
        admin = Party(stack, headers={"x-chat-secret": ADMIN_SECRET})
        our_story(stack, counted, widget, agent, admin)  # warm: every function's first execution, JWT verified
        return [our_story(stack, counted, widget, agent, admin) for _ in range(runs)]


def their_story(url: str, token: str, timeout: float = 30.0) -> dict[str, tuple]:
    """Theirs, timed at the client; requests are filled in by the caller when their Appwrite is our stack."""
    import requests
    import socketio  # python-socketio's client: their visitor and agent speak Socket.IO

    figures: dict[str, tuple] = {}
    sid = f"story_{uuid.uuid4().hex[:12]}"
    visitor, agent = socketio.Client(), socketio.Client()
    answered: list[dict] = []
    heard: dict[str, int] = {}
    visitor.on("bot_message", lambda data: answered.append(data))
    for event in ("session_started", "agent_joined", "agent_message"):  # what the visitor's room is told
        visitor.on(event, lambda data, event=event: heard.__setitem__(event, heard.get(event, 0) + 1))
    visitor.connect(url)
    agent.connect(url)

    def until(condition: Callable[[], bool]) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError("the Node system did not answer in time")
            time.sleep(0.005)

    def timed(name: str, action: Callable[[], None]) -> None:
        started = time.perf_counter()
        action()
        figures[name] = (None, (time.perf_counter() - started) * 1000)

    def emit_until(client: socketio.Client, event: str, data: dict, answer: str) -> Callable[[], None]:
        def action() -> None:
            seen = heard.get(answer, 0)
            client.emit(event, data)
            until(lambda: heard.get(answer, 0) > seen)
        return action

    timed("open", emit_until(visitor, "start_session", {"sessionId": sid, "userMeta": {}}, "session_started"))
    for i, question in enumerate((*QUESTIONS, HANDOFF), 1):
        seen = len(answered)
        visitor.emit("user_message", {"sessionId": sid, "text": question})
        name = f"question {i}" if i <= len(QUESTIONS) else "ask for a human"
        timed(name, lambda seen=seen: until(lambda: len(answered) > seen))
    timed("claim", emit_until(agent, "agent_takeover", {"sessionId": sid, "agentId": AGENT}, "agent_joined"))
    timed("agent reply", emit_until(agent, "agent_message", {"sessionId": sid, "agentId": AGENT,
                                                             "text": "Hello, I am here to help."}, "agent_message"))
    timed("admin list", lambda: requests.get(f"{url}/admin/sessions", headers={"Authorization": f"Bearer {token}"},
                                             timeout=timeout).raise_for_status())
    visitor.disconnect()
    agent.disconnect()
    return figures


def medians(stories: list[dict[str, tuple]]) -> dict[str, tuple]:
    """step -> (median requests or None, median ms), and the story's: the median of the sums."""
    out = {}
    for name in (*STEPS, "story"):
        if name == "story":
            counts = [sum(s[k][0] for k in STEPS) if all(s[k][0] is not None for k in STEPS) else None
                      for s in stories]
            times = [sum(s[k][1] for k in STEPS) for s in stories]
        else:
            counts = [s[name][0] for s in stories]
            times = [s[name][1] for s in stories]
        known = [c for c in counts if c is not None]
        out[name] = (statistics.median(known) if known else None, statistics.median(times))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--port", type=int, default=0, help="our stack's port (0: any free one)")
    parser.add_argument("--node-url", help="a running Node system's base URL (theirs)")
    parser.add_argument("--node-token", default="", help="an admin's bearer token for theirs")
    args = parser.parse_args()
    our = medians(ours(args.runs, args.port))
    their = medians([their_story(args.node_url, args.node_token) for _ in range(args.runs)]) if args.node_url \
        else None
    print(f"story over {args.runs} runs (medians; the story's row: the median of the sums)")
    header = f"{'step':<18}{'our requests':>13}{'our ms':>9}"
    if their:
        header += f"{'their requests':>15}{'their ms':>10}{'requests x':>11}{'latency x':>10}"
    print(header)
    for name in (*STEPS, "story"):
        n, ms = our[name]
        line = f"{name:<18}{n:>13g}{ms:>9.1f}"
        if their:
            tn, tms = their[name]
            ratio = f"{tn / n:.2f}" if tn is not None and n else "-"
            line += f"{tn if tn is not None else '-':>15}{tms:>10.1f}{ratio:>11}{tms / ms:>10.2f}"
        print(line)
    if not their:
        print("the comparison needs theirs running: --node-url URL (Aamirgheewale/ai-support apps/api, 920d408)")


if __name__ == "__main__":
    main()
