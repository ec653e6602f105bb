"""The `sessions` table: a session's row and the lists of sessions the operations, the sweeps, the fold and the queue
read (their queries and the indexes they use), and the row <-> `Session` conversion."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime
from typing import Any

from appwrite.query import Query

from chat_core.domain import inputs, rules
from chat_core.domain.model import ACTIVE, AGENT_ASSIGNED, CLOSED, Ledger, Queue, Session, Tally, iso, parse_time
from chat_core.domain.queue import Line, key_ms
from chat_core.domain.rules import EMPTY
from chat_core.errors import BadRequest
from chat_core.infra import operators
from chat_core.infra.connection import PAGE_LIMIT, Connection, RowMissing, StaleWrite, unreadable_as_upstream

TABLE = "sessions"
QUEUE_TAKEN_BY = ("auto", "claim", "admin")  # assignedBy of an assignment that took a session from the queue
# What a list shows of a session (its ledger columns are the fold's business).
LISTED_COLUMNS = ("status", "lastSeen", "needsHuman", "assignedAgent", "userMeta", "theme", "messageCount",
                  "escalatedAt", "escalationReason", "escalatedBy", "assignedAt", "closedAt", "closeReason", "ownerId",
                  "ratingScore", "ratingComment", "ratedAt", "firstWords")
DERIVED_TEXT = ("firstWords", "searchText")  # columns holding text copied from a visitor's message (operators.shield)
_SORT_COLUMNS = {"lastSeen": "lastSeen", "escalatedAt": "escalatedAt"}  # list-sessions' `sort`, as columns


class Sessions:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    # --- one session ----------------------------------------------------------------------------

    def get(self, session_id: str) -> Session:
        return from_row(self._conn.get(TABLE, session_id))

    def create(self, session_id: str, data: dict) -> Session:
        # A new session is not in the counters yet: the next fold adds it (consistency.fold).
        data = {**data, "counted": "", "dirty": True, "writeLog": ""}
        return from_row(self._conn.create(TABLE, session_id, data))

    def update(self, before: Session, after: Session) -> Session:
        """Write `after` only if the row is still as `before` was read (X-Appwrite-Timestamp = its $updatedAt),
        else StaleWrite. The columns that differ are written, and the ledger's (writeLog, counted, dirty) always."""
        data = {column: encode(getattr(after, name)) for name, (column, encode) in _COLUMNS.items()
                if getattr(after, name) != getattr(before, name)}
        data.update({column: encode(getattr(after.ledger, name)) for name, (column, encode) in _LEDGER_COLUMNS.items()
                     if getattr(after.ledger, name) != getattr(before.ledger, name)})
        data.update({"writeLog": " ".join(after.ledger.write_log), "counted": encode_tally(after.ledger.counted),
                     "dirty": after.ledger.dirty})
        for column in DERIVED_TEXT:  # copied from a visitor's words: stored whatever they say
            if column in data:
                data[column] = operators.shield(data[column])
        if refused := operators.operator_columns(data):  # validation refuses such text first; never send it
            raise BadRequest(f"{', '.join(refused)} would be applied as an Appwrite operation", code="operator_text")
        return from_row(self._conn.update_if_unchanged(TABLE, before.id, data, before.updated_at))

    def delete(self, session_id: str) -> None:
        self._conn.delete(TABLE, session_id)

    def delete_if_unchanged(self, session: Session) -> bool:
        """Delete the row only if nobody wrote it since `session` was read; False when it changed or is gone."""
        try:
            self._conn.delete_if_unchanged(TABLE, session.id, session.updated_at)
        except (StaleWrite, RowMissing):
            return False
        return True

    # --- lists ----------------------------------------------------------------------------------

    def page(self, wanted: inputs.SessionFilter, now: datetime, limit: int,
             cursor: str | None) -> tuple[list[Session], str | None]:
        """One page of the sessions list-sessions shows, filtered and sorted as asked."""
        queries = []
        if wanted.statuses:
            queries.append(Query.equal("status", list(wanted.statuses)))
        if wanted.needs_human is not None:
            queries.append(Query.equal("needsHuman", [wanted.needs_human]))
        if wanted.assigned_agent:
            queries.append(Query.equal("assignedAgent", [wanted.assigned_agent]))
        if wanted.ratings:
            queries.append(Query.equal("ratingScore", list(wanted.ratings)))
        if wanted.idle_for is not None:
            queries.append(Query.less_than_equal("lastSeen", iso(now - wanted.idle_for)))
        # One `search` per word (fulltext index `search`): Appwrite ANDs them, each word a prefix (domain.search).
        queries += [Query.search("searchText", word) for word in wanted.words]
        if wanted.created_after:
            queries.append(Query.greater_than_equal("$createdAt", iso(wanted.created_after)))
        if wanted.created_before:
            queries.append(Query.less_than("$createdAt", iso(wanted.created_before)))
        queries += [(Query.order_asc if wanted.oldest_first else Query.order_desc)(_SORT_COLUMNS[wanted.sort_by]),
                    Query.select(["$id", "$createdAt", "$updatedAt", *LISTED_COLUMNS])]
        return self._conn.page(TABLE, queries, limit, cursor, from_row)

    def all(self) -> Iterator[Session]:
        yield from map(from_row, self._conn.walk(TABLE, []))

    def idle(self, idle_since: datetime, limit: int) -> list[Session]:
        """Open sessions whose visitor left before `idle_since`, longest idle first."""
        return self._first([Query.equal("status", [ACTIVE, AGENT_ASSIGNED]),
                            Query.less_than("lastSeen", iso(idle_since)), Query.order_asc("lastSeen")], limit)

    def empty(self, idle_since: datetime, limit: int) -> list[Session]:
        """Open sessions that hold nothing and whose visitor left before `idle_since`, longest idle first."""
        return self._first([
            Query.equal("status", [ACTIVE]), Query.equal("needsHuman", [False]), Query.equal("messageCount", [0]),
            Query.is_null("escalatedAt"), Query.less_than("lastSeen", iso(idle_since)), Query.order_asc("lastSeen")],
            limit)

    def discarded(self, limit: int) -> list[Session]:
        """Sessions closed as empty whose change the counters already hold (not dirty)."""
        return self._first([Query.equal("status", [CLOSED]), Query.equal("closeReason", [EMPTY]),
                            Query.equal("dirty", [False])], limit)

    def _first(self, queries: list[str], limit: int) -> list[Session]:
        return [from_row(row) for row in self._conn.first(TABLE, queries, limit)]

    # --- the fold's and the trail's (see `consistency`, `audit`) -------------------------------------

    def dirty(self, limit: int) -> list[Session]:
        """Sessions whose counters are behind (a fold's work), at most `limit`."""
        return self._list([Query.equal("dirty", [True]), Query.limit(limit)])

    def in_fold(self, batch: int) -> list[Session]:
        return list(map(from_row, self._conn.walk(TABLE, [Query.equal("foldBatch", [batch])])))

    def pending(self, batch: int) -> list[Session]:
        """Sessions the counters of fold `batch` do not hold as they stand: dirty ones, and those a later fold
        (still running, or cut short) moved."""
        return list(map(from_row, self._conn.walk(TABLE, [Query.or_queries([
            Query.equal("dirty", [True]), Query.greater_than("foldBatch", batch)])])))

    def audit_pending(self, limit: int) -> list[Session]:
        """Sessions holding transitions not moved to the `audit` table yet, at most `limit`."""
        return self._list([Query.equal("auditPending", [True]), Query.limit(limit)])

    def _list(self, queries: list[str]) -> list[Session]:
        return [from_row(row) for row in self._conn.rows(TABLE, queries)]

    # --- the queue (see `assignment`, `queueing`) ------------------------------------------------------

    def waiting(self, first: int) -> Iterator[Session]:
        """The sessions waiting for a human in the queue's order: signed-in visitors' (an owner) longest waiting
        first, then guests' longest waiting first (index waiting_since, filtered on ownerId). Read as the caller goes:
        `first` rows in the first request of each, whole pages after that (none is read before the caller asks for
        it), so a caller that takes `first` reads one request, two when fewer signed-in visitors wait."""
        first = max(1, min(first, PAGE_LIMIT))
        for owned in (True, False):
            yield from map(from_row, self._conn.walk(TABLE, _waiting_queries(owned), first=first))

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
        return self._conn.count(TABLE, queries)

    def line(self, size: int) -> Line:
        """The queue's line (domain.queue): the first `size` waiting sessions by escalatedAt (index waiting_since),
        only their ordering columns, and how many wait: one request."""
        rows, total = self._conn.rows_and_total(TABLE, [
            Query.equal("needsHuman", [True]), Query.order_asc("escalatedAt"),
            Query.select(["escalatedAt", "ownerId"]), Query.limit(max(1, min(size, PAGE_LIMIT)))])
        return Line(total, tuple((key_ms(at), row.data.get("ownerId") is not None) for row in rows
                                 if (at := parse_time(row.data.get("escalatedAt"))) is not None))

    def count_taken_since(self, since: datetime) -> int:
        """Sessions taken from the queue (auto, claim, admin) since `since` and still marked so: one request."""
        return self._conn.count(TABLE, [Query.greater_than_equal("assignedAt", iso(since)),
                                        Query.equal("assignedBy", list(QUEUE_TAKEN_BY))])


def _waiting_queries(owned: bool | None) -> list[str]:
    """The queue, or its signed-in (`owned`) or guest part, oldest waiter first."""
    queries = [Query.equal("needsHuman", [True])]
    if owned is not None:
        queries.append(Query.is_not_null("ownerId") if owned else Query.is_null("ownerId"))
    return [*queries, Query.order_asc("escalatedAt")]


# --- row <-> Session ---------------------------------------------------------------------------------

def _same(value: Any) -> Any:
    return value


_COLUMNS: dict[str, tuple[str, Callable[[Any], Any]]] = {  # Session field -> (column, encoder)
    "status": ("status", _same), "last_seen": ("lastSeen", iso), "needs_human": ("needsHuman", _same),
    "assigned_agent": ("assignedAgent", _same), "message_count": ("messageCount", _same),
    "escalated_at": ("escalatedAt", iso), "escalation_reason": ("escalationReason", _same),
    "escalated_by": ("escalatedBy", _same), "assigned_at": ("assignedAt", iso), "closed_at": ("closedAt", iso),
    "close_reason": ("closeReason", _same), "rate_window_start": ("rateWindowStart", iso),
    "rate_window_count": ("rateWindowCount", _same), "assignments": ("assignments", _same),
    "waited_seconds": ("waitedSeconds", _same), "assigned_by": ("assignedBy", _same),
    "over_capacity": ("overCapacity", _same), "rating_score": ("ratingScore", _same),
    "rating_comment": ("ratingComment", _same), "rated_at": ("ratedAt", iso), "first_words": ("firstWords", _same),
    "queue": ("queueState", lambda q: encode_queue(q)),
    "search_text": ("searchText", _same),
}
_LEDGER_COLUMNS: dict[str, tuple[str, Callable[[Any], Any]]] = {  # Ledger field -> (column, encoder), when changed
    "fold_from": ("foldFrom", lambda t: encode_tally(t)), "fold_batch": ("foldBatch", _same),
    "transitions": ("transitions", _same), "audit_seq": ("auditSeq", _same), "audit_pending": ("auditPending", _same),
}


def encode_queue(queue: Queue | None) -> str | None:
    """`position|waiting|availableAgents|expectedWaitSeconds|asOf` (expected "" for none); None for no queue."""
    if queue is None:
        return None
    expected = "" if queue.expected_wait_seconds is None else str(queue.expected_wait_seconds)
    return "|".join((str(queue.position), str(queue.waiting), str(queue.available_agents), expected,
                     iso(queue.as_of) if queue.as_of else ""))


def decode_queue(raw: str | None) -> Queue | None:
    if not raw:
        return None
    position, in_queue, agents, expected, as_of = raw.split("|")
    return Queue(int(position), int(in_queue), int(agents), int(expected) if expected else None,
                 parse_time(as_of or None))


def encode_tally(counted: Tally | None) -> str:
    """`status|waiting|agent|assignments|waitedSeconds|rating`; "" for nothing counted (agent IDs hold no `|`)."""
    if counted is None:
        return ""
    return "|".join((counted.status, str(int(counted.needs_human)), counted.agent or "", str(counted.assignments),
                     str(counted.waited_seconds), str(counted.rating)))


def decode_tally(raw: str) -> Tally | None:
    if not raw:
        return None
    status, waiting, agent, assignments, waited, *rating = raw.split("|")  # 5 parts: from before the ratings
    return Tally(status, waiting == "1", agent or None, int(assignments), int(waited), int(rating[0]) if rating else 0)


@unreadable_as_upstream
def from_row(row: Any) -> Session:
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
        rating_score=d.get("ratingScore"), rating_comment=d.get("ratingComment"), rated_at=parse_time(d.get("ratedAt")),
        first_words=operators.unshield(d.get("firstWords")), search_text=operators.unshield(d.get("searchText")) or "",
        queue=decode_queue(d.get("queueState")),
        ledger=Ledger(
            write_log=tuple((d.get("writeLog") or "").split()), counted=decode_tally(d.get("counted") or ""),
            fold_from=decode_tally(d.get("foldFrom") or ""), fold_batch=int(d.get("foldBatch") or 0),
            dirty=bool(d.get("dirty")), transitions=d.get("transitions") or "", audit_seq=int(d.get("auditSeq") or 0),
            audit_pending=bool(d.get("auditPending"))),
    )
    if d.get("counted") is None:  # a row from before the ledger: the counters were rebuilt from it as it stands
        session = replace(session, ledger=replace(session.ledger, counted=rules.tally(session)))
    return session
