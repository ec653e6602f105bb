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

The FAQ bot answers in the same write (issue 20: one execution, no second one on the message's event): the write
that admits a visitor's message also asks the bot's rules (`answer`, chat_core.bot.inline) on the session as it
admits it, and admits the reply with it (counted, searched, escalating on a hand-off: one conditional write decides
both). Both rows are then created by one request; the visitor's row carries `botDecided`, so the `bot` function's
event on it ends without a request. A retry with the same client ID meets the stored rows and takes back both
admissions; a store that fails takes back both.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from chat_core import errors
from chat_core.domain import authz, rules
from chat_core.domain import signals as domain_signals
from chat_core.domain.inputs import NewMessage, Page
from chat_core.domain.model import Change, Message, Session, reply_key
from chat_core.errors import ChatError, UpstreamUnavailable
from chat_core.infra.connection import RowExists, RowMissing
from chat_core.ops import queueing, signals
from chat_core.ops.consistency import commit

if TYPE_CHECKING:
    from chat_core.core import Core

T = TypeVar("T")

ADMIT_ATTEMPTS = 30  # a busy session's writes are mostly messages: they get more tries before a 409
TAKE_BACK_ATTEMPTS = 40


Answerer = Callable[[Message, Session], "NewMessage | None"]
"""The FAQ bot in the visitor's write (chat_core.bot.inline): given the visitor's message and the session as the
admitting write admits it, the reply to admit with it, or None to stay quiet."""


@dataclass(frozen=True)
class Posted:
    """A message admitted and stored: the session as the admission (or its take-back) left it, the stored row,
    whether another attempt with the same client ID had stored it already, and the FAQ bot's reply stored with it
    (None: no reply, or none was decided)."""

    session: Session
    message: Message
    duplicate: bool
    reply: Message | None = None


@dataclass(frozen=True)
class _Admitted:
    """What the admitting write decided, for what follows it: the author, the admissions (the message's, then the
    reply's), the session it was decided on, and the reply's row."""

    author: str | None
    admissions: tuple[rules.Admission, ...]
    before: Session
    reply: Message | None


def visitor_message(row_id: str, session_id: str, new: NewMessage, now: datetime) -> Message:
    """The message as the bot's rules see it before it is stored."""
    return Message(id=row_id, session_id=session_id, role=new.role, text=new.text, created_at=now,
                   handoff=new.handoff, client_message_id=new.client_id)


def post(core: Core, first: Session, token: str | None, new: NewMessage, row_id: str, *,
         entered: queueing.Entering | None = None, answer: Answerer | None = None) -> Posted:
    """Admit, then store; see the module docstring. `entered`: the visitor's queue figures, if the message starts a
    wait (the admitting write keeps them). `answer`: the FAQ bot, deciding its reply in the same write; both rows
    are then stored by one request, and the visitor's row says the bot decided (`bot_decided`)."""
    phrases, limit = core.settings.handoff_phrases, core.settings.max_messages_per_minute
    reason = rules.escalation_reason(new.role, new.text, new.handoff, phrases)

    def decide(session: Session) -> Change:
        author = authz.post_message(core.caller, session, token, new.role)
        change, admission = rules.admit(session, row_id, core.now, by_owner=new.role == "user", limit=limit,
                                        escalation=reason, text=new.text, only_while_active=new.only_while_active)
        admissions, reply = (admission,), None
        said = answer(visitor_message(row_id, session.id, new, core.now), change.after) \
            if answer is not None and change.after is not None else None
        if said is not None and change.after is not None:
            reply = visitor_message(row_id_for(session.id, said.role, said.client_id), session.id, said, core.now)
            change, second = rules.admit(
                change.after, reply.id, core.now, by_owner=False, limit=limit, text=said.text, only_while_active=True,
                escalation=rules.escalation_reason(said.role, said.text, said.handoff, phrases))
            admissions += (second,)
        return replace(queueing.with_figures(change, entered), note=_Admitted(author, admissions, session, reply))

    # Signalled below, once the rows are stored, and only if the admission changed what a client shows.
    admitted, change = commit(core, first.id, decide, first=first, attempts=ADMIT_ATTEMPTS, signal=False)
    note: _Admitted = change.note
    message = Message(id=row_id, session_id=first.id, role=new.role, text=new.text, created_at=core.now,
                      handoff=new.handoff, author_id=note.author if new.role == "agent" else None,
                      client_message_id=new.client_id, admission=change.nonce, bot_decided=answer is not None)
    rows = [message] + ([replace(note.reply, admission=change.nonce)] if note.reply is not None else [])
    readers = domain_signals.readers(admitted)
    try:
        stored = _store(core, rows, readers)
    except ChatError:
        # The create's answers may have been lost while its rows landed: take back only what is not stored.
        stored = _landed(core, rows, readers)
        if stored is None:
            _take_back(core, admitted, note.admissions)
            raise
    mine = [ours for _, ours in stored]
    reply = stored[1][0] if len(stored) > 1 else None
    if all(mine):
        signals.after_write(core, note.before, admitted)
        return Posted(admitted, stored[0][0], duplicate=False, reply=reply)  # type: ignore[arg-type]
    # Another attempt with the same client ID stored it (the widget retried): answer with those rows, counted once.
    lost = [admission for admission, ours in zip(note.admissions, mine, strict=True) if not ours]
    session = _take_back(core, admitted, lost) or admitted
    if mine[0]:
        signals.after_write(core, note.before, session)
    elif reply is None and answer is not None:  # this attempt's rules stayed quiet; the first attempt's may not have
        reply = _existing(core, reply_row_id(first.id, row_id))
    return Posted(session, stored[0][0], duplicate=not mine[0], reply=reply)  # type: ignore[arg-type]


def _store(core: Core, rows: list[Message], readers: list[str]) -> list[tuple[Message | None, bool]]:
    """Each row as stored (None: a reply another attempt did not store) and whether this admission stored it.
    Creating by a known row ID is idempotent, so a create whose answer was lost is simply tried again: it lands, or
    meets the rows that did. A message and its reply go in one request (createRows, all or none); one that meets a
    row already there resolves row by row: the visitor's row first (read, since it is most likely the one there;
    created if not), and if another attempt stored it, nothing more is created and the reply that attempt stored,
    if any, is read; if it is this admission's (a create whose answer was lost), each reply is created as `_store`
    creates one row."""
    if len(rows) > 1:
        try:
            return [(m, True) for m in _once_more(lambda: core.gateway.messages.create_many(rows, readers))]
        except RowExists:  # most likely the visitor's row, stored by an earlier attempt: read it first
            stored = _existing(core, rows[0].id)
            first = (stored, stored.admission == rows[0].admission) if stored else _store_one(core, rows[0], readers)
            return _after_first(core, first, rows[1:], readers)
    return _after_first(core, _store_one(core, rows[0], readers), rows[1:], readers)


def _after_first(core: Core, first: tuple[Message, bool], rest: list[Message],
                 readers: list[str]) -> list[tuple[Message | None, bool]]:
    if not first[1]:
        return [first, *((_existing(core, m.id), False) for m in rest)]
    return [first, *(_store_one(core, m, readers) for m in rest)]


def _store_one(core: Core, message: Message, readers: list[str]) -> tuple[Message, bool]:
    try:
        return _once_more(lambda: core.gateway.messages.create(message, readers)), True
    except RowExists:
        stored = _existing(core, message.id)
        if stored is None:
            raise UpstreamUnavailable("a message row vanished; try again") from None
        return stored, stored.admission == message.admission


def _once_more(create: Callable[[], T]) -> T:
    """A create by known row IDs, tried once more when its answer is lost: it lands, or meets the rows that did
    (RowExists, which the caller resolves)."""
    try:
        return create()
    except UpstreamUnavailable:
        return create()


def _landed(core: Core, rows: list[Message], readers: list[str]) -> list[tuple[Message | None, bool]] | None:
    """After a store that failed: the rows as stored when the message's own row is there with this admission (a
    create that landed with its answer lost; its reply, if missing, created now), else None (take back). A read that
    fails too answers None: the admission is taken back, as when the row is known to be absent."""
    try:
        stored = _existing(core, rows[0].id)
        if stored is None or stored.admission != rows[0].admission:
            return None
        return _after_first(core, (stored, True), rows[1:], readers)
    except ChatError:
        return None


def _existing(core: Core, row_id: str) -> Message | None:
    try:
        return core.gateway.messages.get(row_id)
    except RowMissing:
        return None


def _take_back(core: Core, admitted: Session, admissions: Sequence[rules.Admission]) -> Session | None:
    def decide(session: Session) -> Change:
        for admission in reversed(admissions):  # the reply's first: each takes back what it added last
            session = rules.unadmit(session, admission).after or session
        return Change(session)
    try:
        # It must land, or the count stays over: it keeps trying longer than a caller's operation would.
        session, _ = commit(core, admitted.id, decide, first=admitted, attempts=TAKE_BACK_ATTEMPTS, signal=False)
        return session
    except ChatError as exc:
        core.log(f"session {admitted.id}: an admitted message could not be taken back ({exc.code}): its "
                 "messageCount may be over its stored messages until POST /recount on list-sessions")
        return None


def row_id_for(session_id: str, role: str, client_id: str | None) -> str:
    """A client-chosen message ID makes retries idempotent: the same (session, role, id) maps to the same row.
    The role is part of it so the bot's IDs and the widget's can never collide."""
    if client_id is None:
        return "m_" + secrets.token_hex(16)
    return "m_" + hashlib.sha256(f"{session_id}\n{role}\n{client_id}".encode()).hexdigest()[:32]


def reply_row_id(session_id: str, row_id: str) -> str:
    """The row of the bot's reply to the message `row_id` (its client ID is the message's reply key)."""
    return row_id_for(session_id, "bot", reply_key(row_id))


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
