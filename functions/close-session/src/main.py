"""close-session: the visitor, the session's agent or an admin ends a chat; a schedule closes idle ones.

POST /     {sessionId, reason?, rating?: {score, comment?}}   (token in X-Session-Token for the visitor)
POST /rate {sessionId, rating: {score, comment?}}             the visitor rates a closed session (once)
Schedule: closes sessions idle longer than IDLE_CLOSE_MINUTES.
"""

from chat_core.edge.api.close_session import app


def main(context):
    return app.run(context)
