"""touch-session: the widget's heartbeat and messages, the bot's and agents' replies, and the transcript.

POST /          {sessionId, message?: {text, role?, id?, handoff?}}  (token in X-Session-Token)
GET  /messages  ?sessionId=...&cursor=...&limit=...
GET  /export    ?sessionId=...&format=json|csv&cursor=...&limit=...  (the owner's transcript, one page per call)
"""

from chat_core.edge.api.touch_session import app


def main(context):
    return app.run(context)
