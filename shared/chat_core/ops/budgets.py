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

Each budget is one row per calendar minute in the `limits` table. A shared budget (the guests', the project's
ceiling) spent alone is counted with Appwrite's bounded atomic increment (max = the limit): one request per use (two
for a window's first use, which creates the row), no read, no race; a refusal costs that one request and holds
nothing. A signed-in visitor's own rows start cold for every new visitor and every minute: they are counted with one
upsertRows (an unbounded increment that creates the row, compared with the limit after, given back if over: a
refusal costs two), as the pair below is, which only that visitor's own requests can contend. A refused request
changes nothing: a budget taken before a later one refused is given back. The idle sweep drops past windows.

A signed-in visitor's message that also puts its session in the queue (it asks for a person, or the FAQ bot hands off)
spends two budgets of its owner, messages and escalations: both in ONE request (`take_message_and_escalation`:
upsertRows, each row's `used` an unbounded atomic increment, a window's first use included: the upsert creates the
row). Each `used` Appwrite answers is compared with its limit; if one is over, every unit this request took is
given back (one more upsertRows, a decrement bounded at 0) and the request is refused as a single take would refuse
it (429, the over budget's code, label and retryAfterSeconds). Only the bot's hand-off over the escalation budget
keeps the message's unit: the message goes in, the bot stays quiet. A guest's pair (the guests' shared rows) is two
bounded takes, message first, as `take_message_and_escalation` says why.

Why that stays exact. Appwrite answers an upsert with operators with the rows as it reads them back after its commit
(utopia-php/database `Database::upsertDocumentsWithIncrease`, `refetchDocuments`), so an admitted caller read a
value v <= limit that counts its own unit and every unit held at that instant. Take the admitted caller whose check
came last (that read, or a bounded increment's commit): every other admitted unit was committed before its own
check, so before this one, and is still held (an admitted unit is given back only when what it paid for did not
happen: its request failed after, or its write found the session waiting already; then it counts nowhere). So the
admitted never exceed the limit. The price falls on the other side: while a refused caller's unit is held
(between its upsert and its give-back), a concurrent caller at the edge reads one more than is really spent, or
meets the bounded increment's bound, and may be refused although the minute had room: a wrong refusal, never a
wrong admission. Not a clamped increment (max = limit + 1): a clamped write that added nothing would still read the
row after its commit, perhaps after others gave theirs back, and be admitted without holding a unit.

A session start's two budgets (the caller's and the project's ceiling) are NOT taken together: a refused guest's
upsert would hold a unit of the project-wide ceiling until its give-back, and a flood of refused guests could keep
the ceiling spent for everyone. Taken one after the other, a caller refused by their own budget never touches it.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, replace
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
    return _take_all(core, [_message_budget(core, session)], lambda b: _refusal(core, b, "messages"))[0]


def take_escalation(core: Core, session: Session) -> str:
    """Count a session's entry into the human queue on the visitor's behalf (their own request, a message asking
    for a person, the bot's hand-off) against its owner's budget, or the guests'. Staff putting a session in the
    queue take none. Returns what `give_back` needs."""
    return _take_all(core, [_escalation_budget(core, session)], lambda b: _refusal(core, b, "escalations"))[0]


@dataclass(frozen=True)
class Pair:
    """What a message took: the message budget's row (None: not a visitor's message), and the escalation budget's
    (None: none taken, or the bot's hand-off found it spent: `declined` says why)."""

    message: str | None
    escalation: str | None
    declined: str | None = None


def take_message_and_escalation(core: Core, session: Session, *, hand_off: bool = False) -> Pair:
    """A visitor message that puts its session in the queue: its owner's message and escalation budgets, in one
    request (the module docstring says why that is exact). Refused (429) as `take_message`, else `take_escalation`,
    would refuse, after giving back both units. `hand_off` (the FAQ bot hands off, not the visitor's words): when
    only the escalation budget is spent, the message keeps its unit (the message goes in) and the escalation's is
    given back: `Pair(message, None, why)`.

    A guest's pair is taken one after the other (message first, each bounded), as before: the guests' rows are
    shared by every guest, and in one upsert a flood of guest messages refused by a spent message budget would hold
    units of the guests' escalation budget while in flight, refusing other guests' escalations far from its edge.
    A signed-in owner's rows are their own: only their own requests can hold them."""
    message, escalation = _message_budget(core, session), _escalation_budget(core, session)
    if not session.owner_id:
        return _one_after_the_other(core, session, hand_off)
    if message.limit <= 0:
        raise _refusal(core, message, "messages")
    if escalation.limit <= 0:  # nothing to count: the message alone, or a refusal, without a request for it
        if not hand_off:
            raise _refusal(core, escalation, "escalations")
        return Pair(take_message(core, session), None, _refusal(core, escalation, "escalations").message)
    start = window_start(core.now)
    rows = [(row_id(message.name, start), message.name), (row_id(escalation.name, start), escalation.name)]
    used = core.gateway.limits.take_together(rows, start)
    message_over, escalation_over = used[0] > message.limit, used[1] > escalation.limit
    if escalation_over and hand_off and not message_over:
        core.gateway.limits.give_back(rows[1][0])
        return Pair(rows[0][0], None, _refusal(core, escalation, "escalations").message)
    if message_over or escalation_over:
        core.gateway.limits.give_back_together(rows, start)
        raise _refusal(core, message, "messages") if message_over else _refusal(core, escalation, "escalations")
    return Pair(rows[0][0], rows[1][0])


def take_escalation_or_decline(core: Core, session: Session, *, hand_off: bool) -> Pair:
    """The escalation budget alone (`Pair(None, row)`). Refused: a bot's hand-off is declined (`Pair(None, None,
    why)`: the message it answers still goes in), any other escalation refused (429)."""
    try:
        return Pair(None, take_escalation(core, session))
    except TooManyRequests as exc:
        if not hand_off:
            raise
        return Pair(None, None, exc.message)


def _one_after_the_other(core: Core, session: Session, hand_off: bool) -> Pair:
    """The pair as two bounded takes, the message's first: a refused message never touches the escalation row."""
    message = take_message(core, session)
    try:
        return replace(take_escalation_or_decline(core, session, hand_off=hand_off), message=message)
    except TooManyRequests:
        give_back(core, message)
        raise


def _message_budget(core: Core, session: Session) -> Budget:
    settings = core.settings
    return _visitor_budget(session, "messages", settings.user_messages_per_minute, settings.guest_messages_per_minute)


def _escalation_budget(core: Core, session: Session) -> Budget:
    settings = core.settings
    return _visitor_budget(session, "escalations", settings.user_escalations_per_minute,
                           settings.guest_escalations_per_minute)


def _visitor_budget(session: Session, kind: str, user_limit: int, guest_limit: int) -> Budget:
    """The session owner's `kind` budget, or the guests' when it has none."""
    if session.owner_id:
        return Budget(f"{kind}:user:{session.owner_id}", "user", user_limit)
    return Budget(f"{kind}:guests", "guests", guest_limit)


def _refusal(core: Core, budget: Budget, what: str) -> TooManyRequests:
    return TooManyRequests(f"too many {what} this minute ({budget.label} budget: {budget.limit})",
                           code="rate_limited", budget=budget.label, retryAfterSeconds=_retry_after(core.now))


def take_heartbeat(core: Core, session: Session) -> str:
    """Count a write of the visitor's presence (a heartbeat, or a waiting visitor's poll that refreshes lastSeen)
    against the session owner's budget, or the guests'. Returns what `give_back` needs."""
    budget = _visitor_budget(session, "heartbeats", core.settings.user_heartbeats_per_minute,
                             core.settings.guest_heartbeats_per_minute)
    return _take_all(core, [budget], lambda b: _refusal(core, b, "heartbeats"))[0]


def give_back(core: Core, taken: str) -> None:
    core.gateway.limits.give_back(taken)


def _take_all(core: Core, budgets: list[Budget], refuse) -> list[str]:
    start = window_start(core.now)
    taken: list[str] = []
    for budget in budgets:
        rid = row_id(budget.name, start)
        if budget.limit > 0 and _take_one(core, budget, rid, start):
            taken.append(rid)
            continue
        for earlier in taken:  # refused: what this request took from earlier budgets goes back
            core.gateway.limits.give_back(earlier)
        raise refuse(budget)
    return taken


def _take_one(core: Core, budget: Budget, rid: str, start: datetime) -> bool:
    """One unit of `budget`. A signed-in visitor's own row (label "user"): one upsertRows whose increment creates the
    row on the minute's first use, compared with the limit after (given back if over: a refusal costs two requests),
    since every new visitor's rows start cold and the bounded increment would add a create to each first use; only
    the owner's own requests can hold units of it. Shared rows (the guests', the project's ceiling) stay warm and keep
    the bounded increment, whose refusal holds nothing (see the module docstring)."""
    if budget.label != "user":
        return core.gateway.limits.take(rid, budget.name, start, budget.limit)
    if core.gateway.limits.take_together([(rid, budget.name)], start)[0] <= budget.limit:
        return True
    core.gateway.limits.give_back(rid)
    return False


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
