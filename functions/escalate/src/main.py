"""escalate: hand a session to the human queue.

HTTP  POST / {sessionId, reason?}: the visitor (token), the AI bot (bot secret) or an agent.
Event a new row in `messages`, for a deployment that subscribes it (appwrite.json does not: the admitting write
      escalates): the configured rules decide, on the row as stored (visitor asks for a person, bot hands off).
"""

from chat_core.edge.api.escalate import app


def main(context):
    return app.run(context)
