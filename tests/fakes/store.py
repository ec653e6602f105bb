"""What the fake gateway's repositories share: the server's clock ($createdAt, $updatedAt strictly increasing, at
Appwrite's millisecond), the faults a test plans, the calls made, and `Table`, a table of plain rows with the row
operations the repositories use (create, merge-update with the X-Appwrite-Timestamp check, bounded increments,
delete), as the local stack's engine answers them (devstack/engine.py)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

from chat_core.domain.model import iso, parse_time
from chat_core.errors import unknown_cursor
from chat_core.infra.connection import RowExists, RowMissing, Spent, StaleWrite, UpstreamUnavailable

ONE_MS = timedelta(milliseconds=1)
COUNT_LIMIT = 5000  # Appwrite counts a list's total up to APP_LIMIT_COUNT
PAGE_LIMIT = 1000


def ms(moment: datetime | None) -> datetime | None:
    """A moment as Appwrite stores it: UTC, to the millisecond."""
    return parse_time(iso(moment)) if moment is not None else None


@dataclass
class _Plan:
    name: str
    kind: str  # "fail": nothing applied; "lost": applied, the answer lost; "run": `action` first
    skip: int
    action: Callable[[], Any] | None = None


class Store:
    """The fake's server side: its clock, its planned faults, the calls it answered."""

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.calls: list[str] = []
        self._plans: list[_Plan] = []
        self._seq = 0

    def stamp(self, after: str | None = None) -> str:
        """The clock's millisecond; for a write to a row, strictly later than the row's `after` ($updatedAt), as
        the local stack keeps it (two rows may share a stamp, as on Appwrite)."""
        moment = ms(self.clock())
        if after is not None and moment <= parse_time(after):
            moment = parse_time(after) + ONE_MS
        return iso(moment)

    def seq(self) -> int:
        self._seq += 1
        return self._seq

    def plan(self, name: str, kind: str, after: int = 0, action: Callable[[], Any] | None = None) -> None:
        self._plans.append(_Plan(name, kind, after, action))

    def enter(self, name: str) -> str | None:
        self.calls.append(name)
        for plan in self._plans:
            if plan.name != name:
                continue
            if plan.skip:
                plan.skip -= 1
                continue
            self._plans.remove(plan)
            if plan.action is not None:
                plan.action()
                return self.enter_again(name)
            return plan.kind
        return None

    def enter_again(self, name: str) -> str | None:
        self.calls.pop()  # the call that ran the action is counted once
        return self.enter(name)


def op(fn: Callable | None = None, *, never_raises: bool = False) -> Callable:
    """A repository method: counted, and failing as the test planned (`fail`: before it applies anything, `lost`:
    after it applied). `never_raises`: a method the real repository keeps quiet about (a failure is nothing done)."""
    def decorate(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            kind = self._store.enter(f"{self.name}.{fn.__name__}")
            if kind == "fail":
                if never_raises:
                    return None
                raise UpstreamUnavailable("fake: the request failed")
            result = fn(self, *args, **kwargs)
            if kind == "lost" and not never_raises:
                raise UpstreamUnavailable("fake: the answer was lost")
            return result
        return call
    return decorate(fn) if fn is not None else decorate


def row_view(row: dict) -> SimpleNamespace:
    """A stored row as the SDK's Row shows it to the repositories' `from_row`."""
    data = {k: v for k, v in row.items() if not k.startswith("$")}
    return SimpleNamespace(id=row["$id"], data=data, createdat=row["$createdAt"], updatedat=row["$updatedAt"])


class Table:
    """Plain rows in insertion order ($sequence), each with $id, $createdAt, $updatedAt."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.rows: dict[str, dict] = {}

    def get(self, row_id: str) -> dict:
        if row_id not in self.rows:
            raise RowMissing("row_not_found")
        return dict(self.rows[row_id])

    def create(self, row_id: str, data: dict) -> dict:
        if row_id in self.rows:
            raise RowExists("row_already_exists")
        stamp = self._store.stamp()
        self.rows[row_id] = {"$id": row_id, "$createdAt": stamp, "$updatedAt": stamp, **data}
        return dict(self.rows[row_id])

    def update(self, row_id: str, data: dict, since: str | None = None) -> dict:
        """Merge `data`; refused (StaleWrite) when the row changed after `since`; $updatedAt moves only when a
        value differs (utopia-php/database updateDocument)."""
        old = self.get(row_id)
        self.check(old, since)
        if any(old.get(key) != value for key, value in data.items()):
            self.rows[row_id] = {**old, **data, "$updatedAt": self._store.stamp(old["$updatedAt"])}
        return dict(self.rows[row_id])

    def delete(self, row_id: str, since: str | None = None) -> None:
        self.check(self.get(row_id), since)
        del self.rows[row_id]

    def bump(self, row_id: str, column: str, by: int, bound: int | None) -> dict:
        """An atomic increment (decrement for `by` < 0) never past `bound`; the answer carries the OLD $updatedAt
        (appwrite's Increment.php answers the document as read, with only the column changed)."""
        old = self.get(row_id)
        value = (old.get(column) or 0) + by
        if bound is not None and (value > bound if by >= 0 else value < bound):
            raise Spent("column_limit_exceeded")
        self.rows[row_id] = {**old, column: value, "$updatedAt": self._store.stamp(old["$updatedAt"])}
        return {**old, column: value}

    @staticmethod
    def check(row: dict, since: str | None) -> None:
        if since is not None and parse_time(row["$updatedAt"]) > parse_time(since):
            raise StaleWrite("row_update_conflict")


def ordered(items: list[Any], key: Callable[[Any], tuple]) -> list[Any]:
    return sorted(items, key=key)


def sort_key(value: Any, descending: bool = False) -> tuple:
    """One order column as SQL sorts it: NULL first ascending, last descending (datetimes, numbers)."""
    if isinstance(value, datetime):
        value = value.timestamp()
    if descending:
        return (1,) if value is None else (0, -value)
    return (0,) if value is None else (1, value)


def after_cursor(items: list[Any], key: Callable[[Any], tuple], cursor: Any | None) -> list[Any]:
    """`items` (already in `key` order) after the cursor row, by the cursor row's current values (Appwrite's
    keyset); a cursor that names no row is the caller's error."""
    if cursor is None:
        return items
    at = key(cursor)
    return [item for item in items if key(item) > at]


def cursor_or_refuse(found: Any | None) -> Any:
    if found is None:
        raise unknown_cursor()
    return found


def page(items: list[Any], limit: int, ident: Callable[[Any], str]) -> tuple[list[Any], str | None]:
    """The paging rule: one row more than the page; if it came, the page's last row is the next cursor."""
    rows = items[: limit + 1]
    return rows[:limit], (ident(rows[limit - 1]) if len(rows) > limit else None)
