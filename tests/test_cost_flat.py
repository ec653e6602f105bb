"""Issue 20, flat in agents and in the queue: what a waiting visitor's answers and an escalation cost does not grow
with the team nor with the queue. The agent rows are read with one filtered list (`Agents.online`: available, or
heard from lately), not the whole table; here 3 agents and 3,000 (6,000 rows: the whole table would be 6 requests),
all but one offline. A waiting visitor's place comes from the queue's row (ops/queueing.py): their poll reads that
one row and their heartbeat the figures kept on the session, with 1 or 300 sessions ahead."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from chat_core.edge import http
from chat_core.infra.agents import presence_row_id, slots_row_id
from chat_core.infra.counters import row_id as counter_row_id
from conftest import ADMIN_SECRET, Widget, execute

NOW = datetime.now(timezone.utc).replace(microsecond=0)


def _team(appwrite, size: int) -> None:
    old = (NOW - timedelta(days=1)).isoformat(timespec="milliseconds")
    for n in range(size):
        agent = f"agent-{n:05d}"
        appwrite.engine.create_row("chat", "agents", slots_row_id(agent), {"agentId": agent, "availability": "offline",
                                                                           "load": 0})
        appwrite.engine.create_row("chat", "agents", presence_row_id(agent), {"agentId": agent, "heartbeatAt": old})


def costs(appwrite, monkeypatch, size: int) -> dict[str, int]:
    monkeypatch.setattr(http, "utcnow", lambda: NOW)
    monkeypatch.setenv("BOT_INLINE", "on")  # as deployed: the FAQ bot's hand-off is stored with the message
    _team(appwrite, size)
    execute("assign-agent", {"availability": "available"}, path="/availability", user="agent-alice")
    execute("assign-agent", {"agentId": "agent-alice", "capacity": 1}, path="/capacity", secret=ADMIN_SECRET)
    busy = Widget()
    execute("escalate", {"sessionId": busy.session_id}, token=busy.token)  # alice is full from here on
    warm = Widget()
    execute("touch-session", {"sessionId": warm.session_id}, token=warm.token)  # this minute's budget rows exist
    figures = {}

    def count(name, action):
        appwrite.reset_counts()
        action()
        figures[name] = appwrite.count()

    waiting = Widget()
    count("escalate (HTTP), nobody free", lambda: execute("escalate", {"sessionId": waiting.session_id},
                                                          token=waiting.token))
    count("waiting heartbeat", lambda: execute("touch-session", {"sessionId": waiting.session_id},
                                               token=waiting.token))
    count("waiting poll", lambda: execute("touch-session", method="GET",
                                          path=f"/messages?sessionId={waiting.session_id}", token=waiting.token))
    asking = Widget(user="visitor-vic")  # signed in, as the widget signs visitors in: the owner's own budgets
    count("a message asking for a person", lambda: asking.say("I want a human"))
    return figures


def console_costs(appwrite, monkeypatch, size: int) -> dict[str, int]:
    """Issue 20, item 2 (the rest): the console's heartbeat, /capacity, the minute's pass and the list's summary."""
    monkeypatch.setattr(http, "utcnow", lambda: NOW)
    _team(appwrite, size)
    for n in range(size):  # every one of them has worked here: a counter row each
        appwrite.engine.create_row("chat", "counters", counter_row_id(f"agent-{n:05d}"),
                                   {"agentId": f"agent-{n:05d}", "batch": 0})
    execute("assign-agent", {"availability": "available"}, path="/availability", user="agent-alice")
    execute("assign-agent", {"agentId": "agent-alice", "capacity": 1}, path="/capacity", secret=ADMIN_SECRET)
    busy = Widget()
    execute("escalate", {"sessionId": busy.session_id}, token=busy.token)  # alice is full from here on
    waiting = Widget()
    execute("escalate", {"sessionId": waiting.session_id}, token=waiting.token)
    execute("list-sessions", trigger="schedule")  # folded: the counters hold alice's row
    figures = {}

    def count(name, action):
        appwrite.reset_counts()
        result = action()
        assert result.status == 200, result
        figures[name] = appwrite.count()
        return result
    count("console heartbeat", lambda: execute("assign-agent", {}, path="/availability", user="agent-alice"))
    count("capacity, not raised past the load", lambda: execute(
        "assign-agent", {"agentId": "agent-alice", "capacity": 1}, path="/capacity", secret=ADMIN_SECRET))
    count("the minute's pass, nothing to fold", lambda: execute("list-sessions", trigger="schedule"))
    listed = count("list page + summary (admin)", lambda: execute("list-sessions", method="GET", path="/",
                                                                  secret=ADMIN_SECRET))
    assert [a["agentId"] for a in listed.json["summary"]["team"].values()] == ["agent-alice"]
    return figures


MEASURED: dict[int, dict[str, int]] = {}
CONSOLE: dict[int, dict[str, int]] = {}


@pytest.mark.parametrize("size", [3, 3000])
def test_the_consoles_heartbeat_capacity_the_minutes_pass_and_the_summary_cost_the_same_with_3_and_3000_agents(
        size, appwrite, monkeypatch):
    CONSOLE[size] = console_costs(appwrite, monkeypatch, size)
    assert CONSOLE[size] == {
        "console heartbeat": 2,  # the agent's two rows (one list on agentId), the presence write
        "capacity, not raised past the load": 2,  # save, the agent's two rows (the admin check of labels remembered)
        "the minute's pass, nothing to fold": 14,  # 13 and the queue's row (someone waits)
        "list page + summary (admin)": 4,
    }


@pytest.mark.parametrize("size", [3, 3000])
def test_a_waiting_visitors_answers_and_an_escalation_cost_the_same_with_3_and_3000_agents(size, appwrite,
                                                                                        monkeypatch):
    MEASURED[size] = costs(appwrite, monkeypatch, size)
    # An escalation counts the queue before its write (the agents at work, the queue's line, the rate count) and
    # that write keeps the figures; its signal carries the queue's row with the same line (no read after it). A
    # waiting visitor's poll reads the queue's row for the place (issue 20, items 3 and 5: at most 3 requests); the
    # heartbeat answers the figures kept on the session.
    assert MEASURED[size] == {"escalate (HTTP), nobody free": 7, "waiting heartbeat": 3, "waiting poll": 3,
                              "a message asking for a person": 8}  # its two budgets in one upsertRows (the message
    # budget's first use this minute included: no create); the bot's hand-off reply is admitted by the same write and
    # stored with the message by the same request (createRows). It was 10: two increments, and the create.


def _ahead(appwrite, count: int, since: datetime) -> list[str]:
    """`count` guests' sessions already waiting (straight into the table, oldest first)."""
    ids = []
    for n in range(count):
        at = (since + timedelta(seconds=n)).isoformat(timespec="milliseconds")
        ids.append(f"s_ahead{n:05d}")
        appwrite.engine.create_row("chat", "sessions", ids[-1], {
            "status": "active", "lastSeen": at, "needsHuman": True, "escalatedAt": at, "messageCount": 1,
            "tokenHash": "0" * 64, "counted": "", "dirty": True, "writeLog": ""})
    return ids


@pytest.mark.parametrize("ahead", [1, 300])
def test_a_waiting_visitors_poll_and_heartbeat_cost_the_same_whatever_the_queues_length(ahead, appwrite, clock):
    ids = _ahead(appwrite, ahead, clock.now - timedelta(minutes=10))
    waiting = Widget()
    answer = execute("escalate", {"sessionId": waiting.session_id}, token=waiting.token).json["session"]["queue"]
    assert (answer["position"], answer["waiting"]) == (ahead, ahead + 1)

    def cost(action):
        appwrite.reset_counts()
        result = action()
        return appwrite.count(), result.json["session"]["queue"]

    def poll():
        return execute("touch-session", method="GET", path=f"/messages?sessionId={waiting.session_id}",
                       token=waiting.token)

    def heartbeat():
        return execute("touch-session", {"sessionId": waiting.session_id}, token=waiting.token)
    assert cost(poll) == (3, answer)  # the session, the page, the queue's row
    heartbeat()  # this minute's heartbeat budget row exists from here on
    assert cost(heartbeat) == (3, answer)  # the session, the heartbeat budget, the write
    # The first in line leaves (straight in the table: no write moved the queue's row); the minute's pass walks the
    # queue once, writes the figures that changed (every one: the rows made here had none) and the queue's row.
    appwrite.engine.update_row("chat", "sessions", ids[0], {"needsHuman": False, "status": "closed",
                                                            "closedAt": clock.now.isoformat()})
    clock.advance(1)
    assert execute("list-sessions", trigger="schedule").json["queueWritten"] == ahead
    requests, moved = cost(poll)
    assert (requests, moved["position"], moved["waiting"]) == (3, ahead - 1, ahead)
    # Five minutes on, the poll refreshes the waiting visitor's presence: one write, no budget, and no read of the
    # queue's row (the figures kept on the session, which the minute's pass keeps: at most 3 requests).
    for _ in range(5):
        clock.advance(1)
        execute("list-sessions", trigger="schedule")
    figures = {k: v for k, v in moved.items() if k != "asOf"}
    for requests, queue in (cost(poll), cost(poll)):
        counted = queue.pop("asOf")
        assert (requests, queue) == (3, figures) and counted > moved["asOf"]  # counted again since: the same


def test_figures_older_than_the_stale_bound_are_computed_again(appwrite, clock):
    """The minute's pass not running (an incident): an answer that finds the figures older than 5 minutes counts
    the queue again (the escalation's reads) and keeps them; the next answers are back to the session alone."""
    waiting = Widget()
    execute("escalate", {"sessionId": waiting.session_id}, token=waiting.token)
    clock.advance(6)

    def poll():
        appwrite.reset_counts()
        execute("touch-session", method="GET", path=f"/messages?sessionId={waiting.session_id}", token=waiting.token)
        return appwrite.count()
    assert poll() == 2 + 1 + 1 + 2 + 1  # presence write; the agent rows, two counts, the figures kept
    assert poll() == 3  # the session, the page, the queue's row


def test_the_benchmark_prints_the_same_figures_for_3_and_3000_agents(capsys):
    """`bench.flat` (the command docs/reliability.md quotes) runs these measurements and prints them side by side."""
    from bench import flat

    flat.main()
    printed = capsys.readouterr().out.splitlines()
    assert printed[-1] == "flat in agents"
    row = next(line for line in printed if line.startswith("escalate (HTTP), nobody free"))
    assert row.split()[-2:] == ["7", "7"]
