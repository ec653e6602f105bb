"""agent-console: the agents' web page (HTML from an execution, as Appwrite's templates serve pages).

GET /   the console: the queue of sessions waiting for a human, my sessions, the other active sessions, the selected
        session's messages; claim, transfer, unassign, close, reply; my availability (available / away / offline,
        kept alive by a heartbeat) and load against my capacity; for admins, the team's availability and load. It
        refreshes on its own, alerts when a visitor starts waiting or is assigned to me (title badge, desktop
        notification, WebAudio chime), has keyboard shortcuts and fits a phone (docs/admin-tools.md).

The page only talks to the other functions, through Appwrite executions (POST {endpoint}/functions/{id}/executions)
as the signed-in agent: an email/password sign-in on the endpoint, then an account JWT sent as `X-Appwrite-JWT` (for
Appwrite) and `X-Chat-JWT` (for the functions, which verify it). The same on the local stack, whose dev users have
a dev password. This function reads nothing and needs no scopes. Variables: CONSOLE_API_ENDPOINT (the public
Appwrite endpoint the browser calls; default APPWRITE_FUNCTION_API_ENDPOINT), CONSOLE_REFRESH_SECONDS (default 5,
1 to 3600).
"""

import json
import os
from pathlib import Path

PAGE = Path(__file__).with_name("console.html")
FUNCTIONS = {"list": "list-sessions", "assign": "assign-agent", "close": "close-session", "touch": "touch-session"}


# Seconds between refreshes. The page clamps `?refresh=` to the same range: past 2**31-1 ms (24.8 days) a browser's
# setTimeout overflows and fires at once, so a huge value would refresh as fast as the browser can.
REFRESH_MIN, REFRESH_MAX = 1, 3600


def page_config() -> dict:
    endpoint = os.environ.get("CONSOLE_API_ENDPOINT") or os.environ.get("APPWRITE_FUNCTION_API_ENDPOINT", "")
    try:
        refresh = min(REFRESH_MAX, max(REFRESH_MIN, int(os.environ.get("CONSOLE_REFRESH_SECONDS", "5"))))
    except ValueError:
        refresh = 5
    return {"endpoint": endpoint.rstrip("/"), "project": os.environ.get("APPWRITE_FUNCTION_PROJECT_ID", ""),
            "functions": FUNCTIONS, "refreshSeconds": refresh, "refreshRange": [REFRESH_MIN, REFRESH_MAX]}


def security_headers(endpoint: str) -> dict:
    """The page runs its own inline script and calls the Appwrite endpoint only."""
    origin = "/".join(endpoint.split("/")[:3]) if "://" in endpoint else ""
    policy = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; "
              f"connect-src 'self' {origin}".rstrip() + "; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
    return {**HEADERS, "content-security-policy": policy}


def render(config: dict) -> str:
    # JSON inside <script>: escape "<" so no value can close the element.
    script_safe = json.dumps(config).replace("<", "\\u003c")
    return PAGE.read_text(encoding="utf-8").replace("/*CONSOLE_CONFIG*/{}", script_safe, 1)


HEADERS = {
    "content-type": "text/html; charset=utf-8",
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


def main(context):
    req = context.req
    if req.method not in ("GET", "HEAD"):
        return context.res.json({"error": {"code": "method_not_allowed", "message": "use GET"}}, 405)
    if (req.path or "/").rstrip("/") not in ("", "/index.html"):
        return context.res.json({"error": {"code": "route_not_found", "message": "the console is at /"}}, 404)
    config = page_config()
    return context.res.text(render(config), 200, security_headers(config["endpoint"]))
