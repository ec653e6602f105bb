"""Contention on the local stack, over loopback HTTP through the SDK: many writers on one session at once.

- A visitor asks for a person while 4 to 8 other writers post to the same session: no escalation is lost, and no
  event execution answers 200 {"ignored": "concurrent_update"} (the issue's repro: 5 to 7 of every 20 were).
- Writers post while the session is closed: no message is admitted after the close (the stack's own log of the
  row's writes shows it), and the session's rows are what its count said at the close.
- An agent replies from several threads while an admin transfers the session away: every stored reply was admitted
  by a write that found that agent on the session.
- The flood limit holds under concurrency: 8 threads send 48 messages at once against a limit of 20.
- POST /recount runs again and again while claims, transfers, unassigns and closes run: the summary and the counters
  end exactly as the rows say (the issue's repro: 20 too many active, 20 too few assigned, after 600 claims).

CONTENTION_ESCALATIONS sets how many visitors ask for a person (default 6), CONTENTION_ROUNDS the rounds of the
other races (default 6): a few seconds. For the README figures (1,000 escalations):
    CONTENTION_ESCALATIONS=1000 CONTENTION_ROUNDS=50 HARDENING_REPORT_DIR=.local \
        .venv/bin/python -m pytest tests/test_contention_stack.py -q -s
The figures are printed and written to .local/contention.json.
"""

from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from functools import partial

import pytest
from hardening_support import counted_summary, truth_summary, violations, write_report
from stack_support import OWN_BOT, Party, at_once, disable_functions, function_variables

from bench import ROOMY_BUDGETS
from devstack.server import Stack

ESCALATIONS = int(os.environ.get("CONTENTION_ESCALATIONS", "6"))
ROUNDS = int(os.environ.get("CONTENTION_ROUNDS", "6"))
ADMIN_SECRET, BOT_SECRET = "contention-admin-secret", "contention-bot-secret"
ENV = {"ADMIN_SECRET": ADMIN_SECRET, "BOT_SECRET": BOT_SECRET, "MAX_MESSAGES_PER_MINUTE": "100000",
       **ROOMY_BUDGETS}  # the budgets have their own tests; here they would refuse the races
AGENTS = ("agent-c0", "agent-c1", "agent-c2", "agent-c3")
FIGURES: dict = {"escalations_asked": ESCALATIONS, "rounds": ROUNDS}


class History:
    """Every committed write of every session row, from the engine's own events ($updatedAt orders a row's
    writes: the engine keeps it strictly increasing)."""

    def __init__(self, stack: Stack) -> None:
        self.writes: dict[str, list[dict]] = defaultdict(list)
        stack.engine.subscribe(self._record)

    def _record(self, event: dict) -> None:
        if event["tableId"] == "sessions" and event["action"] == "update":
            self.writes[event["rowId"]].append(event["row"])

    def of(self, session_id: str) -> list[dict]:
        return sorted(self.writes[session_id], key=lambda r: r["$updatedAt"])


EVENTS = Counter()  # every message event execution's answer (the bot's; the stack keeps only its latest records)


def _count_event_answers(stack: Stack) -> None:
    finish = stack.runtime._finish

    def counted(record: dict, *args) -> None:
        finish(record, *args)
        if record["functionId"] == "bot" and record["trigger"] == "event":
            answer = json.loads(record["responseBody"] or "{}")
            outcome = answer.get("ignored") or answer.get("error", {}).get("code") or \
                ("escalated" if answer.get("escalated") else "?")
            EVENTS[f"{record['responseStatusCode']} {outcome}"] += 1
    stack.runtime._finish = counted


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with function_variables({**ENV, **OWN_BOT}), \
            Stack(data_dir=tmp_path_factory.mktemp("contention"), port=0, run_scheduler=False) as running:
        disable_functions(running, "bot")  # these tests play their own bot; the reference one would add writers
        for agent in AGENTS:
            running.add_user(agent, agent, ["agent"])
        running.history = History(running)
        _count_event_answers(running)
        yield running
        assert running.wait_idle(60)
        assert violations(running) == []
    print(f"\ncontention: {json.dumps(FIGURES, sort_keys=True)}")
    write_report("contention.json", FIGURES)


def admin(stack: Stack) -> Party:
    return Party(stack, headers={"x-chat-secret": ADMIN_SECRET})


def new_session(stack: Stack) -> tuple[str, dict]:
    status, created = Party(stack, key=False).run("create-session", {})
    assert status == 201, created
    return created["sessionId"], {"x-session-token": created["token"]}


def persist(call, tally: Counter):
    """Call until it is not a 409 concurrent_update (what a widget does with one), counting those."""
    while True:
        status, answer = call()
        if answer.get("error", {}).get("code") != "concurrent_update":
            return status, answer
        tally["409 concurrent_update (retried)"] += 1


def messages_of(stack: Stack, session_id: str) -> list[dict]:
    return stack.engine.list_rows("chat", "messages", [json.dumps({"method": "equal", "attribute": "sessionId",
                                                                   "values": [session_id]}),
                                                       json.dumps({"method": "limit", "values": [5000]})])["rows"]


# --- escalations are never lost -------------------------------------------------------------------------------

def test_no_escalation_is_lost_while_others_write(stack):
    per_writer, lost, unseen, asked, tally = 3, [], [], [], Counter()
    for round_ in range(ESCALATIONS):
        writers = 4 + round_ % 5  # 4 to 8 other writers
        session_id, me = new_session(stack)
        visitor, bot = Party(stack, key=False), Party(stack, headers={"x-chat-secret": BOT_SECRET})

        def write(n: int, session_id=session_id, me=me, visitor=visitor, bot=bot) -> None:
            for i in range(per_writer):
                if n % 2:
                    call = partial(bot.run, "touch-session", {"sessionId": session_id, "message": {
                        "role": "bot", "text": f"bot {n}.{i}: one moment"}})
                else:
                    call = partial(visitor.run, "touch-session", {"sessionId": session_id, "message": {
                        "text": f"visitor {n}.{i}: my order number is {i}"}}, headers=me)
                status, answer = persist(call, tally)
                assert status == 200, answer

        def ask(session_id=session_id, me=me, visitor=visitor) -> dict:
            status, answer = persist(partial(visitor.run, "touch-session", {"sessionId": session_id, "message": {
                "text": "this is not helping, I want a human"}}, headers=me), tally)
            assert status == 200, answer
            return answer

        asked.append((session_id, at_once(ask, *(partial(write, n) for n in range(writers)))[0]))
        tally[f"{writers} writers"] += 1
    assert stack.wait_idle(120)  # the message events too (the bot's answers)
    events = Counter(EVENTS)
    for session_id, answer in asked:
        row = stack.engine.get_row("chat", "sessions", session_id)
        if not (row["needsHuman"] and row["escalatedBy"] == f"message:{answer['message']['messageId']}"):
            lost.append(session_id)
        if not answer["session"]["needsHuman"]:
            unseen.append(session_id)
    assert lost == [], f"{len(lost)} of {ESCALATIONS} escalations lost"
    assert unseen == [], f"{len(unseen)} answers to the asking message did not show the session waiting"
    assert not [key for key in events if not key.startswith("200")], events
    assert "200 concurrent_update" not in events
    FIGURES["escalations"] = {"asked": ESCALATIONS, "lost": len(lost), "answered_not_waiting": len(unseen),
                              "calls": dict(sorted(tally.items())),
                              "event_executions": dict(sorted(events.items()))}


# --- rules checked on a stale read ------------------------------------------------------------------------------

def test_no_message_is_admitted_after_its_session_closed(stack):
    per_writer, writers, tally, after_close, beyond = 6, 6, Counter(), 0, 0
    for _ in range(ROUNDS):
        session_id, me = new_session(stack)
        visitor = Party(stack, key=False)

        def write(n: int, session_id=session_id, me=me, visitor=visitor) -> None:
            for i in range(per_writer):
                status, answer = persist(partial(visitor.run, "touch-session", {"sessionId": session_id, "message": {
                    "text": f"{n}.{i}"}}, headers=me), tally)
                tally[f"{int(status)} {answer.get('error', {}).get('code', 'stored')}"] += 1
                if status == 409:
                    assert answer["error"]["code"] == "session_closed", answer
                    return

        def close(session_id=session_id, me=me, visitor=visitor) -> None:
            status, answer = persist(partial(visitor.run, "close-session", {"sessionId": session_id},
                                             headers=me), tally)
            assert status == 200, answer

        at_once(close, *(partial(write, n) for n in range(writers)))
        writes = stack.history.of(session_id)
        closing = next(i for i, w in enumerate(writes) if w["status"] == "closed")
        count_at_close = writes[closing]["messageCount"]
        after_close += sum(1 for w in writes[closing + 1:] if w["messageCount"] != count_at_close
                           or w["status"] != "closed" or w["lastSeen"] != writes[closing]["lastSeen"])
        beyond += max(0, len(messages_of(stack, session_id)) - count_at_close)
    assert (after_close, beyond) == (0, 0)
    FIGURES["close_racing_messages"] = {"sessions": ROUNDS, "writers": writers, "answers": dict(sorted(tally.items())),
                                        "admitted_after_close": after_close, "stored_beyond_the_count": beyond}


def test_no_reply_is_admitted_after_the_session_was_transferred_away(stack):
    per_thread, threads, tally, foreign = 5, 4, Counter(), 0
    for round_ in range(ROUNDS):
        session_id, me = new_session(stack)
        owner, other = AGENTS[round_ % len(AGENTS)], AGENTS[(round_ + 1) % len(AGENTS)]
        assert Party(stack, key=False).run("escalate", {"sessionId": session_id}, headers=me)[0] == 200
        assert Party(stack, user=owner).run("assign-agent", {"sessionId": session_id}, path="/claim")[0] == 200

        def reply(n: int, session_id=session_id, owner=owner) -> None:
            agent = Party(stack, user=owner)
            for i in range(per_thread):
                status, answer = persist(partial(agent.run, "touch-session", {"sessionId": session_id, "message": {
                    "role": "agent", "text": f"{owner} {n}.{i}"}}), tally)
                tally[f"{int(status)} {answer.get('error', {}).get('code', 'stored')}"] += 1

        def transfer(session_id=session_id, other=other) -> None:
            status, answer = persist(partial(admin(stack).run, "assign-agent", {
                "sessionId": session_id, "agentId": other}, path="/transfer"), tally)
            assert status == 200, answer

        at_once(transfer, *(partial(reply, n) for n in range(threads)))
        by_nonce = {w["writeLog"].split()[-1]: w for w in stack.history.of(session_id)}
        for message in messages_of(stack, session_id):
            admitted_by = by_nonce[message["admission"]]
            foreign += admitted_by["assignedAgent"] != message["authorId"]
    assert foreign == 0
    FIGURES["transfer_racing_replies"] = {"sessions": ROUNDS, "threads": threads,
                                          "answers": dict(sorted(tally.items())),
                                          "replies_by_an_agent_the_session_had_left": foreign}


def test_the_flood_limit_holds_under_concurrency(stack):
    threads, per_thread, limit = 8, 6, 20
    with function_variables({"MAX_MESSAGES_PER_MINUTE": str(limit)}):
        session_id, me = new_session(stack)

        def flood(n: int) -> list[int]:
            widget = Party(stack, key=False)
            return [persist(partial(widget.run, "touch-session", {"sessionId": session_id, "message": {
                "text": f"spam {n}.{i}"}}, headers=me), Counter())[0] for i in range(per_thread)]
        statuses = Counter(int(status) for batch in at_once(*(partial(flood, n) for n in range(threads)))
                           for status in batch)
    stored = len(messages_of(stack, session_id))
    assert statuses[200] == stored == limit and statuses[429] == threads * per_thread - limit, statuses
    FIGURES["flood"] = {"sent": threads * per_thread, "threads": threads, "limit": limit, "stored": stored,
                        "answers": {str(k): v for k, v in sorted(statuses.items())}}


# --- recount while traffic runs -------------------------------------------------------------------------------

def test_recount_while_traffic_runs_loses_nothing(stack):
    sessions = [new_session(stack) for _ in range(3 * ROUNDS)]
    for session_id, me in sessions:
        assert Party(stack, key=False).run("escalate", {"sessionId": session_id}, headers=me)[0] == 200
    tally = Counter()

    def work(agent: str) -> None:
        party = Party(stack, user=agent)
        for session_id, _ in sessions:
            for path, body in (("/claim", {}), ("/unassign", {}), ("/claim", {}),
                               ("/transfer", {"agentId": AGENTS[0] if agent != AGENTS[0] else AGENTS[1]})):
                status, answer = party.run("assign-agent", {"sessionId": session_id, **body}, path=path)
                tally[f"{path} {int(status)}"] += 1
                if status != 200:
                    break

    def recount() -> None:
        for _ in range(2 * ROUNDS):
            status, answer = admin(stack).run("list-sessions", {}, path="/recount")
            tally[f"recount {int(status)} {answer.get('error', {}).get('code', 'ok')}"] += 1

    def closer() -> None:
        for session_id, _ in sessions[::3]:
            tally[f"close {admin(stack).run('close-session', {'sessionId': session_id})[0]}"] += 1

    at_once(recount, closer, *(partial(work, agent) for agent in AGENTS), timeout=60 + 20 * ROUNDS)
    assert stack.wait_idle(60)
    rows = stack.engine.list_rows("chat", "sessions", [json.dumps({"method": "limit", "values": [5000]})])["rows"]
    assert counted_summary(stack) == truth_summary(rows)
    status, listing = admin(stack).run("list-sessions", method="GET", path="/?limit=1")
    shown = ("total", "byStatus", "needsHuman", "agents", "ratings")
    assert {k: listing["summary"][k] for k in shown} == truth_summary(rows)
    assert violations(stack) == []
    FIGURES["recount_under_traffic"] = {"sessions": len(sessions), "calls": dict(sorted(tally.items()))}
