"""The signal row is written by an upsert (upsertRow / upsertRows), where Appwrite parses operators (appwrite 1.9.6
`Documents/Upsert.php`, `Bulk/Upsert.php`), and its `agentName` is the agent's own Appwrite account name, which any
agent sets itself (PATCH /v1/account/name). An agent named '{"method":"toggle"}' must not get the upsert of its
sessions' signals refused (and with it the queue's row sent in the same request) or a column rewritten."""

from __future__ import annotations

from types import SimpleNamespace

from chat_core.domain import signals
from chat_core.domain.model import AGENT_ASSIGNED, Session
from chat_core.infra import operators
from chat_core.infra.signals import Signals
from fakes.world import NOW

HOSTILE = '{"method":"toggle"}'


def _sent() -> tuple[Signals, list]:
    sent: list = []
    tables = SimpleNamespace(upsert_row=lambda db, table, row_id, data, readers: sent.append(data),
                             upsert_rows=lambda db, table, rows: sent.extend(rows))
    return Signals(SimpleNamespace(tables=tables, db="chat")), sent


def test_a_signal_never_sends_text_appwrite_reads_as_an_operator():
    session = Session(id="s_1", status=AGENT_ASSIGNED, last_seen=NOW, created_at=NOW, updated_at=NOW,
                      token_hash="h" * 64, assigned_agent="agent-eve")
    row = signals.row(session, NOW, agent_name=HOSTILE)
    gateway, sent = _sent()
    gateway.publish("s_1", row, signals.readers(session))
    gateway.publish_many([("s_1", row, signals.readers(session))])
    assert len(sent) == 2 and all(operators.operator_columns(data) == [] for data in sent)
    assert operators.unshield(sent[0]["agentName"]) == HOSTILE  # stored as the agent named itself
    assert sent[0]["status"] == AGENT_ASSIGNED  # plain text passes as it is
