"""Benchmark the bundle through the local stack: executions over HTTP, events, then list latency at 10k and 100k.

    .venv/bin/python -m bench.stack [--sessions 10000] [--messages 5] [--big 100000] [--workers 8]

1. Through executions (the SDK's Functions.create_execution over loopback HTTP, as a widget would): create
   --sessions sessions and post --messages messages to each, questions the bundled FAQ answers (QUESTIONS, in
   turn; a question the bot cannot answer would hand the session to a person). Every stored message also fires
   the `bot` event execution (appwrite.json's events), as on Appwrite: the bot answers a visitor's message (its
   reply is a message too, whose event the bot ignores); the run waits for those too. The executions are counted
   as the stack runs them, by function.
2. list-sessions (page of 25 + summary) latency as an admin, at --sessions sessions, once the counters hold every
   session (the fold, list-sessions' minute schedule, is run here until nothing is left).
3. Rows are added straight into the engine up to --big sessions (executions at that scale would only measure the
   same throughput longer), the counters are rebuilt with POST /recount, and the latency is measured again, with
   the console's queue request (the 100 longest waiting of ~1 in 21 sessions, with the summary).
4. Appwrite (TablesDB) requests the stack served per operation.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

from appwrite.client import Client
from appwrite.services.functions import Functions

from bench import ROOMY_BUDGETS
from devstack.server import Stack

ADMIN_SECRET = "bench-admin-secret"
# Each answered by functions/bot/src/faq.json, so the bot replies and the session stays with it.
QUESTIONS = ("Hello", "What are your opening hours?", "Where is my order?", "How long does delivery take?",
             "Can I return it?")


class Counted:
    """Counts the TablesDB/Users requests the stack serves (not the executions themselves)."""

    def __init__(self, rest) -> None:
        self.count = 0
        self._lock = threading.Lock()
        self._handle = rest.handle
        rest.handle = self.handle

    def handle(self, *args, **kwargs):
        with self._lock:
            self.count += 1
        return self._handle(*args, **kwargs)


class Executions:
    """Counts the executions the stack's runtime starts, by function: synchronous ones, and those it queues
    (events, schedules, asynchronous executions)."""

    def __init__(self, runtime) -> None:
        self.by_function: dict[str, int] = {}
        self._lock = threading.Lock()
        for name in ("execute", "submit"):
            setattr(runtime, name, self._counting(getattr(runtime, name)))

    def _counting(self, start):
        def counted(function_id, request):
            with self._lock:
                self.by_function[function_id] = self.by_function.get(function_id, 0) + 1
            return start(function_id, request)
        return counted

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self.by_function.values())

    def breakdown(self) -> str:
        with self._lock:
            return ", ".join(f"{name} {count:,}" for name, count in sorted(self.by_function.items()))


def functions_for(stack: Stack, key: bool = True) -> Functions:
    client = Client().set_endpoint(stack.endpoint).set_project(stack.project_id)
    return Functions(client.set_key(stack.api_key) if key else client)


def run(functions: Functions, function_id: str, body: dict | None = None, *, path: str = "/", method: str = "POST",
        headers: dict | None = None) -> dict:
    execution = functions.create_execution(function_id, body=json.dumps(body) if body is not None else "",
                                           xasync=False, path=path, method=method,
                                           headers={"content-type": "application/json", **(headers or {})})
    if execution.responsestatuscode >= 400:
        raise RuntimeError(f"{function_id} {path}: {execution.responsestatuscode} {execution.responsebody[:200]}")
    return json.loads(execution.responsebody)


def widget_session(stack: Stack, messages: int) -> None:
    functions = functions_for(stack, key=False)
    created = run(functions, "create-session", {"userMeta": {"browser": "bench"}})
    me = {"x-session-token": created["token"]}
    for i in range(messages):
        run(functions, "touch-session", {"sessionId": created["sessionId"], "message": {
            "text": QUESTIONS[i % len(QUESTIONS)], "id": f"b{i}"}}, headers=me)


def fold_all(stack: Stack) -> int:
    """Run list-sessions' schedule (every minute on Appwrite) until the counters hold every session."""
    total = 0
    while True:
        queued = stack.runtime.fire_schedule("list-sessions")
        record = stack.runtime.wait_for(queued["$id"], 300)
        folded = json.loads(record["responseBody"])["folded"]
        total += folded
        if not folded:
            return total


def list_latency(stack: Stack, runs: int = 30, path: str = "/?limit=25&needsHuman=false",
                 page: int = 25) -> tuple[float, float]:
    admin = functions_for(stack)
    headers = {"x-chat-secret": ADMIN_SECRET}
    run(admin, "list-sessions", method="GET", headers=headers)  # warm the module and SQLite caches
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        answer = run(admin, "list-sessions", method="GET", path=path, headers=headers)
        samples.append((time.perf_counter() - start) * 1000)
        assert len(answer["sessions"]) == page and answer["summary"]["total"] > 0
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def grow(stack: Stack, target: int) -> float:
    """Fill the sessions table up to `target` rows, then repair the counters; the repair's seconds."""
    existing = stack.engine.list_rows("chat", "sessions", [], total=True)["total"]
    now = datetime.now(timezone.utc).isoformat()
    stack.engine.bulk_insert("chat", "sessions", (
        {"$id": f"s_seed{i:08d}", "status": ("active", "agent_assigned", "closed")[i % 3], "lastSeen": now,
         "tokenHash": "0" * 64, "needsHuman": i % 7 == 0 and i % 3 == 0, "messageCount": 0,
         "escalatedAt": now if i % 7 == 0 and i % 3 == 0 else None,
         "assignedAgent": "agent-alice" if i % 3 else None}
        for i in range(max(0, target - max(existing, 5000 if existing >= 5000 else existing)))))
    # A repair over this many sessions outlasts a synchronous execution (30 s): run it as Appwrite would for a large
    # project, asynchronously, within list-sessions' own timeout.
    start = time.perf_counter()
    queued = functions_for(stack).create_execution(
        "list-sessions", body="{}", xasync=True, path="/recount", method="POST",
        headers={"content-type": "application/json", "x-chat-secret": ADMIN_SECRET})
    record = stack.runtime.wait_for(queued.id, 1800)
    assert record and record["responseStatusCode"] == 200, record and record["responseBody"][:200]
    return time.perf_counter() - start


def requests_per_operation(stack: Stack, counted: Counted) -> list[tuple[str, int]]:
    guest, alice = functions_for(stack, key=False), Functions(
        Client().set_endpoint(stack.endpoint).set_project(stack.project_id).set_key(stack.api_key)
        .add_header("x-appwrite-impersonate-user-id", "agent-alice"))
    admin = {"x-chat-secret": ADMIN_SECRET}
    figures = []

    def measure(name, action):
        stack.wait_idle(30)
        before = counted.count
        result = action()
        figures.append((name, counted.count - before))
        return result

    created = measure("create-session", lambda: run(guest, "create-session", {}))
    me = {"x-session-token": created["token"]}
    body = {"sessionId": created["sessionId"], "message": {"text": "hello"}}
    measure("touch-session with a message (+ its event)", lambda: (run(guest, "touch-session", body, headers=me),
                                                                   stack.wait_idle(30)))
    body = {"sessionId": created["sessionId"], "message": {"text": "a human please"}}
    measure("touch-session escalating (+ its event)", lambda: (run(guest, "touch-session", body, headers=me),
                                                               stack.wait_idle(30)))
    run(alice, "list-sessions", method="GET")  # the agent's labels are cached from here on
    measure("assign-agent /claim", lambda: run(alice, "assign-agent", {"sessionId": created["sessionId"]},
                                               path="/claim"))
    measure("list-sessions page + summary", lambda: run(functions_for(stack), "list-sessions", method="GET",
                                                        headers=admin))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=5)
    parser.add_argument("--big", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    os.environ["ADMIN_SECRET"] = ADMIN_SECRET
    os.environ.update(ROOMY_BUDGETS)  # one process plays 10,000 visitors; the budget requests are still made
    with tempfile.TemporaryDirectory() as data, \
            Stack(data_dir=data, port=0, run_scheduler=False, seed_users=True) as stack:
        counted = Counted(stack.rest)
        executed = Executions(stack.runtime)
        start = time.perf_counter()
        with ThreadPoolExecutor(args.workers) as pool:
            list(pool.map(lambda _: widget_session(stack, args.messages), range(args.sessions)))
        assert stack.wait_idle(600)
        elapsed = time.perf_counter() - start
        executions = executed.total
        rows = [(f"executions ({args.sessions:,} sessions of {args.messages} messages)",
                 f"{executions:,} in {elapsed:.1f} s = {executions / elapsed:,.0f}/s ({args.workers} client threads; "
                 f"events included: {executed.breakdown()})"),
                ("TablesDB requests served", f"{counted.count:,} = {counted.count / elapsed:,.0f}/s "
                 f"({counted.count / executions:.1f} per execution)")]
        folded = fold_all(stack)
        rows.append(("fold (the minute schedule), run once at the end", f"{folded:,} sessions"))
        median, p95 = list_latency(stack)
        rows.append((f"list-sessions page + summary at {args.sessions:,}", f"median {median:.1f} ms, p95 {p95:.1f} ms"))
        repair_seconds = grow(stack, args.big)
        rows.append((f"POST /recount (the repair, asynchronous) at {args.big:,}", f"{repair_seconds:.1f} s"))
        median, p95 = list_latency(stack)
        rows.append((f"list-sessions page + summary at {args.big:,}", f"median {median:.1f} ms, p95 {p95:.1f} ms"))
        median, p95 = list_latency(stack, path="/?needsHuman=true&sort=escalatedAt&order=asc&limit=100", page=100)
        rows.append((f"the console's queue (100 longest waiting + summary) at {args.big:,}",
                     f"median {median:.1f} ms, p95 {p95:.1f} ms"))
        per_op = requests_per_operation(stack, counted)
    print("| measure | result |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    print("\n| operation (through the stack) | TablesDB requests |\n|---|---|")
    for name, count in per_op:
        print(f"| {name} | {count} |")


if __name__ == "__main__":
    main()
