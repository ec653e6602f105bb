"""What callers see: sessions, messages, timelines, agents, the queue. Never the token hash, never the
bookkeeping. Every answer is rendered here, from the values the operations return."""

from __future__ import annotations

from datetime import datetime

from chat_core import jsonio
from chat_core.config import Settings
from chat_core.domain import agents as roster
from chat_core.domain import ratings
from chat_core.domain.model import ACTIVE, Agent, Message, Queue, Session, Transition, iso
from chat_core.domain.replies import SavedReply


def owner_view(session: Session, queue: Queue | None = None, agent_name: str | None = None) -> dict:
    """For the widget and the AI bot: every answer carries the status, so the bot knows to stay quiet, a waiting
    visitor's place in the queue (`ops.queueing`) and, in the answers the widget polls, the name of the session's
    agent (`ops.people`; "" when the agent has none, null when there is no agent or it was not asked for)."""
    view = {
        "sessionId": session.id,
        "status": session.status,
        "botShouldReply": session.status == ACTIVE,
        "needsHuman": session.needs_human,
        "assignedAgent": session.assigned_agent,
        "lastSeen": iso(session.last_seen),
        "messageCount": session.message_count,
        "createdAt": iso(session.created_at),
        "closedAt": iso(session.closed_at),
        "rating": rating_view(session),
        "escalatedAt": iso(session.escalated_at),
        "queue": queue_view(queue),
    }
    if agent_name is not None:
        view["agentName"] = agent_name
    return view


def queue_view(queue: Queue | None) -> dict | None:
    if queue is None:
        return None
    # asOf: when these figures were counted (the read of the queue's line their place came from, else when the
    # figures kept on the session were): the widget keeps them over a queue row read before (web/widget/queue.js).
    return {"position": queue.position, "waiting": queue.waiting, "availableAgents": queue.available_agents,
            "expectedWaitSeconds": queue.expected_wait_seconds, "asOf": iso(queue.as_of)}


def rating_view(session: Session) -> dict | None:
    """The visitor's rating, once given (domain.ratings)."""
    return ratings.given(session)


def agent_view(session: Session, now: datetime, *, shows_rating: bool, names: dict[str, str] | None = None) -> dict:
    """For agents and admins. `shows_rating`: whether this caller sees the session's rating (`authz.sees_rating`);
    if not, `rating` is null, as for a session not rated. `assignedAgentName`: the assigned agent's name from `names`
    (`ops.people`; "" when they have none or it could not be read, null without an agent)."""
    # A chat lasts from its start to its close (or to now while open): not to the visitor's last activity, which
    # stops at their last message while an agent goes on answering.
    duration = max(0, int(((session.closed_at or now) - session.created_at).total_seconds()))
    return {
        **{k: v for k, v in owner_view(session).items() if k != "queue"},
        "rating": rating_view(session) if shows_rating else None,
        "lastSeenAgo": seen_ago(session.last_seen, now),
        "idleSeconds": max(0, int((now - session.last_seen).total_seconds())),
        "durationSeconds": duration,
        "duration": span(duration),
        "escalatedAt": iso(session.escalated_at),
        "escalationReason": session.escalation_reason,
        "firstWords": session.first_words,
        "assignedAgentName": (names or {}).get(session.assigned_agent, "") if session.assigned_agent else None,
        "assignedAt": iso(session.assigned_at),
        "assignedBy": session.assigned_by,
        "overCapacity": session.over_capacity,
        "closeReason": session.close_reason,
        "ownerId": session.owner_id,
        "userMeta": stored_object(session.user_meta),
        "theme": stored_object(session.theme),
    }


def message_view(message: Message) -> dict:
    return {
        "messageId": message.id,
        "sessionId": message.session_id,
        "role": message.role,
        "text": message.text,
        "handoff": message.handoff,
        "authorId": message.author_id,
        "clientMessageId": message.client_message_id,
        "createdAt": iso(message.created_at),
    }


def owner_message_view(message: Message, names: dict[str, str]) -> dict:
    """A message as the widget and the console read it: an agent's carries the name of its author (`authorName`, ""
    if none)."""
    view = message_view(message)
    if message.role == "agent":
        view["authorName"] = names.get(message.author_id or "", "")
    return view


def stored_object(raw: str) -> dict:
    """A stored userMeta/theme as the object it holds. A row written before the input was checked strictly (NaN,
    nested deeper than jsonio.MAX_DEPTH, not an object) shows as {}: one bad row must not break a whole list."""
    try:
        value = jsonio.loads(raw) if isinstance(raw, str) else None
    except jsonio.NotStrictJSON:
        return {}
    return value if isinstance(value, dict) else {}


UNITS = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


def span(seconds: int) -> str:
    """`0 seconds`, `1 minute`, `3 hours`: the largest whole unit, as people say it."""
    for name, size in UNITS:
        if seconds >= size:
            count = seconds // size
            return f"{count} {name}{'' if count == 1 else 's'}"
    return "0 seconds"


# The widget's heartbeat (web/widget/policy.js POLICY.heartbeat) moves lastSeen every 5 minutes while the visitor
# reads with the tab in front: a lastSeen younger than that (and a margin for the request) says "here within the
# last 5 minutes", nothing finer.
HEARTBEAT_SECONDS = 300
HEARTBEAT_MARGIN = 30


def seen_ago(moment: datetime, now: datetime) -> str:
    """`just now` (under 10 s: they just wrote), `under 5 minutes ago` (the heartbeat's resolution), then `N units
    ago`. A visitor reading the chat never shows "3 minutes ago" as if they had left."""
    seconds = int((now - moment).total_seconds())
    if seconds < 10:
        return "just now"
    if seconds < HEARTBEAT_SECONDS + HEARTBEAT_MARGIN:
        return "under 5 minutes ago"
    return f"{span(seconds)} ago"


def transition_view(entry: Transition, names: dict[str, str] | None = None) -> dict:
    """One entry of a timeline or the trail; the opening entry (seq 0, the session's creation) comes from nowhere.
    `actorName`: the name of the agent who made it (`agent:<id>`; "" when unknown, null for other actors)."""
    actor_id = entry.actor.removeprefix("agent:") if entry.actor.startswith("agent:") else None
    return {"seq": entry.seq, "at": iso(entry.at), "actor": entry.actor,
            "actorName": (names or {}).get(actor_id, "") if actor_id else None, "action": entry.action,
            "from": entry.from_state or None, "to": entry.to_state, "why": entry.why, "agent": entry.agent,
            "sessionId": entry.session_id}


def agent_status_view(agent: Agent, settings: Settings, now: datetime, name: str = "") -> dict:
    """An agent's availability, capacity and load, for the console, the summary's team and the CLI; `name`: their
    Appwrite user's name ("" when unknown)."""
    cap = roster.capacity(agent, settings)
    return {
        "agentId": agent.agent_id,
        "name": name,
        "availability": roster.effective(agent, settings, now),
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


def team_view(agents: list[Agent], settings: Settings, now: datetime, names: dict[str, str] | None = None) -> dict:
    return {agent.agent_id: agent_status_view(agent, settings, now, (names or {}).get(agent.agent_id, ""))
            for agent in agents}


def reply_view(reply: SavedReply) -> dict:
    """A saved reply: its shortcut (typed after `/`), its text, who added it and when."""
    return {"shortcut": reply.shortcut, "text": reply.text, "createdBy": reply.created_by,
            "createdAt": iso(reply.created_at)}
