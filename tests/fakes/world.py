"""A small world for fast unit tests of the operations: the fake gateway, settings, a clock the test moves, and the
callers (a visitor with their token, agents and admins signed in, the system)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from chat_core.core import Core
from chat_core.domain import rules
from chat_core.domain.authz import Caller
from chat_core.domain.inputs import AvailabilityChange, NewSession
from chat_core.ops import agents, sessions

from fakes.gateway import SETTINGS, FakeGateway

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=timezone.utc)


class World:
    def __init__(self, **settings: object) -> None:
        self.settings = SETTINGS._replace(admin_secret="admin-secret", bot_secret="bot-secret", **settings)
        self.now = NOW
        self.gw = FakeGateway(self.settings, clock=lambda: self.now)
        self.logs: list[str] = []

    def later(self, **delta: float) -> None:
        self.now += timedelta(**delta)

    def core(self, caller: Caller) -> Core:
        return Core(self.gw, self.settings, caller, self.now, self.logs.append, clock=lambda: self.now)

    # --- callers ------------------------------------------------------------------------------------

    def visitor(self, token: str | None = None) -> Caller:
        return Caller("anonymous", self.settings, token=token)

    def user(self, user_id: str, *labels: str) -> Caller:
        jwt = self.gw.users.put(user_id, labels)
        return Caller("user", self.settings, jwt=jwt, verify=self.gw.users.account_for_jwt)

    def agent(self, user_id: str) -> Caller:
        return self.user(user_id, "agent")

    def admin(self) -> Caller:
        return Caller("admin", self.settings)

    def system(self) -> Caller:
        return Caller.system(self.settings)

    # --- states -------------------------------------------------------------------------------------

    def started(self, caller: Caller | None = None) -> sessions.Started:
        return sessions.create(self.core(caller or self.visitor()), NewSession(user_meta="{}", theme="{}"))

    def available(self, agent_id: str) -> None:
        agents.set_availability(self.core(self.agent(agent_id)), AvailabilityChange("available"))

    def session(self, session_id: str):
        return self.gw.sessions.rows[session_id]

    def load(self, agent_id: str) -> int:
        return next((a.load for a in self.gw.agents.all() if a.agent_id == agent_id), 0)

    def counted(self) -> dict:
        """The summary counted from the sessions themselves: what the counters must always add up to."""
        totals: rules.Totals = {}
        for session in self.gw.sessions.rows.values():
            rules.add(totals, rules.contribution(rules.tally(session)))
        return rules.summarize(totals)
