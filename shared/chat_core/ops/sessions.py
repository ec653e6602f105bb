"""A visitor's session: started, kept alive, written to, read by its owner, closed and rated."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING

from chat_core.config import Settings
from chat_core.core import best_effort
from chat_core.domain import authz, ratings, rules, search
from chat_core.domain.inputs import NewMessage, NewSession, Page, SessionRequest
from chat_core.domain.model import ACTIVE, Agent, Change, Message, Session, iso
from chat_core.errors import ChatError, UpstreamUnavailable
from chat_core.infra.connection import RowMissing
from chat_core.ops import autoassign, budgets, consistency, messages, queueing
from chat_core.ops.assignment import transition
from chat_core.ops.slots import waiting

if TYPE_CHECKING:
    from chat_core.core import Core


@dataclass(frozen=True)
class Started:
    session: Session
    token: str  # the widget's proof of the session: 256 bits, only its hash is stored


@dataclass(frozen=True)
class Touched:
    """A heartbeat or a message: the session as the write (and any auto-assignment it set off) left it, the message
    stored (None: a heartbeat), whether another attempt had stored it already, and the agent rows if read."""

    session: Session
    message: Message | None = None
    duplicate: bool = False
    agents: list[Agent] | None = None
    reply: Message | None = None  # the FAQ bot's answer, stored with the message


def create(core: Core, new: NewSession) -> Started:
    owner = authz.create_session(core.caller)
    budgets.take_session(core)  # after every check that can refuse: a bad request uses up no budget
    token = secrets.token_urlsafe(32)
    data = {"status": ACTIVE, "lastSeen": iso(core.now), "needsHuman": False, "userMeta": new.user_meta,
            "theme": new.theme, "messageCount": 0, "tokenHash": authz.hash_token(token), "ownerId": owner,
            "searchText": search.visitor_text(new.user_meta)}
    session_id = "s_" + secrets.token_hex(16)
    try:
        session = core.gateway.sessions.create(session_id, data)
    except UpstreamUnavailable:  # it may have landed with its answer lost: a session nobody knows
        _forget(core, session_id)
        raise
    return Started(session, token)


def _forget(core: Core, session_id: str) -> None:
    """Best-effort delete of a session whose create may have landed unanswered; one that never landed is fine."""
    try:
        core.gateway.sessions.delete(session_id)
    except RowMissing:
        pass
    except ChatError:
        core.log(f"row {session_id} could not be taken back")


def heartbeat(core: Core, req: SessionRequest, token: str | None) -> Touched:
    session = consistency.load(core, req.session_id)

    def decide(current: Session) -> Change:
        authz.heartbeat(core.caller, current, token)
        return rules.heartbeat(current, core.now)
    decide(session)  # the owner, an open session: only then does the heartbeat spend the owner's budget
    taken = [budgets.take_heartbeat(core, session)]
    try:
        updated, _ = consistency.commit(core, session.id, decide, first=session)
    except ChatError:
        budgets.give_back_all(core, taken)
        raise
    return Touched(updated)


def post(core: Core, req: SessionRequest, token: str | None, first: Session | None = None,
         answer: messages.Answerer | None = None) -> Touched:
    """A message into the session (`ops.messages`), paid from the budgets it draws on, then auto-assignment if it
    put the session in the queue. `first`: the session, if just read (the reference bot's). `answer`: the FAQ bot,
    answering in the same write (its hand-off spends the owner's escalation budget, as the bot's own post would)."""
    new = req.message
    assert new is not None
    session = first if first is not None and first.id == req.session_id else consistency.load(core, req.session_id)
    row_id = messages.row_id_for(session.id, new.role, new.client_id)
    # A message spends budgets only once the session itself would take it (the caller may post it, it is open, the
    # visitor's flood window has room): a refused message must not use up anyone's budget. A visitor's message
    # spends its owner's message budget; one that puts the session in the queue (a visitor asking for a person,
    # the bot's hand-off) also spends the owner's escalation budget, both in one request (ops.budgets).
    authz.post_message(core.caller, session, token, new.role)
    rules.admit(session, row_id, core.now, by_owner=new.role == "user",
                limit=core.settings.max_messages_per_minute, escalation=None)
    queues = _would_queue(core, session, new)
    hand_off = not queues and answer is not None and _reply_would_queue(core, session, new, row_id, answer)
    taken: list[str] = []
    escalation: list[str] = []  # the escalation budget, once taken: given back if the write did not queue after all
    entered = None
    try:
        if new.role == "user":
            pair = (budgets.take_message_and_escalation(core, session, hand_off=hand_off) if queues or hand_off
                    else budgets.Pair(budgets.take_message(core, session), None))
            taken += [pair.message] if pair.message else []
        else:  # the bot's or an agent's message: no message budget; the bot's own hand-off spends the escalation's
            pair = (budgets.take_escalation_or_decline(core, session, hand_off=hand_off) if queues or hand_off
                    else budgets.Pair(None, None))
        escalation += [pair.escalation] if pair.escalation else []
        if hand_off and escalation:
            queues = True
        elif hand_off:  # the escalation budget refused the bot's hand-off: the visitor's message still goes in
            core.log(f"bot: no hand-off for session {session.id}: {pair.declined}")
            answer = _without_hand_off(answer)
        taken += escalation
        if queues:
            # the visitor's figures, counted first so that the admitting write keeps them (ops.queueing)
            entered = best_effort(core, "queue figures not counted", lambda: queueing.entering(core, session))
            core.line_ahead = entered.line if entered else None
        posted = messages.post(core, session, token, new, row_id, entered=entered, answer=answer)
    except ChatError:
        budgets.give_back_all(core, taken)
        raise
    finally:
        core.line_ahead = None
    if escalation and not _queued_by(posted.session, row_id):
        # Decided on the session as read; the write met a session that already waited (or this was a retry)
        budgets.give_back_all(core, escalation)
    after, agents = autoassign.after_message(core, session, posted.session, entered.agents if entered else None)
    queueing.settle(core, after, entered)
    return Touched(after, posted.message, posted.duplicate, agents, posted.reply)


def _would_queue(core: Core, session: Session, new: NewMessage) -> bool:
    """Whether admitting `new` now would put the session in the human queue (rules.admit decides the same)."""
    return (session.status == ACTIVE and not session.needs_human and rules.escalation_reason(
        new.role, new.text, new.handoff, core.settings.handoff_phrases) is not None)


def _queued_by(session: Session, row_id: str) -> bool:
    """Whether the message `row_id`, or the FAQ bot's reply to it, is what put the session in the queue."""
    reply_id = messages.reply_row_id(session.id, row_id)
    return session.needs_human and session.escalated_by in (f"message:{row_id}", f"message:{reply_id}")


def _without_hand_off(answer: messages.Answerer) -> messages.Answerer:
    """The FAQ bot once the escalation budget refused its hand-off: quiet instead of handing off (as the bot's own
    post, refused with 429, stored nothing)."""
    def quiet(message: Message, session: Session) -> NewMessage | None:
        reply = answer(message, session)
        return None if reply is not None and reply.handoff else reply
    return quiet


def _reply_would_queue(core: Core, session: Session, new: NewMessage, row_id: str,
                       answer: messages.Answerer) -> bool:
    """Whether the FAQ bot's reply, as it would decide on the session as read, hands the visitor to a person."""
    reply = answer(messages.visitor_message(row_id, session.id, new, core.now), session)
    return reply is not None and _would_queue(core, session, reply)


# --- the owner's reads ---------------------------------------------------------------------------

def own_session(core: Core, session_id: str, token: str | None) -> tuple[Session, bool]:
    """The session its owner (or the bot) reads, with a waiting visitor's presence refreshed (`_waiting_presence`),
    and whether this read wrote it (the poll then spends no more request on the queue's row: at most 3)."""
    session = consistency.load(core, session_id)
    authz.read_transcript(core.caller, session, token)
    updated = _waiting_presence(core, session, token)
    return updated, updated is not session


def own_export(core: Core, session_id: str, token: str | None, page: Page) -> tuple[Session, list[Message], str | None]:
    """A page of the visitor's own transcript to download: the session and its messages, oldest first."""
    session = consistency.load(core, session_id)
    authz.export_own_transcript(core.caller, session, token)
    return (session, *messages.page_of(core, session.id, page))


def presence_every(settings: Settings) -> timedelta:
    """How stale lastSeen may get before a waiting visitor's poll refreshes it: a sixth of the idle close (5 min of
    30), so a visitor whose widget polls is never idle, and polls stay reads between two refreshes."""
    return timedelta(minutes=settings.idle_close_minutes) / 6


def _waiting_presence(core: Core, session: Session, token: str | None) -> Session:
    """A visitor waiting for a person whose widget still polls is there, even in a background tab (where the widget
    sends no heartbeat): the owner's poll of a waiting session counts as a heartbeat once lastSeen is older than
    `presence_every`. It spends no budget (issue 20: a waiting poll is at most 3 requests): the write is its own
    bound, one per `presence_every` per session, since it is conditional on the row read (of two polls at once one
    loses and is not retried) and only a lastSeen that old lets it through; sessions are bounded by their own
    budget. On any failure the poll answers as usual and lastSeen stays (logged)."""
    if (not waiting(session) or core.now - session.last_seen < presence_every(core.settings)
            or not core.caller.owns(session, token)):
        return session

    def decide(current: Session) -> Change:
        if not waiting(current):
            return Change(noop="not_waiting")
        return rules.heartbeat(current, core.now)
    try:
        updated, _ = consistency.commit(core, session.id, decide, first=session, attempts=1)
    except ChatError as exc:
        core.log(f"session {session.id}: a waiting visitor's presence not written ({exc.code})")
        return session
    return updated


# --- closing and rating --------------------------------------------------------------------------

def close(core: Core, req: SessionRequest, token: str | None) -> tuple[Session, str | None]:
    """The session closed, and why nothing changed (None: it closed now), with the visitor's rating if given."""
    def decide(session: Session) -> Change:
        default = f"closed by {authz.close(core.caller, session, token)}"
        if req.rating is not None:
            authz.rate(core.caller, session, token)
        change = rules.close(session, req.reason or default, core.now)
        return replace(ratings.closing(session, change, req.rating, core.now), note=change.noop)
    updated, change = transition(core, req.session_id, decide)
    return updated, change.note


def rate(core: Core, req: SessionRequest, token: str | None) -> Session:
    """POST close-session /rate: a closed session's rating, once."""
    rating = req.rating
    assert rating is not None

    def decide(session: Session) -> Change:
        authz.rate(core.caller, session, token)
        return ratings.rate(session, rating, core.now)
    updated, _ = consistency.commit(core, req.session_id, decide)
    return updated
