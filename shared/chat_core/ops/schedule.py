"""list-sessions' minute schedule: fold the sessions the counters do not hold yet into them, move what is left of
the audit trail, repair agents' loads left one high, and auto-assign whatever an event missed. Each part is bounded,
and a forged schedule call can only make it run sooner (the fold runs under a lease)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chat_core.config import Settings
from chat_core.core import best_effort
from chat_core.domain import agents as roster
from chat_core.errors import ChatError
from chat_core.ops import agents, counters, queueing, sweep

if TYPE_CHECKING:
    from chat_core.core import Core


def fold_capacity(settings: Settings) -> int:
    """Sessions the minute's fold moves at most: what a minute can make dirty at full capacity, so no backlog
    builds (issue 20, item 4): the idle sweep's closes (up to its capacity of empty sessions closed as empty and as
    many idle ones), and the sessions started in that minute at the project's ceiling, each counted twice (its
    start, and one more transition: an escalation, a claim, a close). At the defaults 2 x 1,200 + 2 x 600 = 3,600
    (before: 1,000, while the sweep alone could hand it 2,400). A fold also stops starting batches after
    `counters.FOLD_SECONDS`, within list-sessions' timeout."""
    return 2 * sweep.sweep_capacity(settings) + 2 * settings.sessions_per_minute


def minute(core: Core) -> dict:
    moved = counters.fold(core, max_sessions=fold_capacity(core.settings))
    if moved is None:
        return {"folded": 0, "skipped": "running", "auditMoved": 0, **_queue_and_agents(core)}
    try:  # what the fold did not move of the audit trail; the next minute retries a failure
        swept = counters.sweep_audit(core)
    except ChatError as exc:
        core.log(f"audit: the sweep stopped ({exc.code}); the next run goes on")
        swept = 0
    return {"folded": moved, "skipped": None, "auditMoved": swept, **_queue_and_agents(core)}


def _queue_and_agents(core: Core) -> dict:
    """The agents' pass (loads, auto-assignment), then every waiting visitor's queue figures (ops.queueing)."""
    figures, rows = agents.periodic(core)
    if rows is None:
        rows = best_effort(core, "agent rows not read", lambda: core.gateway.agents.online(
            roster.away_before(core.settings, core.now)))
    done = rows is not None and best_effort(core, "queue figures not refreshed", lambda: queueing.refresh(core, rows))
    return {**figures, "queueWritten": done["written"] if done else 0}
