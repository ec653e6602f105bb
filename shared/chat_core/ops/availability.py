"""Agents: their availability, capacity and load, one row each in the `agents` table.

- Availability is what the agent chose in the console: available, away or offline. The console keeps it alive with
  a heartbeat; an agent who chose "available" and whose console has been silent longer than AGENT_AWAY_SECONDS
  counts as away (`effective`), so a closed laptop stops receiving visitors.
- Capacity is the number of sessions an agent may hold at once: the row's `capacity`, or AGENT_CAPACITY when it has
  none. Admins set it per agent (POST assign-agent /capacity).
- Load is the number of slots the agent holds, moved only by Appwrite's bounded atomic increment and decrement
  (`gateway.agents.take_slot`, `free_slot`): a slot is taken before a session is given to the agent and freed after it
  left them (chat_core.assignment), so the sessions an agent holds never outnumber its load, and the load never
  passes the capacity: no agent is ever above capacity, without a transaction. A crash between the two steps
  leaves the load one high (a slot nobody uses); the repair (`repair_loads`) sets it back to the sessions held.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from chat_core.domain import authz
from chat_core.domain.model import AVAILABILITIES, AVAILABLE, AWAY, Agent, iso, parse_time
from chat_core.edge import validation
from chat_core.errors import BadRequest

if TYPE_CHECKING:
    from chat_core.config import Settings
    from chat_core.core import Core

CAPACITY_MAX = 1000


# --- what a row means --------------------------------------------------------------------------------

def capacity(agent: Agent, settings: Settings) -> int:
    return settings.agent_capacity if agent.capacity is None else agent.capacity


def effective(agent: Agent, settings: Settings, now: datetime) -> str:
    """What the agent is now: their choice, except that "available" with a silent console counts as away."""
    if agent.availability != AVAILABLE:
        return agent.availability
    silent = agent.heartbeat_at is None or now - agent.heartbeat_at > timedelta(seconds=settings.agent_away_seconds)
    return AWAY if silent else AVAILABLE


def takes_work(agent: Agent, settings: Settings, now: datetime) -> bool:
    """Auto-assignment may give this agent one more session."""
    return effective(agent, settings, now) == AVAILABLE and agent.load < capacity(agent, settings)


def view(agent: Agent, settings: Settings, now: datetime) -> dict:
    cap = capacity(agent, settings)
    return {
        "agentId": agent.agent_id,
        "availability": effective(agent, settings, now),
        "chosen": agent.availability,
        "capacity": cap,
        "capacityIsDefault": agent.capacity is None,
        "load": agent.load,
        "freeSlots": max(0, cap - agent.load),
        "heartbeatAt": iso(agent.heartbeat_at),
        "silentSeconds": (None if agent.heartbeat_at is None
                          else max(0, int((now - agent.heartbeat_at).total_seconds()))),
        "lastAssignedAt": iso(agent.last_assigned_at),
    }


def team(core: Core, agents: list[Agent] | None = None) -> dict:
    """Every agent with a row, for admins (the summary, GET list-sessions /agents, the CLI): one request."""
    rows = core.gateway.agents.all() if agents is None else agents
    return {agent.agent_id: view(agent, core.settings, core.now) for agent in sorted(rows, key=lambda a: a.agent_id)}


def absent(agent_id: str) -> Agent:
    """An agent without a row yet: offline, the default capacity, nothing held."""
    return Agent(agent_id=agent_id)


# --- requests ------------------------------------------------------------------------------------

def set_availability(core: Core, body: Any) -> dict:
    """POST assign-agent /availability {availability?, agentId?}: the console's switch and heartbeat. Without
    `availability` only the heartbeat moves. An agent sets their own; an admin anyone's (`agentId`)."""
    body = validation.fields(body if body != "" else {}, optional=("availability", "agentId"))
    chosen = body.get("availability")
    if chosen is not None and chosen not in AVAILABILITIES:
        raise BadRequest(f"availability must be one of {', '.join(AVAILABILITIES)}", code="invalid_availability")
    agent_id = _subject(core, body.get("agentId"))
    own = agent_id == core.caller.user_id  # only the agent's own console proves they are there
    if chosen is None and not own:
        raise BadRequest("missing field(s): availability (to set another agent's)", code="missing_field")
    rows = core.gateway.agents.all()
    before = find(rows, agent_id)
    after = before
    if chosen is not None and chosen != before.availability:
        after = core.gateway.agents.save(agent_id, {"availability": chosen})
        after = replace(after, heartbeat_at=before.heartbeat_at, last_assigned_at=before.last_assigned_at)
    if own:
        core.gateway.agents.touch_presence(agent_id, {"heartbeatAt": iso(core.now)})
        after = replace(after, heartbeat_at=core.now)
    assigned: list[str] = []
    if effective(after, core.settings, core.now) == AVAILABLE != effective(before, core.settings, core.now):
        # Newly available (or back from a silent console): the longest waiting come to them.
        from chat_core.ops import assignment
        others = [a for a in rows if a.agent_id != agent_id]
        result = assignment.safe(core, "auto-assignment failed; the next pass tries again",
                                 lambda: assignment.pump(core, agents=[*others, after]))
        if result is not None:
            assigned = [s.id for s in result.assigned if s.assigned_agent == agent_id]
            after = find(result.agents or [], agent_id) if result.agents else after
    return {"agent": view(after, core.settings, core.now), "autoAssign": core.settings.auto_assign,
            "assigned": assigned}


def set_capacity(core: Core, body: Any) -> dict:
    """POST assign-agent /capacity {agentId, capacity}: an admin sets how many sessions an agent may hold at once
    (null: the project's AGENT_CAPACITY). Lowering it below the load takes nothing away: the agent just gets no new
    session until their load is below it."""
    authz.require_admin(core.caller)
    body = validation.fields(body, required=("agentId",), optional=("capacity",))
    agent_id = validation.identifier(body["agentId"], "agentId")
    if "capacity" not in body:
        raise BadRequest("missing field(s): capacity (a number, or null for the default)", code="missing_field")
    value = body["capacity"]
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise BadRequest("capacity must be a whole number or null", code="invalid_type")
    if value is not None and not 0 <= value <= CAPACITY_MAX:
        raise BadRequest(f"capacity must be 0 to {CAPACITY_MAX}", code="invalid_value")
    _require_agent_user(core, agent_id)
    saved = core.gateway.agents.save(agent_id, {"capacity": value})
    everyone = core.gateway.agents.all()
    rows = [a for a in everyone if a.agent_id != agent_id]
    present = find(everyone, agent_id)
    agent = replace(saved, heartbeat_at=present.heartbeat_at, last_assigned_at=present.last_assigned_at)
    assigned: list[str] = []
    if takes_work(agent, core.settings, core.now):  # more room: the longest waiting come to them
        from chat_core.ops import assignment
        result = assignment.safe(core, "auto-assignment failed; the next pass tries again",
                                 lambda: assignment.pump(core, agents=[*rows, agent]))
        if result is not None:
            assigned = [s.id for s in result.assigned if s.assigned_agent == agent_id]
            agent = find(result.agents or [agent], agent_id)
    return {"agent": view(agent, core.settings, core.now), "assigned": assigned}


def agents_list(core: Core) -> dict:
    """GET list-sessions /agents: staff see the team's availability, capacity and load."""
    authz.require_agent(core.caller)
    return {"agents": list(team(core).values()), "autoAssign": core.settings.auto_assign,
            "defaultCapacity": core.settings.agent_capacity, "awayAfterSeconds": core.settings.agent_away_seconds,
            "generatedAt": iso(core.now)}


def _subject(core: Core, agent_id: Any) -> str:
    authz.require_agent(core.caller)
    own = core.caller.user_id
    if agent_id is None or agent_id == own:
        if own is None:
            raise BadRequest("the admin secret has no agent identity: name one with agentId", code="no_agent")
        return own
    agent_id = validation.identifier(agent_id, "agentId")
    authz.require_admin(core.caller)
    _require_agent_user(core, agent_id)
    return agent_id


def _require_agent_user(core: Core, user_id: str) -> None:
    labels = core.gateway.users.labels(user_id)
    if not labels & {core.settings.agent_label, core.settings.admin_label}:
        raise BadRequest(f"{user_id} is not an agent (no '{core.settings.agent_label}' label)", code="invalid_agent")


def find(rows: list[Agent], agent_id: str) -> Agent:
    return next((a for a in rows if a.agent_id == agent_id), None) or absent(agent_id)


# --- the repair ----------------------------------------------------------------------------------

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
