"""A message into a session: admitted by the session's own write, then stored, and taken back if it cannot be.

The session write that admits a message checks that the session is open, that the author may post (an agent's
reply: still the assignee), that the visitor's flood window has room, counts it and escalates if it asks for a
person. Only then is the row created, named by the client's ID (the same ID again is the same row). So no message is
stored into a session that was closed or transferred away from its author when it was admitted. A message row is
never deleted: an admission whose row could not be stored, or whose row another attempt stored first (a
duplicate), is taken back with another commit.

The row is created readable by the session's owner and the staff (`domain.signals.readers`): Appwrite Realtime
delivers it to their sockets, so a message costs no signal. The session's signal row is written only when the
admission changed what a client shows (an escalation), after the row is stored.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from chat_core import errors
from chat_core.domain import authz, rules
from chat_core.domain import signals as domain_signals
from chat_core.domain.inputs import NewMessage, Page
from chat_core.domain.model import Change, Message, Session
from chat_core.errors import ChatError, UpstreamUnavailable
from chat_core.infra.connection import RowExists, RowMissing
from chat_core.ops import queueing, signals
from chat_core.ops.consistency import commit

if TYPE_CHECKING:
    from chat_core.core import Core

ADMIT_ATTEMPTS = 30  # a busy session's writes are mostly messages: they get more tries before a 409
TAKE_BACK_ATTEMPTS = 40


@dataclass(frozen=True)
class Posted:
    """A message admitted and stored: the session as the admission (or its take-back) left it, the stored row, and
    whether another attempt with the same client ID had stored it already."""

    session: Session
    message: Message
    duplicate: bool


def post(core: Core, first: Session, token: str | None, new: NewMessage, row_id: str, *,
         entered: queueing.Entering | None = None) -> Posted:
    """Admit, then store; see the module docstring. `entered`: the visitor's queue figures, if the message starts a
    wait (the admitting write keeps them)."""
    reason = rules.escalation_reason(new.role, new.text, new.handoff, core.settings.handoff_phrases)

    def decide(session: Session) -> Change:
        author = authz.post_message(core.caller, session, token, new.role)
        change, admission = rules.admit(session, row_id, core.now, by_owner=new.role == "user",
                                        limit=core.settings.max_messages_per_minute, escalation=reason,
                                        text=new.text, only_while_active=new.only_while_active)
        return replace(queueing.with_figures(change, entered), note=(author, admission, session))

    # Signalled below, once the row is stored, and only if the admission changed what a client shows.
    admitted, change = commit(core, first.id, decide, first=first, attempts=ADMIT_ATTEMPTS, signal=False)
    author, admission, before = change.note
    message = Message(id=row_id, session_id=first.id, role=new.role, text=new.text, created_at=core.now,
                      handoff=new.handoff, author_id=author if new.role == "agent" else None,
                      client_message_id=new.client_id, admission=change.nonce)
    try:
        stored, ours = _store(core, message, domain_signals.readers(admitted))
    except ChatError:
        _take_back(core, admitted, admission)
        raise
    if ours:
        signals.after_write(core, before, admitted)
        return Posted(admitted, stored, duplicate=False)
    # Another attempt with the same client ID stored it (the widget retried): answer with that row, counted once.
    return Posted(_take_back(core, admitted, admission) or admitted, stored, duplicate=True)


def _store(core: Core, message: Message, readers: list[str]) -> tuple[Message, bool]:
    """The stored row and whether it is this admission's. Creating by a known row ID is idempotent, so a create
    whose answer was lost is simply tried again: it lands, or meets the row that did."""
    try:
        try:
            return core.gateway.messages.create(message, readers), True
        except UpstreamUnavailable:
            return core.gateway.messages.create(message, readers), True
    except RowExists:
        try:
            stored = core.gateway.messages.get(message.id)
        except RowMissing:
            raise UpstreamUnavailable("a message row vanished; try again") from None
        return stored, stored.admission == message.admission


def _take_back(core: Core, admitted: Session, admission: rules.Admission) -> Session | None:
    try:
        # It must land, or the count stays one over: it keeps trying longer than a caller's operation would.
        session, _ = commit(core, admitted.id, lambda s: rules.unadmit(s, admission), first=admitted,
                            attempts=TAKE_BACK_ATTEMPTS, signal=False)
        return session
    except ChatError as exc:
        core.log(f"session {admitted.id}: an admitted message could not be taken back ({exc.code}): its "
                 "messageCount may be one over its stored messages until POST /recount on list-sessions")
        return None


def row_id_for(session_id: str, role: str, client_id: str | None) -> str:
    """A client-chosen message ID makes retries idempotent: the same (session, role, id) maps to the same row.
    The role is part of it so the bot's IDs and the widget's can never collide."""
    if client_id is None:
        return "m_" + secrets.token_hex(16)
    return "m_" + hashlib.sha256(f"{session_id}\n{role}\n{client_id}".encode()).hexdigest()[:32]


def page_of(core: Core, session_id: str, page: Page) -> tuple[list[Message], str | None]:
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
