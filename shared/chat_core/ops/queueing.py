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

Flat in the queue (issue 20): the figures are kept on the session (`queueState`) and read with it, so a waiting
visitor's poll and heartbeat count nothing. They are computed
- live, once, by the first answer of a wait (the escalation's): the agent rows (shared with its auto-assignment
  pass), two counts on the (needsHuman, escalatedAt) index, the rate count when someone is available, and one
  conditional write to keep them;
- for the whole queue by the minute's pass (`refresh`, list-sessions' schedule): one walk of the queue in its order
  (1,000 a request), one rate count, and a conditional write on each session whose figures changed (or were
  written more than REWRITE_AFTER ago), the first REFRESH_MAX in line first;
- live again by an answer that finds them older than STALE (the pass has not run: an incident), or missing.
So the figures a visitor sees are those of the last pass (at most a minute and the pass's own run old while the
schedule runs), never older than STALE; exact as of then for the first REFRESH_MAX in line. Appwrite counts a
list's `total` up to 5,000 (APP_LIMIT_COUNT): a live count beyond reads 5,000 ("5,000 or more").
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from chat_core.core import best_effort
from chat_core.domain import agents as roster
from chat_core.domain.model import AVAILABLE, Agent, Change, Queue, Session
from chat_core.domain.queue import COUNT_LIMIT, estimate
from chat_core.errors import ChatError
from chat_core.ops import consistency
from chat_core.ops.slots import waiting

if TYPE_CHECKING:
    from chat_core.core import Core

STALE = timedelta(minutes=5)  # figures older than this are computed again by the answer that finds them
REWRITE_AFTER = timedelta(minutes=3)  # the pass rewrites unchanged figures this old, so they never reach STALE
REFRESH_MAX = 1000  # sessions the minute's pass writes at most (front of the queue first)


def queue_of(core: Core, session: Session, agents: list[Agent] | None = None) -> Queue | None:
    """The queue of a waiting session, as its visitor is told it; None when it is not waiting, when the bot or an
    admin tool asks (they never show it), or when Appwrite fails (the answer itself stands). The figures kept on
    the session when fresh (no request); else computed and kept. `agents`: the agent rows, if just read."""
    if not waiting(session) or core.caller.kind in ("bot", "admin"):
        return None
    if fresh(session, core.now):
        return session.queue
    try:
        queue = _queue(core, session.escalated_at or session.created_at, agents, owned=session.owner_id is not None)
    except ChatError as exc:
        core.log(f"queue position not computed: {exc.code}")
        return None
    best_effort(core, f"session {session.id}: queue figures not kept", lambda: _keep(core, session, queue))
    return queue


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


def _queue(core: Core, since: datetime, agents: list[Agent] | None, owned: bool) -> Queue:
    settings = core.settings
    rows = core.gateway.agents.online(roster.away_before(settings, core.now)) if agents is None else agents
    available = [a for a in rows if roster.effective(a, settings, core.now) == AVAILABLE]
    # Signed-in visitors go first (a guest's flood never takes their place): a signed-in visitor waits behind the
    # signed-in visitors who asked earlier; a guest behind every signed-in visitor and the guests who asked earlier.
    everyone = core.gateway.sessions.count_waiting()
    if owned:
        position = core.gateway.sessions.count_waiting(before=since, owned=True)
    else:  # all but the guests who asked at the same time or later (this one included)
        position = max(0, everyone - core.gateway.sessions.count_waiting(since=since, owned=False))
    in_queue = max(everyone, min(COUNT_LIMIT, position + 1))  # two reads: keep them coherent
    expected = None
    if available:
        free = roster.free_slots(available, settings)
        window = timedelta(minutes=settings.queue_rate_minutes)
        expected = estimate(position, free if settings.auto_assign else 0,
                            lambda: core.gateway.sessions.count_taken_since(core.now - window), window)
    return Queue(position, in_queue, len(available), expected, core.now)


def refresh(core: Core, agents: list[Agent]) -> dict:
    """The minute's pass: every waiting session's figures, from one walk of the queue in its order. `agents`: the
    agent rows as the pass's auto-assignment left them. Returns {"waiting", "written"}."""
    settings = core.settings
    line = list(core.gateway.sessions.waiting(REFRESH_MAX))
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
        queue = Queue(position, len(line), len(available), expected, core.now)
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
