"""Consistency, in one module: how every write stays true to the state it was decided on, and how the counters and
message counts follow the rows exactly, under concurrency, lost answers and crashes.

1. `commit`: read a session, let a rule decide, write only if nobody wrote in between (X-Appwrite-Timestamp = the
   `$updatedAt` read; Appwrite honours it on updateRow, docs/platform.md). A lost race reads again and decides again.
   Every session write goes through it: transitions, heartbeats, message admissions, folds, repairs. A write that
   changes a session's state also records the transition on the row, in the same request (`audit.stamp`).
2. The write log: each write appends a nonce to the row's `writeLog` (the last WRITE_LOG of them). When Appwrite
   applies a write but its answer is lost, reading the row back tells which write directly followed the state we
   decided on: ours (applied), another one (not applied: decide again), or, past WRITE_LOG writes, nobody knows.
3. Messages (`post_message`): the session write admits a message (count, flood window, the author's right to post,
   escalation) and only then is the row stored, so a message is stored only into a session that was open, within
   the window and held by its author at that moment. A message row is never deleted: an admission whose row could
   not be stored, or whose row another attempt stored first (a duplicate), is taken back with another commit.
4. Counters (`fold`, `summary`): transitions write no counter. A session whose contribution to the counters differs
   from what they hold is `dirty`; a fold (one at a time, under a lease) moves dirty sessions into the counters in
   batches: it marks each session (counted := its tally, foldFrom := what was counted, foldBatch := the batch),
   then writes the counter rows' sums with that batch number, the global row last. A reader adds the sessions the
   counters do not hold yet (dirty, or marked by a fold that has not finished), so the summary is exact at any
   moment, and a fold cut short is finished by the next one.
5. Repair (`repair`, POST /recount): rebuilds the counters as the sum of what every session says is counted (exact
   while traffic runs: only folds change that, and the repair holds their lease) and sets `messageCount` to the
   stored rows for sessions that nobody wrote for `settle` (an admission's row is stored within one execution).
"""

from __future__ import annotations

import random
import secrets
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from chat_core.domain import authz, rules
from chat_core.domain.inputs import NewMessage
from chat_core.domain.model import Change, CounterRow, Message, Session, parse_time
from chat_core.edge.views import message_view, owner_view
from chat_core.errors import ChatError, Conflict, NotFound, UpstreamUnavailable
from chat_core.infra.connection import RowExists, RowMissing, StaleWrite
from chat_core.infra.jobs import Lease
from chat_core.ops import audit

if TYPE_CHECKING:
    from chat_core.core import Core

WRITE_LOG = 8
COMMIT_ATTEMPTS = 12
ADMIT_ATTEMPTS = 30  # a busy session's writes are mostly messages: they get more tries before a 409
TAKE_BACK_ATTEMPTS = 40
BACKOFF_FIRST, BACKOFF_MAX = 0.005, 0.2  # seconds: random pauses between lost races, doubling
FOLD_JOB = "fold"
FOLD_LEASE = timedelta(seconds=90)  # longer than list-sessions' timeout (60 s): only a dead holder's lease expires
FOLD_BATCH = 100
FOLD_MAX_PER_RUN = 1000  # sessions one scheduled fold moves at most: well within list-sessions' 60 s
READER_FOLD_AT = 1000  # pending sessions (a page to read) from which a summary reader folds one batch first: a
# safety net if the schedule does not run; the schedule keeps readers from ever paying for it
SUMMARY_ATTEMPTS = 3
UNKNOWN = ("Appwrite did not confirm a write and it cannot be told whether it was applied; read the session "
           "before trying again")


# --- commit: conditional writes ------------------------------------------------------------------

def load(core: Core, session_id: str) -> Session:
    try:
        return core.gateway.sessions.get(session_id)
    except RowMissing:
        raise NotFound(f"no session {session_id}", code="session_not_found") from None


def commit(core: Core, session_id: str, decide: Callable[[Session], Change], *,
           first: Session | None = None, attempts: int = COMMIT_ATTEMPTS) -> tuple[Session, Change]:
    """Read (or take `first`, a read just made), decide, write only over the state decided on. A lost race reads
    again and decides again (the loser of two claims then sees the winner's assignment), with a short random pause
    so that writers on one busy session do not keep colliding; after `attempts`, 409 concurrent_update.

    Returns the session and the decision that landed: normally the last one; an earlier attempt's, if its write
    (answer lost, applied late) shows up in the write log instead."""
    tried: dict[str, Change] = {}  # nonce -> the decision that write carried
    session = first
    for attempt in range(attempts):
        if session is None:
            session = load(core, session_id)
            late = next((nonce for nonce in session.write_log if nonce in tried), None)
            if late is not None:  # one of our writes whose answer was lost landed after all
                return session, tried[late]
        change = decide(session)
        if change.noop or change.after is None:
            return session, change
        try:
            return _write(core, session, change, tried)
        except StaleWrite:
            session = None
            time.sleep(random.uniform(0, min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** min(attempt, 10))))
    raise Conflict("the session is changing too fast; try again", code="concurrent_update")


def _write(core: Core, before: Session, change: Change, tried: dict[str, Change]) -> tuple[Session, Change]:
    nonce = secrets.token_hex(5)
    assert change.after is not None
    after = audit.stamp(core, before, change.after)  # a transition is recorded by the write that makes it
    change = replace(change, nonce=nonce)
    tried[nonce] = change
    stamped = replace(after, write_log=(*before.write_log, nonce)[-WRITE_LOG:],
                      dirty=rules.tally(after) != after.counted)
    try:
        return core.gateway.sessions.update(before, stamped), change
    except RowMissing:
        raise NotFound(f"no session {before.id}", code="session_not_found") from None
    except UpstreamUnavailable:
        return _resolve(core, before, tried)


def _resolve(core: Core, before: Session, tried: dict[str, Change]) -> tuple[Session, Change]:
    """A write without an answer: the session if one of our writes followed `before`, StaleWrite if another did or
    none yet (decide again), UpstreamUnavailable if it cannot be told."""
    try:
        now = core.gateway.sessions.get(before.id)
    except ChatError:
        raise UpstreamUnavailable(UNKNOWN) from None
    if now.updated_at == before.updated_at:
        raise StaleWrite("not applied")
    follower = _follower(before.write_log, now.write_log)
    if follower in tried:
        return now, tried[follower]
    if follower is None:
        raise UpstreamUnavailable(UNKNOWN)
    raise StaleWrite("another write came first")


def _follower(before: tuple[str, ...], now: tuple[str, ...]) -> str | None:
    """The nonce of the write that directly followed the state whose log is `before`, or None if the log no longer
    reaches back that far. (A conditional write lands only on the state it was decided on, so the write after
    `before` is the only one that can be ours.)"""
    if before:
        if before[-1] not in now:
            return None
        at = now.index(before[-1]) + 1
        return now[at] if at < len(now) else ""
    if len(now) < WRITE_LOG:  # the log was empty and has not rolled over since
        return now[0] if now else ""
    return None


# --- messages ------------------------------------------------------------------------------------

def post_message(core: Core, first: Session, token: str | None, new: NewMessage, row_id: str) -> dict:
    """Admit, then store; see the module docstring. Answers like touch-session."""
    reason = rules.escalation_reason(new.role, new.text, new.handoff, core.settings.handoff_phrases)

    def decide(session: Session) -> Change:
        author = authz.post_message(core.caller, session, token, new.role)
        change, admission = rules.admit(session, row_id, core.now, by_owner=new.role == "user",
                                        limit=core.settings.max_messages_per_minute, escalation=reason)
        return replace(change, note=(author, admission))

    admitted, change = commit(core, first.id, decide, first=first, attempts=ADMIT_ATTEMPTS)
    author, admission = change.note
    message = Message(id=row_id, session_id=first.id, role=new.role, text=new.text, created_at=core.now,
                      handoff=new.handoff, author_id=author if new.role == "agent" else None,
                      client_message_id=new.client_id, admission=change.nonce)
    try:
        stored, ours = _store(core, message)
    except ChatError:
        _take_back(core, admitted, admission)
        raise
    if ours:
        return {"session": owner_view(admitted), "message": message_view(stored), "duplicate": False}
    # Another attempt with the same client ID stored it (the widget retried): answer with that row, counted once.
    return {"session": owner_view(_take_back(core, admitted, admission) or admitted),
            "message": message_view(stored), "duplicate": True}


def _store(core: Core, message: Message) -> tuple[Message, bool]:
    """The stored row and whether it is this admission's. Creating by a known row ID is idempotent, so a create
    whose answer was lost is simply tried again: it lands, or meets the row that did."""
    try:
        try:
            return core.gateway.messages.create(message), True
        except UpstreamUnavailable:
            return core.gateway.messages.create(message), True
    except RowExists:
        try:
            stored = core.gateway.messages.get(message.id)
        except RowMissing:
            raise UpstreamUnavailable("a message row vanished; try again") from None
        return stored, stored.admission == message.admission


def _take_back(core: Core, admitted: Session, admission: rules.Admission) -> Session | None:
    try:
        # It must land, or the count stays one over: it keeps trying longer than a caller's operation would.
        session, _ = commit(core, admitted.id, lambda s: rules.unadmit(s, admission), first=admitted,
                            attempts=TAKE_BACK_ATTEMPTS)
        return session
    except ChatError as exc:
        core.log(f"session {admitted.id}: an admitted message could not be taken back ({exc.code}): its "
                 "messageCount may be one over its stored messages until POST /recount on list-sessions")
        return None


# --- counters: the fold and the summary ----------------------------------------------------------

def summary(core: Core) -> dict:
    """The summary, exact now: the counters plus what they do not hold yet. Two requests (the counter rows, the
    pending sessions) while fewer than a page are pending; a reader that finds more folds a batch first."""
    folded = False
    for _ in range(SUMMARY_ATTEMPTS):
        rows = core.gateway.counters.rows()
        batch = _global_batch(rows)
        pending = core.gateway.sessions.pending(batch)
        if len(pending) >= READER_FOLD_AT and not folded:
            folded = True
            try:
                if fold(core, max_sessions=FOLD_BATCH):
                    continue
            except UpstreamUnavailable:  # the summary does not need the fold to be exact
                core.log("fold: Appwrite failed; the pending sessions are read instead")
        if any(session.fold_batch > batch + 1 for session in pending):
            continue  # two folds ended between our two reads: read again
        return rules.summarize(sums(rows, pending, batch))
    raise Conflict("the counters kept moving; try again", code="concurrent_update")


def sums(rows: list[CounterRow], pending: list[Session], batch: int) -> rules.Totals:
    """Counter rows (as of fold `batch`) plus the pending sessions' part: the sums every fold converges to."""
    totals: rules.Totals = {row.agent_id: dict(row.values) for row in rows}
    row_batch = {row.agent_id: row.batch for row in rows}
    for session in pending:
        now = rules.contribution(rules.tally(session))
        if session.fold_batch <= batch:
            rules.add(totals, rules.difference(rules.tally(session), session.counted))
            continue
        # Marked by the fold that is running (or was cut short): the rows it wrote already hold `counted`, the
        # others still hold `fold_from`.
        counted, before = rules.contribution(session.counted), rules.contribution(session.fold_from)
        for key in {*now, *counted, *before}:
            base = before if row_batch.get(key, 0) < session.fold_batch else counted
            rules.add(totals, {key: now.get(key, {})})
            rules.add(totals, {key: base.get(key, {})}, -1)
    return totals


def folded_batch(core: Core) -> int:
    """The last fold that finished: a session marked by a later one is still being moved."""
    return _global_batch(core.gateway.counters.rows())


def _global_batch(rows: list[CounterRow]) -> int:
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
        _release(core, lease)


def _fold(core: Core, max_sessions: int) -> int:
    moved = 0
    while moved < max_sessions:
        rows = core.gateway.counters.rows()
        batch = _global_batch(rows) + 1
        cut = core.gateway.sessions.in_fold(batch)
        if cut:  # a fold stopped half-way: finish its batch before marking anything else
            _settle(core, rows, batch, cut)
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
        _settle(core, rows, batch, marked)
        moved += len(marked)
        if len(dirty) < FOLD_BATCH:
            break
    return moved


def _mark(core: Core, session: Session, batch: int, moved: int = 0) -> None:
    def decide(current: Session) -> Change:
        kept = audit.without(current, moved)
        if not current.dirty:
            return Change(noop="counted") if kept is current else Change(kept)
        origin = current.fold_from if current.fold_batch == batch else current.counted
        return Change(replace(kept, counted=rules.tally(current), fold_from=origin, fold_batch=batch))
    try:
        commit(core, session.id, decide, first=session)
    except ChatError as exc:  # it stays dirty: the next fold takes it
        core.log(f"fold: session {session.id} left for the next fold ({exc.code})")


def _settle(core: Core, rows: list[CounterRow], batch: int, marked: list[Session]) -> None:
    """Add the marked sessions' moves to the counter rows, each row written with the batch number, global last:
    its batch tells readers the fold is complete. Rows a cut-short fold already wrote are skipped."""
    delta: rules.Totals = {}
    for session in marked:
        rules.add(delta, rules.difference(session.counted, session.fold_from))
    by_key = {row.agent_id: row for row in rows}
    agents = sorted(key for key, values in delta.items() if key is not None and any(values.values()))
    for key in [*agents, None]:
        row = by_key.get(key) or CounterRow(key, {})
        if row.batch >= batch:
            continue
        values = {name: row.values.get(name, 0) + delta.get(key, {}).get(name, 0) for name in rules.COUNTER_COLUMNS}
        core.gateway.counters.write(row, values, batch)


def _release(core: Core, lease: Lease) -> None:
    try:
        core.gateway.jobs.release(lease)
    except ChatError:  # it expires on its own
        core.log("fold: the lease could not be released; it expires by itself")


# --- repair --------------------------------------------------------------------------------------

def repair(core: Core, settle: timedelta) -> dict:
    """Rebuild the counters from the sessions' ledger and every settled session's messageCount from its stored
    rows. `settle` 0 (after a crash, with nothing running) also takes over a lease a dead fold left."""
    lease = core.gateway.jobs.lease(FOLD_JOB, core.now, FOLD_LEASE, force=not settle)
    if lease is None:
        raise Conflict("a fold or a repair is running; try again in a minute", code="busy")
    try:
        counters = _rebuild(core)
        messages = _recount_messages(core, core.now - settle)
        rows = core.gateway.counters.rows()
        batch = _global_batch(rows)
        summary_now = rules.summarize(sums(rows, core.gateway.sessions.pending(batch), batch))
    finally:
        _release(core, lease)
    return {"summary": summary_now, "counters": counters, "messageCounts": messages}


def _rebuild(core: Core) -> dict:
    rows = core.gateway.counters.rows()
    batch = _global_batch(rows)
    cut = core.gateway.sessions.in_fold(batch + 1)
    if cut:
        _settle(core, rows, batch + 1, cut)
        rows, batch = core.gateway.counters.rows(), batch + 1
    totals: rules.Totals = {None: {}}
    for session in core.gateway.sessions.all():
        rules.add(totals, rules.contribution(session.counted))
    by_key = {row.agent_id: row for row in rows}
    changed = 0
    for key in [*sorted(k for k in {*totals, *by_key} if k is not None), None]:
        row = by_key.get(key) or CounterRow(key, {})
        values = {name: totals.get(key, {}).get(name, 0) for name in rules.COUNTER_COLUMNS}
        if row.updated_at is None or values != {n: row.values.get(n, 0) for n in rules.COUNTER_COLUMNS}:
            core.gateway.counters.write(row, values, max(row.batch, batch))
            changed += 1
    return {"rows": len({*totals, *by_key}), "repaired": changed}


def _recount_messages(core: Core, settled_before: datetime) -> dict:
    """messageCount := stored rows, for sessions nobody wrote since `settled_before`. The rows are counted first:
    an admission older than that had its row stored (or never will) before the count began."""
    stored = core.gateway.messages.counts()
    repaired = unsettled = 0
    for session in core.gateway.sessions.all():
        if session.message_count == stored.get(session.id, 0):
            continue

        def decide(current: Session) -> Change:
            if parse_time(current.updated_at) >= settled_before:
                return Change(noop="unsettled")
            return Change(replace(current, message_count=stored.get(current.id, 0)))
        try:
            _, change = commit(core, session.id, decide, first=session)
        except ChatError as exc:
            core.log(f"repair: session {session.id} left as it is ({exc.code})")
            unsettled += 1
            continue
        if change.noop:
            unsettled += 1
        else:
            repaired += 1
    return {"repaired": repaired, "unsettled": unsettled}
