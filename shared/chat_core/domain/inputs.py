"""The inputs the operations take, as typed values: what the edge (`edge.validation`) parses a body or a query
string into. Plain data, no parsing here.

Immutable records as `NamedTuple`s rather than frozen dataclasses: every function's import creates these classes,
and a NamedTuple class costs about a tenth of a frozen dataclass's (issue 20, item 6: about 3 ms less per cold
import, `python -m bench.importtime`). None of them is copied with `dataclasses.replace`; they compare as tuples.
No `from __future__ import annotations` here: NamedTuple would compile each annotation's string into a ForwardRef,
a third of the cost; so a record names only those defined above it."""

from datetime import datetime, timedelta
from typing import NamedTuple


class NewSession(NamedTuple):
    user_meta: str
    theme: str


class NewMessage(NamedTuple):
    role: str
    text: str
    client_id: str | None
    handoff: bool
    # Admitted only while no agent has the session (`rules.admit`): the reference bot's replies, decided on a read
    # that an agent's claim may overtake before the admitting write.
    only_while_active: bool = False


class Rating(NamedTuple):
    score: int
    comment: str | None


class SessionRequest(NamedTuple):
    """A request about one session: its ID, the widget's token if sent in the body, and the action's fields."""

    session_id: str
    token: str | None
    reason: str | None = None
    message: NewMessage | None = None
    agent_id: str | None = None
    rating: Rating | None = None


class HistoryPage(NamedTuple):
    limit: int
    after: int  # the seq of the last entry already shown (0: from the start)


class AuditFilter(NamedTuple):
    agent: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    oldest_first: bool = True


class Page(NamedTuple):
    limit: int
    cursor: str | None


class SessionFilter(NamedTuple):
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


class ExportRequest(NamedTuple):
    fmt: str
    page: Page
    session_id: str | None = None  # the visitor's route names the session in the query


class AvailabilityChange(NamedTuple):
    """POST assign-agent /availability: what the agent chose (None: only the heartbeat), and whose (None: the
    caller's own)."""

    availability: str | None = None
    agent_id: str | None = None


class CapacityChange(NamedTuple):
    agent_id: str
    capacity: int | None  # None: the project's AGENT_CAPACITY


class Assignment(NamedTuple):
    """POST assign-agent /claim, /assign, /transfer, /unassign: the session, the agent it goes to (claim: the
    caller unless named) and an admin's `overCapacity` override."""

    session_id: str
    agent_id: str | None = None
    over_capacity: bool = False
