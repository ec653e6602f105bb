"""The operations behind the functions: rules plus gateway. Each takes a `Core` (who calls, when, with what)."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from appwrite.query import Query

from . import authz, budgets, errors, rules, transcripts, validation
from .authz import Caller
from .config import Settings
from .errors import BadRequest, ChatError, Conflict, NotFound, UpstreamUnavailable
from .gateway import Gateway, RowExists, RowMissing, StaleWrite
from .model import ACTIVE, AGENT_ASSIGNED, CLOSED, Change, CounterMove, Message, Session, iso
from .views import agent_view, message_view, owner_view, stored_object

CONDITIONAL_ATTEMPTS = 4
IDLE_CLOSE_BATCH = 100
IDLE_CLOSE_MAX_PER_RUN = 1000  # at least; see sweep_capacity
# Whoever triggers it (a caller can forge the schedule trigger), the idle sweep starts at most once a minute.
IDLE_SWEEP_MIN_INTERVAL = timedelta(seconds=60)
SESSION_COLUMNS = ("status", "lastSeen", "needsHuman", "assignedAgent", "userMeta", "theme", "messageCount",
                   "escalatedAt", "escalationReason", "escalatedBy", "assignedAt", "closedAt", "closeReason",
                   "ownerId")


@dataclass
class Core:
    gateway: Gateway
    settings: Settings
    caller: Caller
    now: datetime
    log: Callable[[str], None] = print


# --- shared mechanics ---------------------------------------------------------------------------

def load(core: Core, session_id: str) -> Session:
    try:
        return core.gateway.get_session(session_id)
    except RowMissing:
        raise NotFound(f"no session {session_id}", code="session_not_found") from None


def transition(core: Core, session_id: str, decide: Callable[[Session], Change]) -> tuple[Session, Change]:
    """Read, decide, write only if nobody wrote in between (X-Appwrite-Timestamp), then move counters.

    A lost race re-reads and decides again, so the loser of two claims sees the winner's assignment.
    """
    for _ in range(CONDITIONAL_ATTEMPTS):
        session = load(core, session_id)
        change = decide(session)
        if change.noop:
            return session, change
        try:
            updated = core.gateway.update_session(session, change.updates, conditional=True)
        except StaleWrite:
            continue
        except RowMissing:
            raise NotFound(f"no session {session_id}", code="session_not_found") from None
        except UpstreamUnavailable:
            # The write may have landed with its answer lost: then its counters must move too.
            updated = _landed(core, session, change)
            if updated is None:
                raise
        _move_counters(core, change, revert=partial(_revert, core, session, updated, change))
        return updated, change
    raise Conflict("the session is changing too fast; try again", code="concurrent_update")


def _move_counters(core: Core, change: Change, revert: Callable[[], None]) -> None:
    """Counters follow the session write. If one can't be written, undo what was done so nothing is half-done."""
    done = []
    try:
        for move in change.counters:
            core.gateway.move_counter(move)
            done.append(move)
    except ChatError:
        # A failed increment may still have been applied (its answer lost): then only a recount fixes the sums.
        core.log("a counter write failed; if Appwrite applied it anyway, run POST /recount on list-sessions")
        try:
            for move in reversed(done):
                core.gateway.move_counter(move, undo=True)
            revert()
        except ChatError:
            core.log("counters may be out of step with sessions: run POST /recount on list-sessions")
        raise UpstreamUnavailable("Appwrite failed mid-operation; nothing was changed, try again") from None


def _lifecycle_columns(session: Session) -> dict:
    """The columns transitions write, as they are stored."""
    return {
        "status": session.status, "needsHuman": session.needs_human, "assignedAgent": session.assigned_agent,
        "escalatedAt": iso(session.escalated_at), "escalationReason": session.escalation_reason,
        "escalatedBy": session.escalated_by, "assignedAt": iso(session.assigned_at),
        "closedAt": iso(session.closed_at), "closeReason": session.close_reason,
    }


def _revert(core: Core, before: Session, after: Session, change: Change) -> None:
    previous = _lifecycle_columns(before)
    core.gateway.update_session(after, {k: previous[k] for k in change.updates}, conditional=True)


def _landed(core: Core, before: Session, change: Change) -> Session | None:
    """After a conditional write failed without an answer: the session as written if the write landed, else None.

    A conditional write lands only on the row as it was read, so a newer row holding exactly our values is ours.
    """
    now = _reread(core, before.id)
    if now is None:
        core.log(f"session {before.id}: a write may have landed without its counters: run POST /recount")
        return None
    columns = _lifecycle_columns(now)
    if now.updated_at != before.updated_at and all(columns.get(k) == v for k, v in change.updates.items()):
        return now
    return None


def _reread(core: Core, session_id: str) -> Session | None:
    """The session as stored now, or None when Appwrite can't say: the check after a write whose answer was lost."""
    try:
        return core.gateway.get_session(session_id)
    except ChatError:
        return None


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
        session = core.gateway.create_session(session_id, data)
    except UpstreamUnavailable:  # it may have landed with its answer lost: a session nobody counted or knows
        _forget(core, core.gateway.delete_session, session_id)
        raise
    _move_counters(core, Change(counters=rules.created()), revert=lambda: core.gateway.delete_session(session.id))
    return {**owner_view(session), "token": token, "userMeta": stored_object(session.user_meta),
            "theme": stored_object(session.theme)}


# --- touch-session ------------------------------------------------------------------------------

def touch_session(core: Core, body: Any, header_token: str | None) -> dict:
    req = validation.touch_request(body)
    session = load(core, req.session_id)
    token = req.token or header_token
    if req.message is None:
        authz.heartbeat(core.caller, session, token)
        return {"session": owner_view(core.gateway.update_session(session, rules.touch(
            session, core.now, with_message=False, by_owner=True, limit=0)))}
    author = authz.post_message(core.caller, session, token, req.message.role)
    if req.message.role == "user":
        # The session's own flood limit first (it costs nothing to check), then the owner's or guests' budget.
        rules.touch(session, core.now, with_message=True, by_owner=True, limit=core.settings.max_messages_per_minute)
        budgets.take_message(core, session)
    return _post_message(core, session, author, req.message)


def _post_message(core: Core, session: Session, author: str | None, new: validation.NewMessage) -> dict:
    # Only a `user` message can pass authz.post_message, and only from the owner: it is the visitor's activity.
    updates = rules.touch(session, core.now, with_message=True, by_owner=new.role == "user",
                          limit=core.settings.max_messages_per_minute)
    row_id = _message_row_id(session.id, new.role, new.client_id)
    data = {"sessionId": session.id, "role": new.role, "text": new.text, "handoff": new.handoff,
            "authorId": author if new.role == "agent" else None, "clientMessageId": new.client_id}
    try:
        message = core.gateway.create_message(row_id, data)
    except RowExists:  # the widget retried a message we already stored: answer as before, count it once
        return {"session": owner_view(session), "message": message_view(core.gateway.get_message(row_id)),
                "duplicate": True}
    except UpstreamUnavailable:  # it may have landed with its answer lost: uncounted, so take it back
        _undo_message(core, row_id)
        raise
    try:
        updated = core.gateway.update_session(session, updates)
    except UpstreamUnavailable:
        updated = _counted(core, session)
        if updated is None:
            _undo_message(core, row_id)
            raise
    except ChatError:
        _undo_message(core, row_id)
        raise
    return {"session": owner_view(updated), "message": message_view(message), "duplicate": False}


def _counted(core: Core, before: Session) -> Session | None:
    """After the count's write failed without an answer: the session if the increment landed anyway, else None."""
    now = _reread(core, before.id)
    return now if now is not None and now.message_count > before.message_count else None


def _undo_message(core: Core, row_id: str) -> None:
    _forget(core, core.gateway.delete_message, row_id)


def _forget(core: Core, delete: Callable[[str], None], row_id: str) -> None:
    """Best-effort delete of a row an operation could not finish; a row that never landed is fine."""
    try:
        delete(row_id)
    except RowMissing:
        pass
    except ChatError:
        core.log(f"row {row_id} could not be taken back: it may be stored without its counts")


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
    return {"session": owner_view(session), **_message_page(core, session_id, query)}


def _message_page(core: Core, session_id: str, query: dict[str, list[str]]) -> dict:
    messages, more = _read_messages(core, session_id, validation.page(
        {k: v for k, v in query.items() if k in ("limit", "cursor")}))
    return {"messages": [message_view(m) for m in messages], "nextCursor": messages[-1].id if more else None}


def _read_messages(core: Core, session_id: str, page: validation.Page) -> tuple[list[Message], bool]:
    """A page of the session's messages, oldest first, and whether more follow."""
    queries = [Query.equal("sessionId", [session_id]), Query.order_asc("$createdAt"), Query.limit(page.limit + 1)]
    if page.cursor:
        _require_own_message(core, session_id, page.cursor)
        queries.append(Query.cursor_after(page.cursor))
    messages = core.gateway.list_messages(queries)
    return messages[:page.limit], len(messages) > page.limit


def _require_own_message(core: Core, session_id: str, cursor: str) -> None:
    """Appwrite takes any row of the table as a cursor, whatever the filters (the row is fetched by ID alone:
    appwrite src/Appwrite/Platform/Modules/Databases/Http/TablesDB/Tables/Rows/XList.php), so another session's
    message would work here and tell the caller that it exists. It is answered exactly as a made-up cursor.
    One more read, only when a cursor is given."""
    try:
        owned = core.gateway.get_message(cursor).session_id == session_id
    except RowMissing:
        owned = False
    if not owned:
        raise errors.unknown_cursor()


# --- escalate -----------------------------------------------------------------------------------

def escalate(core: Core, body: Any, header_token: str | None) -> dict:
    req = validation.escalate_request(body)
    session = load(core, req.session_id)
    by = authz.escalate(core.caller, session, req.token or header_token)
    updated, change = transition(core, session.id, lambda s: rules.escalate(s, req.reason, by, core.now))
    return {"session": owner_view(updated), "escalated": not change.noop, "detail": change.noop}


def escalate_from_event(core: Core, event: str, payload: Any) -> dict:
    """A new message row arrived. Escalate once if the rules say so; ignore anything else, with a log line.

    Anyone can make a call look like an event (PLATFORM.md), so the payload only names a row: the rules run on
    the message as stored, re-read by its ID. A forged event can only repeat what the stored row already did."""
    message = _event_message(core, event, payload)
    if message is None:
        return {"ignored": "not a new chat message"}
    reason = rules.escalation_reason(message, core.settings.handoff_phrases)
    if reason is None:
        return {"ignored": "no escalation rule matched"}
    try:
        updated, change = transition(core, message.session_id,
                                     lambda s: rules.escalate(s, reason, f"message:{message.id}", core.now))
    except (NotFound, Conflict) as exc:
        core.log(f"event for session {message.session_id} ignored: {exc.code}")
        return {"ignored": exc.code}
    if change.noop:
        return {"ignored": change.noop, "sessionId": updated.id}
    core.log(f"session {updated.id} escalated: {reason}")
    return {"escalated": True, "sessionId": updated.id, "reason": reason}


def _event_message(core: Core, event: str, payload: Any) -> Message | None:
    """The stored message a row-create event names, or None (logged) when there is no such chat message."""
    if parse_event(event) != (core.settings.database_id, "messages", "create") or not isinstance(payload, dict):
        core.log(f"event ignored: {event[:200]}")
        return None
    try:
        row_id = validation.identifier(payload.get("$id"), "$id")
    except BadRequest:
        core.log("event ignored: the payload names no message row")
        return None
    try:
        return core.gateway.get_message(row_id)
    except RowMissing:
        raise NotFound(f"no message {row_id}: the event names no stored row", code="message_not_found") from None


def parse_event(event: str) -> tuple[str, str, str] | None:
    """(database, table, action) from any of Appwrite's spellings:
    databases.D.collections.T.documents.R.create, databases.D.tables.T.rows.R.create, tablesdb.D.tables.T.rows.R.create
    """
    parts = event.split(".")
    if len(parts) != 7 or parts[0] not in ("databases", "tablesdb"):
        return None
    if (parts[2], parts[4]) not in (("collections", "documents"), ("tables", "rows")):
        return None
    return parts[1], parts[3], parts[6]


# --- assign-agent -------------------------------------------------------------------------------

def claim(core: Core, body: Any) -> dict:
    req = validation.assign_request(body, agent_required=False)
    agent_id = authz.claim(core.caller, req.agent_id)
    return _assigned(core, req.session_id, lambda s: rules.assign(s, agent_id, core.now))


def assign_to(core: Core, body: Any) -> dict:
    authz.require_admin(core.caller)
    req = validation.assign_request(body, agent_required=True)
    _require_agent_user(core, req.agent_id)
    return _assigned(core, req.session_id, lambda s: rules.assign(s, req.agent_id, core.now))


def transfer(core: Core, body: Any) -> dict:
    authz.require_agent(core.caller)
    req = validation.assign_request(body, agent_required=True)
    _require_agent_user(core, req.agent_id)

    def decide(session: Session) -> Change:
        authz.reassign(core.caller, session)
        return rules.transfer(session, req.agent_id, core.now)
    return _assigned(core, req.session_id, decide)


def unassign(core: Core, body: Any) -> dict:
    authz.require_agent(core.caller)
    req = validation.assign_request(body, agent_required=False)

    def decide(session: Session) -> Change:
        authz.reassign(core.caller, session)
        return rules.unassign(session, core.now)
    return _assigned(core, req.session_id, decide)


def _assigned(core: Core, session_id: str, decide: Callable[[Session], Change]) -> dict:
    updated, change = transition(core, session_id, decide)
    return {"session": agent_view(updated, core.now), "changed": not change.noop, "detail": change.noop}


def _require_agent_user(core: Core, user_id: str) -> None:
    labels = core.gateway.user_labels(user_id)
    if not labels & {core.settings.agent_label, core.settings.admin_label}:
        raise BadRequest(f"{user_id} is not an agent (no '{core.settings.agent_label}' label)", code="invalid_agent")


# --- close-session ------------------------------------------------------------------------------

def close(core: Core, body: Any, header_token: str | None) -> dict:
    req = validation.close_request(body)
    token = req.token or header_token

    def decide(session: Session) -> Change:
        default = f"closed by {authz.close(core.caller, session, token)}"
        return rules.close(session, req.reason or default, core.now)
    updated, change = transition(core, req.session_id, decide)
    return {"session": owner_view(updated), "closed": not change.noop, "detail": change.noop}


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
    if not core.gateway.start_job("idle-close", core.now, IDLE_SWEEP_MIN_INTERVAL):
        return {"skipped": "ran_recently", "closed": 0, "checked": 0, "deleted": 0}
    capacity = sweep_capacity(core.settings)
    windows = budgets.sweep(core)
    deleted = _delete_empty(core, capacity)
    cutoff = rules.idle_cutoff(core.now, core.settings.idle_close_minutes)
    closed = checked = 0
    cursor: list[str] = []
    while checked < capacity:
        batch = core.gateway.list_sessions([
            Query.equal("status", [ACTIVE, AGENT_ASSIGNED]), Query.less_than("lastSeen", iso(cutoff)),
            Query.order_asc("lastSeen"), Query.limit(min(IDLE_CLOSE_BATCH, capacity - checked)), *cursor])
        for session in batch:
            checked += 1
            closed += _close_if_idle(core, session.id, cutoff)
        if len(batch) < IDLE_CLOSE_BATCH:
            break
        cursor = [Query.cursor_after(batch[-1].id)]
    core.log(f"idle close: {closed} closed of {checked} checked (idle since {iso(cutoff)}); {deleted} empty "
             f"sessions deleted; {windows} budget rows dropped")
    return {"closed": closed, "checked": checked, "deleted": deleted, "budgetRowsDropped": windows,
            "idleSince": iso(cutoff)}


def _delete_empty(core: Core, capacity: int) -> int:
    """Delete sessions that hold nothing: active, no message, not waiting for a human, the visitor idle for
    EMPTY_SESSION_MINUTES. Each delete is conditional on the row as listed (a message or heartbeat in between
    keeps it); the `created` counter goes down by the number deleted, one write per batch."""
    cutoff = core.now - timedelta(minutes=core.settings.empty_session_minutes)
    deleted = 0
    while deleted < capacity:
        try:
            batch = core.gateway.list_sessions([
                Query.equal("status", [ACTIVE]), Query.equal("needsHuman", [False]), Query.equal("messageCount", [0]),
                Query.less_than("lastSeen", iso(cutoff)), Query.order_asc("lastSeen"),
                Query.limit(min(IDLE_CLOSE_BATCH, capacity - deleted))])
            gone = sum(core.gateway.delete_session_if_unchanged(s) for s in batch)
        except ChatError as exc:  # one failure must not stop the sweep
            core.log(f"empty sessions: deleting stopped: {exc.code}")
            return deleted
        if gone:
            try:
                core.gateway.move_counter(CounterMove(None, {"created": gone}), undo=True)
            except ChatError:
                core.log(f"{gone} empty sessions deleted but not uncounted: run POST /recount on list-sessions")
        deleted += gone
        # No cursor: deleted rows leave the list. A batch where nothing could be deleted ends the run.
        if len(batch) < IDLE_CLOSE_BATCH or not gone:
            break
    return deleted


def _close_if_idle(core: Core, session_id: str, cutoff: datetime) -> int:
    def decide(session: Session) -> Change:
        if session.status == CLOSED or session.last_seen >= cutoff:
            return Change(noop="not_idle")
        return rules.close(session, "idle", core.now)
    try:
        _, change = transition(core, session_id, decide)
    except (NotFound, Conflict, UpstreamUnavailable) as exc:  # one failure must not stop the sweep
        core.log(f"idle close skipped {session_id}: {exc.code}")
        return 0
    return 0 if change.noop else 1


# --- list-sessions ------------------------------------------------------------------------------

def list_sessions(core: Core, query: dict[str, list[str]]) -> dict:
    authz.require_agent(core.caller)
    wanted = validation.session_filter({k: v for k, v in query.items() if k not in ("limit", "cursor")})
    page = validation.page({k: v for k, v in query.items() if k in ("limit", "cursor")})
    queries = _filter_queries(wanted, core.now) + [
        (Query.order_asc if wanted.oldest_first else Query.order_desc)(wanted.sort_by),
        Query.limit(page.limit + 1), Query.select(["$id", "$createdAt", "$updatedAt", *SESSION_COLUMNS])]
    if page.cursor:
        queries.append(Query.cursor_after(page.cursor))
    sessions = core.gateway.list_sessions(queries)
    more = len(sessions) > page.limit
    sessions = sessions[:page.limit]
    answer = {"sessions": [agent_view(s, core.now) for s in sessions],
              "nextCursor": sessions[-1].id if more else None, "generatedAt": iso(core.now)}
    if wanted.with_summary:
        answer["summary"] = rules.summarize(core.gateway.counter_rows())
    return answer


def _filter_queries(wanted: validation.SessionFilter, now: datetime) -> list[str]:
    queries = []
    if wanted.statuses:
        queries.append(Query.equal("status", list(wanted.statuses)))
    if wanted.needs_human is not None:
        queries.append(Query.equal("needsHuman", [wanted.needs_human]))
    if wanted.assigned_agent:
        queries.append(Query.equal("assignedAgent", [wanted.assigned_agent]))
    if wanted.idle_for is not None:
        queries.append(Query.less_than_equal("lastSeen", iso(now - wanted.idle_for)))
    if wanted.created_after:
        queries.append(Query.greater_than_equal("$createdAt", iso(wanted.created_after)))
    if wanted.created_before:
        queries.append(Query.less_than("$createdAt", iso(wanted.created_before)))
    return queries


def get_session(core: Core, session_id: str) -> dict:
    authz.require_agent(core.caller)
    return {"session": agent_view(load(core, validation.identifier(session_id)), core.now)}


def session_messages(core: Core, session_id: str, query: dict[str, list[str]]) -> dict:
    authz.require_agent(core.caller)
    session = load(core, validation.identifier(session_id))
    return {"session": agent_view(session, core.now), **_message_page(core, session.id, query)}


def export_session(core: Core, session_id: str, query: dict[str, list[str]]) -> dict:
    authz.require_agent(core.caller)
    req = validation.export_request(query)
    session = load(core, validation.identifier(session_id))
    return _export_page(core, session, agent_view(session, core.now), req)


def export_own_session(core: Core, query: dict[str, list[str]], header_token: str | None) -> dict:
    req = validation.export_request(query, with_session=True)
    session = load(core, req.session_id)
    authz.export_own_transcript(core.caller, session, header_token)
    return _export_page(core, session, owner_view(session), req)


def _export_page(core: Core, session: Session, view: dict, req: validation.ExportRequest) -> dict:
    messages, more = _read_messages(core, session.id, req.page)
    return transcripts.answer(req.fmt, view, [message_view(m) for m in messages], first=req.page.cursor is None,
                              more=more, exported_at=iso(core.now))


def recount(core: Core) -> dict:
    """Admin repair: rebuild the counters from the sessions themselves (after a failure left them out of step)."""
    authz.require_admin(core.caller)
    values = rules.recount(list(core.gateway.all_sessions()))
    for row in core.gateway.counter_rows():  # agents with nothing left still need their row reset
        values.setdefault(row.get("agentId"), {"assigned": 0, "released": 0, "closed": 0, "requeued": 0,
                                               "cleared": 0})
    for agent_id, counts in values.items():
        core.gateway.set_counter_row(agent_id, counts)
    return {"summary": rules.summarize(core.gateway.counter_rows()), "recountedAt": iso(core.now)}
