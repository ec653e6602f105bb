"""The audit trail: every lifecycle transition of a session, who made it, when and why.

Recording costs no request. `consistency`'s session write, the one way any session changes, compares the session
before and after (`record`): a new state (`active`, `waiting`, `assigned:<agent>`, `closed`) or a new rating is a
transition, and the conditional write that makes it also appends a compact entry to the session's `transitions`
column (`stamp`). So escalation, claim, assignment, transfer, unassign, close, idle close, empty close and rating
are recorded with no code of their own, and so will be any transition added later (issue 12's auto-assignment:
made by `system`, it records as `auto_assign`).

Moving, off the hot path: the fold (list-sessions' minute schedule) already reads every session that changed, since
every transition changes what a session counts; before it marks a batch it stores their entries as rows of the
`audit` table (`store`), and the mark that it writes anyway drops them from the column (`without`). Then `sweep`
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

import re
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from chat_core import jsonio
from chat_core.domain import authz
from chat_core.domain.inputs import AuditFilter, HistoryPage, Page
from chat_core.domain.model import AGENT_ASSIGNED, CLOSED, Change, Session, Transition, iso, parse_time
from chat_core.domain.rules import EMPTY, IDLE
from chat_core.errors import ChatError, UpstreamUnavailable

if TYPE_CHECKING:
    from chat_core.core import Core

CAPACITY = 16384  # characters of the `transitions` column (above 16,381 Appwrite stores it off the row, as TEXT)
WHY_MAX = 200  # characters of an entry's reason
ENTRY_MAX = 700  # characters of one encoded entry, at most (`_entry` cuts the reason to fit)
VISITOR_TRANSITIONS = 3  # a visitor escalates, closes and rates a session once each
RESERVE = VISITOR_TRANSITIONS * (ENTRY_MAX + 1)
SWEEP_BATCH = 100
SWEEP_MAX_PER_RUN = 1000  # sessions one schedule's sweep moves at most (the fold moves most of them already)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
ASSIGNED = "assigned:"


# --- recording ---------------------------------------------------------------------------------------

def state_of(session: Session) -> str:
    if session.status == CLOSED:
        return "closed"
    if session.status == AGENT_ASSIGNED:
        return ASSIGNED + (session.assigned_agent or "")
    return "waiting" if session.needs_human else "active"


def record(before: Session, after: Session, actor: str, now: datetime) -> list[Transition]:
    """The transitions a write from `before` to `after` makes (none for heartbeats, messages, folds), numbered on
    from the session's `auditSeq`."""
    found: list[tuple[str, str, str, str | None]] = []  # action, from, to, why
    was, now_state = state_of(before), state_of(after)
    if was != now_state:
        action = _action(was, now_state, actor, after)
        found.append((action, was, now_state, _why(action, after)))
    if after.rating_score and not before.rating_score:
        found.append(("rate", now_state, f"rated:{after.rating_score}",
                      f"{after.rating_score}/5" + (" with a comment" if after.rating_comment else "")))
    return [_entry(after, after.audit_seq + n, now, actor, *item) for n, item in enumerate(found, start=1)]


def _action(was: str, now_state: str, actor: str, after: Session) -> str:
    if now_state == "closed":  # the sweep's markers name its closes; a caller's close is a close, whatever it says
        return {IDLE: "idle_close", EMPTY: "empty_close"}.get(after.close_reason or "", "close") \
            if actor == "system" else "close"
    if now_state == "waiting":
        return "unassign" if was.startswith(ASSIGNED) else "escalate"
    if now_state.startswith(ASSIGNED):
        if was.startswith(ASSIGNED):
            return "transfer"
        if actor == "agent:" + now_state.removeprefix(ASSIGNED):
            return "claim"
        return "auto_assign" if actor == "system" else "assign"
    if was == "waiting":
        return "withdraw"  # an escalation taken back: its message could not be stored
    return "change"


def _why(action: str, after: Session) -> str | None:
    if action in ("close", "idle_close", "empty_close"):
        return after.close_reason
    if action in ("escalate", "unassign"):
        return after.escalation_reason
    if action == "withdraw":
        return "the message that escalated could not be stored"
    return None


def concerned_agent(actor: str, was: str, now_state: str, session: Session) -> str | None:
    """The agent an entry is about, for the trail by agent: the agent who acted; else (an admin, the system, the
    visitor, the bot) the agent the session goes to, or comes from, or held when it closed."""
    if actor.startswith("agent:"):
        return actor.removeprefix("agent:")
    for state in (now_state, was):
        if state.startswith(ASSIGNED):
            return state.removeprefix(ASSIGNED) or None
    return session.assigned_agent if session.status == CLOSED else None


def _entry(session: Session, seq: int, at: datetime, actor: str, action: str, was: str, now_state: str,
           why: str | None) -> Transition:
    if why is not None:
        why = _CONTROL.sub(" ", why).strip()
        why = why if len(why) <= WHY_MAX else why[:WHY_MAX - 1] + "…"
    entry = Transition(session.id, seq, at, actor, action, was, now_state, why or None,
                       concerned_agent(actor, was, now_state, session))
    while len(_encode_one(entry)) > ENTRY_MAX and entry.why:  # quotes and backslashes are escaped: cut more
        entry = replace(entry, why=entry.why[:len(entry.why) // 2] + "…")
    return entry


def stamp(core: Core, before: Session, after: Session) -> Session:
    """`after` with the transitions from `before` appended to its column (consistency calls this for every session
    write). If the column would be too full, what it holds is stored as audit rows first (see the module doc)."""
    actor = authz.recorded_actor(core.caller)
    entries = record(before, after, actor, core.now)
    if not entries:
        return after
    held = pending(after)
    column = encode([*held, *entries])
    if len(column) > (CAPACITY if actor == "visitor" else CAPACITY - RESERVE):
        _store_all(core, held)
        column = encode(entries)
    return replace(after, transitions=column, audit_seq=entries[-1].seq, audit_pending=True)


# --- the column's form: a JSON array of [seq, at, actor, action, from, to, why, agent] --------------------

def _encode_one(t: Transition) -> str:
    return jsonio.dumps([t.seq, iso(t.at), t.actor, t.action, t.from_state, t.to_state, t.why, t.agent],
                        ensure_ascii=False)


def encode(entries: list[Transition]) -> str:
    return "[" + ",".join(map(_encode_one, entries)) + "]" if entries else ""


def pending(session: Session) -> list[Transition]:
    """The entries the session's column holds (not moved yet), oldest first."""
    if not session.transitions:
        return []
    try:
        return [Transition(session.id, int(seq), parse_time(at), actor, action, was, now_state, why, agent)
                for seq, at, actor, action, was, now_state, why, agent in jsonio.loads(session.transitions)]
    except (jsonio.NotStrictJSON, TypeError, ValueError):  # only we write it: a broken one is a failing Appwrite
        raise UpstreamUnavailable("Appwrite returned an unreadable row") from None


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


def without(session: Session, upto: int) -> Session:
    """The session minus the column entries up to seq `upto` (stored already); the same object if none."""
    if not upto or not session.transitions:
        return session
    held = pending(session)
    kept = [entry for entry in held if entry.seq > upto]
    if len(kept) == len(held):
        return session
    return replace(session, transitions=encode(kept), audit_pending=bool(kept))


def sweep(core: Core, *, max_sessions: int = SWEEP_MAX_PER_RUN) -> int:
    """Move the entries the fold left (sessions that are not dirty, or that it did not reach). Returns how many
    sessions it emptied."""
    from . import consistency  # consistency calls this module on every write

    moved = 0
    while moved < max_sessions:
        sessions = core.gateway.sessions.audit_pending(min(SWEEP_BATCH, max_sessions - moved))
        stored = store(core, sessions)
        emptied = 0
        for session in sessions:
            upto = stored.get(session.id, 0)
            if not upto:
                continue
            try:
                consistency.commit(core, session.id, lambda current, upto=upto: _drop(current, upto), first=session)
            except ChatError as exc:  # the rows are stored: the next run drops them from the column
                core.log(f"audit: session {session.id} keeps its moved entries for now ({exc.code})")
                continue
            emptied += 1
        moved += emptied
        if not emptied or len(sessions) < SWEEP_BATCH:  # done, or stuck on the same sessions: the next run
            break
    return moved


def _drop(session: Session, upto: int) -> Change:
    kept = without(session, upto)
    return Change(noop="nothing_to_move") if kept is session else Change(kept)


# --- reading -----------------------------------------------------------------------------------------

def history(core: Core, session: Session, page: HistoryPage, *, shows_rating: bool) -> dict:
    """A session's timeline from seq `page.after` on: its moved rows, then its column's entries (the column always
    holds the newest ones), at most `page.limit`. It opens with the session's creation (seq 0, from the row).
    `shows_rating` False (a rating this caller may not see, `authz.sees_rating`): the rating's entry says only
    `rated`, without its score."""
    held = [entry for entry in pending(session) if entry.seq > page.after]
    first_held = held[0].seq if held else session.audit_seq + 1
    rows: list[Transition] = []
    if page.after + 1 < first_held:  # moved rows come before the column
        rows = [row for row in core.gateway.audit.of_session(session.id, page.after, page.limit + 1)
                if row.seq < first_held]
    entries = [*rows, *held][:page.limit + 1]
    items = [transition_view(entry if shows_rating else _unrated(entry)) for entry in entries[:page.limit]]
    if page.after == 0:
        items.insert(0, {"seq": 0, "at": iso(session.created_at), "actor": "visitor", "action": "open", "from": None,
                         "to": "active", "why": None, "agent": None, "sessionId": session.id})
    more = len(entries) > page.limit
    return {"history": items, "nextCursor": str(entries[page.limit - 1].seq) if more else None}


def _unrated(entry: Transition) -> Transition:
    """A rating's entry without its score (`rated:<score>`, `<score>/5 ...`)."""
    return replace(entry, to_state="rated", why=None) if entry.action == "rate" else entry


def trail(core: Core, wanted: AuditFilter, page: Page) -> dict:
    rows, next_cursor = core.gateway.audit.page(wanted, page.limit, page.cursor)
    return {"audit": [transition_view(row) for row in rows], "nextCursor": next_cursor}


def transition_view(entry: Transition) -> dict:
    return {"seq": entry.seq, "at": iso(entry.at), "actor": entry.actor, "action": entry.action,
            "from": entry.from_state, "to": entry.to_state, "why": entry.why, "agent": entry.agent,
            "sessionId": entry.session_id}
