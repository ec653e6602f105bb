"""A crash in the middle of traffic, then one repair command.

The local stack runs as a subprocess (`python -m devstack run`). Widgets post messages (from several threads per
session), agents claim, transfer and close, and after a fixed number of answered calls the stack is killed with
SIGKILL, whatever it is doing: some executions die between the write that admits a message and the row's create,
or in the middle of a fold (and, so that the repair always has work, the test then leaves such a state itself).
It is started again on the same data folder and an admin runs the repair once:
`POST list-sessions /recount {"settleSeconds": 0}` (nothing is running after a crash). Then every invariant holds:
each messageCount equals its stored messages, the counters hold what the sessions' ledgers say, the summary equals
a count of the rows, nothing is half-assigned.

CRASH_CYCLES sets how many kill-and-repair cycles run (default 1). For the README figure:
    CRASH_CYCLES=10 HARDENING_REPORT_DIR=.local .venv/bin/python -m pytest tests/test_crash_repair.py -q -s
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import ROOT
from hardening_support import violations, write_report
from stack_support import Party

from bench import ROOMY_BUDGETS
from devstack.engine import Engine
from devstack.server import DB_FILE

CYCLES = int(os.environ.get("CRASH_CYCLES", "1"))
ADMIN_SECRET, BOT_SECRET = "crash-admin-secret", "crash-bot-secret"
KILL_AFTER = 40  # answered calls before the kill
WIDGETS, WRITERS_PER_WIDGET = 4, 3
START_SECONDS = 60  # a safety net against a stack that never starts, not a timed assertion


@dataclass
class Running:
    """A stack subprocess, with what `stack_support.Party` needs."""

    process: subprocess.Popen
    endpoint: str
    project_id: str
    api_key: str

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(START_SECONDS)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(START_SECONDS)
        except subprocess.TimeoutExpired:
            self.kill()


def start(data: Path) -> Running:
    env = {**os.environ, "ADMIN_SECRET": ADMIN_SECRET, "BOT_SECRET": BOT_SECRET,
           "MAX_MESSAGES_PER_MINUTE": "100000", "PYTHONUNBUFFERED": "1", **ROOMY_BUDGETS}
    process = subprocess.Popen([sys.executable, "-m", "devstack", "run", "--port", "0", "--data", str(data),
                                "--root", str(ROOT)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    seen: dict[str, str] = {}
    for line in process.stdout:  # the banner: endpoint, project and key lines
        words = line.split()
        if len(words) >= 2 and words[0] in ("endpoint", "project") or line.strip().startswith("API key"):
            seen["key" if words[0] == "API" else words[0]] = words[2] if words[0] == "API" else words[1]
        if len(seen) == 3:
            break
    else:
        raise AssertionError(f"the stack did not start (exit {process.wait()})")
    threading.Thread(target=lambda: [None for _ in process.stdout], daemon=True).start()  # keep the pipe drained
    return Running(process, seen["endpoint"], seen["project"], seen["key"])


def traffic(running: Running, killed: threading.Event, tally: Counter) -> list[threading.Thread]:
    """Client threads that keep calling until the stack is gone; `killed` is set after KILL_AFTER answers."""
    lock = threading.Lock()

    def answered(kind: str) -> None:
        with lock:
            tally[kind] += 1
            if sum(tally.values()) >= KILL_AFTER:
                killed.set()

    def widget(n: int) -> None:
        party = Party(running, key=False)
        status, created = party.run("create-session", {"userMeta": {"crash": n}})
        answered("create")
        me = {"x-session-token": created["token"]}

        def post(w: int) -> None:
            for i in range(10_000):
                text = "I want a human" if i == 3 else f"{n}.{w}.{i}"
                party.run("touch-session", {"sessionId": created["sessionId"],
                                            "message": {"text": text, "id": f"{w}-{i}"}}, headers=me)
                answered("message")
        threads = [threading.Thread(target=guard, args=(post, w)) for w in range(WRITERS_PER_WIDGET)]
        for thread in threads:
            thread.start()
        agent = Party(running, user="agent-alice")
        for _ in range(10_000):
            for path, body in (("/claim", {}), ("/transfer", {"agentId": "agent-bob"})):
                agent.run("assign-agent", {"sessionId": created["sessionId"], **body}, path=path)
                answered("assign")
            Party(running, user="agent-bob").run("assign-agent", {"sessionId": created["sessionId"]},
                                                 path="/unassign")
            answered("assign")

    def guard(fn, *args) -> None:
        with contextlib.suppress(Exception):  # the stack was killed under it: that is the point
            fn(*args)

    threads = [threading.Thread(target=guard, args=(widget, n)) for n in range(WIDGETS)]
    for thread in threads:
        thread.start()
    return threads


def leave_what_a_crash_leaves(data: Path) -> None:
    """Make sure the repair has work whatever moment the kill hit: one session with a message admitted whose row was
    never stored (what a kill between the two writes leaves), and counters out of step (as an older version could
    leave them)."""
    engine = Engine(ROOT / "appwrite.json", data / DB_FILE)
    try:
        session = engine.list_rows("chat", "sessions", [json.dumps({"method": "limit", "values": [1]})])["rows"][0]
        engine.update_row("chat", "sessions", session["$id"], {"messageCount": session["messageCount"] + 1})
        counters = engine.list_rows("chat", "counters", [json.dumps({"method": "limit", "values": [1]})])["rows"]
        if counters:
            name = next(k for k, v in counters[0].items() if k[0] != "$" and k != "batch" and isinstance(v, int))
            engine.update_row("chat", "counters", counters[0]["$id"], {name: counters[0][name] + 5})
    finally:
        engine.close()


def offline_violations(data: Path) -> list[str]:
    """The invariants, read straight from the stopped stack's database."""
    engine = Engine(ROOT / "appwrite.json", data / DB_FILE)
    try:
        return violations(SimpleNamespace(engine=engine))
    finally:
        engine.close()


def test_one_repair_restores_every_invariant_after_a_kill(tmp_path):
    figures = {"cycles": CYCLES, "broken_by_the_kill": [], "repairs": [], "calls": Counter()}
    for _ in range(CYCLES):
        running = start(tmp_path)
        killed, tally = threading.Event(), Counter()
        threads = traffic(running, killed, tally)
        assert killed.wait(START_SECONDS), tally
        running.kill()
        for thread in threads:
            thread.join(START_SECONDS)
        assert not any(thread.is_alive() for thread in threads)
        figures["calls"].update(tally)
        figures["broken_by_the_kill"].append(len(offline_violations(tmp_path)))
        leave_what_a_crash_leaves(tmp_path)
        assert offline_violations(tmp_path) != []

        running = start(tmp_path)
        try:
            status, repaired = Party(running, headers={"x-chat-secret": ADMIN_SECRET}).run(
                "list-sessions", {"settleSeconds": 0}, path="/recount")
            assert status == 200, repaired
            figures["repairs"].append({k: repaired.get(k) for k in ("counters", "messageCounts")})
        finally:
            running.stop()
        assert offline_violations(tmp_path) == []
    figures["calls"] = dict(figures["calls"])
    print(f"\ncrash and repair: {json.dumps(figures)}")
    write_report("crash-repair.json", figures)


@pytest.mark.parametrize("settle", [-1, 3601, "0", True])
def test_the_repair_refuses_a_settle_time_out_of_range(appwrite, settle):
    from conftest import execute

    result = execute("list-sessions", {"settleSeconds": settle}, path="/recount", secret="admin-secret-for-tests")
    assert result.status == 400 and result.error in ("invalid_value", "invalid_type"), result
