"""The connection to Appwrite every repository shares: the SDK's TablesDB, what its errors mean here, and the few
ways of reading and writing a row that the tables have in common.

- `call` maps `AppwriteException`s (and unreadable answers) to the project's errors; `read` repeats a read once on a
  transient failure (reads are safe to repeat; writes are never repeated here, only the caller knows if that is safe).
- `walk` and `page`: the paging rule, once.
- `update_if_unchanged`, `delete_if_unchanged`: the conditional write, once (X-Appwrite-Timestamp).
- `bump_or_create` and `write_or_create`: a write to a row that may not exist yet, once.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from appwrite.exception import AppwriteException
from appwrite.query import Query
from appwrite.services.tables_db import TablesDB

from chat_core.config import Settings
from chat_core.errors import ChatError, Unauthorized, UpstreamRejected, UpstreamUnavailable, unknown_cursor
from chat_core.infra.client import POOL, AppwriteClient, Transport

PAGE_LIMIT = 1000  # rows per request when a job walks a whole table
T = TypeVar("T")


class RowMissing(ChatError):
    status = 404
    code = "not_found"


class RowExists(ChatError):
    status = 409
    code = "already_exists"


class StaleWrite(ChatError):
    """A conditional write lost: the row changed after we read it."""

    status = 409
    code = "conflict"


class Spent(ChatError):
    """A bounded increment refused: the row is at its bound (Appwrite 400 column_limit_exceeded)."""

    status = 429
    code = "rate_limited"


def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    try:
        return fn(*args, **kwargs)
    except AppwriteException as exc:
        raise translate(exc) from None
    except ChatError:
        raise
    except Exception:  # an unreadable answer: the SDK fails on garbage bodies with KeyError, ValueError...
        raise UpstreamUnavailable("Appwrite returned an unreadable answer") from None


def translate(exc: AppwriteException) -> ChatError:
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


def read(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Reads are safe to repeat: one retry on a transient failure."""
    try:
        return call(fn, *args, **kwargs)
    except UpstreamUnavailable:
        return call(fn, *args, **kwargs)


def unreadable_as_upstream(convert: Callable[[Any], T]) -> Callable[[Any], T]:
    """For a row -> model conversion: a row missing its columns is a failing Appwrite (or schema drift), not a bug
    in the caller's request."""
    def wrapper(row: Any) -> T:
        try:
            return convert(row)
        except (KeyError, TypeError, ValueError, AttributeError):
            raise UpstreamUnavailable("Appwrite returned an unreadable row") from None
    return wrapper


class Connection:
    """One execution's access to Appwrite with its key (the transport, and so the connections, are the process's)."""

    def __init__(self, settings: Settings, key: str, transport: Transport = POOL) -> None:
        self.settings = settings
        self.db = settings.database_id
        self._key = key
        self._transport = transport
        self.tables = TablesDB(self.client())

    def client(self, *, jwt: str | None = None, **headers: str) -> AppwriteClient:
        """A client with the execution's key, or, given a `jwt`, one that acts as that JWT's user (and no key)."""
        client = AppwriteClient(self.settings.upstream_timeout_seconds, self._transport)
        client.set_endpoint(self.settings.endpoint).set_project(self.settings.project_id)
        if jwt is None:
            client.set_key(self._key)
        else:
            client.set_jwt(jwt)
        for name, value in headers.items():
            client.add_header(name, value)
        return client

    # --- one row --------------------------------------------------------------------------------

    def get(self, table: str, row_id: str) -> Any:
        return read(self.tables.get_row, self.db, table, row_id)

    def create(self, table: str, row_id: str, data: dict, permissions: list[str] | None = None) -> Any:
        """A new row; `permissions`: its own (read only where the table has row security), none by default."""
        return call(self.tables.create_row, self.db, table, row_id, data, permissions)

    def update(self, table: str, row_id: str, data: dict) -> Any:
        """A partial update: Appwrite merges the given columns into the row, under its lock."""
        return call(self.tables.update_row, self.db, table, row_id, data)

    def delete(self, table: str, row_id: str) -> None:
        call(self.tables.delete_row, self.db, table, row_id)

    def update_if_unchanged(self, table: str, row_id: str, data: dict, updated_at: str) -> Any:
        """Write `data` only if the row's $updatedAt is still `updated_at`, else StaleWrite (Appwrite answers 409:
        updateRow honours X-Appwrite-Timestamp, under the row's lock)."""
        return call(self._as_of(updated_at).update_row, self.db, table, row_id, data)

    def delete_if_unchanged(self, table: str, row_id: str, updated_at: str) -> None:
        """Delete the row only if its $updatedAt is still `updated_at` (deleteRow honours the header too)."""
        call(self._as_of(updated_at).delete_row, self.db, table, row_id)

    def _as_of(self, updated_at: str) -> TablesDB:
        return TablesDB(self.client(**{"x-appwrite-timestamp": updated_at}))

    def bump(self, table: str, row_id: str, column: str, by: int, bound: int | None) -> Any:
        """Appwrite's atomic increment (`by` > 0, up to `bound`) or decrement (`by` < 0, down to `bound`); Spent when
        the bound refuses it (nothing changed), RowMissing when there is no row."""
        if by >= 0:
            return call(self.tables.increment_row_column, self.db, table, row_id, column, by, bound)
        return call(self.tables.decrement_row_column, self.db, table, row_id, column, -by, bound)

    def bump_or_create(self, table: str, row_id: str, column: str, bound: int | None, new_row: dict,
                       keeps_changing: str) -> Any:
        """One more on `column`, atomically and never past `bound` (None: no bound), creating the row as `new_row`
        (which holds `column` at 1) when it does not exist yet: the row as it stands after the write. Spent when
        the bound refuses (for a missing row: a bound below 1)."""
        def bump() -> Any:
            try:
                return self.bump(table, row_id, column, 1, bound)
            except RowMissing:  # Appwrite: 404 column_not_found for a missing row
                if bound is not None and bound < 1:
                    raise Spent("the bound leaves no room for a first one") from None
                raise
        return self.write_or_create(table, row_id, bump, new_row, keeps_changing)

    def write_or_create(self, table: str, row_id: str, write: Callable[[], T], new_row: dict,
                        keeps_changing: str) -> T:
        """`write` the row; if it does not exist, create it as `new_row`; if someone created it meanwhile (409),
        write theirs. Two rounds, then UpstreamUnavailable(keeps_changing)."""
        for _ in range(2):
            try:
                return write()
            except RowMissing:
                pass
            try:
                return self.create(table, row_id, new_row)
            except RowExists:  # created meanwhile: write theirs
                continue
        raise UpstreamUnavailable(keeps_changing)

    # --- many rows ------------------------------------------------------------------------------

    def rows(self, table: str, queries: list[str]) -> list[Any]:
        """The rows one list request answers (the caller sets the limit)."""
        return read(self.tables.list_rows, self.db, table, queries, total=False).rows

    def rows_and_total(self, table: str, queries: list[str]) -> tuple[list[Any], int]:
        """The rows one list request answers, and how many rows the queries select (Appwrite counts them in the
        same request, exact up to 5,000)."""
        answer = read(self.tables.list_rows, self.db, table, queries, total=True)
        return answer.rows, int(answer.total)

    def count(self, table: str, queries: list[str]) -> int:
        """How many rows the queries select: one request, exact up to Appwrite's count limit (5,000,
        APP_LIMIT_COUNT)."""
        answer = read(self.tables.list_rows, self.db, table, [*queries, Query.select(["$id"]), Query.limit(1)],
                      total=True)
        return int(answer.total)

    def upsert_many(self, table: str, rows: list[dict]) -> list[Any]:
        """Several rows in one request (upsertRows: each names its `$id`; a row not there yet is created; an atomic
        operator in a value is applied, per row): the rows as Appwrite read them back after its commit."""
        return call(self.tables.upsert_rows, self.db, table, rows).rows

    def delete_where(self, table: str, queries: list[str]) -> int:
        """Delete every row the queries select: one bulk request (deleteRows); how many it deleted."""
        return int(call(self.tables.delete_rows, self.db, table, queries).total)

    def walk(self, table: str, queries: list[str], page: int = PAGE_LIMIT, first: int | None = None) -> Iterator[Any]:
        """Every row the queries select, a page per request (`first`: the first page's size, if smaller), read as
        the caller goes."""
        cursor: list[str] = []
        size = first or page
        while True:
            rows = self.rows(table, [*queries, Query.limit(size), *cursor])
            yield from rows
            if len(rows) < size:
                return
            cursor = [Query.cursor_after(rows[-1].id)]
            size = page

    def first(self, table: str, queries: list[str], limit: int) -> list[Any]:
        """The first `limit` rows the queries select, read page by page (never a page more than needed)."""
        return list(itertools.islice(self.walk(table, queries, page=min(limit, PAGE_LIMIT)), limit))

    def page(self, table: str, queries: list[str], limit: int, cursor: str | None,
             convert: Callable[[Any], T]) -> tuple[list[T], str | None]:
        """The paging rule, once: ask for one row more than the page; if it came, the page's last row is the cursor
        of the next page."""
        rows = self.rows(table, [*queries, Query.limit(limit + 1), *([Query.cursor_after(cursor)] if cursor else [])])
        items = [convert(row) for row in rows[:limit]]
        return items, (rows[limit - 1].id if len(rows) > limit else None)
