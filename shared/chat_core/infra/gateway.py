"""The only module that talks to Appwrite (TablesDB and Users, through the official SDK).

It turns SDK models into the plain data of `model` and back (the column names, query building and event names live
here and nowhere else), maps `AppwriteException`s to the project's errors, and carries out conditional writes. What
to write, and when, is decided by `rules` and `consistency`.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import itertools
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from appwrite.exception import AppwriteException
from appwrite.query import Query
from appwrite.services.account import Account as AccountService
from appwrite.services.tables_db import TablesDB
from appwrite.services.users import Users

from chat_core.config import Settings
from chat_core.domain import inputs, rules
from chat_core.domain.authz import Account
from chat_core.domain.model import (
    ACTIVE,
    AGENT_ASSIGNED,
    CLOSED,
    ID_PATTERN,
    OFFLINE,
    Agent,
    CounterRow,
    Message,
    Session,
    Tally,
    Transition,
    iso,
    parse_time,
)
from chat_core.domain.rules import EMPTY
from chat_core.errors import BadRequest, ChatError, Unauthorized, UpstreamRejected, UpstreamUnavailable, unknown_cursor
from chat_core.infra import operators
from chat_core.infra.client import AppwriteClient

SESSIONS, MESSAGES, COUNTERS, JOBS, LIMITS, AUDIT = "sessions", "messages", "counters", "jobs", "limits", "audit"
AGENTS = "agents"
QUEUE_TAKEN_BY = ("auto", "claim", "admin")  # assignedBy of an assignment that took a session from the queue
GLOBAL_COUNTER_ROW = "global"
# What a list shows of a session (its ledger columns are the fold's business).
LISTED_COLUMNS = ("status", "lastSeen", "needsHuman", "assignedAgent", "userMeta", "theme", "messageCount",
                  "escalatedAt", "escalationReason", "escalatedBy", "assignedAt", "closedAt", "closeReason", "ownerId",
                  "ratingScore", "ratingComment", "ratedAt")
_SORT_COLUMNS = {"lastSeen": "lastSeen", "escalatedAt": "escalatedAt"}  # list-sessions' `sort`, as columns
PAGE_LIMIT = 1000  # rows per request when a job walks a whole table
COUNTER_PAGE = 100
JWT_CACHE_MAX = 2048  # verified JWTs one warm instance remembers
T = TypeVar("T")


class RowMissing(ChatError):
    status = 404
    code = "not_found"


class RowExists(ChatError):
    status = 409
    code = "already_exists"


@dataclass(frozen=True)
class Lease:
    name: str
    holder: str
    updated_at: str


class StaleWrite(ChatError):
    """A conditional write lost: the row changed after we read it."""

    status = 409
    code = "conflict"


class Spent(ChatError):
    """A bounded increment refused: the budget row is at its maximum (Appwrite 400 column_limit_exceeded)."""

    status = 429
    code = "rate_limited"


_label_cache: dict[str, tuple[float, frozenset[str]]] = {}
_jwt_cache: dict[str, tuple[float, Account]] = {}
_jwt_lock = threading.Lock()


def audit_row_id(session_id: str, seq: int) -> str:
    """One audit row per (session, seq), whoever writes it and however often: a re-run writes nothing twice."""
    return "a_" + hashlib.sha256(f"{session_id}|{seq}".encode()).hexdigest()[:32]


PRESENCE_PREFIX = "p_"


def agent_row_id(agent_id: str) -> str:
    return "a_" + hashlib.sha256(agent_id.encode()).hexdigest()[:32]


def presence_row_id(agent_id: str) -> str:
    return PRESENCE_PREFIX + hashlib.sha256(agent_id.encode()).hexdigest()[:32]


def counter_row_id(agent_id: str | None) -> str:
    if agent_id is None:
        return GLOBAL_COUNTER_ROW
    return "agent_" + hashlib.sha256(agent_id.encode()).hexdigest()[:28]


class Gateway:
    def __init__(self, settings: Settings, key: str) -> None:
        self.settings = settings
        self._key = key
        self.db = settings.database_id
        self._tables = TablesDB(self._client())

    def _client(self, **headers: str) -> AppwriteClient:
        """A client of the SDK that sends through the process's connection pool with the timeout (`client`)."""
        client = AppwriteClient(self.settings.upstream_timeout_seconds)
        client.set_endpoint(self.settings.endpoint).set_project(self.settings.project_id)
        client.set_key(self._key)
        for name, value in headers.items():
            client.add_header(name, value)
        return client

    # --- sessions -------------------------------------------------------------------------------

    def get_session(self, session_id: str) -> Session:
        return _session(self._read(self._tables.get_row, self.db, SESSIONS, session_id))

    def create_session(self, session_id: str, data: dict) -> Session:
        # A new session is not in the counters yet: the next fold adds it (consistency.fold).
        data = {**data, "counted": "", "dirty": True, "writeLog": ""}
        return _session(_call(self._tables.create_row, self.db, SESSIONS, session_id, data))

    def update_session(self, before: Session, after: Session) -> Session:
        """Write `after` only if the row is still as `before` was read (X-Appwrite-Timestamp = its $updatedAt),
        else StaleWrite. The columns that differ are written, and the ledger's (writeLog, counted, dirty) always."""
        data = {column: encode(getattr(after, name)) for name, (column, encode) in _SESSION_COLUMNS.items()
                if getattr(after, name) != getattr(before, name)}
        data.update({"writeLog": " ".join(after.write_log), "counted": _encode_tally(after.counted),
                     "dirty": after.dirty})
        if refused := operators.operator_columns(data):  # validation refuses such text first; never send it
            raise BadRequest(f"{', '.join(refused)} would be applied as an Appwrite operation", code="operator_text")
        tables = TablesDB(self._client(**{"x-appwrite-timestamp": before.updated_at}))
        return _session(_call(tables.update_row, self.db, SESSIONS, before.id, data))

    def delete_session(self, session_id: str) -> None:
        _call(self._tables.delete_row, self.db, SESSIONS, session_id)

    def delete_session_if_unchanged(self, session: Session) -> bool:
        """Delete the row only if nobody wrote it since `session` was read (X-Appwrite-Timestamp, which deleteRow
        honours); False when it changed or is gone."""
        tables = TablesDB(self._client(**{"x-appwrite-timestamp": session.updated_at}))
        try:
            _call(tables.delete_row, self.db, SESSIONS, session.id)
        except (StaleWrite, RowMissing):
            return False
        return True

    def list_sessions(self, queries: list[str]) -> list[Session]:
        rows = self._read(self._tables.list_rows, self.db, SESSIONS, queries, total=False)
        return [_session(row) for row in rows.rows]

    def all_sessions(self) -> Iterator[Session]:
        yield from map(_session, self._walk(SESSIONS, []))

    def dirty_sessions(self, limit: int) -> list[Session]:
        """Sessions whose counters are behind (a fold's work), at most `limit`."""
        return self.list_sessions([Query.equal("dirty", [True]), Query.limit(limit)])

    def session_page(self, wanted: inputs.SessionFilter, now: datetime, limit: int,
                     cursor: str | None) -> tuple[list[Session], str | None]:
        """One page of the sessions list-sessions shows, filtered and sorted as asked."""
        queries = []
        if wanted.statuses:
            queries.append(Query.equal("status", list(wanted.statuses)))
        if wanted.needs_human is not None:
            queries.append(Query.equal("needsHuman", [wanted.needs_human]))
        if wanted.assigned_agent:
            queries.append(Query.equal("assignedAgent", [wanted.assigned_agent]))
        if wanted.idle_for is not None:
            queries.append(Query.less_than_equal("lastSeen", iso(now - wanted.idle_for)))
        if wanted.created_after:
            queries.append(Query.greater_than_equal("$createdAt", iso(wanted.created_after)))
        if wanted.created_before:
            queries.append(Query.less_than("$createdAt", iso(wanted.created_before)))
        queries += [(Query.order_asc if wanted.oldest_first else Query.order_desc)(_SORT_COLUMNS[wanted.sort_by]),
                    Query.select(["$id", "$createdAt", "$updatedAt", *LISTED_COLUMNS])]
        return self.page(SESSIONS, queries, limit, cursor, _session)

    def idle_sessions(self, idle_since: datetime, limit: int) -> list[Session]:
        """Open sessions whose visitor left before `idle_since`, longest idle first."""
        return self._first_sessions([
            Query.equal("status", [ACTIVE, AGENT_ASSIGNED]), Query.less_than("lastSeen", iso(idle_since)),
            Query.order_asc("lastSeen")], limit)

    def empty_sessions(self, idle_since: datetime, limit: int) -> list[Session]:
        """Open sessions that hold nothing and whose visitor left before `idle_since`, longest idle first."""
        return self._first_sessions([
            Query.equal("status", [ACTIVE]), Query.equal("needsHuman", [False]), Query.equal("messageCount", [0]),
            Query.is_null("escalatedAt"), Query.less_than("lastSeen", iso(idle_since)), Query.order_asc("lastSeen")],
            limit)

    def discarded_sessions(self, limit: int) -> list[Session]:
        """Sessions closed as empty whose change the counters already hold (not dirty)."""
        return self._first_sessions([
            Query.equal("status", [CLOSED]), Query.equal("closeReason", [EMPTY]), Query.equal("dirty", [False])],
            limit)

    def _first_sessions(self, queries: list[str], limit: int) -> list[Session]:
        """The first `limit` sessions the queries select, read page by page (never a page more than needed)."""
        return list(map(_session, itertools.islice(self._walk(SESSIONS, queries, page=min(limit, PAGE_LIMIT)),
                                                   limit)))

    def sessions_in_fold(self, batch: int) -> list[Session]:
        return list(map(_session, self._walk(SESSIONS, [Query.equal("foldBatch", [batch])])))

    def pending_sessions(self, batch: int) -> list[Session]:
        """Sessions the counters of fold `batch` do not hold as they stand: dirty ones, and those a later fold
        (still running, or cut short) moved."""
        return list(map(_session, self._walk(SESSIONS, [Query.or_queries([
            Query.equal("dirty", [True]), Query.greater_than("foldBatch", batch)])])))

    # --- messages -------------------------------------------------------------------------------

    def create_message(self, message: Message) -> Message:
        data = {"sessionId": message.session_id, "role": message.role, "text": message.text,
                "handoff": message.handoff, "authorId": message.author_id,
                "clientMessageId": message.client_message_id, "admission": message.admission}
        return _message(_call(self._tables.create_row, self.db, MESSAGES, message.id, data))

    def get_message(self, row_id: str) -> Message:
        return _message(self._read(self._tables.get_row, self.db, MESSAGES, row_id))

    def message_page(self, session_id: str, limit: int, cursor: str | None) -> tuple[list[Message], str | None]:
        """One session's messages, oldest first."""
        return self.page(MESSAGES, [Query.equal("sessionId", [session_id]), Query.order_asc("$createdAt")],
                         limit, cursor, _message)

    def latest_messages(self, session_id: str, limit: int) -> list[Message]:
        """One session's newest messages, newest first."""
        rows = self._read(self._tables.list_rows, self.db, MESSAGES, [
            Query.equal("sessionId", [session_id]), Query.order_desc("$createdAt"), Query.limit(limit)], total=False)
        return [_message(row) for row in rows.rows]

    def message_counts(self) -> dict[str, int]:
        """Stored messages per session ID, from a walk of the whole table (the repair's ground truth)."""
        counts: dict[str, int] = {}
        for row in self._walk(MESSAGES, [Query.select(["$id", "sessionId"])]):
            session_id = row.data.get("sessionId")
            counts[session_id] = counts.get(session_id, 0) + 1
        return counts

    def created_message_id(self, event: str, payload: Any) -> str | None:
        """The row ID a `messages` row-create event of this database names, or None for any other event.
        Appwrite spells it databases.D.collections.T.documents.R.create, databases.D.tables.T.rows.R.create or
        tablesdb.D.tables.T.rows.R.create (docs/platform.md)."""
        parts = event.split(".")
        if len(parts) != 7 or parts[0] not in ("databases", "tablesdb"):
            return None
        if (parts[2], parts[4]) not in (("collections", "documents"), ("tables", "rows")):
            return None
        if (parts[1], parts[3], parts[6]) != (self.db, MESSAGES, "create") or not isinstance(payload, dict):
            return None
        row_id = payload.get("$id")
        return row_id if isinstance(row_id, str) and ID_PATTERN.fullmatch(row_id) else None

    # --- the audit trail (see `audit`) -----------------------------------------------------------

    def pending_audit_sessions(self, limit: int) -> list[Session]:
        """Sessions holding transitions not moved to the `audit` table yet, at most `limit`."""
        return self.list_sessions([Query.equal("auditPending", [True]), Query.limit(limit)])

    def create_audit_row(self, entry: Transition) -> bool:
        """Store one transition under its deterministic ID: True if this call stored it, False if it was already
        there. A create whose answer was lost is tried again: it lands, or meets the row that did."""
        data = {"sessionId": entry.session_id, "seq": entry.seq, "at": iso(entry.at), "actor": entry.actor,
                "action": entry.action, "fromState": entry.from_state, "toState": entry.to_state, "why": entry.why,
                "agentId": entry.agent}
        row_id = audit_row_id(entry.session_id, entry.seq)
        try:
            try:
                _call(self._tables.create_row, self.db, AUDIT, row_id, data)
            except UpstreamUnavailable:
                _call(self._tables.create_row, self.db, AUDIT, row_id, data)
        except RowExists:
            return False
        return True

    def audit_of_session(self, session_id: str, after_seq: int, limit: int) -> list[Transition]:
        """One session's moved transitions with seq > after_seq, in order, at most `limit` (index sessionId, seq)."""
        rows = self._read(self._tables.list_rows, self.db, AUDIT, [
            Query.equal("sessionId", [session_id]), Query.greater_than("seq", after_seq), Query.order_asc("seq"),
            Query.limit(limit)], total=False)
        return [_transition(row) for row in rows.rows]

    def audit_page(self, wanted: inputs.AuditFilter, limit: int,
                   cursor: str | None) -> tuple[list[Transition], str | None]:
        """The moved trail by agent and time, oldest first (or newest): index (agentId, at), or (at)."""
        queries = [Query.equal("agentId", [wanted.agent])] if wanted.agent else []
        if wanted.start:
            queries.append(Query.greater_than_equal("at", iso(wanted.start)))
        if wanted.end:
            queries.append(Query.less_than("at", iso(wanted.end)))
        queries.append((Query.order_asc if wanted.oldest_first else Query.order_desc)("at"))
        return self.page(AUDIT, queries, limit, cursor, _transition)

    # --- counters -------------------------------------------------------------------------------

    def counter_rows(self) -> list[CounterRow]:
        return [_counter_row(row) for row in self._walk(COUNTERS, [], page=COUNTER_PAGE)]

    def write_counter_row(self, row: CounterRow, values: dict[str, int], batch: int) -> None:
        """Absolute values, only over the row as `row` was read (a row that did not exist must still not)."""
        data = {**values, "batch": batch}
        if row.updated_at is None:
            try:
                _call(self._tables.create_row, self.db, COUNTERS, counter_row_id(row.agent_id),
                      {"agentId": row.agent_id, **data})
            except RowExists:
                raise StaleWrite("counter row created meanwhile") from None
            return
        tables = TablesDB(self._client(**{"x-appwrite-timestamp": row.updated_at}))
        _call(tables.update_row, self.db, COUNTERS, counter_row_id(row.agent_id), data)

    # --- budgets (per-window use counts, see `budgets`) ------------------------------------------

    def take(self, row_id: str, name: str, window_start: datetime, limit: int) -> bool:
        """Count one use of a budget row, atomically: Appwrite's bounded increment refuses to pass `limit` (and
        then changes nothing), so concurrent callers can never overshoot. One request; two for the window's
        first use, which creates the row. False when the budget is spent."""
        for _ in range(2):
            try:
                _call(self._tables.increment_row_column, self.db, LIMITS, row_id, "used", 1, limit)
                return True
            except Spent:
                return False
            except RowMissing:  # the window's first use (Appwrite: 404 column_not_found for a missing row)
                pass
            try:
                _call(self._tables.create_row, self.db, LIMITS, row_id,
                      {"name": name[:100], "windowStart": iso(window_start), "used": 1})
                return True
            except RowExists:  # another caller opened the window first: count on theirs
                continue
        raise UpstreamUnavailable("the budget row keeps changing; try again")

    def give_back(self, row_id: str) -> None:
        """Undo one `take` (a request refused by a later budget must not use up an earlier one). Best effort: if it
        fails, that budget is one use short for the rest of its minute."""
        with contextlib.suppress(ChatError):
            _call(self._tables.decrement_row_column, self.db, LIMITS, row_id, "used", 1, 0)

    def drop_windows(self, before: datetime) -> int:
        """Delete every budget row of a window that started before `before`: one bulk request (deleteRows)."""
        answer = _call(self._tables.delete_rows, self.db, LIMITS, [Query.less_than("windowStart", iso(before)),
                                                                   Query.order_asc("windowStart")])  # its index
        return int(answer.total)

    # --- jobs -----------------------------------------------------------------------------------

    def start_job(self, name: str, now: datetime, min_interval: timedelta) -> bool:
        """True for at most one caller per `min_interval`: a lease on the job's row, taken with a conditional write
        (so two instances racing cannot both win). Costs one request when the job ran recently, two otherwise."""
        stamp = iso(now)
        try:
            row = self._read(self._tables.get_row, self.db, JOBS, name)
        except RowMissing:
            try:
                _call(self._tables.create_row, self.db, JOBS, name, {"lastRunAt": stamp})
                return True
            except RowExists:
                return False
        last = parse_time(row.data.get("lastRunAt"))
        if last is not None and now - last < min_interval:
            return False
        tables = TablesDB(self._client(**{"x-appwrite-timestamp": row.updatedat}))
        try:
            _call(tables.update_row, self.db, JOBS, name, {"lastRunAt": stamp})
        except StaleWrite:
            return False
        return True

    def take_lease(self, name: str, now: datetime, duration: timedelta, *, force: bool = False) -> Lease | None:
        """The job's lease if nobody holds one younger than `duration` (`force`: whatever its age), else None.
        Taken with a conditional write, so two racing callers cannot both get it; a write whose answer is lost is
        read back (the row names its holder)."""
        holder = secrets.token_hex(8)
        data = {"lastRunAt": iso(now), "holder": holder}
        try:
            row = self._read(self._tables.get_row, self.db, JOBS, name)
        except RowMissing:
            write = partial(_call, self._tables.create_row, self.db, JOBS, name, data)
            before = None
        else:
            last = parse_time(row.data.get("lastRunAt"))
            if not force and last is not None and timedelta(0) <= now - last < duration:
                return None
            tables = TablesDB(self._client(**{"x-appwrite-timestamp": row.updatedat}))
            write = partial(_call, tables.update_row, self.db, JOBS, name, data)
            before = row.updatedat
        try:
            return Lease(name, holder, self._lease_write(name, holder, before, write))
        except (RowExists, StaleWrite):
            return None

    def release_lease(self, lease: Lease) -> None:
        """Give the lease back, unless someone took it over meanwhile (then it is theirs)."""
        tables = TablesDB(self._client(**{"x-appwrite-timestamp": lease.updated_at}))
        write = partial(_call, tables.update_row, self.db, JOBS, lease.name, {"lastRunAt": None, "holder": None})
        try:
            self._lease_write(lease.name, None, lease.updated_at, write)
        except UpstreamUnavailable:  # not applied: once more
            with contextlib.suppress(StaleWrite, RowMissing):
                self._lease_write(lease.name, None, lease.updated_at, write)
        except (StaleWrite, RowMissing):
            pass

    def _lease_write(self, name: str, holder: str | None, before: str | None, write: Callable[[], Any]) -> str:
        """The row's new $updatedAt after `write`. If the answer is lost, read back: our holder means it landed,
        an unchanged row that it did not (UpstreamUnavailable: try again), anything else that someone came first."""
        try:
            return write().updatedat
        except UpstreamUnavailable:
            try:
                row = self._read(self._tables.get_row, self.db, JOBS, name)
            except RowMissing:
                raise UpstreamUnavailable("Appwrite is unreachable or failing; try again") from None
            if row.data.get("holder") == holder:
                return row.updatedat
            if row.updatedat == before:
                raise
            raise StaleWrite("someone else wrote the lease") from None

    # --- users ----------------------------------------------------------------------------------

    def user_labels(self, user_id: str) -> frozenset[str]:
        """A user's labels, cached per function instance for LABEL_CACHE_SECONDS (a label change waits that long)."""
        now = time.monotonic()
        cached = _label_cache.get(user_id)
        if cached and cached[0] > now:
            return cached[1]
        try:
            user = self._read(Users(self._client()).get, user_id)
            labels = frozenset(str(label) for label in user.labels)
        except RowMissing:
            labels = frozenset()
        _label_cache[user_id] = (now + self.settings.label_cache_seconds, labels)
        return labels

    def account_for_jwt(self, jwt: str) -> Account:
        """Who a JWT belongs to, as Appwrite says (GET /account with that JWT), with the user's labels.

        Cached per warm instance for LABEL_CACHE_SECONDS, never past the JWT's own expiry, so a revoked session or
        a removed label is honoured within that time. A JWT Appwrite refuses is a 401 for our caller."""
        digest = hashlib.sha256(jwt.encode("utf-8", "surrogatepass")).hexdigest()
        now = time.time()
        with _jwt_lock:
            cached = _jwt_cache.get(digest)
        if cached and cached[0] > now:
            return cached[1]
        client = AppwriteClient(self.settings.upstream_timeout_seconds)
        client.set_endpoint(self.settings.endpoint).set_project(self.settings.project_id).set_jwt(jwt)
        try:
            user = self._read(AccountService(client).get)
        except (Unauthorized, RowMissing, UpstreamRejected):  # 401 user_jwt_invalid: expired, revoked or forged
            raise Unauthorized("the JWT is not valid or has expired; sign in again",
                               code="invalid_credentials") from None
        account = Account(user_id=str(user.id), labels=frozenset(str(label) for label in user.labels))
        expires = min(now + self.settings.label_cache_seconds, _jwt_expiry(jwt))
        with _jwt_lock:
            if len(_jwt_cache) >= JWT_CACHE_MAX:
                _forget_oldest(_jwt_cache, now)
            _jwt_cache[digest] = (expires, account)
        return account

    # --- agents and the queue (chat_core.availability, assignment, queueing) ---------------------
    # Each agent has two rows: slots (`a_...`: availability, capacity, load, releasedAt), written only when those
    # change, so its $updatedAt says when a slot last moved; and presence (`p_...`: heartbeatAt, lastAssignedAt),
    # written by the console's heartbeat and after assignments. One list reads both.

    def agents(self) -> list[Agent]:
        """Every agent: one request for up to PAGE_LIMIT rows (two per agent)."""
        slots: dict[str, Agent] = {}
        presence: dict[str, Any] = {}
        for row in self._walk(AGENTS, []):
            if row.id.startswith(PRESENCE_PREFIX):
                presence[row.data.get("agentId")] = row
            else:
                agent = _agent(row)
                slots[agent.agent_id] = agent
        for agent_id, row in presence.items():
            base = slots.get(agent_id) or Agent(agent_id=agent_id)
            slots[agent_id] = replace(base, heartbeat_at=parse_time(row.data.get("heartbeatAt")),
                                      last_assigned_at=parse_time(row.data.get("lastAssignedAt")))
        return list(slots.values())

    def save_agent(self, agent_id: str, data: dict) -> Agent:
        """A partial update of the agent's slots row (availability, capacity; created when missing). Appwrite merges
        the given columns into the row under its lock, so it never undoes a concurrent slot increment
        (utopia-php/database Database::updateDocument reads the old document FOR UPDATE and merges)."""
        return _agent(self._upsert_agent_row(agent_row_id(agent_id), agent_id, data,
                                             {"availability": OFFLINE, "load": 0}))

    def touch_presence(self, agent_id: str, data: dict) -> None:
        """heartbeatAt / lastAssignedAt on the agent's presence row (created when missing)."""
        self._upsert_agent_row(presence_row_id(agent_id), agent_id, data, {})

    def _upsert_agent_row(self, row_id: str, agent_id: str, data: dict, defaults: dict) -> Any:
        for _ in range(2):
            try:
                return _call(self._tables.update_row, self.db, AGENTS, row_id, data)
            except RowMissing:
                pass
            try:
                return _call(self._tables.create_row, self.db, AGENTS, row_id,
                             {"agentId": agent_id, **defaults, **data})
            except RowExists:  # created meanwhile: update theirs
                continue
        raise UpstreamUnavailable("the agent's row keeps changing; try again")

    def take_slot(self, agent_id: str, bound: int | None) -> Agent | None:
        """One more slot on the agent's row, atomically: Appwrite's bounded increment refuses to pass `bound` (None:
        no bound) and then changes nothing. Returns the row as the increment saw it, under its lock
        (utopia-php/database Database::increaseDocumentAttribute: getDocument FOR UPDATE, check, update, return that
        document), so its availability and capacity are those of the moment the slot was taken. None when refused.
        Never retried: an answer lost leaves the load one high (a slot nobody uses), never low."""
        row_id = agent_row_id(agent_id)
        for _ in range(2):
            try:
                return _agent(_call(self._tables.increment_row_column, self.db, AGENTS, row_id, "load", 1, bound))
            except Spent:
                return None
            except RowMissing:  # the agent's first slot (Appwrite: 404 column_not_found for a missing row)
                pass
            if bound is not None and bound < 1:
                return None
            try:
                return _agent(_call(self._tables.create_row, self.db, AGENTS, row_id,
                                    {"agentId": agent_id, "availability": OFFLINE, "load": 1}))
            except RowExists:
                continue
        raise UpstreamUnavailable("the agent's row keeps changing; try again")

    def create_slots(self, agent_id: str, load: int) -> bool:
        """A slots row for an agent who has none yet, holding `load`; False if one exists (someone made it)."""
        try:
            _call(self._tables.create_row, self.db, AGENTS, agent_row_id(agent_id),
                  {"agentId": agent_id, "availability": OFFLINE, "load": load})
        except RowExists:
            return False
        return True

    def mark_release(self, agent_id: str, now: datetime) -> None:
        """Stamp the slots row before a session write that may take a session from the agent: until its slot is
        freed, the row's $updatedAt says a release may be on its way (the repair waits for it)."""
        _call(self._tables.update_row, self.db, AGENTS, agent_row_id(agent_id), {"releasedAt": iso(now)})

    def free_slot(self, agent_id: str) -> bool:
        """One slot less (a bounded decrement: never below 0). Never retried: a decrement whose answer is lost may
        have landed, and a second one would leave the load one low. False when there was nothing to free."""
        try:
            _call(self._tables.decrement_row_column, self.db, AGENTS, agent_row_id(agent_id), "load", 1, 0)
        except (Spent, RowMissing):
            return False
        return True

    def write_load(self, agent: Agent, load: int) -> bool:
        """load := `load`, only if nobody wrote the slots row since `agent` was read (slot increments and
        decrements bump its $updatedAt). False when it changed."""
        tables = TablesDB(self._client(**{"x-appwrite-timestamp": agent.updated_at}))
        try:
            _call(tables.update_row, self.db, AGENTS, agent_row_id(agent.agent_id), {"load": load})
        except (StaleWrite, RowMissing):
            return False
        return True

    def waiting_sessions(self, first: int) -> Iterator[Session]:
        """The sessions waiting for a human in the queue's order: signed-in visitors' (an owner) longest waiting
        first, then guests' longest waiting first (index waiting_since, filtered on ownerId). Read as the caller goes:
        `first` rows in the first request of each, whole pages after that (none is read before the caller asks for
        it), so a caller that takes `first` reads one request, two when fewer signed-in visitors wait."""
        first = max(1, min(first, PAGE_LIMIT))
        for owned in (True, False):
            yield from map(_session, self._walk(SESSIONS, _waiting_queries(owned), first=first))

    def count_waiting(self, before: datetime | None = None, *, since: datetime | None = None,
                      owned: bool | None = None) -> int:
        """Sessions waiting for a human (that started waiting before `before`, or at or after `since`; of signed-in
        visitors, `owned`, or of guests, not `owned`, or both, None): one request, exact up to Appwrite's count limit
        (5,000, APP_LIMIT_COUNT), which it reads as beyond that."""
        queries = _waiting_queries(owned)[:-1]  # a count needs no order
        if before is not None:
            queries.append(Query.less_than("escalatedAt", iso(before)))
        if since is not None:
            queries.append(Query.greater_than_equal("escalatedAt", iso(since)))
        return self._count(SESSIONS, queries)

    def count_taken_since(self, since: datetime) -> int:
        """Sessions taken from the queue (auto, claim, admin) since `since` and still marked so: one request."""
        return self._count(SESSIONS, [Query.greater_than_equal("assignedAt", iso(since)),
                                      Query.equal("assignedBy", list(QUEUE_TAKEN_BY))])

    def _count(self, table: str, queries: list[str]) -> int:
        rows = self._read(self._tables.list_rows, self.db, table, [*queries, Query.select(["$id"]), Query.limit(1)],
                          total=True)
        return int(rows.total)

    # --- executions -----------------------------------------------------------------------------

    def execute(self, function_id: str, body: Any, *, path: str = "/", method: str = "POST",
                headers: dict[str, str] | None = None) -> tuple[int, Any]:
        """A synchronous execution of another function, as any client makes one (the key needs the
        `execution.write` scope). Returns the function's status and its JSON answer (None when not JSON).
        Never retried here: it may write, and only the caller knows whether a repeat is safe."""
        from appwrite.services.functions import Functions  # imported only by functions that call others

        execution = _call(Functions(self._client()).create_execution, function_id, body=json.dumps(body),
                          xasync=False, path=path, method=method,
                          headers={"content-type": "application/json", **(headers or {})})
        try:
            answer = json.loads(execution.responsebody or "null")
        except ValueError:
            answer = None
        return int(execution.responsestatuscode or 0), answer

    # --- plumbing -------------------------------------------------------------------------------

    def _read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Reads are safe to repeat: one retry on a transient failure."""
        try:
            return _call(fn, *args, **kwargs)
        except UpstreamUnavailable:
            return _call(fn, *args, **kwargs)

    def _walk(self, table: str, queries: list[str], page: int = PAGE_LIMIT, first: int | None = None) -> Iterator[Any]:
        """Every row the queries select, a page per request (`first`: the first page's size, if smaller)."""
        cursor: list[str] = []
        size = first or page
        while True:
            rows = self._read(self._tables.list_rows, self.db, table,
                              [*queries, Query.limit(size), *cursor], total=False).rows
            yield from rows
            if len(rows) < size:
                return
            cursor = [Query.cursor_after(rows[-1].id)]
            size = page

    def page(self, table: str, queries: list[str], limit: int, cursor: str | None,
             convert: Callable[[Any], T]) -> tuple[list[T], str | None]:
        """The paging rule, once: ask for one row more than the page; if it came, the page's last row is the cursor
        of the next page."""
        rows = self._read(self._tables.list_rows, self.db, table,
                          [*queries, Query.limit(limit + 1), *([Query.cursor_after(cursor)] if cursor else [])],
                          total=False).rows
        items = [convert(row) for row in rows[:limit]]
        return items, (rows[limit - 1].id if len(rows) > limit else None)


def _waiting_queries(owned: bool | None) -> list[str]:
    """The queue, or its signed-in (`owned`) or guest part, oldest waiter first."""
    queries = [Query.equal("needsHuman", [True])]
    if owned is not None:
        queries.append(Query.is_not_null("ownerId") if owned else Query.is_null("ownerId"))
    return [*queries, Query.order_asc("escalatedAt")]


def _call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    try:
        return fn(*args, **kwargs)
    except AppwriteException as exc:
        raise _translate(exc) from None
    except ChatError:
        raise
    except Exception:  # an unreadable answer: the SDK fails on garbage bodies with KeyError, ValueError...
        raise UpstreamUnavailable("Appwrite returned an unreadable answer") from None


def _translate(exc: AppwriteException) -> ChatError:
    code, kind = exc.code or 0, exc.type or ""
    if code == 404:
        return RowMissing(kind or "not found")
    if code == 400 and kind == "general_cursor_not_found":  # a stale or made-up page cursor from our caller
        return unknown_cursor()
    if code == 400 and kind == "column_limit_exceeded":  # a bounded increment or decrement at its bound
        return Spent(kind)
    if code == 409 and kind.endswith("already_exists"):
        return RowExists(kind)
    if code == 409 and kind.endswith("update_conflict"):
        return StaleWrite(kind)
    if code == 0 or code == 429 or code >= 500:
        return UpstreamUnavailable("Appwrite is unreachable or failing; try again")
    if code == 401:  # the execution's key: a caller's forged X-Appwrite-Key arrives instead of Appwrite's own
        return Unauthorized("Appwrite refused this execution's key", code="execution_key_refused")
    return UpstreamRejected(f"Appwrite refused the request ({code} {kind})")


def _jwt_expiry(jwt: str) -> float:
    """The `exp` claim, read without checking the signature (Appwrite checked it): only bounds our cache."""
    try:
        payload = jwt.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, ValueError, KeyError, TypeError):
        return 0.0  # no readable expiry: don't cache


def _forget_oldest(cache: dict[str, tuple[float, Account]], now: float) -> None:
    for digest in [d for d, (expires, _) in cache.items() if expires <= now]:
        del cache[digest]
    while len(cache) >= JWT_CACHE_MAX:
        del cache[next(iter(cache))]


def _same(value: Any) -> Any:
    return value


_SESSION_COLUMNS: dict[str, tuple[str, Callable[[Any], Any]]] = {  # Session field -> (column, encoder)
    "status": ("status", _same), "last_seen": ("lastSeen", iso), "needs_human": ("needsHuman", _same),
    "assigned_agent": ("assignedAgent", _same), "message_count": ("messageCount", _same),
    "escalated_at": ("escalatedAt", iso), "escalation_reason": ("escalationReason", _same),
    "escalated_by": ("escalatedBy", _same), "assigned_at": ("assignedAt", iso), "closed_at": ("closedAt", iso),
    "close_reason": ("closeReason", _same), "rate_window_start": ("rateWindowStart", iso),
    "rate_window_count": ("rateWindowCount", _same), "assignments": ("assignments", _same),
    "waited_seconds": ("waitedSeconds", _same), "assigned_by": ("assignedBy", _same),
    "over_capacity": ("overCapacity", _same), "fold_from": ("foldFrom", lambda t: _encode_tally(t)),
    "fold_batch": ("foldBatch", _same), "rating_score": ("ratingScore", _same),
    "rating_comment": ("ratingComment", _same), "rated_at": ("ratedAt", iso), "transitions": ("transitions", _same),
    "audit_seq": ("auditSeq", _same), "audit_pending": ("auditPending", _same),
}


def _encode_tally(counted: Tally | None) -> str:
    """`status|waiting|agent|assignments|waitedSeconds|rating`; "" for nothing counted (agent IDs hold no `|`)."""
    if counted is None:
        return ""
    return "|".join((counted.status, str(int(counted.needs_human)), counted.agent or "", str(counted.assignments),
                     str(counted.waited_seconds), str(counted.rating)))


def _decode_tally(raw: str) -> Tally | None:
    if not raw:
        return None
    status, waiting, agent, assignments, waited, *rating = raw.split("|")  # 5 parts: from before the ratings
    return Tally(status, waiting == "1", agent or None, int(assignments), int(waited), int(rating[0]) if rating else 0)


def _unreadable_as_upstream(convert: Callable[[Any], T]) -> Callable[[Any], T]:
    """A row missing its columns is a failing Appwrite (or schema drift), not a bug in the caller's request."""
    def wrapper(row: Any) -> T:
        try:
            return convert(row)
        except (KeyError, TypeError, ValueError, AttributeError):
            raise UpstreamUnavailable("Appwrite returned an unreadable row") from None
    return wrapper


@_unreadable_as_upstream
def _session(row: Any) -> Session:
    d = row.data
    session = Session(
        id=row.id, status=d["status"], last_seen=parse_time(d["lastSeen"]), created_at=parse_time(row.createdat),
        updated_at=row.updatedat, token_hash=d.get("tokenHash") or "", needs_human=bool(d.get("needsHuman")),
        assigned_agent=d.get("assignedAgent"), user_meta=d.get("userMeta") or "{}", theme=d.get("theme") or "{}",
        message_count=int(d.get("messageCount") or 0), escalated_at=parse_time(d.get("escalatedAt")),
        escalation_reason=d.get("escalationReason"), escalated_by=d.get("escalatedBy"),
        assigned_at=parse_time(d.get("assignedAt")), closed_at=parse_time(d.get("closedAt")),
        close_reason=d.get("closeReason"), owner_id=d.get("ownerId"),
        rate_window_start=parse_time(d.get("rateWindowStart")), rate_window_count=int(d.get("rateWindowCount") or 0),
        assignments=int(d.get("assignments") or 0), waited_seconds=int(d.get("waitedSeconds") or 0),
        assigned_by=d.get("assignedBy"), over_capacity=bool(d.get("overCapacity")),
        write_log=tuple((d.get("writeLog") or "").split()), counted=_decode_tally(d.get("counted") or ""),
        fold_from=_decode_tally(d.get("foldFrom") or ""), fold_batch=int(d.get("foldBatch") or 0),
        dirty=bool(d.get("dirty")), rating_score=d.get("ratingScore"), rating_comment=d.get("ratingComment"),
        rated_at=parse_time(d.get("ratedAt")), transitions=d.get("transitions") or "",
        audit_seq=int(d.get("auditSeq") or 0), audit_pending=bool(d.get("auditPending")),
    )
    if d.get("counted") is None:  # a row from before the ledger: the counters were rebuilt from it as it stands
        session = replace(session, counted=rules.tally(session))
    return session


@_unreadable_as_upstream
def _message(row: Any) -> Message:
    d = row.data
    return Message(
        id=row.id, session_id=d["sessionId"], role=d["role"], text=d["text"], created_at=parse_time(row.createdat),
        handoff=bool(d.get("handoff")), author_id=d.get("authorId"), client_message_id=d.get("clientMessageId"),
        admission=d.get("admission"),
    )


@_unreadable_as_upstream
def _transition(row: Any) -> Transition:
    d = row.data
    return Transition(session_id=d["sessionId"], seq=int(d["seq"]), at=parse_time(d["at"]), actor=d["actor"],
                      action=d["action"], from_state=d.get("fromState") or "", to_state=d.get("toState") or "",
                      why=d.get("why"), agent=d.get("agentId"))


@_unreadable_as_upstream
def _counter_row(row: Any) -> CounterRow:
    d = row.data
    return CounterRow(agent_id=d.get("agentId"), values={name: int(d.get(name) or 0) for name in rules.COUNTER_COLUMNS},
                      batch=int(d.get("batch") or 0), updated_at=row.updatedat)


@_unreadable_as_upstream
def _agent(row: Any) -> Agent:
    d = row.data
    capacity = d.get("capacity")
    return Agent(agent_id=d["agentId"], availability=d.get("availability") or OFFLINE,
                 capacity=None if capacity is None else int(capacity), load=int(d.get("load") or 0),
                 updated_at=row.updatedat)
