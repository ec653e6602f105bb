"""Appwrite, table by table: the only way the operations reach it (TablesDB, Users, Account, Functions).

    core.gateway.sessions.get(session_id)
    core.gateway.agents.take_slot(agent_id, bound)

Each attribute is a small repository (`chat_core.infra.<name>`) that turns rows into the plain data of
`domain.model` and back: the column names, queries, indexes and event names live there and nowhere else. They share
one `Connection` (`connection.py`: error translation, read retries, the paging rule, the conditional write, the
bump-or-create), whose client sends through the process's connection pool with a timeout (`client.py`). What to
write, and when, is decided by the rules and the operations.
"""

from __future__ import annotations

from chat_core.config import Settings
from chat_core.infra.agents import Agents
from chat_core.infra.audit import Audit
from chat_core.infra.client import POOL, Transport
from chat_core.infra.connection import Connection
from chat_core.infra.counters import Counters
from chat_core.infra.jobs import Jobs
from chat_core.infra.limits import Limits
from chat_core.infra.messages import Messages
from chat_core.infra.replies import Replies
from chat_core.infra.sessions import Sessions
from chat_core.infra.signals import Signals
from chat_core.infra.users import MEMORY, Memory, Users


class Gateway:
    """One execution's gateway (its key); the transport's connections and the users' `memory` are the process's."""

    def __init__(self, settings: Settings, key: str, *, transport: Transport = POOL, memory: Memory = MEMORY) -> None:
        self.settings = settings
        conn = Connection(settings, key, transport)
        self.sessions = Sessions(conn)
        self.messages = Messages(conn)
        self.audit = Audit(conn)
        self.counters = Counters(conn)
        self.agents = Agents(conn)
        self.jobs = Jobs(conn)
        self.limits = Limits(conn)
        self.replies = Replies(conn)
        self.users = Users(conn, memory)
        self.signals = Signals(conn)
