"""The context every operation takes: who calls, when, with which settings, and the gateway to Appwrite.

It sits below the operations so that any of them can import it (no operation imports another to get it)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from chat_core.config import Settings
from chat_core.domain.authz import Caller
from chat_core.errors import ChatError
from chat_core.infra.gateway import Gateway

if TYPE_CHECKING:  # not loaded by a function that never reads the queue (tests/test_importtime.py)
    from chat_core.domain.queue import Line


@dataclass
class Core:
    """One execution's context: its gateway, settings, caller, clock and log."""

    gateway: Gateway
    settings: Settings
    caller: Caller
    now: datetime
    log: Callable[[str], None] = print
    # The clock itself, for what must say when it happened rather than when the execution started (`read_time`);
    # None: `now` (tests that move time by hand).
    clock: Callable[[], datetime] | None = None
    # The queue's line as this request last wrote it to the queue's row (ops.signals), if it did: the answer counts
    # the visitor's place from it (ops.queueing) instead of reading the row back.
    queue_line: Line | None = None
    # The line an escalation counted before its write, this wait in it (ops.queueing.entering): the queue's row of
    # the next write that moves the queue, instead of a read after it.
    line_ahead: Line | None = None

    def read_time(self) -> datetime:
        """The time a read that figures are ordered by starts (the queue's line, ops.signals and ops.queueing): the
        clock, not `now`, since an execution may read the line a minute after it started (the minute's pass after its
        fold, the idle sweep after many closes), and a row or figures stamped with that start would rank behind a
        move that landed meanwhile."""
        return self.clock() if self.clock is not None else self.now


T = TypeVar("T")


def best_effort(core: Core, what: str, action: Callable[[], T], default: T | None = None) -> T | None:
    """Work after a change that landed (a slot given back, an auto-assignment pass): a failure is logged with `what`,
    never the caller's error."""
    try:
        return action()
    except ChatError as exc:
        core.log(f"{what} ({exc.code})")
        return default
