"""The agents' operations: their availability switch and heartbeat, their capacity, the team, and the repair of
their loads (what a row means is `domain.agents`; slots move in `ops.slots`)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import TYPE_CHECKING

from chat_core.core import best_effort
from chat_core.domain import agents as roster
from chat_core.domain import authz
from chat_core.domain.inputs import AvailabilityChange, CapacityChange
from chat_core.domain.model import AVAILABLE, Agent, iso, parse_time
from chat_core.errors import BadRequest
from chat_core.ops import autoassign, counters

if TYPE_CHECKING:
    from chat_core.core import Core

SETTLE = timedelta(seconds=60)  # the minute's pass repairs loads quiet this long (outlasts any execution)


@dataclass(frozen=True)
class AgentUpdate:
    """An agent's row after a change, and the sessions auto-assignment gave them at once."""

    agent: Agent
    assigned: list[str] = field(default_factory=list)


def team(core: Core, agents: list[Agent] | None = None) -> list[Agent]:
    """Every agent with a row, by ID (GET list-sessions /agents, the CLI): one request per 500 agents."""
    rows = core.gateway.agents.all() if agents is None else agents
    return sorted(rows, key=lambda a: a.agent_id)


def at_work(core: Core) -> list[Agent]:
    """The summary's team: the agents available, heard from lately, or holding sessions, by ID: one request
    whatever the size of the team (an offline agent holding nothing has nothing to show there)."""
    return team(core, core.gateway.agents.at_work(roster.away_before(core.settings, core.now)))


def set_availability(core: Core, change: AvailabilityChange) -> AgentUpdate:
    """POST assign-agent /availability: the console's switch and heartbeat. Without `availability` only the
    heartbeat moves. An agent sets their own; an admin anyone's (`agentId`)."""
    agent_id = _subject(core, change.agent_id)
    own = agent_id == core.caller.user_id  # only the agent's own console proves they are there
    if change.availability is None and not own:
        raise BadRequest("missing field(s): availability (to set another agent's)", code="missing_field")
    before = roster.find(core.gateway.agents.of([agent_id]), agent_id)  # their two rows: flat in the team
    after = before
    if change.availability is not None and change.availability != before.availability:
        after = core.gateway.agents.save(agent_id, {"availability": change.availability})
        after = replace(after, heartbeat_at=before.heartbeat_at, last_assigned_at=before.last_assigned_at)
    if own:
        core.gateway.agents.touch_presence(agent_id, {"heartbeatAt": iso(core.now)})
        after = replace(after, heartbeat_at=core.now)
    if roster.effective(after, core.settings, core.now) == AVAILABLE != roster.effective(before, core.settings,
                                                                                        core.now):
        # Newly available (or back from a silent console): the longest waiting come to them.
        return _fill(core, after)
    return AgentUpdate(after)


def set_capacity(core: Core, change: CapacityChange) -> AgentUpdate:
    """POST assign-agent /capacity: an admin sets how many sessions an agent may hold at once (None: the project's
    AGENT_CAPACITY). Lowering it below the load takes nothing away: the agent just gets no new session until their
    load is below it."""
    authz.require_admin(core.caller)
    require_agent_user(core, change.agent_id)
    saved = core.gateway.agents.save(change.agent_id, {"capacity": change.capacity})
    present = roster.find(core.gateway.agents.of([change.agent_id]), change.agent_id)
    agent = replace(saved, heartbeat_at=present.heartbeat_at, last_assigned_at=present.last_assigned_at)
    if roster.takes_work(agent, core.settings, core.now):  # more room: the longest waiting come to them
        return _fill(core, agent)
    return AgentUpdate(agent)


def _fill(core: Core, agent: Agent) -> AgentUpdate:
    """Auto-assignment for an agent with new room (the others at work: one list); the agent's row as it left it."""
    def pump() -> autoassign.Pumped:
        others = core.gateway.agents.online(roster.away_before(core.settings, core.now))
        return autoassign.pump(core, agents=[*(a for a in others if a.agent_id != agent.agent_id), agent])
    result = best_effort(core, "auto-assignment failed; the next pass tries again", pump)
    if result is None:
        return AgentUpdate(agent)
    assigned = [s.id for s in result.assigned if s.assigned_agent == agent.agent_id]
    return AgentUpdate(roster.find(result.agents or [agent], agent.agent_id), assigned)


def _subject(core: Core, agent_id: str | None) -> str:
    authz.require_agent(core.caller)
    own = core.caller.user_id
    if agent_id is None or agent_id == own:
        if own is None:
            raise BadRequest("the admin secret has no agent identity: name one with agentId", code="no_agent")
        return own
    authz.require_admin(core.caller)
    require_agent_user(core, agent_id)
    return agent_id


def require_agent_user(core: Core, user_id: str) -> None:
    labels = core.gateway.users.labels(user_id)
    if not labels & {core.settings.agent_label, core.settings.admin_label}:
        raise BadRequest(f"{user_id} is not an agent (no '{core.settings.agent_label}' label)", code="invalid_agent")


# --- the minute's pass and the repair ------------------------------------------------------------

def periodic(core: Core) -> tuple[dict, list[Agent] | None]:
    """The minute's pass (list-sessions' schedule): a load left one high by a crash or a lost answer is set back
    once its agent's slots have been quiet a minute (`repair_loads`), then whatever an event missed is assigned.
    Returns its figures and the agent rows as auto-assignment left them (None: not read)."""
    rows = best_effort(core, "agent rows not read", lambda: core.gateway.agents.at_work(
        roster.away_before(core.settings, core.now)))
    loads = rows is not None and best_effort(core, "agent loads not checked", lambda: repair_loads(
        core, SETTLE, counters.summary(core)["agents"], agents=rows))
    pumped = best_effort(core, "auto-assignment failed; the next pass tries again", lambda: autoassign.pump(
        core, limit=autoassign.PERIODIC_MAX, agents=None if not rows or (loads and loads["repaired"]) else rows))
    figures = {"autoAssigned": len(pumped.assigned) if pumped else 0,
               "agentLoadsRepaired": loads["repaired"] if loads else 0}
    return figures, (pumped.agents if pumped else None)


def repair_loads(core: Core, settle: timedelta, held: dict[str, int], agents: list[Agent] | None = None) -> dict:
    """Set each agent's load to the sessions they hold: `held`, the summary's exact per-agent count, read after this
    request began (`core.now`). Safe while traffic runs, agent by agent: only where the agent's slots row was not
    written for `settle` (every slot taken or freed bumps it, and a write that may take a session from them stamps
    it first: nothing is on its way once it has been quiet longer than any execution), and written only if the row
    is still as read (a slot taken or freed meanwhile bumps its $updatedAt, and Appwrite refuses the write).
    `settle` must outlast the longest execution that moves slots (the default 60 s does; 0 after a crash, with
    nothing running). Agents not settled are left alone and counted. `agents`: the rows, if just read."""
    cutoff = core.now - settle
    repaired = unsettled = checked = 0
    rows = core.gateway.agents.all() if agents is None else agents
    if agents is not None:  # the agents at work: add those holding sessions whose load reads 0 (rare: one request)
        listed = {a.agent_id for a in rows}
        if missing := sorted(agent for agent, count in held.items() if count and agent not in listed):
            rows = [*rows, *core.gateway.agents.of(missing)]
    with_slots = {a.agent_id for a in rows if a.updated_at is not None}
    for agent_id in sorted(set(held) - with_slots):  # sessions held from before this feature, or a lost create
        checked += 1
        if held[agent_id] and core.gateway.agents.create_slots(agent_id, held[agent_id]):
            core.log(f"repair: agent {agent_id} holds {held[agent_id]} sessions: their slots row now says so")
            repaired += 1
    for agent in rows:
        if agent.updated_at is None:  # presence only: no slot ever
            continue
        checked += 1
        truth = held.get(agent.agent_id, 0)
        if agent.load == truth:
            continue
        if settle and parse_time(agent.updated_at) >= cutoff:
            unsettled += 1
            continue
        if core.gateway.agents.write_load(agent, truth):
            core.log(f"repair: agent {agent.agent_id}'s load {agent.load} set to the {truth} sessions they hold")
            repaired += 1
        else:
            unsettled += 1
    return {"checked": checked, "repaired": repaired, "unsettled": unsettled}
