"""Telling browsers that a session changed: its signal row (`domain.signals`), written after the write it reports.

One request per operation that changes what a client shows of the session: its status, queue, assignee or close
(`domain.signals.changed`). A message alone writes none: its own row reaches the same readers (Realtime, row
security on `messages`). Heartbeats, polls, folds and repairs write none either. Best effort: the change itself
has landed, so a signal that fails is logged, never the caller's error; clients that missed it catch up at their
next check (docs/visitor-side.md). A write that moves the queue also writes the queue's row, in the same request
(upsertRows), with the queue's line read after that write (one list: domain.queue), and when that read was (the
row's `at`: a widget holding newer figures ignores an older line)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from chat_core.core import best_effort
from chat_core.domain import signals
from chat_core.domain.model import Session
from chat_core.domain.queue import LINE_SIZE, Line

if TYPE_CHECKING:
    from chat_core.core import Core


# An escalation an agent may take at once: its write leaves the queue's row to the auto-assignment that follows
# (whose write moves the queue again), or to `publish_line` if the session still waits after it.
LATER = Line(-1)


def publish(core: Core, session: Session, *, queue: bool = False) -> None:
    """The session's signal; with `queue`, the queue's row too, in the same request, with the line read now."""
    # The agent's name, as the widget's answers carry it: remembered per warm instance (infra/users.py), so at most
    # one Users read per agent in NAME_CACHE_SECONDS, none when this instance verified the agent's JWT.
    name = core.gateway.users.display_name(session.assigned_agent) if session.assigned_agent else None
    row = (session.id, signals.row(session, core.now, name), signals.readers(session))
    write = lambda: core.gateway.signals.publish(*row)  # noqa: E731
    line, core.line_ahead = core.line_ahead if queue else None, None  # an escalation's, counted before its write
    if queue and line is None:
        line = best_effort(core, "the queue's line was not read", lambda: read_line(core))
    if line is not None and line is not LATER:
        core.queue_line = line
        rows = [row, (signals.QUEUE, signals.queue_row(core.now, line), signals.QUEUE_READERS)]
        write = lambda: core.gateway.signals.publish_many(rows)  # noqa: E731
    best_effort(core, f"session {session.id}: its signal was not written", write)


def after_write(core: Core, before: Session, after: Session) -> None:
    """A session write that landed: signal it when a client must hear of it."""
    if signals.changed(before, after):
        publish(core, after, queue=signals.queue_moved(before, after))


def publish_line(core: Core, line: Line | None = None) -> None:
    """The queue's row alone, with `line` or the line read now (the minute's pass: it corrects a row two moves at
    once left behind; an escalation nobody took after all)."""
    if line is None:
        line = best_effort(core, "the queue's line was not read", lambda: read_line(core))
        if line is None:
            return
    core.queue_line = line
    best_effort(core, "the queue's row was not written",
                lambda: core.gateway.signals.publish(signals.QUEUE, signals.queue_row(core.now, line),
                                                     signals.QUEUE_READERS))


def read_line(core: Core) -> Line:
    """The queue's line now (one list), stamped with when its read started (`Core.read_time`)."""
    at = core.read_time()
    return replace(core.gateway.sessions.line(LINE_SIZE), as_of=at)
