"""Review finding (branch review): the session's signal row is written by an upsert (upsertRow / upsertRows, where
Appwrite parses operators, appwrite 1.9.6 Documents/Upsert.php 123, Bulk/Upsert.php 119), and its `agentName` is the
agent's own Appwrite account name, which any agent sets itself (PATCH /v1/account/name). Nothing shields it, so an
agent named '{"method":"toggle"}' makes every upsert of its sessions' signals (and the queue row sent in the same
upsertRows) be refused or rewrite the column. Failing test proves the row carries operator text."""

from __future__ import annotations

from chat_core.domain import signals
from chat_core.domain.model import AGENT_ASSIGNED, Session
from chat_core.infra import operators
from fakes.world import NOW


def test_a_signal_row_never_carries_text_appwrite_reads_as_an_operator():
    session = Session(id="s_1", status=AGENT_ASSIGNED, last_seen=NOW, created_at=NOW, updated_at=NOW,
                      token_hash="h" * 64, assigned_agent="agent-eve")
    row = signals.row(session, NOW, agent_name='{"method":"toggle"}')
    assert operators.operator_columns(row) == []
