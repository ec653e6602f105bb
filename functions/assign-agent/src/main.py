"""assign-agent: agents claim sessions; transfers, unassigning and admin assignment are explicit actions.

POST /claim     {sessionId}            an agent takes it (409 already_assigned names the winner)
POST /assign    {sessionId, agentId}   an admin assigns a waiting session
POST /transfer  {sessionId, agentId}   the assignee or an admin hands it to another agent
POST /unassign  {sessionId}            the assignee or an admin puts it back in the queue
"""

from chat_core import service
from chat_core.http import App

app = App("assign-agent")


@app.route("POST", "/claim")
def claim(req):
    return service.claim(req.core, req.json())


@app.route("POST", "/assign")
def assign(req):
    return service.assign_to(req.core, req.json())


@app.route("POST", "/transfer")
def transfer(req):
    return service.transfer(req.core, req.json())


@app.route("POST", "/unassign")
def unassign(req):
    return service.unassign(req.core, req.json())


def main(context):
    return app.run(context)
