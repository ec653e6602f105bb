"""list-sessions: what agents and admins read (the list with its summary, a session, its messages, its export, its
timeline, the audit trail, the team), the admins' repair, and the minute's schedule."""

from chat_core.core import Core
from chat_core.domain import authz
from chat_core.domain.model import Message, Session, Transition, iso
from chat_core.edge import queries, validation
from chat_core.edge.api import replies
from chat_core.edge.http import App, Request
from chat_core.edge.views import agent_view, message_view, owner_message_view, team_view, transition_view

app = App("list-sessions")
replies.add_routes(app)  # /replies before /{session_id}: the first route that matches answers


def staff_view(core: Core, session: Session, names: dict[str, str] | None = None) -> dict:
    """A session as agents and admins see it, with its agent's name; its rating only where the summary's rule lets
    this caller see it (`authz.sees_rating`)."""
    from chat_core.ops import people
    if names is None:
        names = people.names(core, [session.assigned_agent])
    return agent_view(session, core.now, shows_rating=authz.sees_rating(core.caller, session), names=names)


def agent_names(core: Core, sessions: list[Session] = (), messages: list[Message] = (),
                entries: list[Transition] = (), agent_ids: list[str] = ()) -> dict[str, str]:
    """The names of every agent an answer names, read once per agent and warm instance (`ops.people`)."""
    from chat_core.ops import people
    return people.names(core, [*(s.assigned_agent for s in sessions), *(m.author_id for m in messages
                                                                         if m.role == "agent"),
                               *(e.actor.removeprefix("agent:") for e in entries if e.actor.startswith("agent:")),
                               *agent_ids])


def _split(query: dict[str, list[str]]) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """A query's filters, and its paging (`limit`, `cursor`)."""
    paging = ("limit", "cursor")
    return {k: v for k, v in query.items() if k not in paging}, {k: v for k, v in query.items() if k in paging}


@app.route("GET", "/")
def list_sessions(req: Request) -> dict:
    from chat_core.ops import listing
    authz.require_agent(req.core.caller)
    filters, paging = _split(req.query)
    listed = listing.sessions(req.core, queries.session_filter(filters), queries.page(paging))
    names = agent_names(req.core, listed.sessions, agent_ids=[a.agent_id for a in listed.team or []])
    answer = {"sessions": [staff_view(req.core, s, names) for s in listed.sessions], "nextCursor": listed.next_cursor,
              "generatedAt": iso(req.core.now)}
    if listed.summary is not None:
        answer["summary"] = listed.summary
        if listed.team is not None:
            answer["summary"]["team"] = team_view(listed.team, req.core.settings, req.core.now, names)
    return answer


@app.route("POST", "/recount")
def recount(req: Request) -> dict:
    from chat_core.ops import repair
    authz.require_admin(req.core.caller)
    return repair.recount(req.core, validation.recount_request(req.json()))


@app.route("GET", "/audit")  # before /{session_id}: the first route that matches answers
def audit_trail(req: Request) -> dict:
    from chat_core.ops import listing
    authz.require_admin(req.core.caller)
    filters, paging = _split(req.query)
    entries, next_cursor = listing.trail(req.core, queries.audit_filter(filters), queries.page(paging))
    names = agent_names(req.core, entries=entries)
    return {"audit": [transition_view(e, names) for e in entries], "nextCursor": next_cursor,
            "generatedAt": iso(req.core.now)}


@app.route("GET", "/agents")  # before /{session_id}
def team(req: Request) -> dict:
    from chat_core.ops import listing
    settings = req.core.settings
    agents = listing.team(req.core)
    names = agent_names(req.core, agent_ids=[a.agent_id for a in agents])
    return {"agents": list(team_view(agents, settings, req.core.now, names).values()),
            "autoAssign": settings.auto_assign, "defaultCapacity": settings.agent_capacity,
            "awayAfterSeconds": settings.agent_away_seconds, "generatedAt": iso(req.core.now)}


@app.route("GET", "/{session_id}")
def get_session(req: Request) -> dict:
    from chat_core.ops import listing
    authz.require_agent(req.core.caller)
    return {"session": staff_view(req.core, listing.session(req.core, validation.identifier(req.params["session_id"])))}


@app.route("GET", "/{session_id}/messages")
def session_messages(req: Request) -> dict:
    from chat_core.ops import listing
    authz.require_agent(req.core.caller)
    session_id = validation.identifier(req.params["session_id"])
    session, found, next_cursor = listing.session_messages(req.core, session_id, queries.page(_split(req.query)[1]))
    names = agent_names(req.core, [session], found)
    return {"session": staff_view(req.core, session, names), "messages": [owner_message_view(m, names) for m in found],
            "nextCursor": next_cursor}


@app.route("GET", "/{session_id}/history")
def history(req: Request) -> dict:
    from chat_core.ops import listing
    authz.require_agent(req.core.caller)
    page = queries.history_page(req.query)
    session, entries, next_cursor = listing.history(req.core, validation.identifier(req.params["session_id"]), page)
    names = agent_names(req.core, [session], entries=entries)
    return {"session": staff_view(req.core, session, names), "history": [transition_view(e, names) for e in entries],
            "nextCursor": next_cursor}


@app.route("GET", "/{session_id}/export")
def export(req: Request) -> dict:
    from chat_core.edge import transcripts  # the export's formats: only this route uses them
    from chat_core.ops import listing
    authz.require_agent(req.core.caller)
    wanted = queries.export_request(req.query)
    session, found, next_cursor = listing.session_messages(req.core, validation.identifier(req.params["session_id"]),
                                                           wanted.page)
    return transcripts.answer(wanted.fmt, staff_view(req.core, session), [message_view(m) for m in found],
                              first=wanted.page.cursor is None, more=next_cursor is not None,
                              exported_at=iso(req.core.now))


@app.on_schedule
def minute(req: Request) -> dict:
    from chat_core.ops import schedule
    return schedule.minute(req.core)
