"""What agents and admins read: the sessions list with its exact summary, one session, its messages, a page of
its transcript to export, its timeline, and the audit trail. Every read checks the caller first."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from chat_core.domain import authz
from chat_core.domain.inputs import AuditFilter, HistoryPage, Page, SessionFilter
from chat_core.domain.model import Agent, Message, Session, Transition
from chat_core.ops import agents, audit, consistency, counters, messages

if TYPE_CHECKING:
    from chat_core.core import Core


@dataclass(frozen=True)
class Listed:
    sessions: list[Session]
    next_cursor: str | None
    summary: dict | None = None  # the exact summary (`ops.counters.summary`), the ratings this caller may see
    team: list[Agent] | None = None  # admins: who is available, and their load


def sessions(core: Core, wanted: SessionFilter, page: Page) -> Listed:
    authz.require_agent(core.caller)
    found, next_cursor = core.gateway.sessions.page(wanted, core.now, page.limit, page.cursor)
    if not wanted.with_summary:
        return Listed(found, next_cursor)
    summary = _ratings_for(core, counters.summary(core))
    team = agents.at_work(core) if core.caller.is_admin else None  # one more request, whatever the team's size
    return Listed(found, next_cursor, summary, team)


def _ratings_for(core: Core, summary: dict) -> dict:
    """Admins see every agent's ratings; an agent, their own."""
    if not authz.sees_every_agents_ratings(core.caller):
        by_agent = summary["ratings"]["byAgent"]
        summary["ratings"]["byAgent"] = {k: v for k, v in by_agent.items() if k == core.caller.user_id}
    return summary


def session(core: Core, session_id: str) -> Session:
    authz.require_agent(core.caller)
    return consistency.load(core, session_id)


def session_messages(core: Core, session_id: str, page: Page) -> tuple[Session, list[Message], str | None]:
    found = session(core, session_id)
    return (found, *messages.page_of(core, found.id, page))


def history(core: Core, session_id: str, page: HistoryPage) -> tuple[Session, list[Transition], str | None]:
    """A session's timeline: every transition, in order (`ops.audit.history`)."""
    found = session(core, session_id)
    return (found, *audit.history(core, found, page, shows_rating=authz.sees_rating(core.caller, found)))


def trail(core: Core, wanted: AuditFilter, page: Page) -> tuple[list[Transition], str | None]:
    """Admins: the trail by agent and time range (`ops.audit.trail`)."""
    authz.require_admin(core.caller)
    return audit.trail(core, wanted, page)


def team(core: Core) -> list[Agent]:
    """GET list-sessions /agents: staff see the team's availability, capacity and load."""
    authz.require_agent(core.caller)
    return agents.team(core)
