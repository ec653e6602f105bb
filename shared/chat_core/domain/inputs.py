"""The inputs the operations take, as typed values: what the edge (`edge.validation`) parses a body or a query
string into. Plain data, no parsing here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class NewSession:
    user_meta: str
    theme: str


@dataclass(frozen=True)
class NewMessage:
    role: str
    text: str
    client_id: str | None
    handoff: bool
    # Admitted only while no agent has the session (`rules.admit`): the reference bot's replies, decided on a read
    # that an agent's claim may overtake before the admitting write.
    only_while_active: bool = False


@dataclass(frozen=True)
class SessionRequest:
    """A request about one session: its ID, the widget's token if sent in the body, and the action's fields."""

    session_id: str
    token: str | None
    reason: str | None = None
    message: NewMessage | None = None
    agent_id: str | None = None
    rating: Rating | None = None


@dataclass(frozen=True)
class Rating:
    score: int
    comment: str | None


@dataclass(frozen=True)
class HistoryPage:
    limit: int
    after: int  # the seq of the last entry already shown (0: from the start)


@dataclass(frozen=True)
class AuditFilter:
    agent: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    oldest_first: bool = True


@dataclass(frozen=True)
class Page:
    limit: int
    cursor: str | None


@dataclass(frozen=True)
class SessionFilter:
    statuses: tuple[str, ...] = ()
    needs_human: bool | None = None
    assigned_agent: str | None = None
    idle_for: timedelta | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    oldest_first: bool = False
    sort_by: str = "lastSeen"
    with_summary: bool = True
    ratings: tuple[int, ...] = ()  # the history's search: sessions the visitor rated so
    words: tuple[str, ...] = ()  # the history's search by visitor and text (domain.search.query_words)


@dataclass(frozen=True)
class ExportRequest:
    fmt: str
    page: Page
    session_id: str | None = None  # the visitor's route names the session in the query


@dataclass(frozen=True)
class AvailabilityChange:
    """POST assign-agent /availability: what the agent chose (None: only the heartbeat), and whose (None: the
    caller's own)."""

    availability: str | None = None
    agent_id: str | None = None


@dataclass(frozen=True)
class CapacityChange:
    agent_id: str
    capacity: int | None  # None: the project's AGENT_CAPACITY


@dataclass(frozen=True)
class Assignment:
    """POST assign-agent /claim, /assign, /transfer, /unassign: the session, the agent it goes to (claim: the
    caller unless named) and an admin's `overCapacity` override."""

    session_id: str
    agent_id: str | None = None
    over_capacity: bool = False
