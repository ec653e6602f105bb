"""Who gets which session: agents' slots kept in step with the session writes, and auto-assignment.

Every session write that gives a session to an agent, or takes it from one, goes through `move`:
1. a slot is taken on the receiving agent's slots row first (`gateway.agents.take_slot`, Appwrite's atomic increment,
   bounded by the agent's capacity; an admin's override takes it unbounded and marks the session `overCapacity`);
2. the session is written with `consistency.commit` (conditional on the state read: a session already assigned,
   closed or changed meanwhile is decided again, so it is never assigned twice);
3. if the write did not give the session to that agent (a lost race, a refusal, a no-op) the slot is given back;
   the agent the write took the session from gets their slot back (a bounded decrement). Their slots row is stamped
   (`releasedAt`) before that write, so a release on its way always shows in the row's $updatedAt. Both follow the
   write that landed: from the state it was decided on to the state it decided, even when it is known only from
   the write log after a lost answer, and later writes have moved the row on (they free their own slots).
So an agent holds at most as many sessions as their load counts, and the load never passes the capacity: no agent
is ever above capacity. A crash between two steps leaves a load one high (a slot nobody uses), never low; the
repair (POST list-sessions /recount, `availability.repair_loads`) sets it back.

Auto-assignment (`pump`, AUTO_ASSIGN, on by default): the waiting sessions, in the queue's order (signed-in visitors'
longest-waiting first, then guests'; gateway.sessions.waiting), go one by one to the available
agent with the lowest load below capacity, ties to the one whose last assignment is oldest. It runs when a session
starts waiting (HTTP escalation, a message that escalates, the message event), when a slot frees (close, unassign,
transfer away, the idle sweep), when an agent becomes available or gets more capacity, and every minute
(list-sessions' schedule), which catches whatever an event missed (Appwrite delivers events at most once). A lost
race moves on to the next agent (that one was full, or went away: the increment's own view of the row says so) or
leaves the session waiting. Off, sessions wait for a manual claim; claims still respect capacity.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from chat_core.domain import rules
from chat_core.domain.model import ACTIVE, AGENT_ASSIGNED, Agent, Change, Session, iso
from chat_core.edge import validation
from chat_core.edge.views import owner_view
from chat_core.errors import ChatError, Conflict, UpstreamUnavailable
from chat_core.ops import availability, consistency

if TYPE_CHECKING:
    from chat_core.core import Core

AUTO, CLAIM, ADMIN, TRANSFER = "auto", "claim", "admin", "transfer"  # a session's assignedBy
PUMP_MAX = 50  # sessions one event's pump assigns at most
PERIODIC_MAX = 500  # the minute's pass: well within list-sessions' timeout
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
RETURNED_COOL_OFF = timedelta(minutes=5)  # a session an agent put back goes to others first; to them after this
LOOK_AHEAD = 1000  # waiting sessions a pass reads past the free slots' worth, looking for ones an open agent may take


def holder(session: Session) -> str | None:
    """The agent holding the session now (a closed session holds nobody)."""
    return session.assigned_agent if session.status == AGENT_ASSIGNED else None


def decided(session: Session, change: Change) -> str | None:
    """The holder the write that landed decided on; for a decision that wrote nothing, the holder of the session it
    was decided on (`consistency.commit` returns that session with a no-op)."""
    return holder(change.after) if change.after is not None and not change.noop else holder(session)


def waiting(session: Session) -> bool:
    return session.status == ACTIVE and session.needs_human


@dataclass(frozen=True)
class Slot:
    agent_id: str
    row: Agent  # the agent's row as the increment saw it
    over: bool = False  # taken beyond the capacity (an admin's override)


# --- slots ---------------------------------------------------------------------------------------

def take_slot(core: Core, agent_id: str, *, override: bool = False) -> Slot:
    """A slot for a manual claim, assignment or transfer: 409 at_capacity when the agent is full, unless an admin
    overrides. One request: the increment is unbounded and its answer (the row under its lock) tells the load and
    capacity at that instant; a slot that went past the capacity is given back."""
    row = core.gateway.agents.take_slot(agent_id, None)
    assert row is not None  # an unbounded increment is never refused
    cap = availability.capacity(row, core.settings)
    if row.load <= cap:
        return Slot(agent_id, row)
    if override:
        return Slot(agent_id, row, over=True)
    give_back(core, Slot(agent_id, row))
    raise Conflict(f"{agent_id} holds {row.load - 1} of {cap} sessions (their capacity); an admin may assign over "
                   "it with overCapacity: true", code="at_capacity", agentId=agent_id, load=row.load - 1,
                   capacity=cap)


def give_back(core: Core, slot: Slot) -> None:
    safe(core, f"agent {slot.agent_id}: a slot not used could not be given back (load one high until a repair)",
         lambda: core.gateway.agents.free_slot(slot.agent_id))


def safe(core: Core, what: str, action: Callable[[], Any], default: Any = None) -> Any:
    """Best effort for work after a change that landed: logged, never the caller's error."""
    try:
        return action()
    except ChatError as exc:
        core.log(f"{what} ({exc.code})")
        return default


# --- moving a session between agents ---------------------------------------------------------------

def move(core: Core, session_id: str, decide: Callable[[Session], Change], *, to_agent: str | None = None,
         by: str | None = None, override: bool = False, slot: Slot | None = None, first: Session | None = None,
         pump: bool = True) -> tuple[Session, Change]:
    """`consistency.commit` with the agents' slots in step (see the module docstring). `to_agent`: the agent the
    decision may give the session to (a slot is taken first, unless `slot` was); `by`: how, as `assignedBy`.
    `pump`: auto-assign after a slot freed. Returns what commit returns."""
    if to_agent is not None and slot is None:
        # Decide once on the session as it is before taking a slot: a request the rules refuse (already assigned,
        # closed, not the caller's to hand on) or that changes nothing takes no slot, so it writes nothing.
        first = first or consistency.load(core, session_id)
        dry = decide(first)
        if dry.after is not None and holder(dry.after) == to_agent != holder(first):
            slot = take_slot(core, to_agent, override=override)

    stamped: set[str] = set()

    def marked(session: Session) -> Change:
        change = decide(session)
        after = change.after
        if after is not None:
            before_holder, after_holder = holder(session), holder(after)
            if before_holder is not None and before_holder != after_holder and before_holder not in stamped:
                # Before a write that may take the session from them: the repair then sees a release on its way.
                core.gateway.agents.mark_release(before_holder, core.now)
                stamped.add(before_holder)
            if after_holder is not None and after_holder != before_holder:
                after = replace(after, assigned_by=by, over_capacity=bool(slot and slot.over))
            elif after_holder is None and after.status == ACTIVE:
                after = replace(after, assigned_by=None, over_capacity=False)
            change = replace(change, after=after)
        return replace(change, note=(holder(session), change.note))

    try:
        session, change = consistency.commit(core, session_id, marked, first=first)
    except UpstreamUnavailable:
        if slot is not None:  # the write may have landed: a load one high is safe, one low is not
            core.log(f"agent {slot.agent_id}: slot kept, the session write's outcome is unknown")
        raise
    except ChatError:
        if slot is not None:
            give_back(core, slot)
        raise
    # The side effects follow the write that landed, from the state it was decided on to the state it decided
    # (`decided`), never the row as read back: a write resolved through the write log after its answer was lost
    # finds the row as later writes left it (a close that freed this very slot meanwhile).
    before_holder, note = change.note
    after_holder = decided(session, change)
    if slot is not None:
        if after_holder != slot.agent_id or before_holder == slot.agent_id:
            give_back(core, slot)
        elif by != TRANSFER:  # fairness counts sessions taken from the queue: "longest idle since the last one"
            safe(core, f"agent {slot.agent_id}: lastAssignedAt not written",
                 lambda: core.gateway.agents.touch_presence(slot.agent_id, {"lastAssignedAt": iso(core.now)}))
    if before_holder is not None and before_holder != after_holder:
        safe(core, f"agent {before_holder}: a freed slot could not be given back (load one high until a repair)",
             lambda: core.gateway.agents.free_slot(before_holder))
        if pump:
            pump_quietly(core)
    return session, replace(change, note=note)


def override_flag(body: Any) -> tuple[Any, bool]:
    """`overCapacity: true` on /assign and /transfer (admins): the body without it, and its value."""
    if isinstance(body, dict) and "overCapacity" in body:
        return ({k: v for k, v in body.items() if k != "overCapacity"},
                validation.boolean(body["overCapacity"], "overCapacity"))
    return body, False


# --- auto-assignment -------------------------------------------------------------------------------

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
    rows = core.gateway.agents.all() if agents is None else agents
    result = Pumped(agents=rows)
    open_ = {a.agent_id: a for a in rows if availability.takes_work(a, core.settings, core.now)}
    free = sum(availability.capacity(a, core.settings) - a.load for a in open_.values())
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
    return safe(core, "auto-assignment failed; the next pass tries again",
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
        row = core.gateway.agents.take_slot(agent.agent_id, availability.capacity(agent, core.settings))
        if row is None:  # full meanwhile
            del open_[agent.agent_id]
            continue
        # The increment saw the slots row (availability, capacity, load); the heartbeat is the presence row's.
        row = replace(row, heartbeat_at=agent.heartbeat_at, last_assigned_at=agent.last_assigned_at)
        latest[agent.agent_id] = replace(row, load=row.load - 1)
        cap = availability.capacity(row, core.settings)
        if availability.effective(row, core.settings, core.now) != availability.AVAILABLE or row.load > cap:
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
                                  first=session, pump=False)
        except ChatError as exc:
            if isinstance(exc, UpstreamUnavailable):
                raise
            core.log(f"auto-assignment of {session.id} to {agent_id} lost: {exc.code}")
            return None
        if decided(landed, change) != agent_id:
            open_[agent_id] = latest[agent_id]
            return None  # taken or closed by someone else: its slot went back; the next session
        row = latest[agent_id] = replace(row, last_assigned_at=core.now)
        if availability.takes_work(row, core.settings, core.now):
            open_[agent_id] = row
        else:
            del open_[agent_id]
        return landed
    return None


def periodic(core: Core) -> dict:
    """The minute's pass (list-sessions' schedule): a load left one high by a crash or a lost answer is set back
    once its agent's slots have been quiet a minute (availability.repair_loads), then whatever an event missed is
    assigned."""
    rows = safe(core, "agent rows not read", core.gateway.agents.all)
    loads = rows is not None and safe(core, "agent loads not checked", lambda: availability.repair_loads(
        core, validation.SETTLE_DEFAULT, consistency.summary(core)["agents"], agents=rows))
    assigned = pump_quietly(core, limit=PERIODIC_MAX, agents=None if not rows or (loads and loads["repaired"])
                            else rows)
    return {"autoAssigned": len(assigned), "agentLoadsRepaired": loads["repaired"] if loads else 0}


def after_escalation(core: Core, session: Session) -> tuple[Session, list[Agent] | None]:
    """A session started waiting: pump, and the session as it is now (assigned, if it was its turn)."""
    result = safe(core, "auto-assignment failed; the next pass tries again", lambda: pump(core))
    if result is None:
        return session, None
    mine = next((s for s in result.assigned if s.id == session.id), None)
    return mine or session, result.agents


def after_message(core: Core, before: Session, answer: dict) -> dict:
    """A message was admitted (consistency.post_message's answer): if it made the session wait, pump; then the
    queue, for the widget."""
    from . import queueing  # imported here: queueing is for answers, this module for writes
    agents = None
    view = answer["session"]
    if view.get("status") == ACTIVE and view.get("needsHuman") and not waiting(before):
        result = safe(core, "auto-assignment failed; the next pass tries again", lambda: pump(core))
        if result is not None:
            agents = result.agents
            mine = next((s for s in result.assigned if s.id == before.id), None)
            if mine is not None:
                answer["session"] = owner_view(mine)
    answer["session"]["queue"] = queueing.queue_for(core, answer["session"], agents,
                                                    owned=before.owner_id is not None)
    return answer
