"""Who holds a session: claim, assign, transfer, unassign, and `transition`, the one way a session write that may
move a session between agents is made (`ops.slots.move`, then auto-assignment when a slot freed)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chat_core.domain import authz, rules
from chat_core.domain.inputs import Assignment
from chat_core.domain.model import Change, Session
from chat_core.ops import autoassign
from chat_core.ops.agents import require_agent_user
from chat_core.ops.slots import ADMIN, CLAIM, TRANSFER, move

if TYPE_CHECKING:
    from chat_core.core import Core


def transition(core: Core, session_id: str, decide: Callable[[Session], Change],
               **slots: Any) -> tuple[Session, Change]:
    """Read, decide, write only over the state decided on; a lost race decides again (`ops.consistency.commit`).
    The agents' slots follow the session (`ops.slots.move`: `to_agent`, `by`, `override`, `first`), and a slot
    freed by the write lets auto-assignment give the next waiting session to that agent."""
    return move(core, session_id, decide, then=lambda: autoassign.pump_quietly(core), **slots)


def claim(core: Core, req: Assignment) -> tuple[Session, Change]:
    agent_id = authz.claim(core.caller, req.agent_id)
    return transition(core, req.session_id, lambda s: rules.assign(s, agent_id, core.now), to_agent=agent_id,
                      by=CLAIM)


def assign(core: Core, req: Assignment) -> tuple[Session, Change]:
    authz.require_admin(core.caller)
    assert req.agent_id is not None
    require_agent_user(core, req.agent_id)
    agent_id = req.agent_id
    return transition(core, req.session_id, lambda s: rules.assign(s, agent_id, core.now), to_agent=agent_id,
                      by=ADMIN, override=req.over_capacity)


def transfer(core: Core, req: Assignment) -> tuple[Session, Change]:
    authz.require_agent(core.caller)
    if req.over_capacity:
        authz.require_admin(core.caller)
    assert req.agent_id is not None
    require_agent_user(core, req.agent_id)
    agent_id = req.agent_id

    def decide(session: Session) -> Change:
        authz.reassign(core.caller, session)
        return rules.transfer(session, agent_id, core.now)
    return transition(core, req.session_id, decide, to_agent=agent_id, by=TRANSFER, override=req.over_capacity)


def unassign(core: Core, req: Assignment) -> tuple[Session, Change]:
    authz.require_agent(core.caller)

    def decide(session: Session) -> Change:
        authz.reassign(core.caller, session)
        return rules.unassign(session, authz.actor(core.caller), core.now)
    return transition(core, req.session_id, decide)
