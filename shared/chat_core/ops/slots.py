"""Agents' slots kept in step with the session writes that give sessions to agents or take them away.

Every such write goes through `move`:
1. a slot is taken on the receiving agent's slots row first (`Gateway.take_slot`, Appwrite's atomic increment, bounded
   by the agent's capacity; an admin's override takes it unbounded and marks the session `overCapacity`);
2. the session is written with `consistency.commit` (conditional on the state read: a session already assigned,
   closed or changed meanwhile is decided again, so it is never assigned twice);
3. if the write did not give the session to that agent (a lost race, a refusal, a no-op) the slot is given back;
   the agent the write took the session from gets their slot back (a bounded decrement). Their slots row is stamped
   (`releasedAt`) before that write, so a release on its way always shows in the row's $updatedAt. Both follow the
   write that landed: from the state it was decided on to the state it decided, even when it is known only from
   the write log after a lost answer, and later writes have moved the row on (they free their own slots).
So an agent holds at most as many sessions as their load counts, and the load never passes the capacity: no agent
is ever above capacity. A crash between two steps leaves a load one high (a slot nobody uses), never low; the
repair (POST list-sessions /recount, `ops.agents.repair_loads`) sets it back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from chat_core.core import best_effort
from chat_core.domain import agents as roster
from chat_core.domain.model import ACTIVE, AGENT_ASSIGNED, Agent, Change, Session, iso
from chat_core.errors import ChatError, Conflict, UpstreamUnavailable
from chat_core.ops import consistency

if TYPE_CHECKING:
    from chat_core.core import Core

AUTO, CLAIM, ADMIN, TRANSFER = "auto", "claim", "admin", "transfer"  # a session's assignedBy


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
    stamped: bool = False  # the take wrote lastAssignedAt too (a claim's, an admin's)


# --- slots ---------------------------------------------------------------------------------------

def take_slot(core: Core, agent_id: str, *, override: bool = False, stamp: bool = False) -> Slot:
    """A slot for a manual claim, assignment or transfer: 409 at_capacity when the agent is full, unless an admin
    overrides. One request: the increment is unbounded and its answer (the row under its lock) tells the load and
    capacity at that instant; a slot that went past the capacity is given back. `stamp`: the same request writes
    the agent's lastAssignedAt (fairness counts sessions taken from the queue), which then stays even if the slot
    goes back (a refused or lost claim: that agent loses one tie-break of auto-assignment among equal loads)."""
    row = core.gateway.agents.take_slot(agent_id, None, core.now if stamp else None)
    assert row is not None  # an unbounded increment is never refused
    cap = roster.capacity(row, core.settings)
    if row.load <= cap:
        return Slot(agent_id, row, stamped=stamp)
    if override:
        return Slot(agent_id, row, over=True, stamped=stamp)
    give_back(core, Slot(agent_id, row))
    raise Conflict(f"{agent_id} holds {row.load - 1} of {cap} sessions (their capacity); an admin may assign over "
                   "it with overCapacity: true", code="at_capacity", agentId=agent_id, load=row.load - 1,
                   capacity=cap)


def give_back(core: Core, slot: Slot) -> None:
    best_effort(core, f"agent {slot.agent_id}: a slot not used could not be given back (load one high until a repair)",
         lambda: core.gateway.agents.free_slot(slot.agent_id))


# --- moving a session between agents ---------------------------------------------------------------

def move(core: Core, session_id: str, decide: Callable[[Session], Change], *, to_agent: str | None = None,
         by: str | None = None, override: bool = False, slot: Slot | None = None, first: Session | None = None,
         then: Callable[[], Any] | None = None) -> tuple[Session, Change]:
    """`consistency.commit` with the agents' slots in step (see the module docstring). `to_agent`: the agent the
    decision may give the session to (a slot is taken first, unless `slot` was); `by`: how, as `assignedBy`.
    `then`: what to do once a slot freed (auto-assignment). Returns what commit returns."""
    if to_agent is not None and slot is None:
        # Decide once on the session as it is before taking a slot: a request the rules refuse (already assigned,
        # closed, not the caller's to hand on) or that changes nothing takes no slot, so it writes nothing.
        first = first or consistency.load(core, session_id)
        dry = decide(first)
        if dry.after is not None and holder(dry.after) == to_agent != holder(first):
            slot = take_slot(core, to_agent, override=override, stamp=by != TRANSFER)

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
        elif by != TRANSFER and not slot.stamped:  # fairness counts sessions taken from the queue: "longest idle
            # since the last one" (a claim's or an admin's take wrote it already, in the same request as the slot)
            best_effort(core, f"agent {slot.agent_id}: lastAssignedAt not written",
                 lambda: core.gateway.agents.touch_presence(slot.agent_id, {"lastAssignedAt": iso(core.now)}))
    if before_holder is not None and before_holder != after_holder:
        best_effort(core, f"agent {before_holder}: a freed slot could not be given back (load one high until a repair)",
             lambda: core.gateway.agents.free_slot(before_holder))
        if then is not None:
            then()
    return session, replace(change, note=note)


# --- auto-assignment -------------------------------------------------------------------------------


