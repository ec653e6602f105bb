"""Per-minute budgets: how many sessions, visitor messages, escalations and heartbeats a caller may make, keyed on
what it cannot forge.

What a function can trust about an anonymous caller (docs/security.md): not `x-appwrite-client-ip` nor any other
`x-appwrite-*` header (forgeable), and Appwrite does not rate-limit executions. What it can trust:
- a verified Appwrite JWT: the user it names exists, and Appwrite itself limits how fast one real IP can make
  users (anonymous sessions: 50 an hour per IP). So a signed-in visitor (the widget signs visitors in
  anonymously) gets budgets of their own: sessions started, and messages posted, escalations and heartbeats
  across all their sessions.
- nothing else: every caller without a JWT draws on one budget shared by all of them ("guests"), which no header
  can get around. A session remembers its owner, so its messages, escalations and heartbeats draw on the owner's
  budget, or the guests'.
- one project-wide ceiling on new sessions, whoever starts them: the rate the idle sweep is sized for.
The AI bot and admin tools (their secrets) have no budget of their own but count toward the ceiling.

Each budget is one row per calendar minute in the `limits` table, counted with Appwrite's bounded atomic
increment: one request per use (two for a window's first use), no read, no race. A refused request changes
nothing: a budget taken before a later one refused is given back. The idle sweep drops past windows.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from chat_core.domain.model import Session
from chat_core.errors import ChatError, TooManyRequests

if TYPE_CHECKING:  # service imports this module
    from chat_core.core import Core

WINDOW = timedelta(minutes=1)
KEEP_WINDOWS = 2  # past windows kept before the sweep drops them (a late request lands in a live row)


@dataclass(frozen=True)
class Budget:
    name: str  # what it limits, for whoever reads the table: "sessions:guests", "messages:user:<id>", ...
    label: str  # what a refused caller is told: "project", "guests", "user", ...
    limit: int


def window_start(now: datetime) -> datetime:
    return now.replace(second=0, microsecond=0)


def row_id(name: str, start: datetime) -> str:
    """One row per budget and minute: a hash of the name (user IDs are up to 36 characters) and the minute."""
    minute = int(start.timestamp()) // 60
    return f"b_{hashlib.sha256(name.encode()).hexdigest()[:24]}_{minute}"


def take_session(core: Core) -> None:
    """Count a new session against the caller's budget and the project's ceiling, or refuse with 429."""
    settings, caller = core.settings, core.caller
    budgets = []
    if caller.kind == "user":  # the JWT was verified when create_session asked who owns the session
        budgets.append(Budget(f"sessions:user:{caller.user_id}", "user", settings.user_sessions_per_minute))
    elif caller.kind not in ("admin", "bot"):  # anonymous, or a forged trigger: a guest either way
        budgets.append(Budget("sessions:guests", "guests", settings.guest_sessions_per_minute))
    budgets.append(Budget("sessions:all", "project", settings.sessions_per_minute))
    _take_all(core, budgets, lambda b: TooManyRequests(
        f"too many new sessions this minute ({b.label} budget: {b.limit})", code="too_many_sessions",
        budget=b.label, retryAfterSeconds=_retry_after(core.now)))


def take_message(core: Core, session: Session) -> str:
    """Count a visitor message against its session owner's budget (all their sessions), or the guests'. Returns
    what `give_back` needs if the message is refused later."""
    settings = core.settings
    if session.owner_id:
        budget = Budget(f"messages:user:{session.owner_id}", "user", settings.user_messages_per_minute)
    else:
        budget = Budget("messages:guests", "guests", settings.guest_messages_per_minute)
    return _take_all(core, [budget], lambda b: TooManyRequests(
        f"too many messages this minute ({b.label} budget: {b.limit})", code="rate_limited",
        budget=b.label, retryAfterSeconds=_retry_after(core.now)))[0]


def take_escalation(core: Core, session: Session) -> str:
    """Count a session's entry into the human queue on the visitor's behalf (their own request, a message asking
    for a person, the bot's hand-off) against its owner's budget, or the guests'. Staff putting a session in the
    queue take none. Returns what `give_back` needs."""
    return _take_visitors(core, session, "escalations", core.settings.user_escalations_per_minute,
                          core.settings.guest_escalations_per_minute, "escalations")


def take_heartbeat(core: Core, session: Session) -> str:
    """Count a write of the visitor's presence (a heartbeat, or a waiting visitor's poll that refreshes lastSeen)
    against the session owner's budget, or the guests'. Returns what `give_back` needs."""
    return _take_visitors(core, session, "heartbeats", core.settings.user_heartbeats_per_minute,
                          core.settings.guest_heartbeats_per_minute, "heartbeats")


def _take_visitors(core: Core, session: Session, kind: str, user_limit: int, guest_limit: int, what: str) -> str:
    if session.owner_id:
        budget = Budget(f"{kind}:user:{session.owner_id}", "user", user_limit)
    else:
        budget = Budget(f"{kind}:guests", "guests", guest_limit)
    return _take_all(core, [budget], lambda b: TooManyRequests(
        f"too many {what} this minute ({b.label} budget: {b.limit})", code="rate_limited",
        budget=b.label, retryAfterSeconds=_retry_after(core.now)))[0]


def give_back(core: Core, taken: str) -> None:
    core.gateway.limits.give_back(taken)


def _take_all(core: Core, budgets: list[Budget], refuse) -> list[str]:
    start = window_start(core.now)
    taken: list[str] = []
    for budget in budgets:
        rid = row_id(budget.name, start)
        if budget.limit > 0 and core.gateway.limits.take(rid, budget.name, start, budget.limit):
            taken.append(rid)
            continue
        for earlier in taken:  # refused: what this request took from earlier budgets goes back
            core.gateway.limits.give_back(earlier)
        raise refuse(budget)
    return taken


def _retry_after(now: datetime) -> int:
    return max(1, math.ceil((window_start(now) + WINDOW - now).total_seconds()))


def sweep(core: Core) -> int:
    """Drop the rows of past windows (one bulk delete); logged and skipped if Appwrite fails."""
    try:
        return core.gateway.limits.drop_windows(window_start(core.now) - KEEP_WINDOWS * WINDOW)
    except ChatError as exc:
        core.log(f"budget rows not dropped: {exc.code}")
        return 0


def give_back_all(core: Core, taken: list[str]) -> None:
    for name in taken:
        give_back(core, name)
