"""Races over real HTTP: the local stack on loopback, every call through the SDK's Functions.create_execution.

- K = 8 agents claim the same escalated session at once, round after round: exactly one winner each time, the
  seven others get 409 already_assigned naming it, the row agrees, and the summary's workloads add up.
- Visitors, the bot and the assignee post messages (and heartbeats) to one session from several threads at once,
  some with the same client ids sent concurrently: nothing lost, nothing stored twice, messageCount exact.
- The assignee transfers while an admin closes, at once: closed in the end, with the assignee the transfer says,
  and the counters agree with a recount from the rows.

RACE_ROUNDS sets the rounds (default 10: a few seconds). For the README figure:
    RACE_ROUNDS=200 HARDENING_REPORT_DIR=.local .venv/bin/python -m pytest tests/test_hardening_races.py -q -s
The figures are printed and written to .local/hardening-races.json.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from functools import partial

import pytest
from appwrite.query import Query
from hardening_support import truth_summary, violations, write_report
from stack_support import Party, at_once, function_variables

from bench import ROOMY_BUDGETS
from devstack.server import Stack

ROUNDS = int(os.environ.get("RACE_ROUNDS", "10"))
K = 8
AGENTS = tuple(f"agent-race-{i}" for i in range(K))
ADMIN_SECRET, BOT_SECRET = "races-admin-secret", "races-bot-secret"
ENV = {"ADMIN_SECRET": ADMIN_SECRET, "BOT_SECRET": BOT_SECRET,  # the flood limit and the budgets have their own
       "MAX_MESSAGES_PER_MINUTE": "100000", **ROOMY_BUDGETS}  # tests; here they would refuse the races
FIGURES: dict = {"rounds": ROUNDS, "claims": {}, "messages": {}, "transfer_close": {}}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with function_variables(ENV), \
            Stack(data_dir=tmp_path_factory.mktemp("races"), port=0, run_scheduler=False) as running:
        for agent in AGENTS:
            running.add_user(agent, agent, ["agent"])
        _count_stale_writes(running)
        yield running
        assert running.wait_idle(60)
        assert violations(running) == []  # after every race, the books still balance
    _report()


STALE = Counter()  # conditional writes Appwrite (the stack) refused: proof that the racers really interleaved


def _count_stale_writes(stack: Stack) -> None:
    handle = stack.rest.handle

    def counted(*args, **kwargs):
        answer = handle(*args, **kwargs)
        if answer[0] == 409 and b"update_conflict" in answer[2]:
            STALE["refused"] += 1
        return answer
    stack.rest.handle = counted


def _report() -> None:
    print(f"\nhardening races: {json.dumps(FIGURES, sort_keys=True)}")
    write_report("hardening-races.json", FIGURES)


def admin(stack: Stack) -> Party:
    return Party(stack, headers={"x-chat-secret": ADMIN_SECRET})


RETRIED = Counter()


def retrying(party: Party) -> Party:
    """A caller that sends again after 409 concurrent_update (the session changed 30 times under its write), as a
    widget does: the same client ID, so a retry can never store a message twice."""
    send = party.run

    def run(*args, **kwargs):
        while True:
            status, answer = send(*args, **kwargs)
            if answer.get("error", {}).get("code") != "concurrent_update":
                return status, answer
            RETRIED["409"] += 1
    party.run = run
    return party


def escalated_session(stack: Stack) -> tuple[str, str]:
    widget = Party(stack, key=False)
    status, created = widget.run("create-session", {"userMeta": {"race": True}})
    assert status == 201, created
    status, answer = widget.run("escalate", {"sessionId": created["sessionId"], "reason": "race"},
                                headers={"x-session-token": created["token"]})
    assert status == 200 and answer["escalated"] is True, answer
    return created["sessionId"], created["token"]


def session_row(stack: Stack, session_id: str) -> dict:
    return stack.engine.get_row("chat", "sessions", session_id)


def all_rows(stack: Stack, table: str, queries: list[str] | None = None) -> list[dict]:
    found, cursor = [], []
    while True:
        page = stack.engine.list_rows("chat", table, [*(queries or []), Query.limit(1000), *cursor])["rows"]
        found += page
        if len(page) < 1000:
            return found
        cursor = [Query.cursor_after(page[-1]["$id"])]


def summary_of(stack: Stack) -> dict:
    status, answer = admin(stack).run("list-sessions", path="/?limit=1", method="GET")
    assert status == 200, answer
    return answer["summary"]


def exact(summary: dict) -> dict:
    return {key: summary[key] for key in ("total", "byStatus", "needsHuman", "agents", "ratings")}


# --- K agents claim one session -------------------------------------------------------------------

def test_k_agents_claim_one_session_and_one_wins(stack):
    agents = {name: Party(stack, user=name) for name in AGENTS}
    winners, codes, stale_before = Counter(), Counter(), STALE["refused"]
    for _ in range(ROUNDS):
        session_id, _ = escalated_session(stack)
        answers = at_once(*(partial(agents[name].run, "assign-agent", {"sessionId": session_id}, path="/claim")
                            for name in AGENTS))
        won = [(name, answer) for name, (status, answer) in zip(AGENTS, answers, strict=True) if status == 200]
        assert len(won) == 1, answers
        winner, answer = won[0]
        assert answer["changed"] is True and answer["session"]["assignedAgent"] == winner
        for name, (status, lost) in zip(AGENTS, answers, strict=True):
            codes[f"{int(status)} {lost.get('error', {}).get('code', 'ok')}"] += 1
            if name != winner:
                assert status == 409 and lost["error"]["code"] == "already_assigned", lost
                assert lost["error"]["assignedAgent"] == winner
        row = session_row(stack, session_id)
        assert (row["status"], row["assignedAgent"], row["needsHuman"]) == ("agent_assigned", winner, False)
        winners[winner] += 1
    summary = summary_of(stack)
    sessions = all_rows(stack, "sessions")
    assert exact(summary) == truth_summary(sessions)
    for agent in AGENTS:  # each race agent holds exactly the sessions it won
        assert summary["agents"].get(agent, 0) == winners[agent]
    assert sum(winners.values()) == ROUNDS
    FIGURES["claims"] = {"rounds": ROUNDS, "claimers": K, "claims": ROUNDS * K, "winners": dict(sorted(
        winners.items())), "answers": dict(sorted(codes.items())), "conflicts": codes["409 already_assigned"],
        "stale_writes_refused": STALE["refused"] - stale_before}


# --- concurrent messages and touches --------------------------------------------------------------

def test_concurrent_messages_lose_nothing_and_store_nothing_twice(stack):
    sessions = max(1, ROUNDS // 10)
    visitors, per_thread, shared_ids = 4, 8, 4
    answers = Counter()
    for round_ in range(sessions):
        session_id, token = escalated_session(stack)
        me = {"x-session-token": token}
        assignee = AGENTS[round_ % K]
        assert Party(stack, user=assignee).run("assign-agent", {"sessionId": session_id}, path="/claim")[0] == 200

        def visitor(n: int, session_id=session_id, me=me) -> list:
            widget, out = retrying(Party(stack, key=False)), []
            for i in range(per_thread):
                out.append(("v", widget.run("touch-session", {"sessionId": session_id,
                                                              "message": {"text": f"v{n} says {i}", "id": f"v{n}-{i}"}},
                                            headers=me)))
                if i % 3 == 0:  # a heartbeat between messages
                    out.append(("beat", widget.run("touch-session", {"sessionId": session_id}, headers=me)))
                if i < shared_ids:  # every visitor thread sends the same ids too, at about the same moment
                    out.append(("dup", widget.run("touch-session", {"sessionId": session_id, "message": {
                        "text": f"shared {i}", "id": f"shared-{i}"}}, headers=me)))
            return out

        def bot(session_id=session_id) -> list:
            party = retrying(Party(stack, headers={"x-chat-secret": BOT_SECRET}))
            return [("b", party.run("touch-session", {"sessionId": session_id, "message": {
                "role": "bot", "text": f"bot {i}", "id": f"bot-{i}"}})) for i in range(per_thread)]

        def agent(session_id=session_id, assignee=assignee) -> list:
            party = retrying(Party(stack, user=assignee))
            return [("a", party.run("touch-session", {"sessionId": session_id, "message": {
                "role": "agent", "text": f"agent {i}", "id": f"agent-{i}"}})) for i in range(per_thread)]

        results = at_once(*(lambda n=n: visitor(n) for n in range(visitors)), bot, agent)
        sent = [item for batch in results for item in batch]
        for kind, (status, answer) in sent:
            assert status == 200, answer
            answers[f"{kind} duplicate" if answer.get("duplicate") else kind] += 1
        stored = all_rows(stack, "messages", [Query.equal("sessionId", [session_id])])
        client_ids = Counter(m["clientMessageId"] for m in stored)
        expected = ({f"v{n}-{i}" for n in range(visitors) for i in range(per_thread)}
                    | {f"shared-{i}" for i in range(shared_ids)}
                    | {f"{who}-{i}" for who in ("bot", "agent") for i in range(per_thread)})
        assert set(client_ids) == expected  # nothing lost
        assert max(client_ids.values()) == 1  # nothing stored twice
        fresh = [answer for kind, (_, answer) in sent if kind != "beat" and not answer["duplicate"]]
        assert len(fresh) == len(expected)  # each id answered as new exactly once, every other time a duplicate
        by_id = {answer["message"]["clientMessageId"]: answer["message"]["messageId"] for _, (_, answer) in sent
                 if "message" in answer}
        assert len(set(by_id.values())) == len(expected)  # duplicates answer with the stored row
        row = session_row(stack, session_id)
        assert row["messageCount"] == len(stored) == len(expected)
    assert stack.wait_idle(60)  # the message events (none of these texts asks for a person) run out
    FIGURES["messages"] = {"sessions": sessions, "threads": visitors + 2, "answers": dict(sorted(answers.items())),
                           "retried_after_409_concurrent_update": RETRIED["409"],
                           "stored": sessions * (visitors * per_thread + shared_ids + 2 * per_thread)}


# --- transfer racing close -------------------------------------------------------------------------

def test_transfer_racing_close_ends_consistent(stack):
    outcomes, answers, stale_before = Counter(), Counter(), STALE["refused"]
    for round_ in range(ROUNDS):
        owner, other = AGENTS[round_ % K], AGENTS[(round_ + 1) % K]
        session_id, _ = escalated_session(stack)
        assert Party(stack, user=owner).run("assign-agent", {"sessionId": session_id}, path="/claim")[0] == 200
        transferring, closing = Party(stack, user=owner), admin(stack)
        (t_status, moved), (c_status, closed) = at_once(
            partial(transferring.run, "assign-agent", {"sessionId": session_id, "agentId": other}, path="/transfer"),
            partial(closing.run, "close-session", {"sessionId": session_id, "reason": "race"}))
        answers[f"transfer {int(t_status)} {moved.get('error', {}).get('code', 'ok')}"] += 1
        answers[f"close {int(c_status)} {closed.get('error', {}).get('code', 'ok')}"] += 1
        assert c_status == 200 and closed["closed"] is True, closed  # an admin's close always lands
        row = session_row(stack, session_id)
        assert row["status"] == "closed" and row["closedAt"] and row["needsHuman"] is False
        if t_status == 200:  # the transfer landed first; the close then closed the new assignee's session
            assert moved["changed"] is True and moved["session"]["assignedAgent"] == other
            assert row["assignedAgent"] == other
            outcomes["transferred, then closed"] += 1
        else:  # the close landed first; the transfer found it closed
            assert (t_status, moved["error"]["code"]) == (409, "session_closed"), moved
            assert row["assignedAgent"] == owner
            outcomes["closed, transfer refused"] += 1
    before = summary_of(stack)
    assert exact(before) == truth_summary(all_rows(stack, "sessions"))
    status, rebuilt = admin(stack).run("list-sessions", path="/recount")
    assert status == 200, rebuilt
    # A recount from the rows changes nothing: the counters were right. (An admin's list also shows the team.)
    assert rebuilt["summary"] == {k: v for k, v in before.items() if k != "team"}
    FIGURES["transfer_close"] = {"rounds": ROUNDS, "outcomes": dict(sorted(outcomes.items())),
                                 "answers": dict(sorted(answers.items())), "recount_changed_nothing": True,
                                 "stale_writes_refused": STALE["refused"] - stale_before}
