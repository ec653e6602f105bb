"""A bounded soak of the local stack: widgets, agents and an admin at once, then the books are checked.

    .venv/bin/python -m bench.soak [--widgets 50] [--agents 8] [--operations 5000] [--seed 1]

A Stack starts in a temporary directory (loopback, a free port). Widget threads create sessions, post messages
(some asking for a person, which escalates in the write that admits it; some resent with the same id), send
heartbeats, read their transcript, escalate and close. Agent threads list the queue and their own sessions, claim,
reply, transfer, unassign and close. One admin thread lists with the summary, assigns, transfers and closes. They
share a fixed budget of --operations calls (one call = one operation; no time-based loop), then the run waits for
the event executions to finish and checks:

- no answer (to a client, or of an event execution) is a 5xx, and every refusal is one a race can explain;
- ownership: the stack's own commit log of the session rows (an engine subscription, ordered per row by
  `$updatedAt`, which the engine keeps strictly increasing) shows exactly the claims/assigns, transfers and
  unassigns the clients were told succeeded. Two successful claims without a release in between would show as one
  claim plus an unexplained owner change; a closed session never changes owner or reopens;
- every session's messageCount equals its stored messages; every message answered as new is stored, once;
- the row states are consistent (an assigned session has its assignee, ...);
- the summary (list-sessions) equals a recount computed from the rows, and POST /recount changes nothing.

Prints markdown tables (operations by type, errors by code, checks) and exits 1 on any failed check. With
HARDENING_REPORT_DIR set, the figures are also written to soak.json there.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from appwrite.client import Client
from appwrite.exception import AppwriteException
from appwrite.query import Query
from appwrite.services.functions import Functions

from bench import ROOMY_BUDGETS
from devstack.server import Stack

ADMIN_SECRET = "soak-admin-secret"
PLAIN = ("hi", "where is my order?", "it says shipped", "thanks", "the tracking link is broken", "ok", "hello?")
ASKING = ("can I talk to a human?", "I need a real person", "get me an agent please", "representative!")
# Refusals a race explains: the session moved on between a caller's look and its call.
EXPECTED_REFUSALS = {"already_assigned", "session_closed", "not_assigned", "not_assignee", "forbidden",
                     "rate_limited", "concurrent_update"}
STATUSES = ("active", "agent_assigned", "closed")


def _rows(stack: Stack, table: str) -> list[dict]:
    found, cursor = [], []
    while True:
        page = stack.engine.list_rows("chat", table, [Query.limit(1000), *cursor])["rows"]
        found += page
        if len(page) < 1000:
            return found
        cursor = [Query.cursor_after(page[-1]["$id"])]


class Budget:
    """The fixed number of operations, shared by every thread."""

    def __init__(self, total: int) -> None:
        self._left, self._lock = total, threading.Lock()

    def take(self) -> bool:
        with self._lock:
            if self._left <= 0:
                return False
            self._left -= 1
            return True


@dataclass
class Tally:
    """What the clients saw. Appends and Counter updates happen under one lock."""

    ops: Counter = field(default_factory=Counter)
    answers: Counter = field(default_factory=Counter)  # (op, status class)
    errors: Counter = field(default_factory=Counter)  # (status, code)
    unexpected: list = field(default_factory=list)
    claims: Counter = field(default_factory=Counter)  # (session, agent): successful claim or assign
    transfers: Counter = field(default_factory=Counter)  # (session, to agent)
    unassigns: Counter = field(default_factory=Counter)  # session
    fresh_messages: dict = field(default_factory=lambda: defaultdict(set))  # session -> message ids answered new
    lock: threading.Lock = field(default_factory=threading.Lock)


class Party:
    """One caller with its own SDK client; every call is one operation, tallied."""

    def __init__(self, soak: Soak, *, user: str | None = None, key: bool = True, headers: dict | None = None):
        client = Client().set_endpoint(soak.stack.endpoint).set_project(soak.stack.project_id)
        if key:
            client.set_key(soak.stack.api_key)
        if user:
            client.add_header("x-appwrite-impersonate-user-id", user)
        self.functions, self.headers, self.tally = Functions(client), headers or {}, soak.tally

    def run(self, op: str, function_id: str, body: dict | None = None, *, path: str = "/", method: str = "POST",
            headers: dict | None = None) -> tuple[int, dict]:
        try:
            execution = self.functions.create_execution(
                function_id, body=json.dumps(body) if body is not None else "", xasync=False, path=path,
                method=method, headers={"content-type": "application/json", **self.headers, **(headers or {})})
            status = int(execution.responsestatuscode)
            try:
                answer = json.loads(execution.responsebody)
            except ValueError:
                answer = {"error": {"code": "unreadable_body"}}
        except AppwriteException as exc:  # the stack refused the execution itself
            status, answer = int(exc.code or 0), {"error": {"code": f"appwrite:{exc.type}"}}
        code = (answer.get("error") or {}).get("code") if isinstance(answer, dict) else None
        with self.tally.lock:
            self.tally.ops[op] += 1
            self.tally.answers[(op, f"{status // 100}xx")] += 1
            if status >= 400:
                self.tally.errors[(status, code)] += 1
                if status >= 500 or code not in EXPECTED_REFUSALS:
                    self.tally.unexpected.append((op, status, code))
        return status, answer


class Soak:
    def __init__(self, stack: Stack, *, widgets: int, agents: int, operations: int, seed: int) -> None:
        self.stack, self.seed = stack, seed
        self.widgets, self.operations = widgets, operations
        self.agents = tuple(f"agent-soak-{i}" for i in range(agents))
        self.budget, self.tally = Budget(operations), Tally()
        self.log: list[tuple[str, str, str, str | None, bool]] = []  # (row, $updatedAt, status, agent, waiting)
        self.executions: Counter = Counter()  # (function, trigger, status class), every execution the stack ran

    # --- taps on the stack ------------------------------------------------------------------------

    def tap(self) -> None:
        def record(event: dict) -> None:
            if event["tableId"] == "sessions" and event["action"] in ("create", "update"):
                row = event["row"]
                self.log.append((row["$id"], row["$updatedAt"], row["status"], row.get("assignedAgent"),
                                 bool(row.get("needsHuman"))))  # list.append: atomic under the GIL
        self.stack.engine.subscribe(record)
        runtime, finish = self.stack.runtime, self.stack.runtime._finish

        def finished(record: dict, headers: dict, context: Any, outcome: Any, duration: float) -> None:
            finish(record, headers, context, outcome, duration)
            self.executions[(record["functionId"], record["trigger"], f"{outcome.status // 100}xx")] += 1
        runtime._finish = finished  # counts event executions too, which no client sees

    # --- the actors -------------------------------------------------------------------------------

    def widget(self, index: int) -> None:
        rng, party = random.Random(f"{self.seed}-widget-{index}"), Party(self, key=False)
        session: str | None = None
        me: dict = {}
        sent = 0
        last_id: str | None = None
        while self.budget.take():
            if session is None:
                status, created = party.run("create", "create-session", {"userMeta": {"soak": index}})
                if status == 201:
                    session, me, last_id = created["sessionId"], {"x-session-token": created["token"]}, None
                continue
            roll = rng.random()
            if roll < 0.55:
                if last_id and rng.random() < 0.08:
                    op, message_id, text = "message (resent)", last_id, "resent"
                else:
                    sent += 1
                    op, message_id = "message", f"w{index}-{sent}"
                    text = rng.choice(ASKING) if rng.random() < 0.2 else rng.choice(PLAIN)
                last_id = message_id
                status, answer = party.run(op, "touch-session", {"sessionId": session, "message": {
                    "text": text, "id": message_id}}, headers=me)
                self._note_message(session, status, answer)
            elif roll < 0.75:
                status, _ = party.run("heartbeat", "touch-session", {"sessionId": session}, headers=me)
            elif roll < 0.83:
                status, _ = party.run("transcript", "touch-session", path=f"/messages?sessionId={session}&limit=50",
                                      method="GET", headers=me)
            elif roll < 0.90:
                status, _ = party.run("escalate", "escalate", {"sessionId": session, "reason": "soak"}, headers=me)
            else:
                status, _ = party.run("close (visitor)", "close-session", {"sessionId": session}, headers=me)
                if status == 200:
                    session = None
                    continue
            if status == 409:  # an agent or the admin closed it: start over
                session = None

    def agent(self, index: int) -> None:
        me = self.agents[index]
        rng, party = random.Random(f"{self.seed}-agent-{index}"), Party(self, user=me)
        queue: list[str] = []
        mine: set[str] = set()
        replies = 0
        while self.budget.take():
            roll = rng.random()
            if not queue and not mine or roll < 0.2:
                status, listing = party.run("list queue", "list-sessions", method="GET",
                                            path="/?status=active&needsHuman=true&order=asc&limit=25&summary=false")
                queue = [s["sessionId"] for s in listing.get("sessions", [])] if status == 200 else []
            elif queue and (not mine or roll < 0.5):
                session = queue.pop(rng.randrange(len(queue)))
                status, answer = party.run("claim", "assign-agent", {"sessionId": session}, path="/claim")
                if status == 200:
                    mine.add(session)
                    self._note_claim(session, me, answer)
            elif mine and roll < 0.7:
                replies += 1
                session = rng.choice(sorted(mine))
                status, answer = party.run("reply", "touch-session", {"sessionId": session, "message": {
                    "role": "agent", "text": "on it", "id": f"{me}-{replies}"}})
                self._note_message(session, status, answer)
                if status in (403, 409):
                    mine.discard(session)
            elif mine and roll < 0.8:
                session, to = rng.choice(sorted(mine)), rng.choice([a for a in self.agents if a != me] or [me])
                status, answer = party.run("transfer", "assign-agent", {"sessionId": session, "agentId": to},
                                           path="/transfer")
                mine.discard(session)
                self._note_transfer(session, to, status, answer)
            elif mine and roll < 0.87:
                session = rng.choice(sorted(mine))
                status, answer = party.run("unassign", "assign-agent", {"sessionId": session}, path="/unassign")
                mine.discard(session)
                self._note_unassign(session, status, answer)
            elif mine and roll < 0.94:
                session = rng.choice(sorted(mine))
                party.run("close (agent)", "close-session", {"sessionId": session, "reason": "solved"})
                mine.discard(session)
            else:
                status, listing = party.run("list mine", "list-sessions", method="GET",
                                            path=f"/?status=agent_assigned&assignedAgent={me}&limit=100&summary=false")
                if status == 200:
                    mine = {s["sessionId"] for s in listing["sessions"]}

    def admin(self) -> None:
        rng = random.Random(f"{self.seed}-admin")
        party = Party(self, headers={"x-chat-secret": ADMIN_SECRET})
        seen: list[dict] = []
        while self.budget.take():
            roll = rng.random()
            waiting = [s for s in seen if s["status"] == "active" and s["needsHuman"]]
            held = [s for s in seen if s["status"] == "agent_assigned"]
            if not seen or roll < 0.4:
                status, listing = party.run("list + summary", "list-sessions", method="GET",
                                            path=f"/?limit=50&order={rng.choice(['asc', 'desc'])}")
                seen = listing.get("sessions", []) if status == 200 else []
            elif waiting and roll < 0.65:
                session, to = rng.choice(waiting)["sessionId"], rng.choice(self.agents)
                status, answer = party.run("assign (admin)", "assign-agent", {"sessionId": session, "agentId": to},
                                           path="/assign")
                if status == 200:
                    self._note_claim(session, to, answer)
            elif held and roll < 0.8:
                session, to = rng.choice(held)["sessionId"], rng.choice(self.agents)
                status, answer = party.run("transfer (admin)", "assign-agent", {"sessionId": session, "agentId": to},
                                           path="/transfer")
                self._note_transfer(session, to, status, answer)
            elif roll < 0.9:
                party.run("close (admin)", "close-session", {"sessionId": rng.choice(seen)["sessionId"]})
            else:
                party.run("get one", "list-sessions", method="GET", path=f"/{rng.choice(seen)['sessionId']}")

    # --- what the clients were told ---------------------------------------------------------------

    def _note_message(self, session: str, status: int, answer: dict) -> None:
        if status == 200 and answer.get("duplicate") is False:
            with self.tally.lock:
                self.tally.fresh_messages[session].add(answer["message"]["messageId"])

    def _note_claim(self, session: str, agent: str, answer: dict) -> None:
        if answer.get("changed"):
            with self.tally.lock:
                self.tally.claims[(session, agent)] += 1

    def _note_transfer(self, session: str, to: str, status: int, answer: dict) -> None:
        if status == 200 and answer.get("changed"):
            with self.tally.lock:
                self.tally.transfers[(session, to)] += 1

    def _note_unassign(self, session: str, status: int, answer: dict) -> None:
        if status == 200 and answer.get("changed"):
            with self.tally.lock:
                self.tally.unassigns[session] += 1

    # --- the run ----------------------------------------------------------------------------------

    def run(self) -> float:
        for agent in self.agents:
            self.stack.add_user(agent, agent, ["agent"])
        self.tap()
        threads = [threading.Thread(target=self.widget, args=(i,), name=f"soak-widget-{i}")
                   for i in range(self.widgets)]
        threads += [threading.Thread(target=self.agent, args=(i,), name=f"soak-agent-{i}")
                    for i in range(len(self.agents))]
        threads.append(threading.Thread(target=self.admin, name="soak-admin"))
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()  # each stops once the budget is spent
        idle = self.stack.wait_idle(300)
        elapsed = time.perf_counter() - start
        if not idle:
            self.tally.unexpected.append(("event executions", 0, "still running after 300 s"))
        return elapsed

    # --- the checks -------------------------------------------------------------------------------

    def checks(self) -> list[tuple[str, bool, str]]:
        sessions, messages = _rows(self.stack, "sessions"), _rows(self.stack, "messages")
        results = [self._no_server_errors(), self._only_race_refusals(), *self._ownership(sessions),
                   self._message_counts(sessions, messages), self._row_states(sessions),
                   *self._summary(sessions)]
        return results

    def _no_server_errors(self) -> tuple[str, bool, str]:
        client = sum(n for (status, _), n in self.tally.errors.items() if status >= 500 or status == 0)
        events = sum(n for (_, trigger, cls), n in self.executions.items() if cls == "5xx" and trigger != "http")
        return ("no 5xx answer (clients and event executions)", client == events == 0,
                f"{client} to clients, {events} in event executions")

    def _only_race_refusals(self) -> tuple[str, bool, str]:
        odd = Counter(self.tally.unexpected)
        return ("every refusal is one a race explains", not odd,
                ", ".join(f"{op} {status} {code} x{n}" for (op, status, code), n in odd.most_common(5)) or "yes")

    def _ownership(self, sessions: list[dict]) -> list[tuple[str, bool, str]]:
        history: dict[str, list] = defaultdict(list)
        for row_id, updated, status, agent, waiting in self.log:
            history[row_id].append((datetime.fromisoformat(updated.replace("Z", "+00:00")), status, agent, waiting))
        claims, transfers, releases, broken = Counter(), Counter(), Counter(), []
        final = {s["$id"]: (s["status"], s["assignedAgent"]) for s in sessions}
        for row_id, states in history.items():
            states.sort(key=lambda state: state[0])
            if len({when for when, *_ in states}) != len(states):
                broken.append(f"{row_id}: two writes with one $updatedAt")
            before = ("active", None)
            for _, status, agent, _waiting in states:
                was_status, was_agent = before
                if was_status == "closed" and (status, agent) != before:
                    broken.append(f"{row_id}: changed after closing: {before} -> {(status, agent)}")
                elif status == "agent_assigned" and not agent:
                    broken.append(f"{row_id}: assigned to nobody")
                elif agent != was_agent and status != "closed":
                    if was_agent is None and status == "agent_assigned":
                        claims[(row_id, agent)] += 1
                    elif was_agent is not None and agent is not None:
                        transfers[(row_id, agent)] += 1
                    elif agent is None and status == "active":
                        releases[row_id] += 1
                    else:
                        broken.append(f"{row_id}: owner {was_agent} -> {agent} as {status}")
                elif status == "closed" and agent != was_agent:
                    broken.append(f"{row_id}: closed with owner {was_agent} -> {agent}")
                before = (status, agent)
            if before != final.get(row_id):
                broken.append(f"{row_id}: the log ends at {before}, the row says {final.get(row_id)}")
        told = self.tally
        found = [("ownership: the row log is a valid life (one owner at a time, nothing after close)", not broken,
                  "; ".join(broken[:3]) or f"{len(history)} sessions, {len(self.log)} row writes")]
        for name, logged, answered in (("claims/assigns", claims, told.claims), ("transfers", transfers,
                                                                                told.transfers),
                                       ("unassigns", releases, told.unassigns)):
            diff = (logged - answered) + (answered - logged)
            found.append((f"ownership: {name} in the row log = {name} answered as done", not diff,
                          f"{sum(logged.values())} logged, {sum(answered.values())} answered"
                          + (f"; differ: {dict(list(diff.items())[:3])}" if diff else "")))
        return found

    def _message_counts(self, sessions: list[dict], messages: list[dict]) -> tuple[str, bool, str]:
        stored = defaultdict(set)
        for m in messages:
            stored[m["sessionId"]].add(m["$id"])
        wrong = [s["$id"] for s in sessions if s["messageCount"] != len(stored.get(s["$id"], ()))]
        orphans = set(stored) - {s["$id"] for s in sessions}
        lost = {sid: ids - stored.get(sid, set()) for sid, ids in self.tally.fresh_messages.items()}
        lost = {sid: ids for sid, ids in lost.items() if ids}
        keys = Counter((m["sessionId"], m["clientMessageId"]) for m in messages if m["clientMessageId"])
        twice = [key for key, n in keys.items() if n > 1]
        ok = not (wrong or orphans or lost or twice)
        return ("messageCount = stored messages; nothing answered as new is lost or stored twice", ok,
                f"{len(messages)} messages in {len(sessions)} sessions" if ok else
                f"count off in {wrong[:3]}, orphans {sorted(orphans)[:3]}, lost {list(lost.items())[:3]}, "
                f"twice {twice[:3]}")

    def _row_states(self, sessions: list[dict]) -> tuple[str, bool, str]:
        consistent = {
            "agent_assigned": lambda s: bool(s["assignedAgent"] and s["assignedAt"] and not s["needsHuman"]),
            "active": lambda s: not (s["assignedAgent"] or s["assignedAt"]),
            "closed": lambda s: bool(s["closedAt"] and not s["needsHuman"]),
        }
        bad = [s["$id"] for s in sessions if not consistent[s["status"]](s)]
        return "row states consistent (assignee, timestamps, queue flag)", not bad, ", ".join(bad[:3]) or "yes"

    def _summary(self, sessions: list[dict]) -> list[tuple[str, bool, str]]:
        by_status = Counter(s["status"] for s in sessions)
        truth = {"total": len(sessions), "byStatus": {k: by_status.get(k, 0) for k in STATUSES},
                 "needsHuman": sum(1 for s in sessions if s["status"] == "active" and s["needsHuman"]),
                 "agents": dict(sorted(Counter(s["assignedAgent"] for s in sessions
                                               if s["status"] == "agent_assigned").items()))}
        admin = Party(self, headers={"x-chat-secret": ADMIN_SECRET})
        status, listing = admin.run("check: summary", "list-sessions", method="GET", path="/?limit=1")
        summary = {k: v for k, v in listing.get("summary", {}).items() if k != "team"}  # (an admin's: the agents)
        shown = {key: summary.get(key) for key in truth}
        status2, rebuilt = admin.run("check: recount", "list-sessions", path="/recount")
        return [("summary (list-sessions) = recount from the rows", status == 200 and shown == truth,
                 json.dumps(truth["byStatus"]) if shown == truth else f"summary {shown} but rows {truth}"),
                ("POST /recount changes nothing", status2 == 200 and rebuilt.get("summary") == summary,
                 "yes" if rebuilt.get("summary") == summary else f"{summary} -> {rebuilt.get('summary')}")]


def soak(*, widgets: int = 50, agents: int = 8, operations: int = 5000, seed: int = 1) -> dict:
    """Run one soak in a temporary stack; the figures and checks as a dict (`ok` is the verdict)."""
    variables = {"ADMIN_SECRET": ADMIN_SECRET, **ROOMY_BUDGETS}  # the functions read them per request, from here
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        with tempfile.TemporaryDirectory() as data, \
                Stack(data_dir=data, port=0, run_scheduler=False, seed_users=False) as stack:
            run = Soak(stack, widgets=widgets, agents=agents, operations=operations, seed=seed)
            elapsed = run.run()
            checks = run.checks()
    finally:
        for name, value in saved.items():
            os.environ.pop(name, None) if value is None else os.environ.__setitem__(name, value)
    tally = run.tally
    ops = {op: n for op, n in tally.ops.items() if not op.startswith("check:")}
    by_type = {op: {cls: tally.answers[(op, cls)] for cls in ("2xx", "4xx", "5xx") if tally.answers[(op, cls)]}
               for op in sorted(ops)}
    events = Counter()
    for (function_id, trigger, cls), n in run.executions.items():
        if trigger != "http":
            events[f"{function_id} ({trigger}) {cls}"] += n
    return {
        "settings": {"widgets": widgets, "agents": agents, "admins": 1, "operations": operations, "seed": seed},
        "operations": sum(ops.values()), "duration_seconds": round(elapsed, 2), "by_type": by_type,
        "errors": {f"{status} {code}": n for (status, code), n in sorted(tally.errors.items(), key=str)},
        "server_errors": sum(n for (status, _), n in tally.errors.items() if status >= 500 or status == 0),
        "event_executions": dict(sorted(events.items())),
        "checks": [{"check": name, "passed": ok, "detail": detail} for name, ok, detail in checks],
        "ok": all(ok for _, ok, _ in checks),
    }


def markdown(report: dict) -> str:
    s, ops = report["settings"], report["operations"]
    lines = ["| measure | value |", "|---|---|",
             f"| operations | {ops:,} ({s['widgets']} widgets, {s['agents']} agents, 1 admin; seed {s['seed']}) |",
             f"| duration | {report['duration_seconds']:.1f} s ({ops / max(report['duration_seconds'], 1e-9):,.0f}"
             " operations/s, event executions included) |",
             f"| 5xx answers | {report['server_errors']} |",
             *(f"| {name} | {n:,} |" for name, n in report["event_executions"].items()),
             "", "| operation | count | 2xx | 4xx | 5xx |", "|---|---|---|---|---|"]
    for op, classes in report["by_type"].items():
        lines.append(f"| {op} | {sum(classes.values()):,} | {classes.get('2xx', 0):,} | {classes.get('4xx', 0):,} | "
                     f"{classes.get('5xx', 0):,} |")
    lines += ["", "| error (status code) | count |", "|---|---|"]
    lines += [f"| {name} | {n:,} |" for name, n in report["errors"].items()] or ["| none | 0 |"]
    passed = sum(c["passed"] for c in report["checks"])
    lines += ["", f"| invariant check ({passed} passed, {len(report['checks']) - passed} failed) | result | detail |",
              "|---|---|---|"]
    lines += [f"| {c['check']} | {'passed' if c['passed'] else '**FAILED**'} | {c['detail']} |"
              for c in report["checks"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widgets", type=int, default=50)
    parser.add_argument("--agents", type=int, default=8)
    parser.add_argument("--operations", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if min(args.widgets, args.agents, args.operations) < 1:
        parser.error("--widgets, --agents and --operations must be at least 1")
    report = soak(widgets=args.widgets, agents=args.agents, operations=args.operations, seed=args.seed)
    print(markdown(report))
    if report_dir := os.environ.get("HARDENING_REPORT_DIR"):
        Path(report_dir).mkdir(parents=True, exist_ok=True)
        (Path(report_dir) / "soak.json").write_text(json.dumps(report, indent=2))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
