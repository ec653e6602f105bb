"""assign-agent: claim, assign, transfer and unassign sessions; an agent's availability and an admin's capacity."""

from chat_core.core import Core
from chat_core.domain import authz
from chat_core.domain.model import Change, Session
from chat_core.edge import validation
from chat_core.edge.http import App, Request
from chat_core.edge.views import agent_status_view, agent_view

app = App("assign-agent")


def assigned(core: Core, result: tuple[Session, Change]) -> dict:
    from chat_core.ops import people
    session, change = result
    names = people.names(core, [session.assigned_agent])
    return {"session": agent_view(session, core.now, shows_rating=authz.sees_rating(core.caller, session), names=names),
            "changed": not change.noop, "detail": change.noop}


@app.route("POST", "/claim")
def claim(req: Request) -> dict:
    from chat_core.ops import assignment
    return assigned(req.core, assignment.claim(req.core, validation.assign_request(req.json(), agent_required=False)))


@app.route("POST", "/assign")
def assign(req: Request) -> dict:
    from chat_core.ops import assignment
    authz.require_admin(req.core.caller)  # who may call the route at all, before reading the body
    request = validation.assign_request(req.json(), agent_required=True, override=True)
    return assigned(req.core, assignment.assign(req.core, request))


@app.route("POST", "/transfer")
def transfer(req: Request) -> dict:
    from chat_core.ops import assignment
    authz.require_agent(req.core.caller)
    request = validation.assign_request(req.json(), agent_required=True, override=True)
    return assigned(req.core, assignment.transfer(req.core, request))


@app.route("POST", "/unassign")
def unassign(req: Request) -> dict:
    from chat_core.ops import assignment
    authz.require_agent(req.core.caller)
    return assigned(req.core, assignment.unassign(req.core, validation.assign_request(req.json(),
                                                                                      agent_required=False)))


@app.route("POST", "/availability")
def set_availability(req: Request) -> dict:
    from chat_core.ops import agents
    update = agents.set_availability(req.core, validation.availability_request(req.json()))
    return {"agent": agent_status_view(update.agent, req.core.settings, req.core.now),
            "autoAssign": req.core.settings.auto_assign, "assigned": update.assigned}


@app.route("POST", "/capacity")
def set_capacity(req: Request) -> dict:
    from chat_core.ops import agents
    authz.require_admin(req.core.caller)
    update = agents.set_capacity(req.core, validation.capacity_request(req.json()))
    return {"agent": agent_status_view(update.agent, req.core.settings, req.core.now), "assigned": update.assigned}
