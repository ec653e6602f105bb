"""What a waiting visitor is told: `queue: {position, waiting, availableAgents, expectedWaitSeconds}`, in every
answer the widget reads (null when the session is not waiting).

- position: the sessions ahead in the queue's order and still waiting: signed-in visitors' sessions (an owner)
  first, then guests', each oldest waiter first (the order auto-assignment takes them in), so a guest's flood
  never takes a signed-in visitor's place. 0: next.
- waiting: every session waiting. availableAgents: agents whose effective availability is "available".
- expectedWaitSeconds: null when nobody is available. Else the visitor needs position + 1 sessions taken from the
  queue before theirs (less the free slots of available agents, which auto-assignment fills at once); the queue
  moves at the recent rate: the sessions taken from it (assignedBy auto, claim or admin) in the last
  QUEUE_RATE_MINUTES. Expected = needed / rate; null too when nothing was taken in that window.

Flat in the queue (issue 20, docs/assignment.md): the place and the queue's size come from the queue's line
(domain.queue), which every write that moves the queue puts on the `queue` signal row (ops.signals: one list of
the first LINE_SIZE waiters' ordering keys, after the write). A signed-in visitor's widget counts its place from the
row it receives (no execution); a poll reads the row (one request) and counts the same way. The rest (available
agents, the rate behind the expected wait) and the place of a visitor beyond the line are kept on the session
(`queueState`):
- computed by the escalation before the write that starts the wait, and stored by that write (`entering`): the
  agent rows (shared with its auto-assignment pass), the line (or, beyond it, the counts), the rate count when
  someone is available;
- for the whole queue by the minute's pass (`refresh`, list-sessions' schedule): one walk of the queue in its order
  (1,000 a request), one rate count, a conditional write on each session whose figures changed (or were written
  more than REWRITE_AFTER ago), the first REFRESH_MAX in line first; and the queue's row again;
- live again by an answer that finds them older than STALE (the pass has not run: an incident), or missing.
Appwrite counts a list's `total` up to 5,000 (APP_LIMIT_COUNT): a count beyond reads 5,000 ("5,000 or more").
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from chat_core.core import best_effort
from chat_core.domain import agents as roster
from chat_core.domain import queue as line_of
from chat_core.domain.model import AVAILABLE, Agent, Change, Queue, Session
from chat_core.domain.queue import COUNT_LIMIT, Line, estimate, follow, place
from chat_core.errors import ChatError
from chat_core.ops import consistency, signals
from chat_core.ops.slots import waiting

if TYPE_CHECKING:
    from chat_core.core import Core

STALE = timedelta(minutes=5)  # figures older than this are computed again by the answer that finds them
REWRITE_AFTER = timedelta(minutes=3)  # the pass rewrites unchanged figures this old, so they never reach STALE
REFRESH_MAX = 1000  # sessions the minute's pass writes at most (front of the queue first)


def queue_of(core: Core, session: Session, agents: list[Agent] | None = None, *, look: bool = False) -> Queue | None:
    """The queue of a waiting session, as its visitor is told it; None when it is not waiting, when the bot or an
    admin tool asks (they never show it), or when Appwrite fails (the answer itself stands). The place from the
    queue's line when this request wrote it, or (`look`: a poll) from the queue's row (one read), unless that line
    was read before the figures kept were counted (a row a failed or late write left behind); the rest from the
    figures kept on the session when fresh; else all computed and kept. The figures carry when they were counted
    (`as_of`): the line's read when their place came from it, else the kept (or just computed) figures' time.
    `agents`: the agent rows, if just read."""
    if not waiting(session) or core.caller.kind in ("bot", "admin"):
        return None
    line = core.queue_line
    if line is None and look:
        line = best_effort(core, "the queue's row was not read", core.gateway.signals.line)
    kept = session.queue if fresh(session, core.now) else None
    if line is not None and kept is not None and line_of.older(line, kept):
        line = None  # a row a failed or late write left behind: the figures kept were counted after it
    spot = place(line, session.escalated_at, session.owner_id is not None) if line is not None else None
    if kept is not None:
        return follow(kept, *spot, line.as_of) if spot and line else kept
    try:
        queue = _queue(core, agents, spot or _counted(core, session.escalated_at or session.created_at,
                                                      session.owner_id is not None))
    except ChatError as exc:
        core.log(f"queue position not computed: {exc.code}")
        return None
    best_effort(core, f"session {session.id}: queue figures not kept", lambda: _keep(core, session, queue))
    # Kept as counted now (their staleness: the agents, the rate); told as of the line the place came from.
    return replace(queue, as_of=line.as_of) if spot and line else queue


@dataclass(frozen=True)
class Entering:
    """A wait about to start, counted before the write that starts it: the figures that write keeps (None when an
    agent may take it at once), the queue's line with this wait in it (for the queue's row: no read after the
    write), and the agent rows read (for the auto-assignment pass that follows)."""

    queue: Queue | None
    line: Line | None
    agents: list[Agent]


def entering(core: Core, session: Session) -> Entering:
    """The figures of `session` as it starts waiting now (the rules stamp escalatedAt with `core.now`): the agent
    rows, then, unless some agent may take it at once, the line (one list) and the rate count when needed; beyond
    the line, the counts."""
    rows = core.gateway.agents.online(roster.away_before(core.settings, core.now))
    if core.settings.auto_assign and any(roster.takes_work(a, core.settings, core.now) for a in rows):
        return Entering(None, signals.LATER, rows)  # the pass that follows decides (`settle`)
    owned = session.owner_id is not None
    before = signals.read_line(core)
    line = line_of.with_entry(before, core.now, owned)
    # Beyond the line, a guest waits behind everyone waiting now; a signed-in visitor behind the signed-in ones.
    spot = place(line, core.now, owned) or (
        core.gateway.sessions.count_waiting(owned=True) if owned else before.waiting, line.waiting)
    return Entering(_queue(core, rows, spot), line, rows)


def settle(core: Core, session: Session, entered: Entering | None) -> None:
    """After the auto-assignment that followed an escalation some agent could take at once: if the session still
    waits, the queue's row no write of this request has written yet (the line read now)."""
    if entered is not None and entered.line is signals.LATER and waiting(session) and core.queue_line is None:
        signals.publish_line(core)


def with_figures(change: Change, entered: Entering | None) -> Change:
    """The decision, with the figures `entering` counted when it starts the wait."""
    if entered is None or entered.queue is None or change.after is None or not waiting(change.after):
        return change
    return replace(change, after=replace(change.after, queue=entered.queue))


def fresh(session: Session, now: datetime) -> bool:
    """Whether the figures on the session belong to this wait and are younger than STALE."""
    kept = session.queue
    return (kept is not None and kept.as_of is not None and now - kept.as_of < STALE
            and (session.escalated_at is None or kept.as_of >= session.escalated_at))


def _keep(core: Core, session: Session, queue: Queue) -> None:
    def decide(current: Session) -> Change:
        if not waiting(current) or current.escalated_at != session.escalated_at:
            return Change(noop="not_waiting")
        return Change(after=replace(current, queue=queue))
    consistency.commit(core, session.id, decide, first=session, attempts=1)


def _queue(core: Core, agents: list[Agent] | None, spot: tuple[int, int]) -> Queue:
    """The figures of a wait at `spot` (position, waiting): the agent rows (unless given), the rate count if
    needed."""
    settings = core.settings
    position, in_queue = spot
    rows = core.gateway.agents.online(roster.away_before(settings, core.now)) if agents is None else agents
    available = [a for a in rows if roster.effective(a, settings, core.now) == AVAILABLE]
    expected = None
    if available:
        free = roster.free_slots(available, settings)
        window = timedelta(minutes=settings.queue_rate_minutes)
        expected = estimate(position, free if settings.auto_assign else 0,
                            lambda: core.gateway.sessions.count_taken_since(core.now - window), window)
    return Queue(position, in_queue, len(available), expected, core.now)


def _counted(core: Core, since: datetime, owned: bool) -> tuple[int, int]:
    """(position, waiting) of a wait beyond the line, counted. Signed-in visitors go first (a guest's flood never
    takes their place): a signed-in visitor waits behind the signed-in visitors who asked earlier; a guest behind
    every signed-in visitor and the guests who asked earlier."""
    everyone = core.gateway.sessions.count_waiting()
    if owned:
        position = core.gateway.sessions.count_waiting(before=since, owned=True)
    else:  # all but the guests who asked at the same time or later (this one included)
        position = max(0, everyone - core.gateway.sessions.count_waiting(since=since, owned=False))
    return position, max(everyone, min(COUNT_LIMIT, position + 1))  # two reads: keep them coherent


def refresh(core: Core, agents: list[Agent]) -> dict:
    """The minute's pass: every waiting session's figures, from one walk of the queue in its order, and the queue's
    row (a row that two moves at once left behind is right again). `agents`: the agent rows as the pass's
    auto-assignment left them. Returns {"waiting", "written"}."""
    settings = core.settings
    read_at = core.read_time()  # after the pass's fold and auto-assignment: the line and figures say when
    line = list(core.gateway.sessions.waiting(REFRESH_MAX))
    # Written even when nobody waits: a row two moves at once left behind saying someone waits is right again (one
    # request a minute).
    signals.publish_line(core, line_of.of_sessions([(s.escalated_at or s.created_at, s.owner_id is not None)
                                                    for s in line], read_at))
    available = [a for a in agents if roster.effective(a, settings, core.now) == AVAILABLE]
    free = roster.free_slots(available, settings) if settings.auto_assign else 0
    window = timedelta(minutes=settings.queue_rate_minutes)
    taken: list[int] = []

    def rate() -> int:
        if not taken:
            taken.append(core.gateway.sessions.count_taken_since(core.now - window))
        return taken[0]
    written = 0
    for position, session in enumerate(line):
        if written >= REFRESH_MAX:
            break
        expected = estimate(position, free, rate, window) if available else None
        queue = Queue(position, len(line), len(available), expected, read_at)
        kept = session.queue
        if (fresh(session, core.now) and kept is not None and kept.as_of is not None
                and replace(kept, as_of=None) == replace(queue, as_of=None)
                and core.now - kept.as_of < REWRITE_AFTER):
            continue
        try:
            _keep(core, session, queue)
            written += 1
        except ChatError as exc:  # changed meanwhile, or Appwrite failing: the next pass
            core.log(f"session {session.id}: queue figures not kept ({exc.code})")
    return {"waiting": len(line), "written": written}
