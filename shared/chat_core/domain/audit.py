"""The audit trail's record: which transitions a session write makes, and their compact form in the session's
`transitions` column. Pure: no request, no clock of its own (the operations in `ops/audit.py` store and read it).

A write from one state (`active`, `waiting`, `assigned:<agent>`, `closed`) to another, or a new rating, is a
transition, recorded by the conditional write that makes it. So escalation, claim, assignment, transfer, unassign,
close, idle close, empty close and rating are recorded with no code of their own, and so will be any transition
added later. The column is a JSON array of `[seq, at, actor, action, from, to, why, agent]`, bounded: see
`ops/audit.py` for how it is moved to the `audit` table before it fills.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime

from chat_core import jsonio
from chat_core.domain.model import AGENT_ASSIGNED, CLOSED, Session, Transition, iso, parse_time
from chat_core.domain.rules import EMPTY, IDLE
from chat_core.errors import UpstreamUnavailable

CAPACITY = 16384  # characters of the `transitions` column (above 16,381 Appwrite stores it off the row, as TEXT)


WHY_MAX = 200  # characters of an entry's reason


ENTRY_MAX = 700  # characters of one encoded entry, at most (`_entry` cuts the reason to fit)


VISITOR_TRANSITIONS = 3  # a visitor escalates, closes and rates a session once each


RESERVE = VISITOR_TRANSITIONS * (ENTRY_MAX + 1)


_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


ASSIGNED = "assigned:"


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
    return [_entry(after, after.ledger.audit_seq + n, now, actor, *item) for n, item in enumerate(found, start=1)]


def _action(was: str, now_state: str, actor: str, after: Session) -> str:
    if now_state == "closed":  # the sweep's markers name its closes; a caller's close is a close, whatever it says
        return {IDLE: "idle_close", EMPTY: "empty_close"}.get(after.close_reason or "", "close") \
            if actor == "system" else "close"
    if now_state == "waiting":
        return "unassign" if was.startswith(ASSIGNED) else "escalate"
    if now_state.startswith(ASSIGNED):
        if was.startswith(ASSIGNED):
            return "transfer"
        # How the write says it assigned (`assignedBy`) names it, whoever's request ran it: an auto-assignment
        # run inside an agent's own request (going available) is not that agent's claim.
        by = {"auto": "auto_assign", "claim": "claim", "admin": "assign"}.get(after.assigned_by or "")
        if by:
            return by
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


def _encode_one(t: Transition) -> str:
    return jsonio.dumps([t.seq, iso(t.at), t.actor, t.action, t.from_state, t.to_state, t.why, t.agent],
                        ensure_ascii=False)


def encode(entries: list[Transition]) -> str:
    return "[" + ",".join(map(_encode_one, entries)) + "]" if entries else ""


def pending(session: Session) -> list[Transition]:
    """The entries the session's column holds (not moved yet), oldest first."""
    if not session.ledger.transitions:
        return []
    try:
        return [Transition(session.id, int(seq), parse_time(at), actor, action, was, now_state, why, agent)
                for seq, at, actor, action, was, now_state, why, agent in jsonio.loads(session.ledger.transitions)]
    except (jsonio.NotStrictJSON, TypeError, ValueError):  # only we write it: a broken one is a failing Appwrite
        raise UpstreamUnavailable("Appwrite returned an unreadable row") from None


def without(session: Session, upto: int) -> Session:
    """The session minus the column entries up to seq `upto` (stored already); the same object if none."""
    if not upto or not session.ledger.transitions:
        return session
    held = pending(session)
    kept = [entry for entry in held if entry.seq > upto]
    if len(kept) == len(held):
        return session
    return replace(session, ledger=replace(session.ledger, transitions=encode(kept), audit_pending=bool(kept)))


def unrated(entry: Transition) -> Transition:
    """A rating's entry without its score (`rated:<score>`, `<score>/5 ...`)."""
    return replace(entry, to_state="rated", why=None) if entry.action == "rate" else entry
