"""The `agents` table: two rows per agent. Slots (`a_...`: availability, capacity, load, releasedAt; lastAssignedAt
when a claim or an admin took the slot), written only when those change, so its $updatedAt says when a slot last
moved; and presence (`p_...`: heartbeatAt, lastAssignedAt), written by the console's heartbeat and after
auto-assignments. One list reads both. The row <-> `Agent` conversion. See docs/assignment.md."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import datetime
from typing import Any

from appwrite.query import Query

from chat_core.domain.model import AVAILABLE, OFFLINE, Agent, iso, parse_time
from chat_core.infra.connection import Connection, RowExists, RowMissing, Spent, StaleWrite, unreadable_as_upstream

TABLE = "agents"
PRESENCE_PREFIX = "p_"
_KEEPS_CHANGING = "the agent's row keeps changing; try again"


def slots_row_id(agent_id: str) -> str:
    return "a_" + hashlib.sha256(agent_id.encode()).hexdigest()[:32]


def presence_row_id(agent_id: str) -> str:
    return PRESENCE_PREFIX + hashlib.sha256(agent_id.encode()).hexdigest()[:32]


class Agents:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def all(self) -> list[Agent]:
        """Every agent: one request for up to PAGE_LIMIT rows (two per agent)."""
        return self._merge(self._conn.walk(TABLE, []))

    def online(self, since: datetime) -> list[Agent]:
        """The agents who may be available now: a slots row saying "available", or a console heard from after
        `since` (with both rows of an agent who has both). Every agent whose effective availability is "available"
        is in it with both rows, so it answers the waiting visitor's queue and auto-assignment exactly, in one
        request for up to PAGE_LIMIT such rows: flat in the size of the team, linear only in the agents at work
        (the `availability` and `heartbeatAt` indexes)."""
        return self._merge(self._conn.walk(TABLE, [Query.or_queries([
            Query.equal("availability", [AVAILABLE]), Query.greater_than_equal("heartbeatAt", iso(since))])]))

    def at_work(self, since: datetime) -> list[Agent]:
        """`online`, and the agents holding slots (load above 0) whatever their availability: everyone the minute's
        pass (loads, auto-assignment, the queue) and the summary's team need, in one request for up to PAGE_LIMIT such
        rows (indexes `availability`, `heartbeatAt`, `load`): flat in the team, linear in the agents at work."""
        return self._merge(self._conn.walk(TABLE, [Query.or_queries([
            Query.equal("availability", [AVAILABLE]), Query.greater_than_equal("heartbeatAt", iso(since)),
            Query.greater_than("load", 0)])]))

    def of(self, agent_ids: list[str]) -> list[Agent]:
        """These agents' rows (both of each), in one request per 250 agents (index `agentId`); an agent without a
        row is not in the answer."""
        found: list[Agent] = []
        for start in range(0, len(agent_ids), 250):  # a query takes 500 values (APP_DATABASE_QUERY_MAX_VALUES)
            found += self._merge(self._conn.walk(TABLE, [Query.equal("agentId", agent_ids[start:start + 250])]))
        return found

    def _merge(self, found: Any) -> list[Agent]:
        slots: dict[str, Agent] = {}
        presence: dict[str, Any] = {}
        for row in found:
            if row.id.startswith(PRESENCE_PREFIX):
                presence[row.data.get("agentId")] = row
            else:
                agent = from_row(row)
                slots[agent.agent_id] = agent
        for agent_id, row in presence.items():
            base = slots.get(agent_id) or Agent(agent_id=agent_id)
            slots[agent_id] = replace(base, heartbeat_at=parse_time(row.data.get("heartbeatAt")),
                                      last_assigned_at=later(base.last_assigned_at,
                                                             parse_time(row.data.get("lastAssignedAt"))))
        return list(slots.values())

    def save(self, agent_id: str, data: dict) -> Agent:
        """A partial update of the agent's slots row (availability, capacity; created when missing). Appwrite merges
        the given columns into the row under its lock, so it never undoes a concurrent slot increment
        (utopia-php/database Database::updateDocument reads the old document FOR UPDATE and merges)."""
        return from_row(self._upsert(slots_row_id(agent_id), agent_id, data, {"availability": OFFLINE, "load": 0}))

    def touch_presence(self, agent_id: str, data: dict) -> None:
        """heartbeatAt / lastAssignedAt on the agent's presence row (created when missing)."""
        self._upsert(presence_row_id(agent_id), agent_id, data, {})

    def _upsert(self, row_id: str, agent_id: str, data: dict, defaults: dict) -> Any:
        return self._conn.write_or_create(TABLE, row_id, lambda: self._conn.update(TABLE, row_id, data),
                                          {"agentId": agent_id, **defaults, **data}, _KEEPS_CHANGING)

    def take_slot(self, agent_id: str, bound: int | None, stamp: datetime | None = None) -> Agent | None:
        """One more slot on the agent's row, atomically: Appwrite's bounded increment refuses to pass `bound` (None:
        no bound) and then changes nothing. Returns the row as the increment saw it, under its lock
        (utopia-php/database Database::increaseDocumentAttribute: getDocument FOR UPDATE, check, update, return that
        document), so its availability and capacity are those of the moment the slot was taken. None when refused.
        Never retried: an answer lost leaves the load one high (a slot nobody uses), never low.

        `stamp` (unbounded takes only: a claim's, an admin's): lastAssignedAt := stamp in the same request, as an
        updateRow whose `load` is Appwrite's increment operator. Appwrite applies the operator in the row's update,
        under the same lock, and answers the row as that update left it (appwrite `Rows/Update.php` parses the
        operators; utopia-php/database Database::updateDocument: the old document read FOR UPDATE, the operator
        applied in SQL, the document read back in the transaction), so the answer tells the same as the
        increment's. An operator increment has no refusing bound (a `max` clamps), hence unbounded takes only."""
        if stamp is not None:
            assert bound is None, "an operator increment cannot refuse: only unbounded takes are stamped"
            return from_row(self._take_stamped(agent_id, iso(stamp)))
        try:
            return from_row(self._conn.bump_or_create(TABLE, slots_row_id(agent_id), "load", bound,
                                                      {"agentId": agent_id, "availability": OFFLINE, "load": 1},
                                                      _KEEPS_CHANGING))
        except Spent:
            return None

    def _take_stamped(self, agent_id: str, when: str) -> Any:
        from appwrite.operator import Operator  # here: only claims and assignments load it
        row_id = slots_row_id(agent_id)
        write = {"load": Operator.increment(1), "lastAssignedAt": when}
        return self._conn.write_or_create(TABLE, row_id, lambda: self._conn.update(TABLE, row_id, write),
                                          {"agentId": agent_id, "availability": OFFLINE, "load": 1,
                                           "lastAssignedAt": when}, _KEEPS_CHANGING)

    def create_slots(self, agent_id: str, load: int) -> bool:
        """A slots row for an agent who has none yet, holding `load`; False if one exists (someone made it)."""
        try:
            self._conn.create(TABLE, slots_row_id(agent_id), {"agentId": agent_id, "availability": OFFLINE,
                                                              "load": load})
        except RowExists:
            return False
        return True

    def mark_release(self, agent_id: str, now: datetime) -> None:
        """Stamp the slots row before a session write that may take a session from the agent: until its slot is
        freed, the row's $updatedAt says a release may be on its way (the repair waits for it)."""
        self._conn.update(TABLE, slots_row_id(agent_id), {"releasedAt": iso(now)})

    def free_slot(self, agent_id: str) -> bool:
        """One slot less (a bounded decrement: never below 0). Never retried: a decrement whose answer is lost may
        have landed, and a second one would leave the load one low. False when there was nothing to free."""
        try:
            self._conn.bump(TABLE, slots_row_id(agent_id), "load", -1, 0)
        except (Spent, RowMissing):
            return False
        return True

    def write_load(self, agent: Agent, load: int) -> bool:
        """load := `load`, only if nobody wrote the slots row since `agent` was read (slot increments and
        decrements bump its $updatedAt). False when it changed."""
        try:
            self._conn.update_if_unchanged(TABLE, slots_row_id(agent.agent_id), {"load": load}, agent.updated_at)
        except (StaleWrite, RowMissing):
            return False
        return True


def later(a: datetime | None, b: datetime | None) -> datetime | None:
    """lastAssignedAt is kept on both rows (the slots row by a claim's or an admin's take, the presence row after
    an auto-assignment): the later one counts."""
    return max(a, b) if a is not None and b is not None else a or b


@unreadable_as_upstream
def from_row(row: Any) -> Agent:
    d = row.data
    capacity = d.get("capacity")
    return Agent(agent_id=d["agentId"], availability=d.get("availability") or OFFLINE,
                 capacity=None if capacity is None else int(capacity), load=int(d.get("load") or 0),
                 updated_at=row.updatedat, last_assigned_at=parse_time(d.get("lastAssignedAt")))
