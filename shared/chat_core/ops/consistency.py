"""Conditional writes: how every session write stays true to the state it was decided on.

1. `commit`: read a session, let a rule decide, write only if nobody wrote in between (X-Appwrite-Timestamp = the
   `$updatedAt` read; Appwrite honours it on updateRow, docs/platform.md). A lost race reads again and decides again.
   Every session write goes through it: transitions, heartbeats, message admissions (`ops.messages`), folds and
   repairs (`ops.counters`, `ops.repair`). A write that changes a session's state also records the transition on
   the row, in the same request (`ops.audit.stamp`).
2. The write log: each write appends a nonce to the row's `writeLog` (the last WRITE_LOG of them). When Appwrite
   applies a write but its answer is lost, reading the row back tells which write directly followed the state we
   decided on: ours (applied), another one (not applied: decide again), or, past WRITE_LOG writes, nobody knows.
"""

from __future__ import annotations

import random
import secrets
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from chat_core.domain import rules
from chat_core.domain.model import Change, Session
from chat_core.errors import ChatError, Conflict, NotFound, UpstreamUnavailable
from chat_core.infra.connection import RowMissing, StaleWrite
from chat_core.ops import audit, signals

if TYPE_CHECKING:
    from chat_core.core import Core

WRITE_LOG = 8
COMMIT_ATTEMPTS = 12
BACKOFF_FIRST, BACKOFF_MAX = 0.005, 0.2  # seconds: random pauses between lost races, doubling
UNKNOWN = ("Appwrite did not confirm a write and it cannot be told whether it was applied; read the session "
           "before trying again")


def load(core: Core, session_id: str) -> Session:
    try:
        return core.gateway.sessions.get(session_id)
    except RowMissing:
        raise NotFound(f"no session {session_id}", code="session_not_found") from None


def commit(core: Core, session_id: str, decide: Callable[[Session], Change], *,
           first: Session | None = None, attempts: int = COMMIT_ATTEMPTS,
           signal: bool = True) -> tuple[Session, Change]:
    """Read (or take `first`, a read just made), decide, write only over the state decided on. A lost race reads
    again and decides again (the loser of two claims then sees the winner's assignment), with a short random pause
    so that writers on one busy session do not keep colliding; after `attempts`, 409 concurrent_update. A write
    that changes what clients show is signalled (`ops.signals`), unless `signal` is False (its caller signals).

    Returns the session and the decision that landed: normally the last one; an earlier attempt's, if its write
    (answer lost, applied late) shows up in the write log instead."""
    tried: dict[str, Change] = {}  # nonce -> the decision that write carried
    session = first
    for attempt in range(attempts):
        if session is None:
            session = load(core, session_id)
            late = next((nonce for nonce in session.ledger.write_log if nonce in tried), None)
            if late is not None:  # one of our writes whose answer was lost landed after all
                return session, tried[late]
        change = decide(session)
        if change.noop or change.after is None:
            return session, change
        try:
            written = _write(core, session, change, tried)
        except StaleWrite:
            session = None
            time.sleep(random.uniform(0, min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** min(attempt, 10))))
            continue
        if signal:
            signals.after_write(core, session, written[0])
        return written
    raise Conflict("the session is changing too fast; try again", code="concurrent_update")


def _write(core: Core, before: Session, change: Change, tried: dict[str, Change]) -> tuple[Session, Change]:
    nonce = secrets.token_hex(5)
    assert change.after is not None
    after = audit.stamp(core, before, change.after)  # a transition is recorded by the write that makes it
    change = replace(change, nonce=nonce)
    tried[nonce] = change
    stamped = replace(after, ledger=replace(after.ledger, write_log=(*before.ledger.write_log, nonce)[-WRITE_LOG:],
                                            dirty=rules.tally(after) != after.ledger.counted))
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
    follower = _follower(before.ledger.write_log, now.ledger.write_log)
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
