"""list-sessions' minute schedule: fold the sessions the counters do not hold yet into them, move what is left of
the audit trail, repair agents' loads left one high, and auto-assign whatever an event missed. Each part is bounded,
and a forged schedule call can only make it run sooner (the fold runs under a lease)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chat_core.errors import ChatError
from chat_core.ops import agents, counters

if TYPE_CHECKING:
    from chat_core.core import Core


def minute(core: Core) -> dict:
    moved = counters.fold(core)
    if moved is None:
        return {"folded": 0, "skipped": "running", "auditMoved": 0, **agents.periodic(core)}
    try:  # what the fold did not move of the audit trail; the next minute retries a failure
        swept = counters.sweep_audit(core)
    except ChatError as exc:
        core.log(f"audit: the sweep stopped ({exc.code}); the next run goes on")
        swept = 0
    return {"folded": moved, "skipped": None, "auditMoved": swept, **agents.periodic(core)}
