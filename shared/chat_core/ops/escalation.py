"""Putting a session in the human queue: a visitor's, the bot's or an agent's request, and the message event."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chat_core.core import best_effort
from chat_core.domain import authz, rules
from chat_core.domain.inputs import SessionRequest
from chat_core.domain.model import Agent, Change, Message, Session
from chat_core.errors import ChatError, Conflict, NotFound
from chat_core.infra.connection import RowMissing
from chat_core.ops import autoassign, budgets, consistency, queueing
from chat_core.ops.assignment import transition

if TYPE_CHECKING:
    from chat_core.core import Core


@dataclass(frozen=True)
class Escalated:
    """The session as the request (and any auto-assignment it set off) left it; `detail`: why nothing changed
    (None: it started waiting now); the agent rows if read."""

    session: Session
    detail: str | None
    agents: list[Agent] | None = None


def escalate(core: Core, req: SessionRequest, token: str | None) -> Escalated:
    session = consistency.load(core, req.session_id)
    taken: list[str] = []
    entered = None
    # The visitor (or the bot, on their behalf) putting the session in the queue spends the owner's escalation
    # budget; staff do not. Only a request that would change something spends it: asking again is free. Such a
    # request counts the visitor's figures first, so that the write starting the wait keeps them (ops.queueing).
    if not rules.escalate(session, req.reason, authz.escalate(core.caller, session, token), core.now).noop:
        if not authz.escalate(core.caller, session, token).startswith("agent:"):
            taken.append(budgets.take_escalation(core, session))
        entered = best_effort(core, "queue figures not counted", lambda: queueing.entering(core, session))

    def decide(current: Session) -> Change:
        change = rules.escalate(current, req.reason, authz.escalate(core.caller, current, token), core.now)
        return queueing.with_figures(change, entered)
    core.line_ahead = entered.line if entered else None
    try:
        updated, change = transition(core, req.session_id, decide, first=session)
    except ChatError:
        budgets.give_back_all(core, taken)
        raise
    finally:
        core.line_ahead = None
    if change.noop:  # someone else put it in the queue meanwhile
        budgets.give_back_all(core, taken)
        return Escalated(updated, change.noop)
    # it started waiting: its turn may be now
    updated, agents = autoassign.after_escalation(core, updated, entered.agents if entered else None)
    queueing.settle(core, updated, entered)
    return Escalated(updated, None, agents)


def escalate_from_event(core: Core, event: str, payload: Any) -> dict:
    """A new message row arrived. Escalate once if the rules say so; ignore anything else, with a log line.

    A message stored through touch-session has already escalated its session in the write that admitted it
    (ops.messages), so this is a check that normally finds nothing to do; it escalates a message row
    stored any other way. Anyone can make a call look like an event (docs/platform.md), so the payload only names a row:
    the rules run on the message as stored, re-read by its ID. A lost race decides again; a session that keeps
    changing is a 409, an error Appwrite's execution log shows, never a silent 200."""
    message = event_message(core, event, payload)
    if message is None:
        return {"ignored": "not a new chat message"}
    reason = rules.escalation_reason(message.role, message.text, message.handoff, core.settings.handoff_phrases)
    if reason is None:
        return {"ignored": "no escalation rule matched"}
    try:
        updated, change = transition(core, message.session_id,
                                     lambda s: rules.escalate(s, reason, f"message:{message.id}", core.now))
    except (NotFound, Conflict) as exc:
        if exc.code not in ("session_not_found", "session_closed"):
            raise
        core.log(f"event for session {message.session_id} ignored: {exc.code}")
        return {"ignored": exc.code}
    if change.noop:
        return {"ignored": change.noop, "sessionId": updated.id}
    core.log(f"session {updated.id} escalated: {reason}")
    assigned = autoassign.pump_quietly(core)
    return {"escalated": True, "sessionId": updated.id, "reason": reason, "autoAssigned": len(assigned)}


def event_message(core: Core, event: str, payload: Any) -> Message | None:
    """The stored message a row-create event names (re-read by its ID), or None (logged) when the event is not
    about a new chat message; 404 message_not_found when it names no stored row."""
    row_id = core.gateway.messages.created_id(event, payload)
    if row_id is None:
        core.log(f"event ignored: {event[:200]}")
        return None
    try:
        return core.gateway.messages.get(row_id)
    except RowMissing:
        raise NotFound(f"no message {row_id}: the event names no stored row", code="message_not_found") from None
