"""Plain data the rules work on. The gateway turns Appwrite rows into these and back."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

ACTIVE, AGENT_ASSIGNED, CLOSED = "active", "agent_assigned", "closed"
STATUSES = (ACTIVE, AGENT_ASSIGNED, CLOSED)
ROLES = ("user", "bot", "agent", "system")


@dataclass(frozen=True)
class Session:
    id: str
    status: str
    last_seen: datetime
    created_at: datetime
    updated_at: str  # Appwrite's raw $updatedAt: the precondition of a conditional write
    token_hash: str
    needs_human: bool = False
    assigned_agent: str | None = None
    user_meta: str = "{}"
    theme: str = "{}"
    message_count: int = 0
    escalated_at: datetime | None = None
    escalation_reason: str | None = None
    escalated_by: str | None = None
    assigned_at: datetime | None = None
    closed_at: datetime | None = None
    close_reason: str | None = None
    owner_id: str | None = None
    rate_window_start: datetime | None = None
    rate_window_count: int = 0


@dataclass(frozen=True)
class Message:
    id: str
    session_id: str
    role: str
    text: str
    created_at: datetime
    handoff: bool = False
    author_id: str | None = None
    client_message_id: str | None = None


@dataclass(frozen=True)
class Increment:
    """An atomic `column += by` applied by Appwrite, so concurrent writers never lose a count."""

    by: int | float = 1


@dataclass(frozen=True)
class CounterMove:
    """Deltas for one row of the `counters` table (see rules.summarize for what they mean)."""

    agent_id: str | None  # None: the global row
    deltas: dict[str, int | float]


@dataclass(frozen=True)
class Change:
    """What a transition writes: session columns, then counter moves. `noop` explains a change that isn't."""

    updates: dict[str, Any] = field(default_factory=dict)
    counters: tuple[CounterMove, ...] = ()
    noop: str | None = None


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds")


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
