"""The session lifecycle and escalation rules (authorization: `authz`): pure functions, the clock passed in.

Lifecycle:  active --escalate--> active+needsHuman --claim/assign--> agent_assigned
            agent_assigned --transfer--> agent_assigned (other agent)
            agent_assigned --unassign--> active+needsHuman (back to the queue)
            any open state --close--> closed (final)

Counters: every transition moves monotonic counters in exactly one row of the `counters`
table where it can (the global row, or the row of the agent concerned), so a transition
costs one counter write. `summarize` derives the gauges (sessions by status, waiting for a
human, workload per agent) from the sums; they stay exact past Appwrite's 5,000 list-count cap.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from .errors import Conflict, TooManyRequests
from .model import (
    ACTIVE,
    AGENT_ASSIGNED,
    CLOSED,
    Change,
    CounterMove,
    Increment,
    Message,
    Session,
    iso,
)

RATE_WINDOW = timedelta(minutes=1)
COUNTER_COLUMNS = ("created", "escalated", "closedWaiting", "closed", "assigned", "released",
                   "requeued", "cleared", "assignCount", "assignSeconds")


# --- transitions --------------------------------------------------------------------------------

def created() -> tuple[CounterMove, ...]:
    return (CounterMove(None, {"created": 1}),)


def _require_open(session: Session) -> None:
    if session.status == CLOSED:
        raise Conflict("session is closed", code="session_closed")


def escalate(session: Session, reason: str, by: str, now: datetime) -> Change:
    _require_open(session)
    if session.status == AGENT_ASSIGNED:
        return Change(noop="agent_assigned")
    if session.needs_human:
        return Change(noop="already_escalated")
    return Change(
        updates={"needsHuman": True, "escalatedAt": iso(now), "escalationReason": reason, "escalatedBy": by},
        counters=(CounterMove(None, {"escalated": 1}),),
    )


def assign(session: Session, agent_id: str, now: datetime) -> Change:
    """Claim (an agent for itself) or assign (an admin): only from the queue; a held session is a conflict."""
    _require_open(session)
    if session.status == AGENT_ASSIGNED:
        if session.assigned_agent == agent_id:
            return Change(noop="already_yours")
        raise Conflict(f"session is already assigned to {session.assigned_agent}", code="already_assigned",
                       assignedAgent=session.assigned_agent)
    waited_since = session.escalated_at or session.created_at
    waited = max(0, int((now - waited_since).total_seconds()))
    return Change(
        updates={"status": AGENT_ASSIGNED, "assignedAgent": agent_id, "assignedAt": iso(now), "needsHuman": False},
        counters=(CounterMove(agent_id, {"assigned": 1, "assignCount": 1, "assignSeconds": waited,
                                         "cleared": int(session.needs_human)}),),
    )


def _require_assigned(session: Session) -> None:
    _require_open(session)
    if session.status != AGENT_ASSIGNED:
        raise Conflict("session is not assigned to an agent", code="not_assigned")


def transfer(session: Session, to_agent: str, now: datetime) -> Change:
    _require_assigned(session)
    if session.assigned_agent == to_agent:
        return Change(noop="already_assigned_to_agent")
    return Change(
        updates={"assignedAgent": to_agent, "assignedAt": iso(now)},
        counters=(CounterMove(session.assigned_agent, {"released": 1}), CounterMove(to_agent, {"assigned": 1})),
    )


def unassign(session: Session, now: datetime) -> Change:
    _require_assigned(session)
    return Change(
        updates={"status": ACTIVE, "assignedAgent": None, "assignedAt": None, "needsHuman": True,
                 "escalatedAt": iso(now), "escalationReason": "returned to the queue"},
        counters=(CounterMove(session.assigned_agent, {"released": 1, "requeued": 1}),),
    )


def close(session: Session, reason: str, now: datetime) -> Change:
    if session.status == CLOSED:
        return Change(noop="already_closed")
    updates = {"status": CLOSED, "closedAt": iso(now), "closeReason": reason, "needsHuman": False}
    if session.status == AGENT_ASSIGNED:
        move = CounterMove(session.assigned_agent, {"released": 1, "closed": 1})
    else:
        move = CounterMove(None, {"closed": 1, "closedWaiting": int(session.needs_human)})
    return Change(updates=updates, counters=(move,))


def touch(session: Session, now: datetime, *, with_message: bool, by_owner: bool, limit: int) -> dict:
    """Session columns a touch writes. Only the visitor's own activity moves lastSeen (idle = visitor idle)."""
    _require_open(session)
    updates: dict = {"lastSeen": iso(now)} if by_owner else {}
    if with_message:
        updates["messageCount"] = Increment(1)
        updates.update(_rate_window(session, now, limit) if by_owner else {})
    return updates


def _rate_window(session: Session, now: datetime, limit: int) -> dict:
    start = session.rate_window_start
    if start is None or now - start >= RATE_WINDOW:
        return {"rateWindowStart": iso(now), "rateWindowCount": 1}
    if session.rate_window_count >= limit:
        retry = int((start + RATE_WINDOW - now).total_seconds()) + 1
        raise TooManyRequests(f"at most {limit} messages per minute", retryAfterSeconds=retry)
    return {"rateWindowCount": Increment(1)}


def idle_cutoff(now: datetime, idle_minutes: int) -> datetime:
    return now - timedelta(minutes=idle_minutes)


# --- escalation rules ---------------------------------------------------------------------------

def escalation_reason(message: Message, phrases: tuple[str, ...]) -> str | None:
    """Why a new message should escalate its session, or None. Phrases match whole words, any case."""
    if message.role == "bot" and message.handoff:
        return "bot handed off"
    if message.role != "user":
        return None
    text = message.text.lower()
    for phrase in phrases:
        if re.search(rf"(?<!\w){re.escape(phrase)}(?!\w)", text):
            return f"visitor asked for a person ('{phrase}')"
    return None


# --- summary ------------------------------------------------------------------------------------

def summarize(counter_rows: list[dict]) -> dict:
    """Gauges from the monotonic counters (one global row, one row per agent)."""
    total = {name: sum(row.get(name) or 0 for row in counter_rows) for name in COUNTER_COLUMNS}
    assigned_now = total["assigned"] - total["released"]
    closed = total["closed"]
    workload = {row["agentId"]: (row.get("assigned") or 0) - (row.get("released") or 0)
                for row in counter_rows if row.get("agentId")}
    return {
        "total": total["created"],
        "byStatus": {ACTIVE: total["created"] - assigned_now - closed, AGENT_ASSIGNED: assigned_now, CLOSED: closed},
        "needsHuman": total["escalated"] + total["requeued"] - total["cleared"] - total["closedWaiting"],
        "agents": {agent: load for agent, load in sorted(workload.items()) if load},
        "averageSecondsToAssignment": (round(total["assignSeconds"] / total["assignCount"], 1)
                                       if total["assignCount"] else None),
        "assignments": total["assignCount"],
    }


def recount(sessions: list[Session]) -> dict[str | None, dict[str, int]]:
    """Counter values that make `summarize` agree with the given sessions (the repair for a lost counter write).

    Returns absolute values per counter row. assignCount/assignSeconds are history and are left as they are.
    """
    rows: dict[str | None, dict[str, int]] = {None: dict.fromkeys(COUNTER_COLUMNS[:4], 0)}
    rows[None]["created"] = len(sessions)
    for session in sessions:
        agent = session.assigned_agent
        row = rows.setdefault(agent, {"assigned": 0, "released": 0, "closed": 0, "requeued": 0, "cleared": 0}) \
            if agent else rows[None]
        if session.status == AGENT_ASSIGNED:
            row["assigned"] += 1
        elif session.status == CLOSED:
            row["closed"] += 1
            if agent:
                row["assigned"] += 1
                row["released"] += 1
        elif session.needs_human:
            row["escalated"] += 1
    return rows

