"""close-session: the visitor, the session's agent or an admin ends a chat; a schedule closes idle ones.

POST /     {sessionId, reason?, rating?: {score, comment?}}   (token in X-Session-Token for the visitor)
POST /rate {sessionId, rating: {score, comment?}}             the visitor rates a closed session (once)
Schedule: closes sessions idle longer than IDLE_CLOSE_MINUTES.
"""

from chat_core.edge.http import App
from chat_core.ops import ratings, service

app = App("close-session")


@app.route("POST", "/")
def close(req):
    return service.close(req.core, req.json(), req.token)


@app.route("POST", "/rate")
def rate(req):
    return ratings.rate_closed(req.core, req.json(), req.token)


@app.on_schedule
def close_idle(req):
    return service.close_idle(req.core)


def main(context):
    return app.run(context)
