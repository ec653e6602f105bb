"""The queue's arithmetic (pure; the reads are `ops/queueing.py`'s and `ops/signals.py`'s): the expected wait from a
position, the free slots and the queue's recent rate; and the queue's line, what the `queue` signal row carries so
that a waiting visitor's place follows every move without a count.

The line: the first LINE_SIZE waiting sessions in the order they started waiting (escalatedAt), each as its
ordering key only (when it started waiting, to the millisecond, and whether its visitor is signed in), and how many
wait in all. No session ID, nothing identifying. A waiting visitor knows their own key (their session's escalatedAt
and whether it has an owner), so their place is counted from the line: the signed-in visitors ahead of them (the
queue serves signed-in visitors first), then, for a guest, the guests who started waiting earlier. The widget
counts it the same way from the row it receives (web/widget/queue.js).

Each line and each visitor's figures carry when they were counted (`as_of`: the time of the read behind them; the
row's `at`), so that a line older than the figures told (a row a failed or late write left behind) never takes their
place (`older`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

from chat_core import jsonio
from chat_core.domain.model import Queue

COUNT_LIMIT = 5000  # Appwrite's APP_LIMIT_COUNT: a list's total stops there
LINE_SIZE = 100  # waiters the line holds; beyond, a visitor's place is the figure kept on their session
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Line:
    """The first waiters in the order they started waiting, (escalatedAt in ms, signed in) each, and how many wait
    (Appwrite's count: up to COUNT_LIMIT)."""

    waiting: int
    entries: tuple[tuple[int, bool], ...] = ()
    # When it was read (the request's `now`; on the queue's row, its `at`); None: not known (not from a read).
    as_of: datetime | None = None


def key_ms(moment: datetime) -> int:
    """A wait's key: when it started, in whole milliseconds since the epoch (as Appwrite stores it: truncated)."""
    return (moment - EPOCH) // timedelta(milliseconds=1)


def with_entry(line: Line, at: datetime, signed_in: bool) -> Line:
    """The line once a wait that starts at `at` joined it (in its place by time; the line keeps LINE_SIZE)."""
    key = key_ms(at)
    entries = [*line.entries]
    spot = sum(1 for entry_at, _ in entries if entry_at <= key)
    if spot < len(entries) or line.waiting == len(entries):  # within the line, or the line holds everyone
        entries.insert(spot, (key, signed_in))
    return Line(line.waiting + 1, tuple(entries[:LINE_SIZE]), line.as_of)


def of_sessions(keys: list[tuple[datetime, bool]], as_of: datetime | None = None) -> Line:
    """The line of a whole queue, read in full ((escalatedAt, signed in) of every waiting session) at `as_of`."""
    return Line(len(keys), tuple(sorted((key_ms(at), signed) for at, signed in keys))[:LINE_SIZE], as_of)


def older(line: Line, told: Queue) -> bool:
    """Whether `line` was read before the figures `told` were counted (to the millisecond, as both are stored): a
    row that a failed or late write left behind. Either time unknown (written before times were carried): not
    older."""
    return (line.as_of is not None and told.as_of is not None
            and key_ms(line.as_of) < key_ms(told.as_of))


def place(line: Line, escalated_at: datetime | None, signed_in: bool) -> tuple[int, int] | None:
    """(position, waiting) of the wait that started at `escalated_at`, counted from the line; None when the line
    does not hold it (it lies beyond the line, or the line was read before it started waiting) or when a guest's
    place depends on signed-in visitors beyond the line. Two waits that started in the same millisecond are both
    told the smaller place (one of them is one too optimistic)."""
    if escalated_at is None:
        return None
    own = (key_ms(escalated_at), signed_in)
    if own not in line.entries:
        return None
    signed = sum(1 for _, s in line.entries if s)
    if signed_in:
        return sum(1 for at, s in line.entries if s and at < own[0]), line.waiting
    if line.waiting > len(line.entries):  # signed-in visitors may wait beyond the line: they go first
        return None
    return signed + sum(1 for at, s in line.entries if not s and at < own[0]), line.waiting


def follow(told: Queue, position: int, waiting: int, as_of: datetime | None) -> Queue:
    """The figures told before, moved to a new place counted from a line read at `as_of` (which they now carry):
    the expected wait follows the sessions still to leave the queue at the same rate (exact while no slot is free;
    else the next computation brings it)."""
    expected = told.expected_wait_seconds
    if expected:  # rounded half up, as the widget's Math.round
        expected = (2 * expected * (position + 1) + told.position + 1) // (2 * (told.position + 1))
    return replace(told, position=position, waiting=waiting, expected_wait_seconds=expected, as_of=as_of)


def encode(line: Line) -> str:
    """The row's `line` column: {"waiting": n, "from": first key, "at": [keys - first], "guests": [indexes]}."""
    first = line.entries[0][0] if line.entries else 0
    return jsonio.dumps({"waiting": line.waiting, "from": first, "at": [at - first for at, _ in line.entries],
                         "guests": [n for n, (_, signed) in enumerate(line.entries) if not signed]})


def decode(raw: str | None, as_of: datetime | None = None) -> Line | None:
    """The line a row holds, read at `as_of` (the row's `at`); None for a row without one (written before this
    version) or unreadable."""
    try:
        data = jsonio.loads(raw or "")
        first, guests = int(data["from"]), set(data["guests"])
        return Line(int(data["waiting"]), tuple((first + int(at), n not in guests) for n, at in enumerate(data["at"])),
                    as_of)
    except (ValueError, TypeError, KeyError):  # NotStrictJSON is a ValueError
        return None


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
