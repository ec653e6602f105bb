"""touch-session: the widget's heartbeat and messages, the bot's and agents' replies, and the transcript.

POST /          {sessionId, message?: {text, role?, id?, handoff?}}  (token in X-Session-Token)
GET  /messages  ?sessionId=...&cursor=...&limit=...
GET  /export    ?sessionId=...&format=json|csv&cursor=...&limit=...  (the owner's transcript, one page per call)
"""

from chat_core.edge.http import App
from chat_core.ops import service

app = App("touch-session")


@app.route("POST", "/")
def touch(req):
    return service.touch_session(req.core, req.json(), req.token)


@app.route("GET", "/messages")
def messages(req):
    return service.owner_messages(req.core, req.query, req.token)


@app.route("GET", "/export")
def export(req):
    return service.export_own_session(req.core, req.query, req.token)


def main(context):
    return app.run(context)
