"""escalate: hand a session to the human queue.

HTTP  POST / {sessionId, reason?}: the visitor (token), the AI bot (bot secret) or an agent.
Event a new row in `messages`: the configured rules decide (visitor asks for a person, bot hands off).
"""

from chat_core.edge.api.escalate import app


def main(context):
    return app.run(context)
