"""create-session: POST / starts a session and answers its ID and token."""

from chat_core.edge import validation
from chat_core.edge.http import App, Request
from chat_core.edge.views import owner_view, stored_object

app = App("create-session")


@app.route("POST", "/")
def create(req: Request) -> tuple[int, dict]:
    from chat_core.ops import sessions
    started = sessions.create(req.core, validation.new_session(req.json()))
    session = started.session
    return 201, {**owner_view(session), "token": started.token, "userMeta": stored_object(session.user_meta),
                 "theme": stored_object(session.theme)}
