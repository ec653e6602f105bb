"""Issue 22, item 8: each figure the console and the CLI show means what its label says (the chat's duration, the
visitor's last activity at the heartbeat's resolution, how a session was assigned, in its details and its timeline
alike)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from chat_core.edge import http, views
from conftest import ADMIN_SECRET, Widget, execute, listed
from test_assignment import Clock, availability, waiting_visitor

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def team(appwrite, monkeypatch):
    """Auto-assignment on, the clock under the test's hand."""
    clock = Clock()
    monkeypatch.setattr(http, "utcnow", clock)
    return clock


def test_a_chat_lasts_until_it_closes_not_until_the_visitors_last_message(team):
    w = Widget()
    w.say("hello")
    team.tick(240)  # four minutes of the agent answering; the visitor writes nothing more
    open_for = listed(w.session_id)
    # ($createdAt is the store's clock, a moment before the test's)
    assert 235 <= open_for["durationSeconds"] <= 241 and open_for["duration"] in ("3 minutes", "4 minutes")
    assert execute("close-session", {"sessionId": w.session_id}, token=w.token).status == 200
    team.tick(600)
    closed = listed(w.session_id)
    assert closed["durationSeconds"] == open_for["durationSeconds"]


def test_a_reading_visitor_is_seen_at_the_heartbeats_resolution(team):
    w = Widget()
    team.tick(180)  # reading: the next heartbeat is two minutes away
    assert listed(w.session_id)["lastSeenAgo"] == "under 5 minutes ago"
    team.tick(200)
    assert listed(w.session_id)["lastSeenAgo"] == "6 minutes ago"


def test_the_heartbeat_period_is_the_widgets():
    policy = (ROOT / "web/widget/policy.js").read_text()
    assert int(re.search(r"heartbeat: (\d+),", policy).group(1)) == views.HEARTBEAT_SECONDS


def test_an_auto_assignment_run_by_an_agents_own_request_is_not_their_claim(team):
    w, _ = waiting_visitor(team)
    assert availability("agent-alice", "available").status == 200  # going available assigns the waiting visitor
    session = listed(w.session_id)
    assert session["assignedAgent"] == "agent-alice" and session["assignedBy"] == "auto"
    timeline = execute("list-sessions", method="GET", path=f"/{w.session_id}/history", secret=ADMIN_SECRET).json
    assert [e["action"] for e in timeline["history"]][-1] == "auto_assign"
