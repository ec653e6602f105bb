"""Issue 20, flat in agents: what a waiting visitor's answers and an escalation cost does not grow with the team.
The agent rows are read with one filtered list (`Agents.online`: available, or heard from lately), not the whole
table; here 3 agents and 3,000 (6,000 rows: the whole table would be 6 requests), all but one offline."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from chat_core.edge import http
from chat_core.infra.agents import presence_row_id, slots_row_id
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
    asking = Widget()
    count("a message asking for a person", lambda: asking.say("I want a human"))
    return figures


MEASURED: dict[int, dict[str, int]] = {}


@pytest.mark.parametrize("size", [3, 3000])
def test_a_waiting_visitors_answers_and_an_escalation_cost_the_same_with_3_and_3000_agents(size, appwrite,
                                                                                        monkeypatch):
    MEASURED[size] = costs(appwrite, monkeypatch, size)
    assert MEASURED[size] == {"escalate (HTTP), nobody free": 7, "waiting heartbeat": 7, "waiting poll": 6,
                              "a message asking for a person": 10}  # 9 + the message budget's first use
