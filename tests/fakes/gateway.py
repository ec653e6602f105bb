"""The gateway in memory, for fast unit tests of the operations: no SDK request, no HTTP, no SQLite.

    fake = FakeGateway()
    core = Core(fake, fake.settings, caller, now)
    fake.fail("sessions.update")                   # the next call fails before it applies anything
    fake.fail("messages.create", lost=True)        # applied, its answer lost (UpstreamUnavailable)
    fake.fail("agents.take_slot", after=1)         # one call through, the next fails
    fake.before("sessions.update", other_writer)   # run a concurrent writer just before the next call

`FakeGateway` has the attributes of `chat_core.infra.gateway.Gateway` (a repository per table), each with the same
methods and signatures, returning the same domain models, with the semantics the operations rely on: a conditional
write refused (StaleWrite) when the row changed since it was read ($updatedAt strictly increasing, to the
millisecond), bounded increments refused at the bound (Spent), RowMissing/RowExists, the paging rule, the lease,
the queue's order, counts capped as Appwrite caps them, datetimes stored to the millisecond, lists' projections.
Faults are per repository call (what the repository raises once its own retries are spent), not per HTTP request.
tests/test_gateway_contract.py runs one suite against this fake and the real gateway over the fake Appwrite, and
checks that every repository method exists here with the real one's signature: the fake cannot drift unnoticed.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from chat_core.config import Settings
from chat_core.domain import rules, signals
from chat_core.domain.authz import Account
from chat_core.domain.model import AVAILABLE, OFFLINE, Agent, CounterRow, iso, parse_time
from chat_core.domain.queue import Line
from chat_core.domain.replies import MAX_REPLIES, SavedReply, reply_id
from chat_core.errors import ChatError, Unauthorized
from chat_core.infra.agents import PRESENCE_PREFIX, later, presence_row_id, slots_row_id
from chat_core.infra.agents import from_row as agent_from_row
from chat_core.infra.connection import RowExists, RowMissing, Spent, StaleWrite
from chat_core.infra.counters import row_id as counter_row_id
from chat_core.infra.jobs import Lease
from chat_core.infra.replies import from_row as reply_from_row

from fakes.sessions import FakeAudit, FakeMessages, FakeSessions
from fakes.store import Store, Table, ms, op, row_view

SETTINGS = Settings(endpoint="http://fake.invalid/v1", project_id="fake")


class FakeCounters:
    name = "counters"

    def __init__(self, store: Store) -> None:
        self._store = store
        self.table = Table(store)

    @op
    def rows(self) -> list[CounterRow]:
        return [CounterRow(agent_id=r.get("agentId"), values={c: int(r.get(c) or 0) for c in rules.COUNTER_COLUMNS},
                           batch=int(r.get("batch") or 0), updated_at=r["$updatedAt"])
                for r in self.table.rows.values()]

    @op
    def write(self, row: CounterRow, values: dict[str, int], batch: int) -> None:
        data = {**values, "batch": batch}
        if row.updated_at is None:
            try:
                self.table.create(counter_row_id(row.agent_id), {"agentId": row.agent_id, **data})
            except RowExists:
                raise StaleWrite("counter row created meanwhile") from None
            return
        self.table.update(counter_row_id(row.agent_id), data, row.updated_at)


class FakeAgents:
    name = "agents"

    def __init__(self, store: Store) -> None:
        self._store = store
        self.table = Table(store)

    @op
    def all(self) -> list[Agent]:
        return self._merge(self.table.rows.values())

    @op
    def online(self, since: datetime) -> list[Agent]:
        """The real one's filter: a slots row saying available, or a console heard from at `since` or later."""
        return self._merge(row for row in self.table.rows.values() if row.get("availability") == AVAILABLE
                           or (row.get("heartbeatAt") is not None and parse_time(row["heartbeatAt"]) >= since))

    @op
    def at_work(self, since: datetime) -> list[Agent]:
        """The real one's filter: `online`, and the agents holding slots."""
        return self._merge(row for row in self.table.rows.values() if row.get("availability") == AVAILABLE
                           or (row.get("heartbeatAt") is not None and parse_time(row["heartbeatAt"]) >= since)
                           or (row.get("load") or 0) > 0)

    @op
    def of(self, agent_ids: list[str]) -> list[Agent]:
        """These agents' rows (both of each); an agent without a row is not in the answer."""
        wanted = set(agent_ids)
        return self._merge(row for row in self.table.rows.values() if row.get("agentId") in wanted)

    def _merge(self, rows) -> list[Agent]:
        slots: dict[str, Agent] = {}
        presence: dict[str, dict] = {}
        for row in rows:
            if row["$id"].startswith(PRESENCE_PREFIX):
                presence[row.get("agentId")] = row
            else:
                agent = agent_from_row(row_view(row))
                slots[agent.agent_id] = agent
        for agent_id, row in presence.items():
            base = slots.get(agent_id) or Agent(agent_id=agent_id)
            slots[agent_id] = Agent(**{**base.__dict__, "heartbeat_at": parse_time(row.get("heartbeatAt")),
                                       "last_assigned_at": later(base.last_assigned_at,
                                                                 parse_time(row.get("lastAssignedAt")))})
        return list(slots.values())

    @op
    def save(self, agent_id: str, data: dict) -> Agent:
        return agent_from_row(row_view(self._upsert(slots_row_id(agent_id), agent_id, data,
                                                    {"availability": OFFLINE, "load": 0})))

    @op
    def touch_presence(self, agent_id: str, data: dict) -> None:
        self._upsert(presence_row_id(agent_id), agent_id, data, {})

    def _upsert(self, row_id: str, agent_id: str, data: dict, defaults: dict) -> dict:
        if row_id in self.table.rows:
            return self.table.update(row_id, data)
        return self.table.create(row_id, {"agentId": agent_id, **defaults, **data})

    @op
    def take_slot(self, agent_id: str, bound: int | None, stamp: datetime | None = None) -> Agent | None:
        row_id = slots_row_id(agent_id)
        assert stamp is None or bound is None
        stamped = {} if stamp is None else {"lastAssignedAt": iso(stamp)}
        try:
            if row_id not in self.table.rows:
                if bound is not None and bound < 1:
                    raise Spent("the bound leaves no room for a first one")
                return agent_from_row(row_view(self.table.create(
                    row_id, {"agentId": agent_id, "availability": OFFLINE, "load": 1, **stamped})))
            row = self.table.bump(row_id, "load", 1, bound)
            return agent_from_row(row_view(self.table.update(row_id, stamped) if stamped else row))
        except Spent:
            return None

    @op
    def create_slots(self, agent_id: str, load: int) -> bool:
        try:
            self.table.create(slots_row_id(agent_id), {"agentId": agent_id, "availability": OFFLINE, "load": load})
        except RowExists:
            return False
        return True

    @op
    def mark_release(self, agent_id: str, now: datetime) -> None:
        self.table.update(slots_row_id(agent_id), {"releasedAt": iso(now)})

    @op
    def free_slot(self, agent_id: str) -> bool:
        try:
            self.table.bump(slots_row_id(agent_id), "load", -1, 0)
        except (Spent, RowMissing):
            return False
        return True

    @op
    def write_load(self, agent: Agent, load: int) -> bool:
        try:
            self.table.update(slots_row_id(agent.agent_id), {"load": load}, agent.updated_at)
        except (StaleWrite, RowMissing):
            return False
        return True


class FakeJobs:
    name = "jobs"

    def __init__(self, store: Store) -> None:
        self._store = store
        self.table = Table(store)

    @op
    def lease(self, name: str, now: datetime, duration: timedelta, *, force: bool = False) -> Lease | None:
        holder = secrets.token_hex(8)
        data = {"lastRunAt": iso(now), "holder": holder}
        row = self.table.rows.get(name)
        if row is None:
            write: Callable[[], dict] = partial(self.table.create, name, data)
        else:
            last = parse_time(row.get("lastRunAt"))
            if not force and last is not None and timedelta(0) <= ms(now) - last < duration:
                return None
            write = partial(self.table.update, name, data, row["$updatedAt"])
        try:
            return Lease(name, holder, write()["$updatedAt"])
        except (RowExists, StaleWrite):
            return None

    @op
    def release(self, lease: Lease) -> None:
        with contextlib.suppress(StaleWrite, RowMissing):
            self.table.update(lease.name, {"lastRunAt": None, "holder": None}, lease.updated_at)


class FakeLimits:
    name = "limits"

    def __init__(self, store: Store) -> None:
        self._store = store
        self.table = Table(store)

    @op
    def take(self, row_id: str, name: str, window_start: datetime, limit: int) -> bool:
        try:
            if row_id not in self.table.rows:
                if limit < 1:
                    return False
                self.table.create(row_id, {"name": name[:100], "windowStart": iso(window_start), "used": 1})
            else:
                self.table.bump(row_id, "used", 1, limit)
        except Spent:
            return False
        return True

    @op(never_raises=True)
    def give_back(self, row_id: str) -> None:
        with contextlib.suppress(ChatError):
            self.table.bump(row_id, "used", -1, 0)

    @op
    def take_together(self, rows: list[tuple[str, str]], window_start: datetime) -> list[int]:
        """One upsertRows: each row's `used` one more, unbounded, a missing row created at 0 + 1; each as after."""
        for row_id, name in rows:
            if row_id not in self.table.rows:
                self.table.create(row_id, {"name": name[:100], "windowStart": iso(window_start), "used": 0})
            self.table.bump(row_id, "used", 1, None)
        return [self.table.rows[row_id]["used"] for row_id, _ in rows]

    @op(never_raises=True)
    def give_back_together(self, rows: list[tuple[str, str]], window_start: datetime) -> None:
        """One upsertRows: each row's `used` one less, stopping at 0 (no error)."""
        for row_id, name in rows:
            if row_id not in self.table.rows:  # Appwrite: a created row's operator takes no bound
                self.table.create(row_id, {"name": name[:100], "windowStart": iso(window_start), "used": -1})
            elif self.table.rows[row_id]["used"] > 0:
                self.table.bump(row_id, "used", -1, 0)

    @op
    def drop_windows(self, before: datetime) -> int:
        gone = [rid for rid, row in self.table.rows.items() if parse_time(row["windowStart"]) < ms(before)]
        for rid in gone:
            del self.table.rows[rid]
        return len(gone)


class FakeUsers:
    """Users and their labels; a JWT per signed-in user (`sign_in`)."""

    name = "users"

    def __init__(self, store: Store) -> None:
        self._store = store
        self.labelled: dict[str, frozenset[str]] = {}
        self.names: dict[str, str] = {}  # user ID -> the user's name, if given one
        self.jwts: dict[str, str] = {}  # jwt -> user ID

    def put(self, user_id: str, labels: tuple[str, ...] = ()) -> str:
        """A user with `labels`, signed in: their JWT."""
        self.labelled[user_id] = frozenset(labels)
        jwt = f"jwt-{user_id}"
        self.jwts[jwt] = user_id
        return jwt

    @op
    def labels(self, user_id: str) -> frozenset[str]:
        return self.labelled.get(user_id, frozenset())

    @op
    def display_name(self, user_id: str) -> str:
        return self.names.get(user_id, "")

    @op
    def account_for_jwt(self, jwt: str) -> Account:
        user_id = self.jwts.get(jwt)
        if user_id is None:
            raise Unauthorized("the JWT is not valid or has expired; sign in again", code="invalid_credentials")
        return Account(user_id=user_id, labels=self.labelled.get(user_id, frozenset()))


class FakeExecutions:
    """Another function answering a synchronous execution: `handlers[function_id](body, path, method, headers)`."""

    name = "executions"

    def __init__(self, store: Store) -> None:
        self._store = store
        self.handlers: dict[str, Callable[..., tuple[int, Any]]] = {}
        self.sent: list[tuple[str, Any, str, str]] = []

    @op
    def run(self, function_id: str, body: Any, *, path: str = "/", method: str = "POST",
            headers: dict[str, str] | None = None) -> tuple[int, Any]:
        self.sent.append((function_id, body, path, method))
        if function_id not in self.handlers:
            raise RowMissing("function_not_found")
        return self.handlers[function_id](body, path, method, headers or {})


class FakeReplies:
    name = "replies"

    def __init__(self, store: Store) -> None:
        self._store = store
        self.table = Table(store)

    @op
    def all(self) -> list[SavedReply]:
        found = [reply_from_row(row_view(row)) for row in self.table.rows.values()]
        return sorted(found, key=lambda reply: reply.shortcut)[:MAX_REPLIES]

    @op
    def count(self) -> int:
        return len(self.table.rows)

    @op
    def create(self, reply: SavedReply) -> SavedReply:
        row = self.table.create(reply_id(reply.shortcut), {"shortcut": reply.shortcut, "text": reply.text,
                                                            "createdBy": reply.created_by})
        return reply_from_row(row_view(row))

    @op
    def delete(self, shortcut: str) -> None:
        self.table.delete(reply_id(shortcut))


class FakeSignals:
    """The signal rows as the last upsert left them, with their readers (what a socket would be sent)."""

    name = "signals"

    def __init__(self, store: Store) -> None:
        self._store = store
        self.rows: dict[str, tuple[dict, list[str]]] = {}

    @op
    def publish(self, session_id: str, data: dict, readers: list[str]) -> None:
        self.rows[session_id] = (dict(data), list(readers))

    @op
    def publish_many(self, rows: list[tuple[str, dict, list[str]]]) -> None:
        for row_id, data, readers in rows:
            self.rows[row_id] = (dict(data), list(readers))

    @op
    def line(self) -> Line | None:
        row = self.rows.get(signals.QUEUE)
        return signals.queue_line(row[0]) if row else None


class FakeGateway:
    """`Gateway`'s repositories in memory; see the module docstring."""

    def __init__(self, settings: Settings = SETTINGS, *, clock: Callable[[], datetime] | None = None) -> None:
        self.settings = settings
        self.store = Store(clock)
        self.sessions = FakeSessions(self.store)
        self.messages = FakeMessages(self.store, settings.database_id)
        self.audit = FakeAudit(self.store)
        self.counters = FakeCounters(self.store)
        self.agents = FakeAgents(self.store)
        self.jobs = FakeJobs(self.store)
        self.limits = FakeLimits(self.store)
        self.users = FakeUsers(self.store)
        self.executions = FakeExecutions(self.store)
        self.replies = FakeReplies(self.store)
        self.signals = FakeSignals(self.store)

    def fail(self, name: str, *, lost: bool = False, after: int = 0) -> None:
        """The next call of `name` ("sessions.update") after `after` others fails: before it applies anything, or,
        `lost`, after (UpstreamUnavailable either way)."""
        self.store.plan(name, "lost" if lost else "fail", after)

    def before(self, name: str, action: Callable[[], Any], *, after: int = 0) -> None:
        """Run `action` (another writer) just before the next call of `name` after `after` others."""
        self.store.plan(name, "run", after, action)

    @property
    def calls(self) -> list[str]:
        return self.store.calls

    def count(self, name: str) -> int:
        return sum(1 for call in self.store.calls if call == name)
