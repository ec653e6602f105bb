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

from datetime import timedelta
from typing import TYPE_CHECKING

from chat_core.domain.model import ACTIVE, Agent, Session, parse_time
from chat_core.edge.views import owner_view
from chat_core.errors import ChatError
from chat_core.ops import availability

if TYPE_CHECKING:
    from chat_core.core import Core

COUNT_LIMIT = 5000  # Appwrite's APP_LIMIT_COUNT: a list's total stops there


def owner_answer(core: Core, session: Session, agents: list[Agent] | None = None) -> dict:
    """owner_view with the queue, for the widget."""
    view = owner_view(session)
    view["queue"] = queue_for(core, view, agents, owned=session.owner_id is not None)
    return view


def queue_for(core: Core, view: dict, agents: list[Agent] | None = None, *, owned: bool) -> dict | None:
    """The queue of the session an owner view describes (`owned`: it has an owner, a signed-in visitor); None when
    it is not waiting, when the bot or an admin tool asks (they never show it), or when Appwrite fails (the answer
    itself stands)."""
    if view.get("status") != ACTIVE or not view.get("needsHuman") or core.caller.kind in ("bot", "admin"):
        return None
    since = parse_time(view.get("escalatedAt")) or parse_time(view.get("createdAt"))
    try:
        return _queue(core, since, agents, owned)
    except ChatError as exc:
        core.log(f"queue position not computed: {exc.code}")
        return None


def _queue(core: Core, since, agents: list[Agent] | None, owned: bool) -> dict:
    settings = core.settings
    rows = core.gateway.agents.all() if agents is None else agents
    available = [a for a in rows if availability.effective(a, settings, core.now) == availability.AVAILABLE]
    # Signed-in visitors go first (a guest's flood never takes their place): a signed-in visitor waits behind the
    # signed-in visitors who asked earlier; a guest behind every signed-in visitor and the guests who asked earlier.
    everyone = core.gateway.sessions.count_waiting()
    if owned:
        position = core.gateway.sessions.count_waiting(before=since, owned=True)
    else:  # all but the guests who asked at the same time or later (this one included)
        position = max(0, everyone - core.gateway.sessions.count_waiting(since=since, owned=False))
    waiting = max(everyone, min(COUNT_LIMIT, position + 1))  # two reads: keep them coherent
    expected = None
    if available:
        free = sum(max(0, availability.capacity(a, settings) - a.load) for a in available)
        window = timedelta(minutes=settings.queue_rate_minutes)
        expected = estimate(position, free if settings.auto_assign else 0,
                            lambda: core.gateway.sessions.count_taken_since(core.now - window), window)
    return {"position": position, "waiting": waiting, "availableAgents": len(available),
            "expectedWaitSeconds": expected}


def estimate(position: int, free: int, taken_in_window, window: timedelta) -> int | None:
    """Seconds until `position + 1` sessions have left the queue, at the rate they left it during `window`
    (`taken_in_window()`, called only when needed). Free slots take the first ones at once."""
    needed = position + 1 - free
    if needed <= 0:
        return 0
    taken = taken_in_window()
    if not taken:
        return None
    return round(needed * window.total_seconds() / taken)
