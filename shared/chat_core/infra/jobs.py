"""The `jobs` table: one row per job, and the one lease on it (`lastRunAt`, `holder`).

Two jobs use it. The fold (and the repair) hold the lease while they run and give it back when done; the idle sweep
takes it to start at most once a minute and never gives it back (its lease is that minute). Both take it the same
way: read the row, and if nobody holds a lease younger than the duration, write a new one conditionally (two racing
callers cannot both get it); a write whose answer is lost is read back, the row naming its holder.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from chat_core.domain.model import iso, parse_time
from chat_core.errors import UpstreamUnavailable
from chat_core.infra.connection import Connection, RowExists, RowMissing, StaleWrite

TABLE = "jobs"


@dataclass(frozen=True)
class Lease:
    name: str
    holder: str
    updated_at: str


class Jobs:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def lease(self, name: str, now: datetime, duration: timedelta, *, force: bool = False) -> Lease | None:
        """The job's lease if nobody holds one younger than `duration` (`force`: whatever its age), else None.
        A `lastRunAt` later than `now` (another instance's clock ahead of ours, or a row written by hand) is no
        lease: a lease is only ever as old as `duration`, and a stamp from the future would otherwise keep the job
        from running until the clocks catch up. Costs one request when the lease is held, two otherwise."""
        holder = secrets.token_hex(8)
        data = {"lastRunAt": iso(now), "holder": holder}
        try:
            row = self._conn.get(TABLE, name)
        except RowMissing:
            before, write = None, partial(self._conn.create, TABLE, name, data)
        else:
            last = parse_time(row.data.get("lastRunAt"))
            if not force and last is not None and timedelta(0) <= now - last < duration:
                return None
            before, write = row.updatedat, partial(self._conn.update_if_unchanged, TABLE, name, data, row.updatedat)
        try:
            return Lease(name, holder, self._write(name, holder, before, write))
        except (RowExists, StaleWrite):
            return None

    def release(self, lease: Lease) -> None:
        """Give the lease back, unless someone took it over meanwhile (then it is theirs)."""
        write = partial(self._conn.update_if_unchanged, TABLE, lease.name, {"lastRunAt": None, "holder": None},
                        lease.updated_at)
        try:
            self._write(lease.name, None, lease.updated_at, write)
        except UpstreamUnavailable:  # not applied: once more
            with contextlib.suppress(StaleWrite, RowMissing):
                self._write(lease.name, None, lease.updated_at, write)
        except (StaleWrite, RowMissing):
            pass

    def _write(self, name: str, holder: str | None, before: str | None, write: Callable[[], Any]) -> str:
        """The row's new $updatedAt after `write`. If the answer is lost, read back: our holder means it landed,
        an unchanged row that it did not (UpstreamUnavailable: try again), anything else that someone came first."""
        try:
            return write().updatedat
        except UpstreamUnavailable:
            try:
                row = self._conn.get(TABLE, name)
            except RowMissing:
                raise UpstreamUnavailable("Appwrite is unreachable or failing; try again") from None
            if row.data.get("holder") == holder:
                return row.updatedat
            if row.updatedat == before:
                raise
            raise StaleWrite("someone else wrote the lease") from None
