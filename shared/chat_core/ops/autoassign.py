"""Auto-assignment (AUTO_ASSIGN, on by default): the waiting sessions, in the queue's order (signed-in visitors'
longest-waiting first, then guests'), go one by one to the available agent with the lowest load below capacity,
ties to the one whose last assignment is oldest.

It runs when a session starts waiting (HTTP escalation, a message that escalates, the message event), when a slot
frees (close, unassign, transfer away, the idle sweep), when an agent becomes available or gets more capacity, and
every minute (list-sessions' schedule), which catches whatever an event missed (Appwrite delivers events at most
once). A lost race moves on to the next agent (that one was full, or went away: the increment's own view of the row
says so) or leaves the session waiting. Off, sessions wait for a manual claim; claims still respect capacity.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from chat_core.core import best_effort
from chat_core.domain import agents as roster
from chat_core.domain import rules
from chat_core.domain.model import AVAILABLE, Agent, Change, Session
from chat_core.errors import ChatError, UpstreamUnavailable
from chat_core.ops.slots import AUTO, Slot, decided, give_back, move, waiting

if TYPE_CHECKING:
    from chat_core.core import Core

PUMP_MAX = 50  # sessions one event's pump assigns at most
PERIODIC_MAX = 500  # the minute's pass: well within list-sessions' timeout
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
RETURNED_COOL_OFF = timedelta(minutes=5)  # a session an agent put back goes to others first; to them after this
LOOK_AHEAD = 1000  # waiting sessions a pass reads past the free slots' worth, looking for ones an open agent may take


@dataclass
class Pumped:
    assigned: list[Session] = field(default_factory=list)
    agents: list[Agent] | None = None  # the agent rows as the pump left them (loads it moved included)


def pump(core: Core, *, limit: int = PUMP_MAX, agents: list[Agent] | None = None) -> Pumped:
    """Give the longest-waiting sessions to available agents with free slots, until either runs out or `limit`.
    Costs one request (the agent rows) when nobody can take a session, two more (the waiting list, then a slot and a
    conditional write per session) when someone can."""
    if not core.settings.auto_assign:
        return Pumped(agents=agents)
    rows = core.gateway.agents.online(roster.away_before(core.settings, core.now)) if agents is None else agents
    result = Pumped(agents=rows)
    open_ = {a.agent_id: a for a in rows if roster.takes_work(a, core.settings, core.now)}
    free = sum(roster.capacity(a, core.settings) - a.load for a in open_.values())
    if not open_ or free <= 0:
        return result
    latest = {a.agent_id: a for a in rows}
    wanted = min(limit, free)
    # As many waiting sessions as there are free slots, then on down the queue past those nobody open may take now
    # (handed back by the only agents with room, in their cool-off): one of them must not hold up the rest.
    for seen, session in enumerate(core.gateway.sessions.waiting(wanted), start=1):
        placed = _place(core, session, open_, latest)
        if placed is not None:
            result.assigned.append(placed)
        if not open_ or len(result.assigned) >= wanted or seen >= wanted + LOOK_AHEAD:
            break  # before the next page is read
    if result.assigned:
        core.log(f"auto-assigned {', '.join(f'{s.id} to {s.assigned_agent}' for s in result.assigned)}")
    result.agents = list(latest.values())
    return result


def pump_quietly(core: Core, **kwargs: Any) -> list[Session]:
    """`pump` after a change that already landed: a failure is logged (the next pass catches up)."""
    return best_effort(core, "auto-assignment failed; the next pass tries again",
                lambda: pump(core, **kwargs).assigned, default=[])


def _place(core: Core, session: Session, open_: dict[str, Agent], latest: dict[str, Agent]) -> Session | None:
    """One waiting session to the best open agent. A full or absent agent leaves `open_`; `latest` keeps each
    agent's row as last seen. None when the session went to nobody (someone else took it, it closed, or no agent
    could)."""
    returned_by = None  # who just put it back in the queue: not them again, for a while
    if (session.escalated_by or "").startswith("agent:") and session.escalated_at \
            and core.now - session.escalated_at < RETURNED_COOL_OFF:
        returned_by = session.escalated_by.removeprefix("agent:")
    candidates = sorted((a for a in open_.values() if a.agent_id != returned_by),
                        key=lambda a: (a.load, a.last_assigned_at or EPOCH, a.agent_id))
    for agent in candidates:
        row = core.gateway.agents.take_slot(agent.agent_id, roster.capacity(agent, core.settings))
        if row is None:  # full meanwhile
            del open_[agent.agent_id]
            continue
        # The increment saw the slots row (availability, capacity, load); the heartbeat is the presence row's.
        row = replace(row, heartbeat_at=agent.heartbeat_at, last_assigned_at=agent.last_assigned_at)
        latest[agent.agent_id] = replace(row, load=row.load - 1)
        cap = roster.capacity(row, core.settings)
        if roster.effective(row, core.settings, core.now) != AVAILABLE or row.load > cap:
            give_back(core, Slot(agent.agent_id, row))  # went away, or their capacity was lowered, meanwhile
            del open_[agent.agent_id]
            continue
        agent_id = agent.agent_id

        def decide(current: Session, agent_id: str = agent_id) -> Change:
            if not waiting(current):
                return Change(noop="not_waiting")
            return rules.assign(current, agent_id, core.now)
        try:
            landed, change = move(core, session.id, decide, to_agent=agent_id, by=AUTO, slot=Slot(agent_id, row),
                                  first=session)
        except ChatError as exc:
            if isinstance(exc, UpstreamUnavailable):
                raise
            core.log(f"auto-assignment of {session.id} to {agent_id} lost: {exc.code}")
            return None
        if decided(landed, change) != agent_id:
            open_[agent_id] = latest[agent_id]
            return None  # taken or closed by someone else: its slot went back; the next session
        row = latest[agent_id] = replace(row, last_assigned_at=core.now)
        if roster.takes_work(row, core.settings, core.now):
            open_[agent_id] = row
        else:
            del open_[agent_id]
        return landed
    return None


def after_escalation(core: Core, session: Session,
                     agents: list[Agent] | None = None) -> tuple[Session, list[Agent] | None]:
    """A session started waiting: pump, and the session as it is now (assigned, if it was its turn). `agents`: the
    agent rows, if just read."""
    result = best_effort(core, "auto-assignment failed; the next pass tries again",
                         lambda: pump(core, agents=agents))
    if result is None:
        return session, None
    mine = next((s for s in result.assigned if s.id == session.id), None)
    return mine or session, result.agents


def after_message(core: Core, before: Session, after: Session,
                  agents: list[Agent] | None = None) -> tuple[Session, list[Agent] | None]:
    """A message was admitted: if it made the session wait, as `after_escalation`; else the session as it is."""
    if waiting(after) and not waiting(before):
        return after_escalation(core, after, agents)
    return after, None
