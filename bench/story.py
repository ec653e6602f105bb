"""The chat story of issue 20, step by step, on the local stack: ours, and side by side the Node system we replace.

    .venv/bin/python -m bench.story [--runs 5] [--warm 2]
        [--node-url URL --node-token TOKEN --stack-port 18787 --llm-port 18788 --node-key KEY] [--trace] [--signed-in]

The story: open, three questions the bot answers, ask for a human, claim, agent reply, admin list. Our visitor is a
guest (the widget's fallback), or with `--signed-in` signs in anonymously first as the widget does when it can: two
Account requests in the open step, and the JWT create-session verifies (its own budget rows then start cold).

Ours runs through executions over loopback HTTP as a widget, the bot (its event executions), an agent and an admin
would, twice per round: with the reference FAQ bot, and with the bot's model provider (BOT_LLM_ENDPOINT) pointed at
a loopback chat-API stand-in (tests/llm_standin.py). Theirs (Aamirgheewale/ai-support `apps/api` at 920d408, started
beforehand with its Appwrite endpoint on `--stack-port`, this stand-in's project ID and `--node-key`, and its Gemini
base URL on `--llm-port`: bench/story_node.py) runs after each of ours, on the same stand-in, in the same process's
stack: ours (FAQ), theirs, ours (model), theirs, and so on. Their collections are made on the stand-in from their
documented schema (bench/node_schema.py).

Requests: every TablesDB/Users/Databases request the stand-in serves in the step's window, bot included. Each step
starts when the stand-in is idle and ends when it is idle again (ours: no execution queued or running; theirs: no
request for 0.3 s), so a window holds one side's requests only. Latency: from the step's start until its outcome
is stored and seen: theirs until the visitor's socket (or the admin's HTTP client) receives it; ours until the
execution answered AND the step's last row write is committed (for a question the FAQ bot answers, the visitor's
execution itself stores both rows; with the model, the bot's reply row, written by its event execution; the socket's
delivery is not waited for), which can only overstate ours. Both
sides warm up with `--warm` rounds first (a round plays ours twice, FAQ and model, and theirs twice, so each side's
admin list sees as many sessions). The figures are medians over `--runs` rounds; the story's row is the median of the
per-story sums.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from llm_standin import ChatApiStandIn, completion, generation  # noqa: E402
from stack_support import Party, function_variables, visitor_jwt  # noqa: E402

from bench import ROOMY_BUDGETS, node_schema  # noqa: E402
from bench.story_node import AGENT_REPLY, HANDOFF, QUESTIONS, STEPS, Step, Traced, their_story  # noqa: E402
from devstack.server import Stack  # noqa: E402

ADMIN_SECRET = "story-admin-secret"
AGENT = "agent-alice"  # a seeded agent who signs in, as the console does, and keeps its JWT
MODEL_ANSWER = "Our opening hours are Monday to Friday, 9 to 17."
TARGETS = {"requests": 2.0, "latency": 3.0}  # issue 20, item 1: theirs / ours at least
OURS_FAQ, OURS_MODEL, THEIRS = "ours (FAQ bot)", "ours (model)", "theirs"


def answer_for(body: dict) -> tuple[int, dict]:
    """The model stand-in's one answer, in the shape each side's client reads."""
    return generation(MODEL_ANSWER) if isinstance(body, dict) and "contents" in body else completion(MODEL_ANSWER)


class Ours:
    def __init__(self, stack: Stack, traced: Traced, signed_in: bool = False) -> None:
        self.stack, self.traced, self.signed_in = stack, traced, signed_in
        self.widget, self.agent = Party(stack, key=False), Party(stack, signed_in=AGENT)
        self.admin = Party(stack, headers={"x-chat-secret": ADMIN_SECRET})

    def step(self, action: Callable[[], tuple[int, dict]]) -> tuple[Step, dict]:
        assert self.stack.wait_idle(30)
        self.traced.wait_quiet(0.02)
        self.traced.begin()
        started = time.perf_counter()
        status, answer = action()
        answered = time.perf_counter()
        assert status in (200, 201), (status, answer)
        assert self.stack.wait_idle(30)
        self.traced.wait_quiet(0.02)
        step = self.traced.close(started, max(answered, self.traced.last_write))
        step.answered_ms = (answered - started) * 1000
        return step, answer

    def open(self) -> tuple[int, dict]:
        """create-session, as a guest; or (`--signed-in`) as the widget does when it can: an anonymous account
        session and a JWT from it (two Account requests, counted), which create-session verifies (one more)."""
        if not self.signed_in:
            return self.widget.run("create-session", {})
        return self.widget.run("create-session", {}, headers={"X-Chat-JWT": visitor_jwt(self.stack)})

    def story(self) -> dict[str, Step]:
        figures: dict[str, Step] = {}
        figures["open"], created = self.step(self.open)
        sid, me = created["sessionId"], {"x-session-token": created["token"]}

        def say(text: str) -> Callable[[], tuple[int, dict]]:
            return lambda: self.widget.run("touch-session", {"sessionId": sid, "message": {"text": text}}, headers=me)

        for i, question in enumerate(QUESTIONS, 1):
            figures[f"question {i}"] = self.step(say(question))[0]
        figures["ask for a human"] = self.step(say(HANDOFF))[0]
        figures["claim"] = self.step(lambda: self.agent.run("assign-agent", {"sessionId": sid}, path="/claim"))[0]
        figures["agent reply"] = self.step(lambda: self.agent.run(
            "touch-session", {"sessionId": sid, "message": {"role": "agent", "text": AGENT_REPLY}}))[0]
        figures["admin list"] = self.step(lambda: self.admin.run("list-sessions", method="GET"))[0]
        assert self.admin.run("close-session", {"sessionId": sid})[0] == 200  # not in the story: frees the slot
        assert self.stack.wait_idle(30)
        return figures


def run(args: argparse.Namespace) -> dict[str, list[dict[str, Step]]]:
    stories: dict[str, list[dict[str, Step]]] = {OURS_FAQ: [], OURS_MODEL: [], THEIRS: []}
    with ExitStack() as on_exit:
        data = on_exit.enter_context(tempfile.TemporaryDirectory())
        api = on_exit.enter_context(ChatApiStandIn(answer_for, port=args.llm_port))
        model = {"BOT_LLM_ENDPOINT": api.endpoint, "BOT_LLM_API_KEY": "sk-local-story", "BOT_LLM_MODEL": "stand-in"}
        on_exit.enter_context(function_variables({**ROOMY_BUDGETS, "ADMIN_SECRET": ADMIN_SECRET,
                                                  "AUTO_ASSIGN": "off"}))
        stack = on_exit.enter_context(Stack(data_dir=Path(data), port=args.stack_port, run_scheduler=False))
        if args.node_url:  # their key: the scopes their Databases calls need, as an admin would make it
            stack.keys.add(args.node_key, {"documents.read", "documents.write"})
            node_schema.create(stack.endpoint, stack.project_id, stack.api_key)
        traced = Traced(stack)
        ours = Ours(stack, traced, args.signed_in)

        def play(side: str) -> dict[str, Step]:
            if side == THEIRS:
                return their_story(args.node_url, args.node_token, traced, AGENT)
            with function_variables(model if side == OURS_MODEL else {"BOT_LLM_ENDPOINT": ""}):
                return ours.story()

        rounds = [OURS_FAQ, THEIRS, OURS_MODEL, THEIRS] if args.node_url else [OURS_FAQ, OURS_MODEL]
        for _ in range(args.warm):  # whole rounds: each side then holds as many sessions as the other
            for side in rounds:
                play(side)
        for _ in range(args.runs):
            for side in rounds:
                stories[side].append(play(side))
        if args.trace:
            print(f"stand-in: {stack.endpoint}, project {stack.project_id}; model stand-in {api.endpoint}")
    return {side: runs for side, runs in stories.items() if runs}


def medians(stories: list[dict[str, Step]]) -> dict[str, tuple[float, float, float]]:
    """step -> (median requests, median ms, median ms serving requests); "story": medians of the per-story sums."""
    out = {name: (statistics.median(s[name].requests for s in stories), statistics.median(s[name].ms for s in stories),
                  statistics.median(s[name].request_ms for s in stories)) for name in STEPS}
    out["story"] = tuple(statistics.median(sum(getattr(s[k], f) for k in STEPS) for s in stories)  # type: ignore
                         for f in ("requests", "ms", "request_ms"))
    return out


def report(stories: dict[str, list[dict[str, Step]]], args: argparse.Namespace) -> None:
    figures = {side: medians(runs) for side, runs in stories.items()}
    sides = list(figures)
    per_side = {side: len(runs) for side, runs in stories.items()}
    print(f"the story, {args.runs} rounds after {args.warm} warm-up rounds (stories per side: {per_side}); "
          "medians; the story's row: the median of the per-story sums")
    print(f"{'step':<16}" + "".join(f"{side + ' req':>21}{'ms':>8}" for side in sides))
    for name in (*STEPS, "story"):
        print(f"{name:<16}" + "".join(f"{figures[s][name][0]:>21g}{figures[s][name][1]:>8.1f}" for s in sides))
    print("\nours, ms serving TablesDB requests / the rest (the runner's execution, HTTP, the SDK) per step:")
    for side in (OURS_FAQ, OURS_MODEL):
        split = {name: (figures[side][name][2], figures[side][name][1] - figures[side][name][2])
                 for name in (*STEPS, "story")}
        print(f"  {side}: " + ", ".join(f"{name} {a:.1f}/{b:.1f}" for name, (a, b) in split.items()))
    if THEIRS not in figures:
        print("\nthe comparison needs theirs running: --node-url URL --node-token TOKEN (bench/story.py's docstring)")
    else:
        theirs = figures[THEIRS]["story"]
        print()
        for side in (OURS_FAQ, OURS_MODEL):
            ours = figures[side]["story"]
            for what, ratio in (("requests", theirs[0] / ours[0]), ("latency", theirs[1] / ours[1])):
                met = "met" if ratio >= TARGETS[what] else "NOT met"
                print(f"{what} per story, theirs / {side}: {ratio:.2f}x (target >= {TARGETS[what]:g}x: {met})")
    if args.trace:
        for side, runs in stories.items():
            print(f"\n{side}, the last story's requests per step:")
            for name in STEPS:
                step = runs[-1][name]
                answered = f", the execution answered at {step.answered_ms:.1f} ms" if step.answered_ms else ""
                print(f"  {name} ({step.requests}, {step.ms:.1f} ms, {step.request_ms:.1f} ms serving them"
                      f"{answered}): " + "; ".join(step.trace))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--warm", type=int, default=2, help="warm-up rounds, not measured")
    parser.add_argument("--stack-port", type=int, default=0, help="the stand-in's port (theirs points at it)")
    parser.add_argument("--llm-port", type=int, default=0, help="the model stand-in's port (theirs points at it)")
    parser.add_argument("--node-url", help="the running Node system's base URL (theirs)")
    parser.add_argument("--node-token", default=os.environ.get("NODE_ADMIN_TOKEN", ""),
                        help="their admin bearer token (their ADMIN_SHARED_SECRET)")
    parser.add_argument("--node-key", default="node-story-key", help="the API key their system sends")
    parser.add_argument("--trace", action="store_true", help="list each step's requests (method + path)")
    parser.add_argument("--signed-in", action="store_true",
                        help="our visitor signs in anonymously first, as the widget does when it can (else a guest)")
    args = parser.parse_args()
    report(run(args), args)


if __name__ == "__main__":
    main()
