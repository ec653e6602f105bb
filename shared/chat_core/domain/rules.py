"""The session lifecycle, the message rules and the summary's arithmetic (authorization: `authz`): pure functions,
the clock passed in. A rule takes the session as read and returns the session as it must become (a `Change`);
`consistency` writes it only if nobody wrote in between, and the gateway encodes it.

Lifecycle:  active --escalate--> active+needsHuman --claim/assign--> agent_assigned
            agent_assigned --transfer--> agent_assigned (other agent)
            agent_assigned --unassign--> active+needsHuman (back to the queue)
            any open state --close--> closed (final)

Counters: each session adds a `contribution` to the `counters` rows (one global row, one row per agent), a function
of its `Tally` alone. `summarize` turns the sums into the summary. How the sums follow the sessions exactly, under
concurrency and crashes, is `consistency`'s job (the fold).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import replace
from datetime import datetime, timedelta
from typing import NamedTuple

from chat_core.domain import search
from chat_core.domain.model import ACTIVE, AGENT_ASSIGNED, CLOSED, Change, Session, Tally
from chat_core.errors import BadRequest, Conflict, TooManyRequests

RATE_WINDOW = timedelta(minutes=1)
COUNTER_COLUMNS = ("total", "waiting", "closed", "assigned", "assignments", "waitedSeconds", "ratings",
                   "ratingSum")
REQUEUED = "returned to the queue"
EMPTY = "empty"  # the close reason of a session the sweep found empty: it counts nowhere, and is deleted
IDLE = "idle"  # the close reason of a session the sweep closed because its visitor went quiet
SYSTEM_CLOSE_REASONS = (EMPTY, IDLE)  # written by the sweep only: a caller's reason never takes one of these
REASON_MAX = 500
BOT_HANDED_OFF = "bot handed off"  # the escalation reason of a bot's hand-off

Totals = dict[str | None, dict[str, int]]  # counter sums by row: None is the global row, else an agent's


# --- transitions --------------------------------------------------------------------------------

def _require_open(session: Session) -> None:
    if session.status == CLOSED:
        raise Conflict("session is closed", code="session_closed")


def escalate(session: Session, reason: str, by: str, now: datetime) -> Change:
    _require_open(session)
    if session.status == AGENT_ASSIGNED:
        return Change(noop="agent_assigned")
    if session.needs_human:
        return Change(noop="already_escalated")
    return Change(replace(session, needs_human=True, escalated_at=now, escalation_reason=reason, escalated_by=by))


def assign(session: Session, agent_id: str, now: datetime) -> Change:
    """Claim (an agent for itself) or assign (an admin): only from the queue; a held session is a conflict."""
    _require_open(session)
    if session.status == AGENT_ASSIGNED:
        if session.assigned_agent == agent_id:
            return Change(noop="already_yours")
        raise Conflict(f"session is already assigned to {session.assigned_agent}", code="already_assigned",
                       assignedAgent=session.assigned_agent)
    waited = max(0, int((now - (session.escalated_at or session.created_at)).total_seconds()))
    return Change(replace(session, status=AGENT_ASSIGNED, assigned_agent=agent_id, assigned_at=now,
                          needs_human=False, assignments=session.assignments + 1,
                          waited_seconds=session.waited_seconds + waited))


def _require_assigned(session: Session) -> None:
    _require_open(session)
    if session.status != AGENT_ASSIGNED:
        raise Conflict("session is not assigned to an agent", code="not_assigned")


def transfer(session: Session, to_agent: str, now: datetime) -> Change:
    _require_assigned(session)
    if session.assigned_agent == to_agent:
        return Change(noop="already_assigned_to_agent")
    return Change(replace(session, assigned_agent=to_agent, assigned_at=now))


def unassign(session: Session, by: str, now: datetime) -> Change:
    """Back to the queue, escalated anew by whoever returned it; the reason keeps why the visitor first asked."""
    _require_assigned(session)
    return Change(replace(session, status=ACTIVE, assigned_agent=None, assigned_at=None, needs_human=True,
                          escalated_at=now, escalated_by=by,
                          escalation_reason=requeue_reason(session.escalation_reason, by)))


def requeue_reason(reason: str | None, by: str) -> str:
    """`returned to the queue by agent:x; first: <why it was escalated>`. The first reason is kept through any
    number of returns (not nested), cut to the column's size."""
    first = reason
    if reason and reason.startswith(REQUEUED) and "; first: " in reason:
        first = reason.split("; first: ", 1)[1]
    text = f"{REQUEUED} by {by}" + (f"; first: {first}" if first else "")
    return text[:REASON_MAX]


def close(session: Session, reason: str, now: datetime) -> Change:
    """A caller's close (the visitor, its agent, an admin), with their reason; the sweep's own are `close_idle`
    and `discard_empty`. A reason that reads as one of the sweep's markers is refused (`callers_close_reason`)."""
    return _close(session, callers_close_reason(reason), now)


def close_idle(session: Session, now: datetime) -> Change:
    """The sweep's idle close (the caller checked that the visitor is idle)."""
    return _close(session, IDLE, now)


def _close(session: Session, reason: str, now: datetime) -> Change:
    if session.status == CLOSED:
        return Change(noop="already_closed")
    return Change(replace(session, status=CLOSED, closed_at=now, close_reason=reason, needs_human=False))


def callers_close_reason(reason: str) -> str:
    """A caller's close reason, refused (400 reserved_reason) if it reads as one of the sweep's markers in any
    spelling a reader would take for them (case, width, surrounding spaces)."""
    if unicodedata.normalize("NFKC", reason).strip().casefold() in SYSTEM_CLOSE_REASONS:
        raise BadRequest(f"'{reason.strip()}' is a close reason only the sweep gives; say it another way",
                         code="reserved_reason")
    return reason


def heartbeat(session: Session, now: datetime) -> Change:
    """The visitor is still there: only lastSeen moves (idle = visitor idle)."""
    _require_open(session)
    return Change(replace(session, last_seen=now))


# --- messages -----------------------------------------------------------------------------------

class Admission(NamedTuple):
    """What admitting one message did to its session, so that it can be taken back exactly (`unadmit`)."""

    row_id: str
    window_start: datetime | None  # the flood window it was counted in (visitor messages only)
    escalated: bool
    first: bool = False  # it set the session's first words
    search_added: str = ""  # what it appended to the session's searchText (domain.search)


FIRST_WORDS = 160  # characters of the visitor's first message kept on the session (the queue's preview)


def first_words(text: str) -> str:
    """The first message as one line, cut to FIRST_WORDS characters."""
    line = " ".join(text.split())
    return line if len(line) <= FIRST_WORDS else line[: FIRST_WORDS - 1].rstrip() + "\u2026"


def admit(session: Session, row_id: str, now: datetime, *, by_owner: bool, limit: int,
          escalation: str | None, text: str = "", only_while_active: bool = False) -> tuple[Change, Admission]:
    """A message joins the session: counted, within the visitor's flood window, escalating when `escalation` (a
    reason from `escalation_reason`) says so and the session is not already waiting or assigned. Decided on the
    session as read and written only if it is still so, this is where a closed session, a transferred agent or a
    full window refuses a message, and, `only_while_active`, a session an agent has (the reference bot's reply)."""
    _require_open(session)
    if only_while_active and session.status != ACTIVE:
        raise Conflict("an agent has the session", code="already_assigned")
    after = replace(session, message_count=session.message_count + 1)
    window_start = None
    if by_owner:  # only the visitor's own activity moves lastSeen and fills the window
        window_start, count = _rate_window(session, now, limit)
        after = replace(after, last_seen=now, rate_window_start=window_start, rate_window_count=count)
    first = by_owner and not session.first_words and bool(text.strip())
    if first:
        after = replace(after, first_words=first_words(text))
    searched = search.with_message(session.search_text, text)
    after = replace(after, search_text=searched)
    escalated = escalation is not None and session.status == ACTIVE and not session.needs_human
    if escalated:
        after = replace(after, needs_human=True, escalated_at=now, escalation_reason=escalation,
                        escalated_by=f"message:{row_id}")
    return Change(after), Admission(row_id, window_start, escalated, first, searched[len(session.search_text):])


def unadmit(session: Session, admission: Admission) -> Change:
    """Take back an admission whose message was never stored (or was stored by another attempt already)."""
    after = replace(session, message_count=max(0, session.message_count - 1))
    if admission.window_start is not None and session.rate_window_start == admission.window_start:
        after = replace(after, rate_window_count=max(0, session.rate_window_count - 1))
    if admission.first:
        after = replace(after, first_words=None)
    after = replace(after, search_text=search.without_message(session.search_text, admission.search_added))
    if (admission.escalated and session.status == ACTIVE and session.needs_human
            and session.escalated_by == f"message:{admission.row_id}"):
        # Only an escalation nobody acted on since: the session was (active, not waiting) before, which happens
        # only before its first escalation, so there is no earlier escalation to restore.
        after = replace(after, needs_human=False, escalated_at=None, escalation_reason=None, escalated_by=None)
    return Change(after)


def _rate_window(session: Session, now: datetime, limit: int) -> tuple[datetime, int]:
    start = session.rate_window_start
    if start is None or now - start >= RATE_WINDOW:
        return now, 1
    if session.rate_window_count >= limit:
        retry = int((start + RATE_WINDOW - now).total_seconds()) + 1
        raise TooManyRequests(f"at most {limit} messages per minute", retryAfterSeconds=retry)
    return start, session.rate_window_count + 1


def idle_cutoff(now: datetime, idle_minutes: int) -> datetime:
    return now - timedelta(minutes=idle_minutes)


def escalation_reason(role: str, text: str, handoff: bool, phrases: tuple[str, ...]) -> str | None:
    """Why a new message should escalate its session, or None. Phrases match whole words, any case."""
    if role == "bot" and handoff:
        return BOT_HANDED_OFF
    if role != "user":
        return None
    lowered = text.lower()
    for phrase in phrases:
        if re.search(rf"(?<!\w){re.escape(phrase)}(?!\w)", lowered):
            return f"visitor asked for a person ('{phrase}')"
    return None


# --- counters and the summary -------------------------------------------------------------------

def discard_empty(session: Session, now: datetime, idle_since: datetime) -> Change:
    """A session nobody used (no message, never escalated, its visitor idle since before `idle_since`) is closed
    as `empty`: from then on it counts nowhere (`tally`), and once the counters agree it is deleted."""
    if (session.status != ACTIVE or session.message_count or session.needs_human or session.escalated_at
            or session.last_seen >= idle_since):
        return Change(noop="not_empty")
    return Change(replace(session, status=CLOSED, closed_at=now, close_reason=EMPTY))


def tally(session: Session) -> Tally | None:
    if session.status == CLOSED and session.close_reason == EMPTY:
        return None
    return Tally(session.status, session.needs_human and session.status == ACTIVE, session.assigned_agent,
                 session.assignments, session.waited_seconds, session.rating_score or 0)


def contribution(counted: Tally | None) -> Totals:
    """What one session adds to each counter row. The global row: every session, the waiting and the closed ones,
    the assignment history, the ratings; an agent's row: the sessions it holds now, and the ratings of those it held
    when they closed."""
    if counted is None:
        return {}
    waiting = int(counted.status == ACTIVE and counted.needs_human)
    rows: Totals = {None: {"total": 1, "waiting": waiting, "closed": int(counted.status == CLOSED),
                           "assignments": counted.assignments, "waitedSeconds": counted.waited_seconds}}
    if counted.status == AGENT_ASSIGNED and counted.agent:
        rows[counted.agent] = {"assigned": 1}
    if counted.rating:  # only a closed session is rated; it keeps the agent who held it at close
        rows[None].update(ratings=1, ratingSum=counted.rating)
        if counted.agent:
            rows[counted.agent] = {"ratings": 1, "ratingSum": counted.rating}
    return rows


def add(totals: Totals, more: Totals, sign: int = 1) -> Totals:
    """totals += sign * more, in place; returns totals."""
    for row, values in more.items():
        into = totals.setdefault(row, {})
        for name, value in values.items():
            into[name] = into.get(name, 0) + sign * value
    return totals


def difference(new: Tally | None, old: Tally | None) -> Totals:
    return add(add({}, contribution(new)), contribution(old), -1)


def summarize(totals: Totals) -> dict:
    """The summary from counter sums (see `contribution`)."""
    glob = totals.get(None, {})
    workload = {agent: values.get("assigned", 0) for agent, values in totals.items() if agent is not None}
    assigned = sum(workload.values())
    total, closed = glob.get("total", 0), glob.get("closed", 0)
    assignments = glob.get("assignments", 0)
    return {
        "total": total,
        "byStatus": {ACTIVE: total - assigned - closed, AGENT_ASSIGNED: assigned, CLOSED: closed},
        "needsHuman": glob.get("waiting", 0),
        "agents": {agent: load for agent, load in sorted(workload.items()) if load},
        "averageSecondsToAssignment": (round(glob.get("waitedSeconds", 0) / assignments, 1)
                                       if assignments else None),
        "assignments": assignments,
        "ratings": {**_rated(glob), "byAgent": {agent: _rated(totals[agent]) for agent in sorted(
            key for key, values in totals.items() if key is not None and values.get("ratings", 0))}},
    }


def _rated(values: dict[str, int]) -> dict:
    """`count` ratings and their `average` score (2 decimals; None without ratings), from exact integer sums."""
    count = values.get("ratings", 0)
    return {"count": count, "average": round(values.get("ratingSum", 0) / count, 2) if count else None}


def truth(sessions: list[Session]) -> Totals:
    """The counter sums the sessions as they stand call for: what every fold converges to."""
    totals: Totals = {}
    for session in sessions:
        add(totals, contribution(tally(session)))
    return totals
