"""Plain data the rules work on. The gateway turns Appwrite rows into these and back.

Frozen dataclasses, copied with `dataclasses.replace`; the two records nobody copies (`Tally`, `CounterRow`) are
NamedTuples, a tenth of the cost to create when every function imports this module (issue 20, item 6)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Generic, NamedTuple, TypeVar

ACTIVE, AGENT_ASSIGNED, CLOSED = "active", "agent_assigned", "closed"
STATUSES = (ACTIVE, AGENT_ASSIGNED, CLOSED)
ROLES = ("user", "bot", "agent", "system")
# A row ID as Appwrite takes it: 1 to 36 of letters, digits, '.', '-', '_', not starting with a special character.
# \Z, never $ ($ also matches before a trailing "\n"); used with fullmatch.
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,35}\Z")
CLIENT_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}\Z")  # a message's idempotency key, chosen by its client
REPLY_PREFIX = "re-"


def reply_key(message_id: str) -> str:
    """The bot's reply's idempotency key (`message.id`) for the message it answers: one per triggering message, so a
    redelivered event, a retried reply or a retried visitor message whose reply the FAQ bot decided finds one row."""
    key = REPLY_PREFIX + message_id
    if CLIENT_ID_PATTERN.fullmatch(key):
        return key
    import hashlib  # only for a row ID a client ID cannot spell (not on the import path)

    return REPLY_PREFIX + hashlib.sha256(message_id.encode()).hexdigest()[:40]
TEXT_MAX = 4000  # characters of a message


@dataclass(frozen=True)
class Session:
    """One chat, as its `sessions` row holds it (the gateway reads and writes the whole row)."""

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
    assignments: int = 0  # how often it was assigned, and the seconds it waited before those: the summary's average
    waited_seconds: int = 0
    # How its agent got it (chat_core.assignment): "auto", "claim", "admin" or "transfer"; over capacity by an
    # admin's override.
    assigned_by: str | None = None
    over_capacity: bool = False
    # The visitor's rating, once the session closed (chat_core.ratings).
    rating_score: int | None = None
    rating_comment: str | None = None
    rated_at: datetime | None = None
    # The visitor's first words (their first message, cut to FIRST_WORDS characters): the queue's and the alerts'
    # preview, stored by the write that admits that message, at no request of its own.
    first_words: str | None = None
    # The visitor's place in the queue as last computed (ops/queueing.py): kept on the row so polls read no count.
    queue: Queue | None = None
    # The history's search (domain.search): the visitor's name and e-mail and the messages' text, lower-cased.
    search_text: str = ""
    # What the consistency layer keeps on the same row (ops.consistency, ops.counters, ops.audit): no rule reads it.
    ledger: Ledger = field(default_factory=lambda: Ledger())


@dataclass(frozen=True)
class Message:
    """One message of a session, as its `messages` row holds it."""

    id: str
    session_id: str
    role: str
    text: str
    created_at: datetime
    handoff: bool = False
    author_id: str | None = None
    client_message_id: str | None = None
    admission: str | None = None  # the nonce of the session write that admitted it
    # A visitor's message the FAQ bot decided on in the write that admitted it (its reply, if any, stored with it):
    # the `bot` function's event ends on it without a request (docs/security.md).
    bot_decided: bool = False


class Tally(NamedTuple):
    """What one session adds to the summary's counters (see rules.contribution)."""

    status: str
    needs_human: bool
    agent: str | None
    assignments: int
    waited_seconds: int
    rating: int = 0  # the visitor's score, 0 while unrated


@dataclass(frozen=True)
class Ledger:
    """The bookkeeping a session row carries beside the session, written by the same conditional write:
    - the write log (ops.consistency): the nonces of the last writes, which tell a write whose answer was lost;
    - the counters' ledger (ops.counters): what the counters hold for this session (`counted`), and the fold that
      moved it there last (`fold_from`, `fold_batch`); `dirty` when its tally differs from `counted`;
    - the audit buffer (ops.audit): the transitions not moved to the `audit` table yet, in their compact form, how
      many were ever recorded, and whether any wait to be moved."""

    write_log: tuple[str, ...] = ()
    counted: Tally | None = None  # None: nothing counted yet
    fold_from: Tally | None = None
    fold_batch: int = 0
    dirty: bool = False
    transitions: str = ""
    audit_seq: int = 0
    audit_pending: bool = False


@dataclass(frozen=True)
class Transition:
    """One entry of a session's audit trail: who moved it from one state to another, when and why."""

    session_id: str
    seq: int  # 1, 2, 3... per session: with the session ID, the entry's identity
    at: datetime
    actor: str  # visitor | bot | agent:<id> | admin | system
    action: str  # escalate, claim, assign, auto_assign, transfer, unassign, close, idle_close, empty_close, rate...
    from_state: str  # active | waiting | assigned:<agent> | closed
    to_state: str
    why: str | None = None
    agent: str | None = None  # the agent it concerns (see audit.concerned_agent): what GET /audit?agent= filters on


N = TypeVar("N")


@dataclass(frozen=True)
class Change(Generic[N]):
    """A decision about a session: the session as it must become (`after`), or `noop` saying why nothing changes.
    `note`: what else the decision found, typed by whoever decides (`Change[Admitted]` for a message's admission),
    for the operation that asked; `nonce`: set by ops.consistency.commit, the write that carried it."""

    after: Session | None = None
    noop: str | None = None
    note: N | None = None
    nonce: str | None = None


class CounterRow(NamedTuple):
    """One row of the `counters` table: a row per agent and one global row (agent_id None)."""

    agent_id: str | None
    values: dict[str, int]
    batch: int = 0  # the last fold whose sums it holds
    updated_at: str | None = None  # None: the row does not exist yet


AVAILABLE, AWAY, OFFLINE = "available", "away", "offline"
AVAILABILITIES = (AVAILABLE, AWAY, OFFLINE)


@dataclass(frozen=True)
class Agent:
    """One row of the `agents` table (chat_core.availability): what the agent chose, their capacity (None: the
    project's default), the slots they hold (`load`, moved only by bounded atomic increments and decrements)."""

    agent_id: str
    availability: str = OFFLINE
    capacity: int | None = None
    load: int = 0
    heartbeat_at: datetime | None = None  # from the agent's presence row
    last_assigned_at: datetime | None = None
    updated_at: str | None = None  # the slots row's $updatedAt (None: no row yet): when a slot last moved


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


@dataclass(frozen=True)
class Queue:
    """What a waiting visitor is told (see `ops/queueing.py` for how it is counted, `domain/queue.py` the estimate)."""

    position: int  # sessions ahead, in the queue's order; 0: next
    waiting: int  # every session waiting now
    available_agents: int
    expected_wait_seconds: int | None  # None: nobody available, or no recent rate to go on
    # When these figures were counted: kept on the session, when computed (their staleness: ops/queueing.py); told
    # (`asOf`), the time of the read their place came from (the queue's line's, or the kept figures').
    as_of: datetime | None = None
