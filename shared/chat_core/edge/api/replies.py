"""Saved replies' routes (issue 22, item 9), served by list-sessions (`add_routes(app)` before its `/{session_id}`):

GET    /replies             every saved reply, by shortcut (agents, admins)
POST   /replies             {"shortcut": "refund", "text": "..."}: add one (admins): 201
DELETE /replies/{shortcut}  remove one (admins)
"""

from chat_core.domain import authz
from chat_core.edge import validation
from chat_core.edge.http import App, Request
from chat_core.edge.views import reply_view


def add_routes(app: App) -> None:
    @app.route("GET", "/replies")
    def list_replies(req: Request) -> dict:
        from chat_core.ops import replies
        authz.require_agent(req.core.caller)
        return {"replies": [reply_view(r) for r in replies.all_replies(req.core)]}

    @app.route("POST", "/replies")
    def add_reply(req: Request) -> tuple[int, dict]:
        from chat_core.ops import replies
        authz.require_admin(req.core.caller)
        shortcut, text = validation.reply_request(req.json())
        return 201, {"reply": reply_view(replies.add(req.core, shortcut, text))}

    @app.route("DELETE", "/replies/{shortcut}")
    def remove_reply(req: Request) -> dict:
        from chat_core.ops import replies
        authz.require_admin(req.core.caller)
        shortcut = validation.reply_shortcut(req.params["shortcut"])
        replies.remove(req.core, shortcut)
        return {"removed": shortcut}
