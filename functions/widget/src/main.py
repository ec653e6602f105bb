"""widget: serves the visitors' chat widget, for a site to embed with one tag.

GET /widget.js   the script (widget.js beside this file). The page's tag names the Appwrite endpoint and project:
                 <script src="https://<this function's domain>/widget.js" defer
                         data-endpoint="https://cloud.appwrite.io/v1" data-project="<project ID>"></script>

The script runs on the site's pages and calls create-session, touch-session, escalate and close-session through
Appwrite executions; this function only hands it out. It reads nothing and needs no scopes.
"""

import json
from pathlib import Path

SCRIPT = Path(__file__).with_name("widget.js")
HEADERS = {
    "content-type": "text/javascript; charset=utf-8",
    "cache-control": "public, max-age=300",  # a new deployment reaches pages within five minutes
    "x-content-type-options": "nosniff",
    "cross-origin-resource-policy": "cross-origin",  # embeddable by sites that isolate their pages (COEP)
    "access-control-allow-origin": "*",  # a public script: also for <script crossorigin> and integrity checks
}


def error(context, status: int, code: str, message: str):
    body = json.dumps({"error": {"code": code, "message": message}})
    return context.res.text(body, status, {"content-type": "application/json"})


def main(context):
    req = context.req
    if req.method not in ("GET", "HEAD"):
        return error(context, 405, "method_not_allowed", "use GET")
    if (req.path or "/") != "/widget.js":
        return error(context, 404, "route_not_found", "the widget is at /widget.js")
    return context.res.text(SCRIPT.read_text(encoding="utf-8"), 200, dict(HEADERS))
