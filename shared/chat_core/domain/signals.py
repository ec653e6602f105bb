"""What a browser may receive over Appwrite Realtime (docs/security.md, "Realtime: what a browser can receive"): a
session's signal row, and who may read it and the session's message rows.

Realtime sends a whole row to every connection allowed to read it. Messages reach their readers as their own rows
(the `messages` table has row security; each row is created readable by `readers`), so a message needs no signal.
The signal row tells what a client shows of the session's state: a fixed allow-list of its public state (the owner
view of `edge.views` without `lastSeen`, `messageCount`, the rating and the queue), written only when that state
changes (`changed`). Nothing of the ledger, the token hash, the write log, the budgets or the rating is ever copied
here. Read by the session's owner (an Appwrite user: the widget's anonymous account) and by the staff labels; a
guest session's rows are read by staff alone. Nobody may write them but the functions' key.
Pure: the operations decide when to write it (`ops.signals`).

One more row, `queue`, tells waiting visitors that the queue moved (someone entered or left it) and carries the
queue's line (`domain.queue`: the first waiters' ordering keys, when each started waiting and whether signed in,
and how many wait; no session ID, nobody), from which each waiting widget counts its own place: any signed-in user
may read it (`users`: the widget's anonymous accounts). It is written in the same request as the session's row
that moved the queue, with the line read after that write (or, for an escalation, counted before it and kept by
it), and again by the minute's pass.
"""

from __future__ import annotations

from datetime import datetime

from chat_core.domain import queue
from chat_core.domain.model import ACTIVE, Session, iso, parse_time

STAFF_LABELS = ("agent", "admin")
# The Session fields a signal reports: a write that changes none of them (a heartbeat, a fold, a repair) sends none.
SIGNALLED = ("status", "needs_human", "assigned_agent", "escalated_at", "closed_at")
COLUMNS = ("sessionId", "status", "botShouldReply", "needsHuman", "assignedAgent", "agentName", "escalatedAt",
           "closedAt", "at")


QUEUE = "queue"  # the queue's row ID (no session ID has that form: they start with s_)
QUEUE_READERS = ['read("users")']


def queue_moved(before: Session, after: Session) -> bool:
    """Whether a write moved the queue: a session entered or left it (the places behind it changed)."""
    return before.needs_human != after.needs_human


QUEUE_COLUMNS = ("sessionId", "at", "line")


def queue_row(now: datetime, line: queue.Line) -> dict:
    """The queue's row (QUEUE_COLUMNS): that it moved, and its line, with `at` when that line was read (`now` for a
    line that does not say). No session, nobody."""
    return {"sessionId": QUEUE, "at": iso(line.as_of or now), "line": queue.encode(line)}


def queue_line(data: dict) -> queue.Line | None:
    """The line the queue's row holds, read when its `at` says; None when it holds none."""
    return queue.decode(data.get("line"), parse_time(data.get("at")))


def changed(before: Session, after: Session) -> bool:
    """Whether a write from `before` to `after` is one a client must hear of."""
    return any(getattr(before, name) != getattr(after, name) for name in SIGNALLED)


def readers(session: Session) -> list[str]:
    """The read permissions of the session's signal row and of each of its message rows: the owner (when the
    session has one) and the staff labels; nothing else."""
    roles = ([f"user:{session.owner_id}"] if session.owner_id else []) + [f"label:{label}" for label in STAFF_LABELS]
    return [f'read("{role}")' for role in roles]


def row(session: Session, now: datetime, agent_name: str | None = None) -> dict:
    """The row's columns (COLUMNS): the session's public state and its agent's name (as the widget's answers give
    it)."""
    return {
        "sessionId": session.id, "status": session.status, "botShouldReply": session.status == ACTIVE,
        "needsHuman": session.needs_human, "assignedAgent": session.assigned_agent, "agentName": agent_name,
        "escalatedAt": iso(session.escalated_at), "closedAt": iso(session.closed_at), "at": iso(now),
    }
