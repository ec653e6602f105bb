"""Counters follow the sessions through folds, and the summary is exact at any moment.

Transitions write no counter. A session whose contribution to the counters differs from what they hold is `dirty`;
a fold (one at a time, under a lease) moves dirty sessions into the counters in batches: it marks each session
(counted := its tally, foldFrom := what was counted, foldBatch := the batch), then writes the counter rows' sums with
that batch number, the global row last. A reader adds the sessions the counters do not hold yet (dirty, or marked
by a fold that has not finished), so the summary is exact at any moment, and a fold cut short is finished by the
next one. The fold also moves the audit trail's entries (`ops.audit.store`) and, after it, the sweep moves what it
left (`sweep_audit`).
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING

from chat_core.domain import audit as record
from chat_core.domain import rules
from chat_core.domain.model import Change, CounterRow, Session
from chat_core.errors import ChatError, Conflict, UpstreamUnavailable
from chat_core.infra.connection import StaleWrite
from chat_core.infra.jobs import Lease
from chat_core.ops import audit
from chat_core.ops.consistency import commit

if TYPE_CHECKING:
    from chat_core.core import Core


FOLD_JOB = "fold"


FOLD_LEASE = timedelta(seconds=90)  # longer than list-sessions' timeout (60 s): only a dead holder's lease expires


FOLD_BATCH = 100


FOLD_MAX_PER_RUN = 1000  # a fold's default bound (a reader's, a test's); the schedule's is `ops.schedule.fold_capacity`
FOLD_SECONDS = 40.0  # a fold starts no batch after this long: list-sessions' timeout is 60 s, the lease 90 s


READER_FOLD_AT = 1000  # pending sessions (a page to read) from which a summary reader folds one batch first: a


# safety net if the schedule does not run; the schedule keeps readers from ever paying for it
SUMMARY_ATTEMPTS = 3


def summary(core: Core) -> dict:
    """The summary, exact now: the counters plus what they do not hold yet. Two requests (the counter rows, the
    pending sessions) while fewer than a page are pending; a reader that finds more folds a batch first."""
    folded = False
    for _ in range(SUMMARY_ATTEMPTS):
        rows = core.gateway.counters.rows()
        batch = global_batch(rows)
        pending = core.gateway.sessions.pending(batch)
        if len(pending) >= READER_FOLD_AT and not folded:
            folded = True
            try:
                if fold(core, max_sessions=FOLD_BATCH):
                    continue
            except UpstreamUnavailable:  # the summary does not need the fold to be exact
                core.log("fold: Appwrite failed; the pending sessions are read instead")
        if any(session.ledger.fold_batch > batch + 1 for session in pending):
            continue  # two folds ended between our two reads: read again
        return rules.summarize(sums(rows, pending, batch))
    raise Conflict("the counters kept moving; try again", code="concurrent_update")


def sums(rows: list[CounterRow], pending: list[Session], batch: int) -> rules.Totals:
    """Counter rows (as of fold `batch`) plus the pending sessions' part: the sums every fold converges to."""
    totals: rules.Totals = {row.agent_id: dict(row.values) for row in rows}
    row_batch = {row.agent_id: row.batch for row in rows}
    for session in pending:
        now = rules.contribution(rules.tally(session))
        if session.ledger.fold_batch <= batch:
            rules.add(totals, rules.difference(rules.tally(session), session.ledger.counted))
            continue
        # Marked by the fold that is running (or was cut short): the rows it wrote already hold `counted`, the
        # others still hold `fold_from`.
        counted, before = rules.contribution(session.ledger.counted), rules.contribution(session.ledger.fold_from)
        for key in {*now, *counted, *before}:
            base = before if row_batch.get(key, 0) < session.ledger.fold_batch else counted
            rules.add(totals, {key: now.get(key, {})})
            rules.add(totals, {key: base.get(key, {})}, -1)
    return totals


def folded_batch(core: Core) -> int:
    """The last fold that finished: a session marked by a later one is still being moved."""
    return global_batch(core.gateway.counters.rows())


def global_batch(rows: list[CounterRow]) -> int:
    return next((row.batch for row in rows if row.agent_id is None), 0)


def fold(core: Core, *, max_sessions: int = FOLD_MAX_PER_RUN) -> int | None:
    """Move dirty sessions into the counters, a batch at a time; None if another fold holds the lease."""
    lease = core.gateway.jobs.lease(FOLD_JOB, core.now, FOLD_LEASE)
    if lease is None:
        return None
    try:
        return _fold(core, max_sessions)
    except StaleWrite:  # a counter row changed under us (a forced repair): the batch is cut, the next fold ends it
        core.log("fold: a counter row changed meanwhile; the next fold finishes this batch")
        return 0
    finally:
        release(core, lease)


def _fold(core: Core, max_sessions: int) -> int:
    moved = 0
    started = time.monotonic()
    while moved < max_sessions and time.monotonic() - started < FOLD_SECONDS:
        rows = core.gateway.counters.rows()
        batch = global_batch(rows) + 1
        cut = core.gateway.sessions.in_fold(batch)
        if cut:  # a fold stopped half-way: finish its batch before marking anything else
            settle_batch(core, rows, batch, cut)
            moved += len(cut)
            continue
        dirty = core.gateway.sessions.dirty(min(FOLD_BATCH, max_sessions - moved))
        if not dirty:
            break
        stored = audit.store(core, dirty)  # their transitions, as audit rows: each mark drops them from its column
        for session in dirty:
            _mark(core, session, batch, stored.get(session.id, 0))
        marked = core.gateway.sessions.in_fold(batch)  # from storage: a mark whose answer was lost counts too
        if not marked:  # every one changed under us: the next fold
            break
        settle_batch(core, rows, batch, marked)
        moved += len(marked)
        if len(dirty) < FOLD_BATCH:
            break
    return moved


def _mark(core: Core, session: Session, batch: int, moved: int = 0) -> None:
    def decide(current: Session) -> Change:
        kept = record.without(current, moved)
        if not current.ledger.dirty:
            return Change(noop="counted") if kept is current else Change(kept)
        origin = current.ledger.fold_from if current.ledger.fold_batch == batch else current.ledger.counted
        return Change(replace(kept, ledger=replace(kept.ledger, counted=rules.tally(current), fold_from=origin,
                                                          fold_batch=batch)))
    try:
        commit(core, session.id, decide, first=session)
    except ChatError as exc:  # it stays dirty: the next fold takes it
        core.log(f"fold: session {session.id} left for the next fold ({exc.code})")


def settle_batch(core: Core, rows: list[CounterRow], batch: int, marked: list[Session]) -> None:
    """Add the marked sessions' moves to the counter rows, each row written with the batch number, global last:
    its batch tells readers the fold is complete. Rows a cut-short fold already wrote are skipped."""
    delta: rules.Totals = {}
    for session in marked:
        rules.add(delta, rules.difference(session.ledger.counted, session.ledger.fold_from))
    by_key = {row.agent_id: row for row in rows}
    agents = sorted(key for key, values in delta.items() if key is not None and any(values.values()))
    for key in [*agents, None]:
        row = by_key.get(key) or CounterRow(key, {})
        if row.batch >= batch:
            continue
        values = {name: row.values.get(name, 0) + delta.get(key, {}).get(name, 0) for name in rules.COUNTER_COLUMNS}
        core.gateway.counters.write(row, values, batch)


def release(core: Core, lease: Lease) -> None:
    try:
        core.gateway.jobs.release(lease)
    except ChatError:  # it expires on its own
        core.log("fold: the lease could not be released; it expires by itself")


# --- the audit trail's sweep ----------------------------------------------------------------------

SWEEP_BATCH = 100


SWEEP_MAX_PER_RUN = 1000  # sessions one schedule's sweep moves at most (the fold moves most of them already)


def sweep_audit(core: Core, *, max_sessions: int = SWEEP_MAX_PER_RUN) -> int:
    """Move the entries the fold left (sessions that are not dirty, or that it did not reach). Returns how many
    sessions it emptied."""
    moved = 0
    while moved < max_sessions:
        sessions = core.gateway.sessions.audit_pending(min(SWEEP_BATCH, max_sessions - moved))
        stored = audit.store(core, sessions)
        emptied = 0
        for session in sessions:
            upto = stored.get(session.id, 0)
            if not upto:
                continue
            try:
                commit(core, session.id, lambda current, upto=upto: _drop(current, upto), first=session)
            except ChatError as exc:  # the rows are stored: the next run drops them from the column
                core.log(f"audit: session {session.id} keeps its moved entries for now ({exc.code})")
                continue
            emptied += 1
        moved += emptied
        if not emptied or len(sessions) < SWEEP_BATCH:  # done, or stuck on the same sessions: the next run
            break
    return moved


def _drop(session: Session, upto: int) -> Change:
    kept = record.without(session, upto)
    return Change(noop="nothing_to_move") if kept is session else Change(kept)
