"""What a waiting visitor is told: `queue: {position, waiting, availableAgents, expectedWaitSeconds}`, in every
answer the widget reads (null when the session is not waiting).

- position: the sessions ahead in the queue's order and still waiting: signed-in visitors' sessions (an owner)
  first, then guests', each oldest waiter first (the order auto-assignment takes them in), so a guest's flood
  never takes a signed-in visitor's place. A signed-in visitor's: the signed-in visitors' that started waiting
  earlier (a count on the (needsHuman, escalatedAt) index, filtered on ownerId); a guest's: every waiting session
  but the guests' that started waiting at the same time or later (the same count). 0: next.
- waiting: every session waiting now (the same count without the bound).
- availableAgents: agents whose effective availability is "available" (the `agents` rows, one list).
- expectedWaitSeconds: null when nobody is available. Else the visitor needs position + 1 sessions taken from the
  queue before theirs (less the free slots of available agents, which auto-assignment fills at once); the queue
  moves at the recent rate: the sessions taken from it (assignedBy auto, claim or admin) in the last
  QUEUE_RATE_MINUTES, counted by one query. Expected = needed / rate. Null too when nothing was taken from the
  queue in that window (no rate to go on).

Cost: four requests whatever the queue's length (the agent rows, two counts, one rate count; three when nobody is
available), none for a session that is not waiting. Appwrite counts a list's `total` up to 5,000 (APP_LIMIT_COUNT):
beyond, position and waiting read 5,000 ("5,000 or more") and the rate is at most 5,000 per window, so the
estimate is a lower bound of the wait (a queue that long is an incident, not a forecast).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from chat_core.domain import agents as roster
from chat_core.domain.model import AVAILABLE, Agent, Queue, Session
from chat_core.domain.queue import COUNT_LIMIT, estimate
from chat_core.errors import ChatError
from chat_core.ops.slots import waiting

if TYPE_CHECKING:
    from chat_core.core import Core



def queue_of(core: Core, session: Session, agents: list[Agent] | None = None) -> Queue | None:
    """The queue of a waiting session, as its visitor is told it; None when it is not waiting, when the bot or an
    admin tool asks (they never show it), or when Appwrite fails (the answer itself stands). `agents`: the agent
    rows, if just read."""
    if not waiting(session) or core.caller.kind in ("bot", "admin"):
        return None
    try:
        return _queue(core, session.escalated_at or session.created_at, agents, owned=session.owner_id is not None)
    except ChatError as exc:
        core.log(f"queue position not computed: {exc.code}")
        return None


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
    return Queue(position, in_queue, len(available), expected)


