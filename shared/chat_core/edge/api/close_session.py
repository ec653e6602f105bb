"""close-session: the visitor, its agent or an admin closes a session (with the visitor's rating, if given); the
visitor rates a closed session; the minute's schedule sweeps idle and empty sessions."""

from chat_core.edge import validation
from chat_core.edge.http import App, Request
from chat_core.edge.views import owner_view

app = App("close-session")


@app.route("POST", "/")
def close(req: Request) -> dict:
    from chat_core.ops import sessions
    request = validation.close_request(req.json())
    session, detail = sessions.close(req.core, request, request.token or req.token)
    return {"session": owner_view(session), "closed": not detail, "detail": detail,
            **({"rated": True} if request.rating is not None else {})}


@app.route("POST", "/rate")
def rate(req: Request) -> dict:
    from chat_core.ops import sessions
    request = validation.rate_request(req.json())
    return {"session": owner_view(sessions.rate(req.core, request, request.token or req.token)), "rated": True}


@app.on_schedule
def close_idle(req: Request) -> dict:
    from chat_core.ops import sweep
    return sweep.close_idle(req.core)
