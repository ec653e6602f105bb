"""escalate: a visitor, the bot or an agent puts a session in the human queue; the message event (opt-in: appwrite.json
subscribes it to nothing, docs/api.md) does the same for a message row the rules say asks for a person."""

from chat_core.edge import validation
from chat_core.edge.api.touch_session import owner_answer
from chat_core.edge.http import App, Request

app = App("escalate")


@app.route("POST", "/")
def escalate(req: Request) -> dict:
    from chat_core.ops import escalation
    request = validation.escalate_request(req.json())
    done = escalation.escalate(req.core, request, request.token or req.token)
    return {"session": owner_answer(req.core, done.session, done.agents), "escalated": done.detail is None,
            "detail": done.detail}


@app.on_event
def on_message(req: Request) -> dict:
    from chat_core.ops import escalation
    return escalation.escalate_from_event(req.core, req.headers.get("x-appwrite-event", ""), req.json())
