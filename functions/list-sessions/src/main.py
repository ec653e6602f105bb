"""list-sessions: what agents and admins see.

GET  /                 sessions with filters, cursor pages and the summary
GET  /agents           the agents: availability, capacity, load
GET  /{id}             one session
GET  /{id}/messages    its messages, oldest first, paged
POST /recount          (admin) repair: the counters rebuilt from the sessions, messageCount from the stored messages
Schedule (every minute): fold the sessions the counters do not hold yet into them; auto-assign what events missed
"""

from chat_core import availability, service
from chat_core.http import App

app = App("list-sessions")


@app.route("GET", "/")
def list_sessions(req):
    return service.list_sessions(req.core, req.query)


@app.route("POST", "/recount")
def recount(req):
    return service.recount(req.core, req.json())


@app.route("GET", "/agents")  # before /{session_id}: the first route that matches answers
def agents(req):
    return availability.agents_list(req.core)


@app.route("GET", "/{session_id}")
def get_session(req):
    return service.get_session(req.core, req.params["session_id"])


@app.route("GET", "/{session_id}/messages")
def messages(req):
    return service.session_messages(req.core, req.params["session_id"], req.query)


@app.on_schedule
def fold(req):
    return service.fold_counters(req.core)


def main(context):
    return app.run(context)
