"""What starts a function on the local stack besides a call (``devstack.functions``): the row events a function's
``events`` subscribe to (the three spellings of a row event), and its ``schedule``, a 5-field UTC cron expression
fired once per matching minute (a schedule is active only with a ready deployment: ``Builds.php``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .functions import FunctionRuntime

log = logging.getLogger("devstack.functions")

# --------------------------------------------------------------------------- events

# The three spellings of a row event: the header uses the first, subscriptions may use any.
_SPELLINGS = (("databases", "collections", "documents"), ("databases", "tables", "rows"),
              ("tablesdb", "tables", "rows"))


def event_names(database_id: str, table_id: str, row_id: str, action: str) -> list[str]:
    """Every concrete name a row event answers to; the first is the ``x-appwrite-event`` value."""
    names = []
    for service, tables, rows in _SPELLINGS:
        names += [
            f"{service}.{database_id}.{tables}.{table_id}.{rows}.{row_id}.{action}",
            f"{service}.{database_id}.{tables}.{table_id}.{rows}.{row_id}",
            f"{service}.{database_id}.{tables}.{table_id}",
            f"{service}.{database_id}",
        ]
    return names


def event_matches(pattern: str, names: Iterable[str]) -> bool:
    """A pattern matches a name segment by segment, ``*`` standing for any one segment."""
    wanted = pattern.split(".")
    for name in names:
        parts = name.split(".")
        if len(parts) == len(wanted) and all(w in ("*", p) for w, p in zip(wanted, parts, strict=True)):
            return True
    return False


# --------------------------------------------------------------------------- cron

_ALIASES = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
            "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
            "@hourly": "0 * * * *"}
_BOUNDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))


def _cron_field(text: str, low: int, high: int) -> set[int]:
    values: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if base == "*":
            start, end = low, high
        elif "-" in base:
            start, end = (int(x) for x in base.split("-", 1))
        else:
            start = int(base)
            end = high if step_text else start  # "5/15" means from 5 every 15
        if step < 1 or not low <= start <= end <= high:
            raise ValueError(f"cron field out of range: {part!r}")
        values.update(range(start, end + 1, step))
    return values


class Cron:
    """A 5-field cron expression (minute hour day-of-month month day-of-week), UTC like Appwrite."""

    def __init__(self, expression: str) -> None:
        fields = _ALIASES.get(expression.strip(), expression).split()
        if len(fields) != 5:
            raise ValueError(f"cron needs 5 fields: {expression!r}")
        self.minutes, self.hours, self.days, self.months, weekdays = (
            _cron_field(text, *bounds) for text, bounds in zip(fields, _BOUNDS, strict=True))
        self.weekdays = {d % 7 for d in weekdays}  # 7 is Sunday too
        # Vixie cron: when both day fields are restricted, either one may match.
        self._either_day = not fields[2].startswith("*") and not fields[4].startswith("*")

    def matches(self, when: datetime) -> bool:
        if when.minute not in self.minutes or when.hour not in self.hours or when.month not in self.months:
            return False
        day_ok = when.day in self.days
        weekday_ok = (when.weekday() + 1) % 7 in self.weekdays
        return (day_ok or weekday_ok) if self._either_day else (day_ok and weekday_ok)



# --------------------------------------------------------------------------- scheduler


class Scheduler:
    """Fires each function's ``schedule`` once per matching UTC minute on a daemon thread."""

    def __init__(self, runtime: FunctionRuntime) -> None:
        self._runtime = runtime
        self._crons: dict[str, Cron] = {}
        self._last_minute = _minute(datetime.now(timezone.utc))  # no burst of fires at start
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = False
        self.refresh()

    def refresh(self) -> None:
        """Re-read the functions' schedules; a function without a ready deployment has none (Builds.php: a
        schedule is active only with a deploymentId)."""
        crons: dict[str, Cron] = {}
        for spec in list(self._runtime.functions.values()):
            if spec.schedule and spec.enabled and spec.id not in self._runtime.undeployed:
                try:
                    crons[spec.id] = Cron(spec.schedule)
                except ValueError as exc:
                    log.warning("function %s: schedule ignored: %s", spec.id, exc)
        self._crons = crons
        if self._started:
            self.start()

    def tick(self, now: datetime) -> list[str]:
        """Fire what matches ``now``'s minute, once; returns the started execution IDs."""
        minute = _minute(now)
        if minute == self._last_minute:
            return []
        self._last_minute = minute
        return [self._runtime.fire_schedule(fid)["$id"] for fid, cron in self._crons.items()
                if cron.matches(minute)]

    def start(self) -> None:
        self._started = True
        if self._crons and self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="devstack-cron", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(60.5 - datetime.now(timezone.utc).second):
            try:
                self.tick(datetime.now(timezone.utc))
            except Exception:
                log.exception("scheduler tick failed")


def _minute(when: datetime) -> datetime:
    return when.replace(second=0, microsecond=0)
