"""The fake `sessions`, `messages` and `audit` repositories: the same methods as chat_core.infra's, over domain
models kept in memory, with the semantics the operations rely on (conditional writes, the paging rule, the queue's
order, counts, what a list's projection leaves out)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields, replace
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from chat_core.domain import inputs, rules
from chat_core.domain.model import ACTIVE, AGENT_ASSIGNED, CLOSED, Ledger, Message, Session, Transition, parse_time
from chat_core.domain.queue import Line, key_ms
from chat_core.errors import BadRequest
from chat_core.infra import operators
from chat_core.infra.audit import row_id as audit_row_id
from chat_core.infra.connection import RowExists, RowMissing, StaleWrite
from chat_core.infra.messages import Messages as RealMessages
from chat_core.infra.sessions import _COLUMNS, LISTED_COLUMNS, QUEUE_TAKEN_BY
from chat_core.infra.sessions import from_row as session_from_row

from fakes.store import (
    COUNT_LIMIT,
    PAGE_LIMIT,
    Store,
    Table,
    after_cursor,
    cursor_or_refuse,
    ms,
    op,
    page,
    row_view,
    sort_key,
)

WRITTEN = tuple(_COLUMNS)  # the Session fields an update writes (the others are set at creation only)
_FIELD_OF = {column: name for name, (column, _) in _COLUMNS.items()} | {
    "userMeta": "user_meta", "theme": "theme", "ownerId": "owner_id", "tokenHash": "token_hash"}
LISTED_FIELDS = tuple(_FIELD_OF[column] for column in LISTED_COLUMNS)
_DATETIMES = {f.name for f in fields(Session) if "datetime" in str(f.type)}


class FakeSessions:
    name = "sessions"

    def __init__(self, store: Store) -> None:
        self._store = store
        self.rows: dict[str, Session] = {}  # in $sequence order
        self._seq: dict[str, int] = {}

    # --- one session ----------------------------------------------------------------------------

    @op
    def get(self, session_id: str) -> Session:
        if session_id not in self.rows:
            raise RowMissing("row_not_found")
        return self.rows[session_id]

    @op
    def create(self, session_id: str, data: dict) -> Session:
        if session_id in self.rows:
            raise RowExists("row_already_exists")
        stamp = self._store.stamp()
        row = {"$id": session_id, "$createdAt": stamp, "$updatedAt": stamp,
               **data, "counted": "", "dirty": True, "writeLog": ""}
        session = session_from_row(row_view(row))
        self.rows[session_id], self._seq[session_id] = session, self._store.seq()
        return session

    @op
    def update(self, before: Session, after: Session) -> Session:
        changed = [name for name in WRITTEN if getattr(after, name) != getattr(before, name)]
        if refused := sorted(_COLUMNS[n][0] for n in changed if operators.reads_as_operator(getattr(after, n))):
            raise BadRequest(f"{', '.join(refused)} would be applied as an Appwrite operation", code="operator_text")
        stored = self._current(before.id)
        Table.check({"$updatedAt": stored.updated_at}, before.updated_at)
        written = {name: _stored(name, getattr(after, name)) for name in WRITTEN}
        ledger = replace(after.ledger, write_log=tuple(" ".join(after.ledger.write_log).split()))
        self.rows[before.id] = replace(stored, **written, ledger=ledger,
                                         updated_at=self._store.stamp(stored.updated_at))
        return self.rows[before.id]

    @op
    def delete(self, session_id: str) -> None:
        self._current(session_id)
        del self.rows[session_id]

    @op
    def delete_if_unchanged(self, session: Session) -> bool:
        stored = self.rows.get(session.id)
        try:
            if stored is None:
                raise RowMissing("row_not_found")
            Table.check({"$updatedAt": stored.updated_at}, session.updated_at)
        except (StaleWrite, RowMissing):
            return False
        del self.rows[session.id]
        return True

    def _current(self, session_id: str) -> Session:
        if session_id not in self.rows:
            raise RowMissing("row_not_found")
        return self.rows[session_id]

    # --- lists ----------------------------------------------------------------------------------

    @op
    def page(self, wanted: inputs.SessionFilter, now: datetime, limit: int,
             cursor: str | None) -> tuple[list[Session], str | None]:
        column = {"lastSeen": "last_seen", "escalatedAt": "escalated_at"}[wanted.sort_by]

        def key(s: Session) -> tuple:
            return (*sort_key(getattr(s, column), not wanted.oldest_first), self._seq[s.id])

        def keep(s: Session) -> bool:
            return ((not wanted.statuses or s.status in wanted.statuses)
                    and (wanted.needs_human is None or s.needs_human == wanted.needs_human)
                    and (not wanted.assigned_agent or s.assigned_agent == wanted.assigned_agent)
                    and (wanted.idle_for is None or s.last_seen <= ms(now - wanted.idle_for))
                    and (not wanted.created_after or s.created_at >= ms(wanted.created_after))
                    and (not wanted.created_before or s.created_at < ms(wanted.created_before)))
        items = self._sorted(keep, key, cursor)
        shown, next_cursor = page(items, limit, lambda s: s.id)
        return [listed(s) for s in shown], next_cursor

    @op
    def all(self) -> Iterator[Session]:
        yield from list(self.rows.values())

    @op
    def idle(self, idle_since: datetime, limit: int) -> list[Session]:
        since = ms(idle_since)
        return self._sorted(lambda s: s.status in (ACTIVE, AGENT_ASSIGNED) and s.last_seen < since,
                            self._by("last_seen"))[:limit]

    @op
    def empty(self, idle_since: datetime, limit: int) -> list[Session]:
        since = ms(idle_since)
        return self._sorted(lambda s: s.status == ACTIVE and not s.needs_human and s.message_count == 0
                            and s.escalated_at is None and s.last_seen < since, self._by("last_seen"))[:limit]

    @op
    def discarded(self, limit: int) -> list[Session]:
        return [s for s in self.rows.values()
                if s.status == CLOSED and s.close_reason == rules.EMPTY and not s.ledger.dirty][:limit]

    @op
    def dirty(self, limit: int) -> list[Session]:
        return [s for s in self.rows.values() if s.ledger.dirty][:limit]

    @op
    def in_fold(self, batch: int) -> list[Session]:
        return [s for s in self.rows.values() if s.ledger.fold_batch == batch]

    @op
    def pending(self, batch: int) -> list[Session]:
        return [s for s in self.rows.values() if s.ledger.dirty or s.ledger.fold_batch > batch]

    @op
    def audit_pending(self, limit: int) -> list[Session]:
        return [s for s in self.rows.values() if s.ledger.audit_pending][:limit]

    @op
    def waiting(self, first: int) -> Iterator[Session]:
        first = max(1, min(first, PAGE_LIMIT))
        for owned in (True, False):
            yield from self._walk(lambda s, owned=owned: s.needs_human and (s.owner_id is not None) == owned,
                                  self._by("escalated_at"), first)

    @op
    def count_waiting(self, before: datetime | None = None, *, since: datetime | None = None,
                      owned: bool | None = None) -> int:
        return min(COUNT_LIMIT, sum(
            1 for s in self.rows.values()
            if s.needs_human and (owned is None or (s.owner_id is not None) == owned)
            and (before is None or (s.escalated_at is not None and s.escalated_at < ms(before)))
            and (since is None or (s.escalated_at is not None and s.escalated_at >= ms(since)))))

    @op
    def line(self, size: int) -> Line:
        first = sorted((s for s in self.rows.values() if s.needs_human and s.escalated_at is not None),
                       key=self._by("escalated_at"))[:max(1, min(size, PAGE_LIMIT))]
        return Line(min(COUNT_LIMIT, sum(1 for s in self.rows.values() if s.needs_human)),
                    tuple((key_ms(s.escalated_at), s.owner_id is not None) for s in first))

    @op
    def count_taken_since(self, since: datetime) -> int:
        return min(COUNT_LIMIT, sum(1 for s in self.rows.values() if s.assigned_at is not None
                                    and s.assigned_at >= ms(since) and s.assigned_by in QUEUE_TAKEN_BY))

    # --- ordering, cursors ----------------------------------------------------------------------

    def _by(self, column: str) -> Any:
        return lambda s: (*sort_key(getattr(s, column)), self._seq[s.id])

    def _sorted(self, keep: Any, key: Any, cursor: str | None = None) -> list[Session]:
        items = sorted((s for s in self.rows.values() if keep(s)), key=key)
        return after_cursor(items, key, None if cursor is None else cursor_or_refuse(self.rows.get(cursor)))

    def _walk(self, keep: Any, key: Any, first: int) -> Iterator[Session]:
        """Page by page, each read when the caller reaches it (later pages see the writes made meanwhile)."""
        last, size = None, first
        while True:
            rows = self._sorted(keep, key, last)[:size]
            yield from rows
            if len(rows) < size:
                return
            last, size = rows[-1].id, PAGE_LIMIT


def _stored(name: str, value: Any) -> Any:
    return ms(value) if name in _DATETIMES else value


def listed(session: Session) -> Session:
    """A session as a list selects it: the listed columns; the ledger as from a row without one."""
    shown = Session(id=session.id, status=session.status, last_seen=session.last_seen,
                    created_at=session.created_at, updated_at=session.updated_at, token_hash="",
                    **{name: getattr(session, name) for name in LISTED_FIELDS if name not in ("status", "last_seen")})
    return replace(shown, ledger=Ledger(counted=rules.tally(shown)))


class FakeMessages:
    name = "messages"

    def __init__(self, store: Store, database_id: str) -> None:
        self._store = store
        self._db = database_id
        self.rows: dict[str, Message] = {}
        self.readers: dict[str, list[str]] = {}  # each row's read permissions (who Realtime sends it to)
        self._seq: dict[str, int] = {}

    @op
    def create(self, message: Message, readers: list[str]) -> Message:
        if message.id in self.rows:
            raise RowExists("row_already_exists")
        stored = replace(message, created_at=parse_time(self._store.stamp()))
        self.rows[message.id], self._seq[message.id] = stored, self._store.seq()
        self.readers[message.id] = list(readers)
        return stored

    @op
    def create_many(self, messages: list[Message], readers: list[str]) -> list[Message]:
        if any(m.id in self.rows for m in messages) or len({m.id for m in messages}) < len(messages):
            raise RowExists("row_already_exists")  # all or none
        at = parse_time(self._store.stamp())
        stored = [replace(m, created_at=at) for m in messages]
        for message in stored:
            self.rows[message.id], self._seq[message.id] = message, self._store.seq()
            self.readers[message.id] = list(readers)
        return stored

    @op
    def get(self, row_id: str) -> Message:
        if row_id not in self.rows:
            raise RowMissing("row_not_found")
        return self.rows[row_id]

    @op
    def page(self, session_id: str, limit: int, cursor: str | None) -> tuple[list[Message], str | None]:
        def key(m: Message) -> tuple:
            return (*sort_key(m.created_at), self._seq[m.id])
        items = sorted((m for m in self.rows.values() if m.session_id == session_id), key=key)
        items = after_cursor(items, key, None if cursor is None else cursor_or_refuse(self.rows.get(cursor)))
        return page(items, limit, lambda m: m.id)

    @op
    def latest(self, session_id: str, limit: int) -> list[Message]:
        return sorted((m for m in self.rows.values() if m.session_id == session_id),
                      key=lambda m: (*sort_key(m.created_at, True), self._seq[m.id]))[:limit]

    @op
    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for m in self.rows.values():
            counts[m.session_id] = counts.get(m.session_id, 0) + 1
        return counts

    def created_id(self, event: str, payload: Any) -> str | None:
        """The repository's own parsing (it makes no request), for this database."""
        return RealMessages.created_id(self._as_real(), event, payload)

    def from_event(self, event: str, payload: Any) -> Message | None:
        """The repository's own reading of an event's payload (it makes no request)."""
        return RealMessages.from_event(self._as_real(), event, payload)

    def _as_real(self) -> Any:
        real = SimpleNamespace(_conn=SimpleNamespace(db=self._db))
        real.created_id = lambda event, payload: RealMessages.created_id(real, event, payload)
        return real


class FakeAudit:
    name = "audit"

    def __init__(self, store: Store) -> None:
        self._store = store
        self.rows: dict[str, Transition] = {}

    @op
    def create(self, entry: Transition) -> bool:
        rid = audit_row_id(entry.session_id, entry.seq)
        if rid in self.rows:
            return False
        self.rows[rid] = replace(entry, at=ms(entry.at), from_state=entry.from_state or "",
                                 to_state=entry.to_state or "")
        return True

    @op
    def of_session(self, session_id: str, after_seq: int, limit: int) -> list[Transition]:
        return sorted((t for t in self.rows.values() if t.session_id == session_id and t.seq > after_seq),
                      key=lambda t: t.seq)[:limit]

    @op
    def page(self, wanted: inputs.AuditFilter, limit: int, cursor: str | None) -> tuple[list[Transition], str | None]:
        seq = {rid: n for n, rid in enumerate(self.rows)}

        def key(t: Transition) -> tuple:
            return (*sort_key(t.at, not wanted.oldest_first), seq[audit_row_id(t.session_id, t.seq)])
        items = sorted((t for t in self.rows.values()
                        if (not wanted.agent or t.agent == wanted.agent)
                        and (not wanted.start or t.at >= ms(wanted.start))
                        and (not wanted.end or t.at < ms(wanted.end))), key=key)
        items = after_cursor(items, key, None if cursor is None else cursor_or_refuse(self.rows.get(cursor)))
        return page(items, limit, lambda t: audit_row_id(t.session_id, t.seq))
