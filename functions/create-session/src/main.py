"""create-session: the widget opens a chat. POST / {userMeta?, theme?} -> 201 {sessionId, token, status, ...}."""

from chat_core.edge.http import App
from chat_core.ops import service

app = App("create-session")


@app.route("POST", "/")
def create(req):
    return 201, service.create_session(req.core, req.json())


def main(context):
    return app.run(context)
