"""The idle sweep (close-session's schedule, every minute): drop past budget windows, close sessions nobody used
as empty and delete them once the counters let them go, close sessions whose visitor left."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from chat_core.config import Settings
from chat_core.domain import rules
from chat_core.domain.model import CLOSED, Change, Session, iso
from chat_core.errors import ChatError, Conflict, NotFound, UpstreamUnavailable
from chat_core.ops import autoassign, budgets, consistency, counters
from chat_core.ops.slots import move

if TYPE_CHECKING:
    from chat_core.core import Core

IDLE_CLOSE_MAX_PER_RUN = 1000  # at least; see sweep_capacity
# Whoever triggers it (a caller can forge the schedule trigger), the idle sweep starts at most once a minute.
IDLE_SWEEP_MIN_INTERVAL = timedelta(seconds=60)


def sweep_capacity(settings: Settings) -> int:
    """Sessions one sweep may delete as empty, and as many it may close as idle. A sweep starts at most once a
    minute and the schedule runs every minute, so twice the creation ceiling keeps up with any creation rate the
    budgets allow and drains a backlog."""
    return max(IDLE_CLOSE_MAX_PER_RUN, 2 * settings.sessions_per_minute)


def close_idle(core: Core) -> dict:
    """Schedule: drop past budget windows, delete empty sessions, close idle ones.

    - A session nobody wrote to (no message, never escalated) and whose visitor has been idle EMPTY_SESSION_MINUTES
      is deleted, as if it had never been created.
    - An open session whose visitor has been idle longer than IDLE_CLOSE_MINUTES is closed.
    Bounded whoever calls: at most one sweep a minute starts (a lease in the `jobs` table), and a sweep deletes and
    closes at most `sweep_capacity` sessions each. A forged schedule call while a sweep ran recently costs one read."""
    # The jobs table's one lease (the fold's too), held for the minute and never given back: the next sweep starts
    # once it is a minute old. Taken like the fold's, a sweep now runs when its lease write landed but its answer was
    # lost (read back: the row names this holder; it used to answer 503 and skip the minute), and a `lastRunAt`
    # later than now (a clock ahead, a row written by hand) no longer stops sweeps until the clock reaches it.
    if core.gateway.jobs.lease("idle-close", core.now, IDLE_SWEEP_MIN_INTERVAL) is None:
        return {"skipped": "ran_recently", "closed": 0, "checked": 0, "deleted": 0, "closedAsEmpty": 0}
    capacity = sweep_capacity(core.settings)
    windows = budgets.sweep(core)
    deleted, emptied = _delete_empty(core, capacity)
    cutoff = rules.idle_cutoff(core.now, core.settings.idle_close_minutes)
    idle = core.gateway.sessions.idle(cutoff, capacity)
    checked, closed = len(idle), sum(_close_if_idle(core, session.id, cutoff) for session in idle)
    if closed:  # slots freed: one pass for all of them
        autoassign.pump_quietly(core)
    core.log(f"idle close: {closed} closed of {checked} checked (idle since {iso(cutoff)}); {emptied} empty "
             f"sessions closed as empty, {deleted} deleted; {windows} budget rows dropped")
    return {"closed": closed, "checked": checked, "deleted": deleted, "closedAsEmpty": emptied,
            "budgetRowsDropped": windows, "idleSince": iso(cutoff)}


def _delete_empty(core: Core, capacity: int) -> tuple[int, int]:
    """Empty sessions leave in two steps, so the counters stay exact at every moment without a counter write here:
    1. a session that holds nothing (active, no message, never escalated, its visitor idle EMPTY_SESSION_MINUTES)
       is closed as `empty` (a conditional write): it no longer counts anywhere, and the next fold says so;
    2. a sweep later, one the counters no longer count (not dirty, in no fold under way) is deleted, conditional on
       the row as listed. Returns how many were deleted (step 2) and closed as empty (step 1)."""
    deleted = discarded = 0
    try:
        deleted = _drop_discarded(core, capacity)
        cutoff = core.now - timedelta(minutes=core.settings.empty_session_minutes)
        for session in core.gateway.sessions.empty(cutoff, capacity):
            _, change = consistency.commit(core, session.id, lambda s: rules.discard_empty(s, core.now, cutoff),
                                           first=session, signal=False)  # nobody shows an empty session
            discarded += not change.noop
    except ChatError as exc:  # one failure must not stop the sweep
        core.log(f"empty sessions: stopped: {exc.code}")
    return deleted, discarded


def _drop_discarded(core: Core, capacity: int) -> int:
    folded_up_to = counters.folded_batch(core)
    return sum(core.gateway.sessions.delete_if_unchanged(session)
               for session in core.gateway.sessions.discarded(capacity)
               # the counters no longer hold it, and its trail is moved too
               if session.ledger.fold_batch <= folded_up_to and not session.ledger.audit_pending)


def _close_if_idle(core: Core, session_id: str, cutoff: datetime) -> int:
    def decide(session: Session) -> Change:
        if session.status == CLOSED or session.last_seen >= cutoff:
            return Change(noop="not_idle")
        return rules.close_idle(session, core.now)
    try:
        _, change = move(core, session_id, decide)  # slots follow; one pass for all at the end
    except (NotFound, Conflict, UpstreamUnavailable) as exc:  # one failure must not stop the sweep
        core.log(f"idle close skipped {session_id}: {exc.code}")
        return 0
    return 0 if change.noop else 1
