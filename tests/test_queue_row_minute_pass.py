"""The minute's pass and the queue's row."""

from __future__ import annotations

from chat_core.domain import queue as line_of
from chat_core.domain.inputs import SessionRequest
from chat_core.ops import schedule, sessions
from fakes import fixtures
from test_queue_line import waiting

no_backoff, world = fixtures.no_backoff, fixtures.world


def test_the_minutes_pass_corrects_a_stale_row_when_the_queue_is_empty(world):
    """`if line:` in queueing.refresh: a row two moves at once left behind is never corrected once nobody waits;
    it keeps saying someone waits (any signed-in user reads it)."""
    first = waiting(world, "vic-1")
    stale = world.gw.signals.rows["queue"]
    sessions.close(world.core(first[1]), SessionRequest(first[0].session.id, first[0].token), first[0].token)
    world.gw.signals.rows["queue"] = stale  # a concurrent move's upsert landed last
    world.later(seconds=30)
    schedule.minute(world.core(world.system()))
    assert line_of.decode(world.gw.signals.rows["queue"][0]["line"]).waiting == 0
