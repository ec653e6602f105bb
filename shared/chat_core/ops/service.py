"""The operations behind the functions: rules plus gateway. Each takes a `Core` (who calls, when, with what)."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from chat_core import errors
from chat_core.config import Settings
from chat_core.core import Core
from chat_core.domain import authz, inputs, rules
from chat_core.domain.model import ACTIVE, CLOSED, Change, Message, Session, iso
from chat_core.edge import transcripts, validation
from chat_core.edge.views import agent_view, message_view, owner_view, stored_object
from chat_core.errors import BadRequest, ChatError, Conflict, NotFound, UpstreamUnavailable
from chat_core.infra.connection import RowMissing
from chat_core.ops import assignment, audit, availability, budgets, consistency, queueing, ratings

IDLE_CLOSE_MAX_PER_RUN = 1000  # at least; see sweep_capacity
# Whoever triggers it (a caller can forge the schedule trigger), the idle sweep starts at most once a minute.
IDLE_SWEEP_MIN_INTERVAL = timedelta(seconds=60)


# --- shared mechanics ---------------------------------------------------------------------------

def staff_view(core: Core, session: Session) -> dict:
    """A session as agents and admins see it; its rating only where the summary's rule lets this caller see it
    (`authz.sees_rating`)."""
    return agent_view(session, core.now, shows_rating=authz.sees_rating(core.caller, session))


def load(core: Core, session_id: str) -> Session:
    return consistency.load(core, session_id)


def transition(core: Core, session_id: str, decide: Callable[[Session], Change],
               **slots: Any) -> tuple[Session, Change]:
    """Read, decide, write only over the state decided on; a lost race decides again (consistency.commit). The
    agents' slots follow the session (assignment.move: `to_agent`, `by`, `override`, `pump`)."""
    return assignment.move(core, session_id, decide, **slots)


# --- create-session -----------------------------------------------------------------------------

def create_session(core: Core, body: Any) -> dict:
    new = validation.new_session(body)
    owner = authz.create_session(core.caller)
    budgets.take_session(core)  # after every check that can refuse: a bad request uses up no budget
    token = secrets.token_urlsafe(32)  # 256 bits; only its hash is stored
    data = {"status": ACTIVE, "lastSeen": iso(core.now), "needsHuman": False, "userMeta": new.user_meta,
            "theme": new.theme, "messageCount": 0, "tokenHash": authz.hash_token(token), "ownerId": owner}
    session_id = "s_" + secrets.token_hex(16)
    try:
        session = core.gateway.sessions.create(session_id, data)
    except UpstreamUnavailable:  # it may have landed with its answer lost: a session nobody knows
        _forget(core, core.gateway.sessions.delete, session_id)
        raise
    return {**owner_view(session), "token": token, "userMeta": stored_object(session.user_meta),
            "theme": stored_object(session.theme)}


# --- touch-session ------------------------------------------------------------------------------

def touch_session(core: Core, body: Any, header_token: str | None) -> dict:
    req = validation.touch_request(body)
    session = load(core, req.session_id)
    token = req.token or header_token
    if req.message is None:
        def decide(current: Session) -> Change:
            authz.heartbeat(core.caller, current, token)
            return rules.heartbeat(current, core.now)
        decide(session)  # the owner, an open session: only then does the heartbeat spend the owner's budget
        taken = [budgets.take_heartbeat(core, session)]
        try:
            updated, _ = consistency.commit(core, session.id, decide, first=session)
        except ChatError:
            _give_back(core, taken)
            raise
        return {"session": queueing.owner_answer(core, updated)}
    row_id = _message_row_id(session.id, req.message.role, req.message.client_id)
    # A message spends budgets only once the session itself would take it (the caller may post it, it is open, the
    # visitor's flood window has room): a refused message must not use up anyone's budget. A visitor's message
    # spends its owner's message budget; one that puts the session in the queue (a visitor asking for a person,
    # the bot's hand-off) also spends the owner's escalation budget.
    authz.post_message(core.caller, session, token, req.message.role)
    rules.admit(session, row_id, core.now, by_owner=req.message.role == "user",
                limit=core.settings.max_messages_per_minute, escalation=None)
    taken: list[str] = []
    try:
        if req.message.role == "user":
            taken.append(budgets.take_message(core, session))
        if _would_queue(core, session, req.message):
            taken.append(budgets.take_escalation(core, session))
        answer = consistency.post_message(core, session, token, req.message, row_id)
    except ChatError:
        _give_back(core, taken)
        raise
    return assignment.after_message(core, session, answer)


def _would_queue(core: Core, session: Session, new: inputs.NewMessage) -> bool:
    """Whether admitting `new` now would put the session in the human queue (rules.admit decides the same)."""
    return (session.status == ACTIVE and not session.needs_human and rules.escalation_reason(
        new.role, new.text, new.handoff, core.settings.handoff_phrases) is not None)


def _give_back(core: Core, taken: list[str]) -> None:
    for name in taken:
        budgets.give_back(core, name)


def _forget(core: Core, delete: Callable[[str], None], row_id: str) -> None:
    """Best-effort delete of a row an operation could not finish; a row that never landed is fine."""
    try:
        delete(row_id)
    except RowMissing:
        pass
    except ChatError:
        core.log(f"row {row_id} could not be taken back")


def _message_row_id(session_id: str, role: str, client_id: str | None) -> str:
    """A client-chosen message ID makes retries idempotent: the same (session, role, id) maps to the same row.
    The role is part of it so the bot's IDs and the widget's can never collide."""
    if client_id is None:
        return "m_" + secrets.token_hex(16)
    return "m_" + hashlib.sha256(f"{session_id}\n{role}\n{client_id}".encode()).hexdigest()[:32]


def owner_messages(core: Core, query: dict[str, list[str]], header_token: str | None) -> dict:
    session_id = validation.identifier((query.get("sessionId") or [None])[0])
    session = load(core, session_id)
    authz.read_transcript(core.caller, session, header_token)
    session = _waiting_presence(core, session, header_token)
    return {"session": queueing.owner_answer(core, session), **_message_page(core, session_id, query)}


def presence_every(settings: Settings) -> timedelta:
    """How stale lastSeen may get before a waiting visitor's poll refreshes it: a sixth of the idle close (5 min of
    30), so a visitor whose widget polls is never idle, and polls stay reads between two refreshes."""
    return timedelta(minutes=settings.idle_close_minutes) / 6


def _waiting_presence(core: Core, session: Session, token: str | None) -> Session:
    """A visitor waiting for a person whose widget still polls is there, even in a background tab (where the widget
    sends no heartbeat): the owner's poll of a waiting session counts as a heartbeat once lastSeen is older than
    `presence_every`, and spends the owner's heartbeat budget like one. Past the budget, or on any failure, the poll
    answers as usual and lastSeen stays (logged): the poll itself is never refused for it."""
    if (not assignment.waiting(session) or core.now - session.last_seen < presence_every(core.settings)
            or not core.caller.owns(session, token)):
        return session

    def decide(current: Session) -> Change:
        if not assignment.waiting(current):
            return Change(noop="not_waiting")
        return rules.heartbeat(current, core.now)
    taken: list[str] = []
    try:
        taken.append(budgets.take_heartbeat(core, session))
        updated, change = consistency.commit(core, session.id, decide, first=session, attempts=1)
    except ChatError as exc:
        core.log(f"session {session.id}: a waiting visitor's presence not written ({exc.code})")
        _give_back(core, taken)
        return session
    if change.noop:
        _give_back(core, taken)
    return updated


def _message_page(core: Core, session_id: str, query: dict[str, list[str]]) -> dict:
    messages, next_cursor = _read_messages(core, session_id, validation.page(
        {k: v for k, v in query.items() if k in ("limit", "cursor")}))
    return {"messages": [message_view(m) for m in messages], "nextCursor": next_cursor}


def _read_messages(core: Core, session_id: str, page: inputs.Page) -> tuple[list[Message], str | None]:
    """A page of the session's messages, oldest first, and the cursor of the next page (None: the last)."""
    if page.cursor:
        _require_own_message(core, session_id, page.cursor)
    return core.gateway.messages.page(session_id, page.limit, page.cursor)


def _require_own_message(core: Core, session_id: str, cursor: str) -> None:
    """Appwrite takes any row of the table as a cursor, whatever the filters (the row is fetched by ID alone:
    appwrite src/Appwrite/Platform/Modules/Databases/Http/TablesDB/Tables/Rows/XList.php), so another session's
    message would work here and tell the caller that it exists. It is answered exactly as a made-up cursor.
    One more read, only when a cursor is given."""
    try:
        owned = core.gateway.messages.get(cursor).session_id == session_id
    except RowMissing:
        owned = False
    if not owned:
        raise errors.unknown_cursor()


# --- escalate -----------------------------------------------------------------------------------

def escalate(core: Core, body: Any, header_token: str | None) -> dict:
    req = validation.escalate_request(body)
    token = req.token or header_token

    def decide(session: Session) -> Change:
        return rules.escalate(session, req.reason, authz.escalate(core.caller, session, token), core.now)
    session = load(core, req.session_id)
    taken: list[str] = []
    # The visitor (or the bot, on their behalf) putting the session in the queue spends the owner's escalation
    # budget; staff do not. Only a request that would change something spends it: asking again is free.
    if not decide(session).noop and not authz.escalate(core.caller, session, token).startswith("agent:"):
        taken.append(budgets.take_escalation(core, session))
    try:
        updated, change = transition(core, req.session_id, decide, first=session)
    except ChatError:
        _give_back(core, taken)
        raise
    if change.noop:  # someone else put it in the queue meanwhile
        _give_back(core, taken)
    agents = None
    if not change.noop:  # it started waiting: its turn may be now
        updated, agents = assignment.after_escalation(core, updated)
    return {"session": queueing.owner_answer(core, updated, agents), "escalated": not change.noop,
            "detail": change.noop}


def escalate_from_event(core: Core, event: str, payload: Any) -> dict:
    """A new message row arrived. Escalate once if the rules say so; ignore anything else, with a log line.

    A message stored through touch-session has already escalated its session in the write that admitted it
    (consistency.post_message), so this is a check that normally finds nothing to do; it escalates a message row
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
    assigned = assignment.pump_quietly(core)
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


# --- assign-agent -------------------------------------------------------------------------------

def claim(core: Core, body: Any) -> dict:
    req = validation.assign_request(body, agent_required=False)
    agent_id = authz.claim(core.caller, req.agent_id)
    return _assigned(core, req.session_id, lambda s: rules.assign(s, agent_id, core.now), to_agent=agent_id,
                     by=assignment.CLAIM)


def assign_to(core: Core, body: Any) -> dict:
    authz.require_admin(core.caller)
    body, override = assignment.override_flag(body)
    req = validation.assign_request(body, agent_required=True)
    _require_agent_user(core, req.agent_id)
    return _assigned(core, req.session_id, lambda s: rules.assign(s, req.agent_id, core.now), to_agent=req.agent_id,
                     by=assignment.ADMIN, override=override)


def transfer(core: Core, body: Any) -> dict:
    authz.require_agent(core.caller)
    body, override = assignment.override_flag(body)
    if override:
        authz.require_admin(core.caller)
    req = validation.assign_request(body, agent_required=True)
    _require_agent_user(core, req.agent_id)

    def decide(session: Session) -> Change:
        authz.reassign(core.caller, session)
        return rules.transfer(session, req.agent_id, core.now)
    return _assigned(core, req.session_id, decide, to_agent=req.agent_id, by=assignment.TRANSFER, override=override)


def unassign(core: Core, body: Any) -> dict:
    authz.require_agent(core.caller)
    req = validation.assign_request(body, agent_required=False)

    def decide(session: Session) -> Change:
        authz.reassign(core.caller, session)
        return rules.unassign(session, authz.actor(core.caller), core.now)
    return _assigned(core, req.session_id, decide)


def _assigned(core: Core, session_id: str, decide: Callable[[Session], Change], **slots: Any) -> dict:
    updated, change = transition(core, session_id, decide, **slots)
    return {"session": staff_view(core, updated), "changed": not change.noop, "detail": change.noop}


def _require_agent_user(core: Core, user_id: str) -> None:
    labels = core.gateway.users.labels(user_id)
    if not labels & {core.settings.agent_label, core.settings.admin_label}:
        raise BadRequest(f"{user_id} is not an agent (no '{core.settings.agent_label}' label)", code="invalid_agent")


# --- close-session ------------------------------------------------------------------------------

def close(core: Core, body: Any, header_token: str | None) -> dict:
    req = validation.close_request(body)
    token = req.token or header_token

    def decide(session: Session) -> Change:
        default = f"closed by {authz.close(core.caller, session, token)}"
        if req.rating is not None:
            authz.rate(core.caller, session, token)
        change = rules.close(session, req.reason or default, core.now)
        return replace(ratings.closing(session, change, req.rating, core.now), note=change.noop)
    updated, change = transition(core, req.session_id, decide)
    return {"session": owner_view(updated), "closed": not change.note, "detail": change.note,
            **({"rated": True} if req.rating is not None else {})}


def sweep_capacity(settings: Settings) -> int:
    """Sessions one sweep may delete as empty, and as many it may close as idle. A sweep starts at most once a
    minute and the schedule runs every minute, so twice the creation ceiling keeps up with any creation rate the
    budgets allow and drains a backlog."""
    return max(IDLE_CLOSE_MAX_PER_RUN, 2 * settings.sessions_per_minute)


def close_idle(core: Core) -> dict:
    """Schedule: drop past budget windows, delete empty sessions, close idle ones.

    - A session nobody wrote to (no message, never escalated) and whose visitor has been idle EMPTY_SESSION_MINUTES
      is deleted, as if it had never been created.
    - An open session whose visitor has been idle longer than IDLE_CLOSE_MINUTES is closed.
    Bounded whoever calls: at most one sweep a minute starts (a lease in the `jobs` table), and a sweep deletes and
    closes at most `sweep_capacity` sessions each. A forged schedule call while a sweep ran recently costs one read."""
    # The jobs table's one lease (the fold's too), held for the minute and never given back: the next sweep starts
    # once it is a minute old. Taken like the fold's, a sweep now runs when its lease write landed but its answer was
    # lost (read back: the row names this holder; it used to answer 503 and skip the minute), and a `lastRunAt`
    # later than now (a clock ahead, a row written by hand) no longer stops sweeps until the clock reaches it.
    if core.gateway.jobs.lease("idle-close", core.now, IDLE_SWEEP_MIN_INTERVAL) is None:
        return {"skipped": "ran_recently", "closed": 0, "checked": 0, "deleted": 0, "closedAsEmpty": 0}
    capacity = sweep_capacity(core.settings)
    windows = budgets.sweep(core)
    deleted, emptied = _delete_empty(core, capacity)
    cutoff = rules.idle_cutoff(core.now, core.settings.idle_close_minutes)
    idle = core.gateway.sessions.idle(cutoff, capacity)
    checked, closed = len(idle), sum(_close_if_idle(core, session.id, cutoff) for session in idle)
    if closed:  # slots freed: one pass for all of them
        assignment.pump_quietly(core)
    core.log(f"idle close: {closed} closed of {checked} checked (idle since {iso(cutoff)}); {emptied} empty "
             f"sessions closed as empty, {deleted} deleted; {windows} budget rows dropped")
    return {"closed": closed, "checked": checked, "deleted": deleted, "closedAsEmpty": emptied,
            "budgetRowsDropped": windows, "idleSince": iso(cutoff)}


def _delete_empty(core: Core, capacity: int) -> tuple[int, int]:
    """Empty sessions leave in two steps, so the counters stay exact at every moment without a counter write here:
    1. a session that holds nothing (active, no message, never escalated, its visitor idle EMPTY_SESSION_MINUTES)
       is closed as `empty` (a conditional write): it no longer counts anywhere, and the next fold says so;
    2. a sweep later, one the counters no longer count (not dirty, in no fold under way) is deleted, conditional on
       the row as listed. Returns how many were deleted (step 2) and closed as empty (step 1)."""
    deleted = discarded = 0
    try:
        deleted = _drop_discarded(core, capacity)
        cutoff = core.now - timedelta(minutes=core.settings.empty_session_minutes)
        for session in core.gateway.sessions.empty(cutoff, capacity):
            _, change = consistency.commit(core, session.id, lambda s: rules.discard_empty(s, core.now, cutoff),
                                           first=session)
            discarded += not change.noop
    except ChatError as exc:  # one failure must not stop the sweep
        core.log(f"empty sessions: stopped: {exc.code}")
    return deleted, discarded


def _drop_discarded(core: Core, capacity: int) -> int:
    folded_up_to = consistency.folded_batch(core)
    return sum(core.gateway.sessions.delete_if_unchanged(session)
               for session in core.gateway.sessions.discarded(capacity)
               if session.fold_batch <= folded_up_to and not session.audit_pending)  # its trail is moved too


def _close_if_idle(core: Core, session_id: str, cutoff: datetime) -> int:
    def decide(session: Session) -> Change:
        if session.status == CLOSED or session.last_seen >= cutoff:
            return Change(noop="not_idle")
        return rules.close_idle(session, core.now)
    try:
        _, change = transition(core, session_id, decide, pump=False)
    except (NotFound, Conflict, UpstreamUnavailable) as exc:  # one failure must not stop the sweep
        core.log(f"idle close skipped {session_id}: {exc.code}")
        return 0
    return 0 if change.noop else 1


# --- list-sessions ------------------------------------------------------------------------------

def list_sessions(core: Core, query: dict[str, list[str]]) -> dict:
    authz.require_agent(core.caller)
    wanted = validation.session_filter({k: v for k, v in query.items() if k not in ("limit", "cursor")})
    page = validation.page({k: v for k, v in query.items() if k in ("limit", "cursor")})
    sessions, next_cursor = core.gateway.sessions.page(wanted, core.now, page.limit, page.cursor)
    answer = {"sessions": [staff_view(core, s) for s in sessions],
              "nextCursor": next_cursor, "generatedAt": iso(core.now)}
    if wanted.with_summary:
        answer["summary"] = _ratings_for(core, consistency.summary(core))
        if core.caller.is_admin:  # who is available, and their load: one more request
            answer["summary"]["team"] = availability.team(core)
    return answer


def _ratings_for(core: Core, summary: dict) -> dict:
    """Admins see every agent's ratings; an agent, their own."""
    if not authz.sees_every_agents_ratings(core.caller):
        by_agent = summary["ratings"]["byAgent"]
        summary["ratings"]["byAgent"] = {k: v for k, v in by_agent.items() if k == core.caller.user_id}
    return summary


def get_session(core: Core, session_id: str) -> dict:
    authz.require_agent(core.caller)
    return {"session": staff_view(core, load(core, validation.identifier(session_id)))}


def session_messages(core: Core, session_id: str, query: dict[str, list[str]]) -> dict:
    authz.require_agent(core.caller)
    session = load(core, validation.identifier(session_id))
    return {"session": staff_view(core, session), **_message_page(core, session.id, query)}


def export_session(core: Core, session_id: str, query: dict[str, list[str]]) -> dict:
    authz.require_agent(core.caller)
    req = validation.export_request(query)
    session = load(core, validation.identifier(session_id))
    return _export_page(core, session, staff_view(core, session), req)


def export_own_session(core: Core, query: dict[str, list[str]], header_token: str | None) -> dict:
    req = validation.export_request(query, with_session=True)
    session = load(core, req.session_id)
    authz.export_own_transcript(core.caller, session, header_token)
    return _export_page(core, session, owner_view(session), req)


def _export_page(core: Core, session: Session, view: dict, req: inputs.ExportRequest) -> dict:
    messages, next_cursor = _read_messages(core, session.id, req.page)
    return transcripts.answer(req.fmt, view, [message_view(m) for m in messages], first=req.page.cursor is None,
                              more=next_cursor is not None, exported_at=iso(core.now))


def session_history(core: Core, session_id: str, query: dict[str, list[str]]) -> dict:
    """A session's timeline: every transition, in order (audit.history)."""
    authz.require_agent(core.caller)
    page = validation.history_page(query)
    session = load(core, validation.identifier(session_id))
    shows_rating = authz.sees_rating(core.caller, session)
    return {"session": staff_view(core, session),
            **audit.history(core, session, page, shows_rating=shows_rating)}


def audit_trail(core: Core, query: dict[str, list[str]]) -> dict:
    """Admins: the trail by agent and time range (audit.trail)."""
    authz.require_admin(core.caller)
    wanted = validation.audit_filter({k: v for k, v in query.items() if k not in ("limit", "cursor")})
    page = validation.page({k: v for k, v in query.items() if k in ("limit", "cursor")})
    return {**audit.trail(core, wanted, page), "generatedAt": iso(core.now)}


def recount(core: Core, body: Any) -> dict:
    """Admin repair (consistency.repair): the counters rebuilt from the sessions, messageCount from the stored
    messages. Safe while traffic runs."""
    authz.require_admin(core.caller)
    settle = validation.recount_request(body)
    repaired = consistency.repair(core, settle)
    loads = availability.repair_loads(core, settle, repaired["summary"]["agents"])  # after the summary: see there
    return {**repaired, "agentLoads": loads, "recountedAt": iso(core.now)}


def fold_counters(core: Core) -> dict:
    """Schedule: move the sessions the counters do not hold yet into them (bounded; one fold at a time)."""
    moved = consistency.fold(core)
    if moved is None:
        return {"folded": 0, "skipped": "running", "auditMoved": 0, **assignment.periodic(core)}
    try:  # what the fold did not move of the audit trail (audit.sweep); the next minute retries a failure
        swept = audit.sweep(core)
    except ChatError as exc:
        core.log(f"audit: the sweep stopped ({exc.code}); the next run goes on")
        swept = 0
    return {"folded": moved, "skipped": None, "auditMoved": swept, **assignment.periodic(core)}
