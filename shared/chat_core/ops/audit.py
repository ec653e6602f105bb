"""The audit trail's operations: the record a session write carries (`stamp`, on every write through
`ops.consistency`), moving the column's entries to the `audit` table (`store`; `ops.fold` runs the sweep that drops
them from the column), and reading a session's timeline or the trail by agent and time. What a write records, and
the column's form, is `domain.audit`.

Moving, off the hot path: the fold (list-sessions' minute schedule) already reads every session that changed, since
every transition changes what a session counts; before it marks a batch it stores their entries as rows of the
`audit` table (`store`), and the mark that it writes anyway drops them from the column (`without`). Then the sweep
moves what is left (a session whose transitions cancelled out, say A -> B -> A, is not dirty). A row's ID is
derived from (session, seq), so a move cut short and run again, or two at once, write nothing twice; a column entry
is dropped only after its row is stored, so none is lost.

Bounded: the column holds `CAPACITY` characters. A write that would leave it fuller than that stores the entries it
holds first (requests on that write only) and keeps only its own: however many transitions come between two moves,
none is lost. The visitor never pays for it: everyone else's writes already store when fewer than `RESERVE`
characters would stay free, and the reserve holds every transition a visitor can make in a session's life (one
escalation, one close, one rating). Only a visitor escalation repeated because its message could not be stored (a
fault, taken back with a `withdraw` entry) can go past it; then that write stores first, like anyone else's.

Reading: a session's `history` is its moved rows plus the entries still in its column, in order (the rows only when
some precede the column: usually the session read alone). The `trail` by agent and time lists the moved rows: it
lags the transitions by at most the schedule's minute.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from chat_core.domain import authz, rules
from chat_core.domain.audit import CAPACITY, RESERVE, encode, pending, record, unrated
from chat_core.domain.inputs import AuditFilter, HistoryPage, Page
from chat_core.domain.model import Session, Transition
from chat_core.errors import ChatError

if TYPE_CHECKING:
    from chat_core.core import Core


# --- recording ---------------------------------------------------------------------------------------


def stamp(core: Core, before: Session, after: Session) -> Session:
    """`after` with the transitions from `before` appended to its column (consistency calls this for every session
    write). If the column would be too full, what it holds is stored as audit rows first (see the module doc)."""
    actor = authz.recorded_actor(core.caller)
    entries = record(before, after, _by_bot(before, after) or actor, core.now)
    if not entries:
        return after
    held = pending(after)
    column = encode([*held, *entries])
    if len(column) > (CAPACITY if actor == "visitor" else CAPACITY - RESERVE):
        _store_all(core, held)
        column = encode(entries)
    return replace(after, ledger=replace(after.ledger, transitions=column, audit_seq=entries[-1].seq,
                                         audit_pending=True))


def _by_bot(before: Session, after: Session) -> str | None:
    """`bot` for the FAQ bot's hand-off admitted in the visitor's own write (ops.messages): the bot escalated, not
    the visitor whose request carried it."""
    handed_off = after.needs_human and not before.needs_human and after.escalation_reason == rules.BOT_HANDED_OFF
    return "bot" if handed_off else None


# --- moving the entries to the `audit` table -------------------------------------------------------------

def _store_all(core: Core, entries: list[Transition]) -> None:
    for entry in entries:
        core.gateway.audit.create(entry)


def store(core: Core, sessions: list[Session]) -> dict[str, int]:
    """Store the column entries of `sessions` as audit rows. Returns, per session stored in full, the last seq
    stored: what `without` may then drop. A session whose rows fail is left as it is, for the next run."""
    stored: dict[str, int] = {}
    for session in sessions:
        try:
            entries = pending(session)
            _store_all(core, entries)
        except ChatError as exc:
            core.log(f"audit: session {session.id} left for the next run ({exc.code})")
            continue
        if entries:
            stored[session.id] = entries[-1].seq
    return stored


# --- reading -----------------------------------------------------------------------------------------

def history(core: Core, session: Session, page: HistoryPage, *, shows_rating: bool
            ) -> tuple[list[Transition], str | None]:
    """A session's timeline from seq `page.after` on: its moved rows, then its column's entries (the column always
    holds the newest ones), at most `page.limit`, and the cursor of the next page. The first page opens with the
    session's creation (seq 0, from the row). `shows_rating` False (a rating this caller may not see,
    `authz.sees_rating`): the rating's entry says only `rated`, without its score."""
    held = [entry for entry in pending(session) if entry.seq > page.after]
    first_held = held[0].seq if held else session.ledger.audit_seq + 1
    rows: list[Transition] = []
    if page.after + 1 < first_held:  # moved rows come before the column
        rows = [row for row in core.gateway.audit.of_session(session.id, page.after, page.limit + 1)
                if row.seq < first_held]
    entries = [*rows, *held][:page.limit + 1]
    shown = [entry if shows_rating else unrated(entry) for entry in entries[:page.limit]]
    if page.after == 0:
        shown.insert(0, Transition(session.id, 0, session.created_at, "visitor", "open", "", "active"))
    more = len(entries) > page.limit
    return shown, (str(entries[page.limit - 1].seq) if more else None)


def trail(core: Core, wanted: AuditFilter, page: Page) -> tuple[list[Transition], str | None]:
    return core.gateway.audit.page(wanted, page.limit, page.cursor)
