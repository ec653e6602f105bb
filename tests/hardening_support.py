"""Shared by the hardening tests: the truth computed straight from the fake's rows, and cheap table snapshots."""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

from chat_core.domain import audit, rules
from chat_core.infra import audit as audit_rows
from chat_core.infra import counters
from chat_core.infra import sessions as session_rows
from chat_core.ops.counters import sums

from devstack.fake import FakeAppwrite

TABLES = ("sessions", "messages", "counters", "audit")


def snapshot(fake: FakeAppwrite) -> str:
    """A digest of every row of every table (and the users): equal digests mean nothing was written."""
    digest = hashlib.sha256()
    conn = fake.engine._conn  # the engine's own SQLite connection: one query per table, no REST round trip
    for name in ("chat__sessions", "chat__messages", "chat__counters", "chat__audit", "_users"):
        for record in conn.execute(f'SELECT * FROM "{name}" ORDER BY _seq'):
            digest.update(repr(tuple(record)).encode())
        digest.update(b"|")
    return digest.hexdigest()


def truth_summary(sessions: list[dict]) -> dict:
    """What the summary must say, counted from the session rows themselves (a session closed as empty, on its way
    out, counts nowhere)."""
    sessions = [s for s in sessions if not (s["status"] == "closed" and s["closeReason"] == "empty")]
    by_status = Counter(s["status"] for s in sessions)
    agents = Counter(s["assignedAgent"] for s in sessions if s["status"] == "agent_assigned")
    rated = [s for s in sessions if s.get("ratingScore")]
    by_agent: dict = {}
    for s in rated:
        if s["assignedAgent"]:
            by_agent.setdefault(s["assignedAgent"], []).append(s["ratingScore"])
    return {
        "total": len(sessions),
        "byStatus": {status: by_status.get(status, 0) for status in ("active", "agent_assigned", "closed")},
        "needsHuman": sum(1 for s in sessions if s["status"] == "active" and s["needsHuman"]),
        "agents": dict(sorted(agents.items())),
        "ratings": {**_rated([s["ratingScore"] for s in rated]),
                    "byAgent": {agent: _rated(scores) for agent, scores in sorted(by_agent.items())}},
    }


def _rated(scores: list[int]) -> dict:
    return {"count": len(scores), "average": round(sum(scores) / len(scores), 2) if scores else None}


def rows(fake: FakeAppwrite, table: str) -> list[dict]:
    """Every row of a table, page by page (a single list stops at 5,000)."""
    found, cursor = [], []
    while True:
        page = fake.engine.list_rows("chat", table, [json.dumps({"method": "limit", "values": [1000]}), *cursor])
        found += page["rows"]
        if len(page["rows"]) < 1000:
            return found
        cursor = [json.dumps({"method": "cursorAfter", "values": [page["rows"][-1]["$id"]]})]


def _sdk_row(row: dict) -> SimpleNamespace:
    """A stored row as the SDK hands it to the gateway (its decoders take SDK models)."""
    return SimpleNamespace(id=row["$id"], data=row, createdat=row["$createdAt"], updatedat=row["$updatedAt"])


def ledger(fake: FakeAppwrite) -> tuple[list, list, int]:
    """(counter rows, sessions, the global row's batch) as the service decodes them."""
    counter_rows = [counters.from_row(_sdk_row(r)) for r in rows(fake, "counters")]
    sessions = [session_rows.from_row(_sdk_row(r)) for r in rows(fake, "sessions")]
    return counter_rows, sessions, next((r.batch for r in counter_rows if r.agent_id is None), 0)


def counted_summary(fake: FakeAppwrite) -> dict:
    """The summary as list-sessions computes it: the counters plus the sessions they do not hold yet."""
    counter_rows, sessions, batch = ledger(fake)
    pending = [s for s in sessions if s.ledger.dirty or s.ledger.fold_batch > batch]
    summary = rules.summarize(sums(counter_rows, pending, batch))
    return {key: summary[key] for key in ("total", "byStatus", "needsHuman", "agents", "ratings")}


def ledger_violations(fake: FakeAppwrite) -> list[str]:
    """Each counter row must hold exactly what the sessions' ledgers say it holds: `counted`, or `foldFrom` for a
    session marked by a fold that has not written that row yet; and a session is dirty exactly when its tally
    differs from what is counted."""
    counter_rows, sessions, batch = ledger(fake)
    row_batch = {r.agent_id: r.batch for r in counter_rows}
    expected: dict = {}
    found = []
    for s in sessions:
        if s.ledger.fold_batch <= batch:
            rules.add(expected, rules.contribution(s.ledger.counted))
        else:  # marked by a fold cut short: the rows it wrote hold `counted`, the others `foldFrom`
            counted, before = rules.contribution(s.ledger.counted), rules.contribution(s.ledger.fold_from)
            for key in {*counted, *before}:
                held = counted if row_batch.get(key, 0) >= s.ledger.fold_batch else before
                rules.add(expected, {key: held.get(key, {})})
        if s.ledger.dirty != (rules.tally(s) != s.ledger.counted):
            found.append(f"{s.id}: dirty={s.ledger.dirty} but tally {rules.tally(s)} counted {s.ledger.counted}")
    stored = {r.agent_id: r.values for r in counter_rows}
    for key in {*expected, *stored}:
        want = {name: expected.get(key, {}).get(name, 0) for name in rules.COUNTER_COLUMNS}
        have = stored.get(key, dict.fromkeys(rules.COUNTER_COLUMNS, 0))
        if want != have:
            found.append(f"counter row {key}: {have} but the ledger says {want}")
    return found


def timeline(fake: FakeAppwrite, session_row: dict) -> list:
    """A session's transitions as stored: its audit rows and its column's entries, by seq (a row and an entry with
    the same seq, left by a move cut short, must be the same transition)."""
    session = session_rows.from_row(_sdk_row(session_row))
    stored = {e.seq: e for e in (audit_rows.from_row(_sdk_row(r)) for r in rows(fake, "audit"))
              if e.session_id == session.id}
    for entry in audit.pending(session):
        moved = stored.setdefault(entry.seq, entry)
        assert (moved.action, moved.from_state, moved.to_state) == (entry.action, entry.from_state, entry.to_state)
    return [stored[seq] for seq in sorted(stored)]


def audit_violations(fake: FakeAppwrite) -> list[str]:
    """Every transition a session made is in its timeline once: seqs 1..auditSeq with none missing, each entry
    starting where the one before ended, the last ending in the session's state; the column flag says the truth.
    (A session a test inserted straight into the table, in some state, has no trail to check until it moves.)"""
    found = []
    for s in rows(fake, "sessions"):
        session = session_rows.from_row(_sdk_row(s))
        entries = timeline(fake, s)
        if [e.seq for e in entries] != list(range(1, session.ledger.audit_seq + 1)):
            found.append(f"{session.id}: timeline seqs {[e.seq for e in entries]} for auditSeq "
                         f"{session.ledger.audit_seq}")
            continue
        if not entries:
            if session.ledger.audit_pending or session.ledger.transitions:
                found.append(f"{session.id}: no trail, but auditPending {session.ledger.audit_pending}")
            continue
        state = entries[0].from_state
        for e in entries:
            if e.from_state != state:
                found.append(f"{session.id}: #{e.seq} {e.action} from {e.from_state} but it was {state}")
            state = e.from_state if e.action == "rate" else e.to_state
        if state != audit.state_of(session):
            found.append(f"{session.id}: the timeline ends in {state}, the session is {audit.state_of(session)}")
        rated = [e for e in entries if e.action == "rate"]
        if len(rated) != (session.rating_score is not None) or (rated and rated[0].to_state !=
                                                                 f"rated:{session.rating_score}"):
            found.append(f"{session.id}: rating {session.rating_score} but rate entries {rated}")
        if session.ledger.audit_pending != bool(session.ledger.transitions):
            found.append(f"{session.id}: auditPending {session.ledger.audit_pending} with column "
                         f"{session.ledger.transitions!r}")
    return found


def violations(fake: FakeAppwrite, *, counters: bool = True) -> list[str]:
    """Every broken invariant: uncounted or orphan messages, half-assigned sessions, counters out of step."""
    sessions, messages = rows(fake, "sessions"), rows(fake, "messages")
    per_session = Counter(m["sessionId"] for m in messages)
    ids = {s["$id"] for s in sessions}
    found = [f"messages of missing session {sid}" for sid in per_session if sid not in ids]
    for s in sessions:
        sid, status = s["$id"], s["status"]
        if s["messageCount"] != per_session.get(sid, 0):
            found.append(f"{sid}: messageCount {s['messageCount']} but {per_session.get(sid, 0)} message rows")
        if status == "agent_assigned" and not (s["assignedAgent"] and s["assignedAt"] and not s["needsHuman"]):
            found.append(f"{sid}: agent_assigned without a consistent assignee: {s}")
        if status == "active" and (s["assignedAgent"] or s["assignedAt"]):
            found.append(f"{sid}: active but assigned: {s}")
        if status == "closed" and not (s["closedAt"] and not s["needsHuman"]):
            found.append(f"{sid}: closed inconsistently: {s}")
    if counters:
        truth, counted = truth_summary(sessions), counted_summary(fake)
        if truth != counted:
            found.append(f"counters out of step: summary {counted} but rows say {truth}")
        found += ledger_violations(fake)
    found += audit_violations(fake)
    found += load_violations(fake, sessions)
    client_ids = Counter((m["sessionId"], m["clientMessageId"]) for m in messages if m["clientMessageId"])
    found += [f"message {key} stored {n} times" for key, n in client_ids.items() if n > 1]
    return found


def load_violations(fake: FakeAppwrite, sessions: list[dict] | None = None) -> list[str]:
    """No agent holds more sessions than their slots row counts (chat_core.assignment: a slot is taken before a
    session is given and freed after it left). A load higher than that is a slot nobody uses (a lost answer), safe."""
    sessions = rows(fake, "sessions") if sessions is None else sessions
    held = Counter(s["assignedAgent"] for s in sessions if s["status"] == "agent_assigned")
    loads = {r["agentId"]: r["load"] for r in rows(fake, "agents") if r["$id"].startswith("a_")}
    return [f"agent {agent} holds {n} sessions but its load is {loads.get(agent, 0)}"
            for agent, n in held.items() if loads.get(agent, 0) < n]


def dumps(value) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def write_report(name: str, figures: dict) -> None:
    """The README-size runs write their figures to $HARDENING_REPORT_DIR/<name> (e.g. .local), if it is set."""
    folder = os.environ.get("HARDENING_REPORT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / name).write_text(json.dumps(figures, indent=2, sort_keys=True))
