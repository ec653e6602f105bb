"""The `audit` table: one row per moved transition, named by (session, seq); a session's timeline and the trail by
agent and time; the row <-> `Transition` conversion. What is moved, and when, is `chat_core.ops.audit`'s business."""

from __future__ import annotations

import hashlib
from typing import Any

from appwrite.query import Query

from chat_core.domain import inputs
from chat_core.domain.model import Transition, iso, parse_time
from chat_core.errors import UpstreamUnavailable
from chat_core.infra.connection import Connection, RowExists, unreadable_as_upstream

TABLE = "audit"


def row_id(session_id: str, seq: int) -> str:
    """One audit row per (session, seq), whoever writes it and however often: a re-run writes nothing twice."""
    return "a_" + hashlib.sha256(f"{session_id}|{seq}".encode()).hexdigest()[:32]


class Audit:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def create(self, entry: Transition) -> bool:
        """Store one transition under its deterministic ID: True if this call stored it, False if it was already
        there. A create whose answer was lost is tried again: it lands, or meets the row that did."""
        data = {"sessionId": entry.session_id, "seq": entry.seq, "at": iso(entry.at), "actor": entry.actor,
                "action": entry.action, "fromState": entry.from_state, "toState": entry.to_state, "why": entry.why,
                "agentId": entry.agent}
        rid = row_id(entry.session_id, entry.seq)
        try:
            try:
                self._conn.create(TABLE, rid, data)
            except UpstreamUnavailable:
                self._conn.create(TABLE, rid, data)
        except RowExists:
            return False
        return True

    def of_session(self, session_id: str, after_seq: int, limit: int) -> list[Transition]:
        """One session's moved transitions with seq > after_seq, in order, at most `limit` (index sessionId, seq)."""
        return [from_row(row) for row in self._conn.rows(TABLE, [
            Query.equal("sessionId", [session_id]), Query.greater_than("seq", after_seq), Query.order_asc("seq"),
            Query.limit(limit)])]

    def page(self, wanted: inputs.AuditFilter, limit: int, cursor: str | None) -> tuple[list[Transition], str | None]:
        """The moved trail by agent and time, oldest first (or newest): index (agentId, at), or (at)."""
        queries = [Query.equal("agentId", [wanted.agent])] if wanted.agent else []
        if wanted.start:
            queries.append(Query.greater_than_equal("at", iso(wanted.start)))
        if wanted.end:
            queries.append(Query.less_than("at", iso(wanted.end)))
        queries.append((Query.order_asc if wanted.oldest_first else Query.order_desc)("at"))
        return self._conn.page(TABLE, queries, limit, cursor, from_row)


@unreadable_as_upstream
def from_row(row: Any) -> Transition:
    d = row.data
    return Transition(session_id=d["sessionId"], seq=int(d["seq"]), at=parse_time(d["at"]), actor=d["actor"],
                      action=d["action"], from_state=d.get("fromState") or "", to_state=d.get("toState") or "",
                      why=d.get("why"), agent=d.get("agentId"))
