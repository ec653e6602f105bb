"""escalate: hand a session to the human queue.

HTTP  POST / {sessionId, reason?}: the visitor (token), the AI bot (bot secret) or an agent.
Event a new row in `messages`: the configured rules decide (visitor asks for a person, bot hands off).
"""

from chat_core.edge.http import App
from chat_core.ops import service

app = App("escalate")


@app.route("POST", "/")
def escalate(req):
    return service.escalate(req.core, req.json(), req.token)


@app.on_event
def on_message(req):
    return service.escalate_from_event(req.core, req.headers.get("x-appwrite-event", ""), req.json())


def main(context):
    return app.run(context)
