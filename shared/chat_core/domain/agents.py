"""What an agent's row means: availability, capacity and load (pure; the operations are `ops/agents.py`).

- Availability is what the agent chose in the console: available, away or offline. The console keeps it alive with
  a heartbeat; an agent who chose "available" and whose console has been silent longer than AGENT_AWAY_SECONDS
  counts as away (`effective`), so a closed laptop stops receiving visitors.
- Capacity is the number of sessions an agent may hold at once: the row's `capacity`, or AGENT_CAPACITY when it has
  none.
- Load is the number of slots the agent holds (see `ops/assignment.py`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from chat_core.config import Settings
from chat_core.domain.model import AVAILABLE, AWAY, Agent

CAPACITY_MAX = 1000


def capacity(agent: Agent, settings: Settings) -> int:
    return settings.agent_capacity if agent.capacity is None else agent.capacity


def effective(agent: Agent, settings: Settings, now: datetime) -> str:
    """What the agent is now: their choice, except that "available" with a silent console counts as away."""
    if agent.availability != AVAILABLE:
        return agent.availability
    silent = agent.heartbeat_at is None or now - agent.heartbeat_at > timedelta(seconds=settings.agent_away_seconds)
    return AWAY if silent else AVAILABLE


def away_before(settings: Settings, now: datetime) -> datetime:
    """A console silent since before this is away (`effective`)."""
    return now - timedelta(seconds=settings.agent_away_seconds)


def takes_work(agent: Agent, settings: Settings, now: datetime) -> bool:
    """Auto-assignment may give this agent one more session."""
    return effective(agent, settings, now) == AVAILABLE and agent.load < capacity(agent, settings)


def absent(agent_id: str) -> Agent:
    """An agent without a row yet: offline, the default capacity, nothing held."""
    return Agent(agent_id=agent_id)


def find(rows: list[Agent], agent_id: str) -> Agent:
    return next((a for a in rows if a.agent_id == agent_id), None) or absent(agent_id)


def free_slots(agents: list[Agent], settings: Settings) -> int:
    return sum(max(0, capacity(a, settings) - a.load) for a in agents)
