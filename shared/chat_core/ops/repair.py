"""Repair (POST list-sessions /recount, `sessions repair`): rebuilds the counters as the sum of what every session
says is counted (exact while traffic runs: only folds change that, and the repair holds their lease), sets
`messageCount` to the stored rows for sessions that nobody wrote for `settle` (an admission's row is stored within
one execution), and sets each agent's load to the sessions they hold (`ops.agents.repair_loads`)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from chat_core.domain import authz, rules
from chat_core.domain.model import Change, CounterRow, Session, iso, parse_time
from chat_core.errors import ChatError, Conflict
from chat_core.ops import agents
from chat_core.ops.consistency import commit
from chat_core.ops.counters import FOLD_JOB, FOLD_LEASE, global_batch, release, settle_batch, sums

if TYPE_CHECKING:
    from chat_core.core import Core


def repair(core: Core, settle: timedelta) -> dict:
    """Rebuild the counters from the sessions' ledger and every settled session's messageCount from its stored
    rows. `settle` 0 (after a crash, with nothing running) also takes over a lease a dead fold left."""
    lease = core.gateway.jobs.lease(FOLD_JOB, core.now, FOLD_LEASE, force=not settle)
    if lease is None:
        raise Conflict("a fold or a repair is running; try again in a minute", code="busy")
    try:
        counters = _rebuild(core)
        messages = _recount_messages(core, core.now - settle)
        rows = core.gateway.counters.rows()
        batch = global_batch(rows)
        summary_now = rules.summarize(sums(rows, core.gateway.sessions.pending(batch), batch))
    finally:
        release(core, lease)
    return {"summary": summary_now, "counters": counters, "messageCounts": messages}


def _rebuild(core: Core) -> dict:
    rows = core.gateway.counters.rows()
    batch = global_batch(rows)
    cut = core.gateway.sessions.in_fold(batch + 1)
    if cut:
        settle_batch(core, rows, batch + 1, cut)
        rows, batch = core.gateway.counters.rows(), batch + 1
    totals: rules.Totals = {None: {}}
    for session in core.gateway.sessions.all():
        rules.add(totals, rules.contribution(session.ledger.counted))
    by_key = {row.agent_id: row for row in rows}
    changed = 0
    for key in [*sorted(k for k in {*totals, *by_key} if k is not None), None]:
        row = by_key.get(key) or CounterRow(key, {})
        values = {name: totals.get(key, {}).get(name, 0) for name in rules.COUNTER_COLUMNS}
        if row.updated_at is None or values != {n: row.values.get(n, 0) for n in rules.COUNTER_COLUMNS}:
            core.gateway.counters.write(row, values, max(row.batch, batch))
            changed += 1
    return {"rows": len({*totals, *by_key}), "repaired": changed}


def _recount_messages(core: Core, settled_before: datetime) -> dict:
    """messageCount := stored rows, for sessions nobody wrote since `settled_before`. The rows are counted first:
    an admission older than that had its row stored (or never will) before the count began."""
    stored = core.gateway.messages.counts()
    repaired = unsettled = 0
    for session in core.gateway.sessions.all():
        if session.message_count == stored.get(session.id, 0):
            continue

        def decide(current: Session) -> Change:
            if parse_time(current.updated_at) >= settled_before:
                return Change(noop="unsettled")
            return Change(replace(current, message_count=stored.get(current.id, 0)))
        try:
            _, change = commit(core, session.id, decide, first=session)
        except ChatError as exc:
            core.log(f"repair: session {session.id} left as it is ({exc.code})")
            unsettled += 1
            continue
        if change.noop:
            unsettled += 1
        else:
            repaired += 1
    return {"repaired": repaired, "unsettled": unsettled}


def recount(core: Core, settle: timedelta) -> dict:
    """POST list-sessions /recount (admins): the counters rebuilt from the sessions, messageCount from the stored
    messages, agents' loads from the sessions they hold. Safe while traffic runs."""
    authz.require_admin(core.caller)
    repaired = repair(core, settle)
    loads = agents.repair_loads(core, settle, repaired["summary"]["agents"])  # after the summary: see there
    return {**repaired, "agentLoads": loads, "recountedAt": iso(core.now)}
