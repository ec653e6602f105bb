"""touch-session: the visitor's (or the bot's) heartbeat and messages, and the owner's reads of the transcript.

The reads parse query strings (`edge.queries`) and the export formats (`edge.transcripts`): they import those on
first use, so the heartbeat and the messages, nearly every execution, never load them (issue 20, item 6)."""

from chat_core.core import Core
from chat_core.domain.model import Agent, Session, iso
from chat_core.edge import validation
from chat_core.edge.http import App, Request
from chat_core.edge.views import message_view, owner_message_view, owner_view

app = App("touch-session")


def owner_answer(core: Core, session: Session, agents: list[Agent] | None = None, *, look: bool = False) -> dict:
    """The session as its visitor sees it, with their place in the queue while they wait (`look`: counted from the
    queue's row, read now) and its agent's name."""
    from chat_core.ops import people, queueing
    name = people.names(core, [session.assigned_agent]).get(session.assigned_agent or "")
    return owner_view(session, queueing.queue_of(core, session, agents, look=look),
                      name if session.assigned_agent else None)


@app.route("POST", "/")
def touch(req: Request) -> dict:
    from chat_core.bot import inline
    from chat_core.ops import sessions
    request = validation.touch_request(req.json())
    token = request.token or req.token
    if request.message is None:
        touched = sessions.heartbeat(req.core, request, token)
        return {"session": owner_answer(req.core, touched.session)}
    touched = sessions.post(req.core, request, token, answer=inline.answerer(req.core, request.message))
    assert touched.message is not None
    return {"session": owner_answer(req.core, touched.session, touched.agents),
            "message": message_view(touched.message), "duplicate": touched.duplicate,
            "reply": message_view(touched.reply) if touched.reply is not None else None}


@app.route("GET", "/messages")
def own_messages(req: Request) -> dict:
    from chat_core.edge import queries
    from chat_core.ops import messages, people, sessions
    session_id = validation.identifier((req.query.get("sessionId") or [None])[0])
    session, wrote = sessions.own_session(req.core, session_id, req.token)
    page = queries.page({k: v for k, v in req.query.items() if k in ("limit", "cursor")})
    found, next_cursor = messages.page_of(req.core, session.id, page)
    names = people.names(req.core, [session.assigned_agent, *(m.author_id for m in found if m.role == "agent")])
    return {"session": owner_answer(req.core, session, look=not wrote),
            "messages": [owner_message_view(m, names) for m in found], "nextCursor": next_cursor}


@app.route("GET", "/export")
def export(req: Request) -> dict:
    from chat_core.edge import queries, transcripts
    from chat_core.ops import sessions
    wanted = queries.export_request(req.query, with_session=True)
    assert wanted.session_id is not None
    session, found, next_cursor = sessions.own_export(req.core, wanted.session_id, req.token, wanted.page)
    return transcripts.answer(wanted.fmt, owner_view(session), [message_view(m) for m in found],
                              first=wanted.page.cursor is None, more=next_cursor is not None,
                              exported_at=iso(req.core.now))
