"""list-sessions: what agents and admins see.

GET  /                 sessions with filters, cursor pages and the summary
GET  /agents           the agents: availability, capacity, load
GET  /{id}             one session
GET  /{id}/messages    its messages, oldest first, paged
GET  /{id}/export      ?format=json|csv&cursor=...: the transcript as a file, one page per call
GET  /{id}/history     its timeline: every lifecycle transition, in order, paged
GET  /audit            (admin) the audit trail by agent and time range, paged
GET  /replies           saved replies (agents); POST /replies, DELETE /replies/{shortcut} (admin)
POST /recount          (admin) repair: the counters rebuilt from the sessions, messageCount from the stored messages
Schedule (every minute): fold the sessions the counters do not hold yet into them, move the sessions' recorded
transitions to the `audit` table, and auto-assign what events missed
"""

from chat_core.edge.api.list_sessions import app


def main(context):
    return app.run(context)
