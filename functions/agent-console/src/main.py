"""agent-console: the agents' web page (HTML from an execution, as Appwrite's templates serve pages).

GET /   the console: the queue of sessions waiting for a human, my sessions, the other active sessions, the selected
        session's messages; claim, transfer, unassign, close, reply; my availability (available / away / offline,
        kept alive by a heartbeat) and load against my capacity; for admins, the team's availability and load. It
        refreshes on its own, alerts when a visitor starts waiting or is assigned to me (title badge, desktop
        notification, WebAudio chime), has keyboard shortcuts and fits a phone (docs/admin-tools.md).
GET /v/<version>/console/<file>, /v/<version>/shared/<file>
        the page's script (native ES modules) and style, from web/console/ and web/shared/ (shipped with this
        function: appwrite.json). <version> is a hash of their content: the page names the current one, so a
        browser may keep them for good; a file asked for under another version is served as it is now, briefly
        cached.

The page only talks to the other functions, through Appwrite executions (POST {endpoint}/functions/{id}/executions)
as the signed-in agent: an email/password sign-in on the endpoint, then an account JWT sent as `X-Appwrite-JWT` (for
Appwrite) and `X-Chat-JWT` (for the functions, which verify it). The same on the local stack, whose dev users have
a dev password. This function imports nothing but the standard library, reads nothing and needs no scopes.
Variables: CONSOLE_API_ENDPOINT (the public Appwrite endpoint the browser calls; default
APPWRITE_FUNCTION_API_ENDPOINT), CONSOLE_REFRESH_SECONDS (default 5, 1 to 3600).
"""

import hashlib
import json
import os
import re
from pathlib import Path

WEB = Path(__file__).resolve().parents[3] / "web"  # the deployment's root holds web/ (appwrite.json `ignore`)
FOLDERS = ("console", "shared")  # what this function serves of web/
PAGE = WEB / "console" / "index.html"
FUNCTIONS = {"list": "list-sessions", "assign": "assign-agent", "close": "close-session", "touch": "touch-session"}
ASSET = re.compile(r"^/v/([0-9a-f]{1,64})/(console|shared)/([a-z][a-z0-9-]*\.(?:js|css))$")
TYPES = {"js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8"}

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


def version() -> str:
    """A hash of every file served under /v/: a new deployment's page names new URLs."""
    digest = hashlib.sha256()
    for folder in FOLDERS:
        for path in sorted((WEB / folder).glob("*.*")):
            digest.update(f"{folder}/{path.name}\0".encode() + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def security_headers(endpoint: str) -> dict:
    """The page runs its own scripts and style (no inline code) and calls the Appwrite endpoint only (its Realtime
    socket too: ws(s):// on the same host)."""
    origin = "/".join(endpoint.split("/")[:3]) if "://" in endpoint else ""
    socket = origin.replace("http", "ws", 1) if origin else ""
    policy = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src data:; "
              f"connect-src 'self' {origin} {socket}".rstrip() + "; base-uri 'none'; form-action 'none'; "
              "frame-ancestors 'none'")
    return {**HEADERS, "content-security-policy": policy}


def render(config: dict) -> str:
    # JSON in a data block (<script type="application/json">, never run): escape "<" so no value can close it.
    script_safe = json.dumps(config).replace("<", "\\u003c")
    page = PAGE.read_text(encoding="utf-8").replace("{{config}}", script_safe, 1)
    return page.replace("{{assets}}", f"v/{version()}")  # relative: the page is at / (Appwrite) or /functions/<id>/


HEADERS = {
    "content-type": "text/html; charset=utf-8",
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


def error(context, status: int, code: str, message: str):
    return context.res.json({"error": {"code": code, "message": message}}, status)


def asset(context, match):
    wanted, folder, name = match.groups()
    path = WEB / folder / name
    if not path.is_file():
        return error(context, 404, "route_not_found", f"no {folder}/{name}")
    cache = "public, max-age=31536000, immutable" if wanted == version() else "public, max-age=300"
    return context.res.text(path.read_text(encoding="utf-8"), 200, {
        "content-type": TYPES[name.rsplit(".", 1)[1]], "cache-control": cache, "x-content-type-options": "nosniff"})


def main(context):
    req = context.req
    if req.method not in ("GET", "HEAD"):
        return error(context, 405, "method_not_allowed", "use GET")
    path = req.path or "/"
    if match := ASSET.match(path):
        return asset(context, match)
    if path.rstrip("/") not in ("", "/index.html"):
        return error(context, 404, "route_not_found", "the console is at /")
    config = page_config()
    return context.res.text(render(config), 200, security_headers(config["endpoint"]))
