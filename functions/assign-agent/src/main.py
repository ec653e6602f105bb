"""assign-agent: agents claim sessions; transfers, unassigning and admin assignment are explicit actions.

POST /claim     {sessionId}            an agent takes it (409 already_assigned names the winner)
POST /assign    {sessionId, agentId}   an admin assigns a waiting session
POST /transfer  {sessionId, agentId}   the assignee or an admin hands it to another agent
POST /unassign  {sessionId}            the assignee or an admin puts it back in the queue
POST /availability {availability?, agentId?}   an agent's console: available / away / offline, and its heartbeat
POST /capacity  {agentId, capacity}    an admin sets how many sessions an agent may hold (null: AGENT_CAPACITY)
/assign and /transfer take `overCapacity: true` from an admin. Sessions are auto-assigned too (AUTO_ASSIGN).
"""

from chat_core.edge.api.assign_agent import app


def main(context):
    return app.run(context)
