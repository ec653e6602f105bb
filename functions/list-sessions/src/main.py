"""list-sessions: what agents and admins see.

GET  /                 sessions with filters, cursor pages and the summary
GET  /agents           the agents: availability, capacity, load
GET  /{id}             one session
GET  /{id}/messages    its messages, oldest first, paged
GET  /{id}/export      ?format=json|csv&cursor=...: the transcript as a file, one page per call
GET  /{id}/history     its timeline: every lifecycle transition, in order, paged
GET  /audit            (admin) the audit trail by agent and time range, paged
POST /recount          (admin) repair: the counters rebuilt from the sessions, messageCount from the stored messages
Schedule (every minute): fold the sessions the counters do not hold yet into them, move the sessions' recorded
transitions to the `audit` table, and auto-assign what events missed
"""

from chat_core.edge.http import App
from chat_core.ops import availability, service

app = App("list-sessions")


@app.route("GET", "/")
def list_sessions(req):
    return service.list_sessions(req.core, req.query)


@app.route("POST", "/recount")
def recount(req):
    return service.recount(req.core, req.json())


@app.route("GET", "/audit")  # before /{session_id}: the first route that matches answers
def audit_trail(req):
    return service.audit_trail(req.core, req.query)
@app.route("GET", "/agents")  # before /{session_id}: the first route that matches answers
def agents(req):
    return availability.agents_list(req.core)


@app.route("GET", "/{session_id}")
def get_session(req):
    return service.get_session(req.core, req.params["session_id"])


@app.route("GET", "/{session_id}/messages")
def messages(req):
    return service.session_messages(req.core, req.params["session_id"], req.query)


@app.route("GET", "/{session_id}/history")
def history(req):
    return service.session_history(req.core, req.params["session_id"], req.query)


@app.on_schedule
def fold(req):
    return service.fold_counters(req.core)
@app.route("GET", "/{session_id}/export")
def export(req):
    return service.export_session(req.core, req.params["session_id"], req.query)


def main(context):
    return app.run(context)
