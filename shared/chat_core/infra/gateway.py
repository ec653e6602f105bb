"""Appwrite, table by table: the only way the operations reach it (TablesDB, Users, Account, Functions).

    core.gateway.sessions.get(session_id)
    core.gateway.agents.take_slot(agent_id, bound)

Each attribute is a small repository (`chat_core.infra.<name>`) that turns rows into the plain data of
`domain.model` and back: the column names, queries, indexes and event names live there and nowhere else. They share
one `Connection` (`connection.py`: error translation, read retries, the paging rule, the conditional write, the
bump-or-create), whose client sends through the process's connection pool with a timeout (`client.py`). What to
write, and when, is decided by the rules and the operations.

A repository's module is imported the first time an execution uses it (`REPOSITORIES`), not when the function
loads: a cold start pays only for the tables its request reads (docs/reliability.md, "Import overhead";
tests/test_importtime.py holds which modules a function's import loads).
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from chat_core.config import Settings
from chat_core.infra.client import POOL, Transport
from chat_core.infra.connection import Connection

if TYPE_CHECKING:
    from chat_core.infra.agents import Agents
    from chat_core.infra.audit import Audit
    from chat_core.infra.counters import Counters
    from chat_core.infra.jobs import Jobs
    from chat_core.infra.limits import Limits
    from chat_core.infra.messages import Messages
    from chat_core.infra.replies import Replies
    from chat_core.infra.sessions import Sessions
    from chat_core.infra.signals import Signals
    from chat_core.infra.users import Memory, Users


class Gateway:
    """One execution's gateway (its key); the transport's connections and the users' `memory` are the process's
    (None: `infra.users.MEMORY`)."""

    def __init__(self, settings: Settings, key: str, *, transport: Transport = POOL,
                 memory: Memory | None = None) -> None:
        self.settings = settings
        self._conn = Connection(settings, key, transport)
        self._memory = memory

    @cached_property
    def sessions(self) -> Sessions:
        from chat_core.infra.sessions import Sessions
        return Sessions(self._conn)

    @cached_property
    def messages(self) -> Messages:
        from chat_core.infra.messages import Messages
        return Messages(self._conn)

    @cached_property
    def audit(self) -> Audit:
        from chat_core.infra.audit import Audit
        return Audit(self._conn)

    @cached_property
    def counters(self) -> Counters:
        from chat_core.infra.counters import Counters
        return Counters(self._conn)

    @cached_property
    def agents(self) -> Agents:
        from chat_core.infra.agents import Agents
        return Agents(self._conn)

    @cached_property
    def jobs(self) -> Jobs:
        from chat_core.infra.jobs import Jobs
        return Jobs(self._conn)

    @cached_property
    def limits(self) -> Limits:
        from chat_core.infra.limits import Limits
        return Limits(self._conn)

    @cached_property
    def replies(self) -> Replies:
        from chat_core.infra.replies import Replies
        return Replies(self._conn)

    @cached_property
    def users(self) -> Users:
        from chat_core.infra.users import MEMORY, Users
        return Users(self._conn, MEMORY if self._memory is None else self._memory)

    @cached_property
    def signals(self) -> Signals:
        from chat_core.infra.signals import Signals
        return Signals(self._conn)


REPOSITORIES = tuple(name for name, value in vars(Gateway).items() if isinstance(value, cached_property))
