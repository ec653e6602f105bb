"""create-session: the widget opens a chat. POST / {userMeta?, theme?} -> 201 {sessionId, token, status, ...}."""

from chat_core.edge.api.create_session import app


def main(context):
    return app.run(context)
