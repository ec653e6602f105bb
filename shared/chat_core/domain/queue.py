"""The queue's arithmetic: the expected wait from a position, the free slots and the queue's recent rate (pure;
the counts are read by `ops/queueing.py`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

COUNT_LIMIT = 5000  # Appwrite's APP_LIMIT_COUNT: a list's total stops there


def estimate(position: int, free: int, taken_in_window: Callable[[], int], window: timedelta) -> int | None:
    """Seconds until `position + 1` sessions have left the queue, at the rate they left it during `window`
    (`taken_in_window()`, called only when needed). Free slots take the first ones at once."""
    needed = position + 1 - free
    if needed <= 0:
        return 0
    taken = taken_in_window()
    if not taken:
        return None
    return round(needed * window.total_seconds() / taken)
