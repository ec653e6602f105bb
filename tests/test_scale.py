"""bench.scale's desk follows the code (issue 20, item 7): its requests are what bench.requests_per_operation
measures on each run, its executions what appwrite.json's events make of each operation, its own ceilings
chat_core's defaults."""

from __future__ import annotations

import pytest
from chat_core.config import Settings

from bench import scale


@pytest.fixture(scope="module")
def figures() -> dict[str, int]:
    return scale.measured()


def test_every_operation_of_the_table_is_measured_now(figures):
    for name in scale.COSTS:
        executions, requests = scale.cost(name, figures, len(scale.message_listeners()))
        assert executions >= 0 and requests >= 0, name
    with pytest.raises(KeyError, match="no longer measures"):
        scale.cost("open", {k: v for k, v in figures.items() if k != "create-session"}, 1)


def test_the_desk_moves_with_the_measured_figures(figures):
    model = scale.Model()
    base = scale.per_minute(model, figures)[0]
    dearer = scale.per_minute(model, {**figures, "create-session": figures["create-session"] + 1})[0]
    assert dearer["open"][1] - base["open"][1] == pytest.approx(model.populations()["arrivals"])
    assert {line: value for line, value in dearer.items() if line != "open"} == \
        {line: value for line, value in base.items() if line != "open"}


def test_an_answered_visitor_message_runs_at_most_three_executions(figures):
    """appwrite.json decides what a stored message runs: the visitor's message and the bot's reply each one event."""
    listeners = scale.message_listeners()
    assert listeners == ["bot"]
    assert scale.cost("bot_message", figures, len(listeners))[0] == 3
    assert scale.cost("agent_reply", figures, 2)[0] == 3  # were a second function on message creates


def test_the_desk_on_paper(figures):
    lines, realtime = scale.per_minute(scale.Model(), figures)
    assert realtime["connections"] == 10_300
    # Events never pause 100 ms at this desk: the max wait refreshes each console once every 5 s, no more
    assert 11 < realtime["console_refreshes_per_minute"] <= 12
    executions = sum(e for e, _ in lines.values())
    requests = sum(r for _, r in lines.values())
    assert 0 < executions < requests
    report = scale.report(scale.Model(), figures, scale.message_listeners())
    assert "Binds first: Realtime concurrent connections" in report
    assert "not confirmed" in report
    polling = scale.per_minute(scale.Model(live_share=0.0), figures)[0]
    assert sum(e for e, _ in polling.values()) > executions  # without sockets every widget checks


def test_the_projects_own_session_ceiling_binds_before_appwrites():
    """The desk starts about 1,190 chats a minute; SESSIONS_PER_MINUTE defaults to 600, and the sweep and the fold
    are sized from it."""
    needs = {what.split(" (")[1].rstrip(")"): (ceiling, needed) for what, ceiling, needed in
             scale.ceilings(scale.Model())}
    ceiling, needed = needs["SESSIONS_PER_MINUTE"]
    assert ceiling == 600 and needed > ceiling
    raised = Settings(endpoint="", project_id="", sessions_per_minute=1200)
    assert all(needed <= ceiling for _, ceiling, needed in scale.ceilings(scale.Model(), raised))
