"""widget: serves the visitors' chat widget, for a site to embed with one tag.

GET /widget.js   the tag's script (web/widget/widget.js): a small loader that adds the widget's native ES modules.
                 The page's tag names the Appwrite endpoint and project:
                 <script src="https://<this function's domain>/widget.js" defer
                         data-endpoint="https://cloud.appwrite.io/v1" data-project="<project ID>"></script>
GET /v/<version>/widget/<file>.js, /v/<version>/shared/<file>.js
                 the modules, from web/widget/ and web/shared/ (shipped with this function: appwrite.json).
                 <version> is a hash of their content, written into the loader: under it a browser keeps them for
                 good; a module asked for under another version (a page loaded just before a deployment) is served
                 as it is now, briefly cached.

Every answer may be read from any site (CORS `*`, and CORP cross-origin for sites that isolate their pages): module
scripts are fetched with CORS. The widget runs on the site's pages and calls create-session, touch-session,
escalate and close-session through Appwrite executions; this function only hands it out. It imports nothing but the
standard library, reads nothing and needs no scopes.
"""

import hashlib
import json
import re
from pathlib import Path

WEB = Path(__file__).resolve().parents[3] / "web"  # the deployment's root holds web/ (appwrite.json `ignore`)
FOLDERS = ("widget", "shared")  # what this function serves of web/
LOADER = WEB / "widget" / "widget.js"
MODULE = re.compile(r"^/v/([0-9a-f]{1,64})/(widget|shared)/([a-z][a-z0-9-]*\.js)$")
HEADERS = {
    "content-type": "text/javascript; charset=utf-8",
    "x-content-type-options": "nosniff",
    "cross-origin-resource-policy": "cross-origin",  # embeddable by sites that isolate their pages (COEP)
    "access-control-allow-origin": "*",  # public scripts: module scripts are fetched with CORS (no cookies)
}
SHORT = "public, max-age=300"  # a new deployment reaches pages within five minutes
FOR_GOOD = "public, max-age=31536000, immutable"  # a versioned URL's content never changes


def version() -> str:
    """A hash of every file served under /v/: a new deployment's loader names new URLs."""
    digest = hashlib.sha256()
    for folder in FOLDERS:
        for path in sorted((WEB / folder).glob("*.js")):
            digest.update(f"{folder}/{path.name}\0".encode() + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def loader() -> str:
    return LOADER.read_text(encoding="utf-8").replace("__WIDGET_VERSION__", version(), 1)


def error(context, status: int, code: str, message: str):
    body = json.dumps({"error": {"code": code, "message": message}})
    return context.res.text(body, status, {"content-type": "application/json"})


def main(context):
    req = context.req
    if req.method not in ("GET", "HEAD"):
        return error(context, 405, "method_not_allowed", "use GET")
    path = req.path or "/"
    if path == "/widget.js":
        return context.res.text(loader(), 200, {**HEADERS, "cache-control": SHORT})
    match = MODULE.match(path)
    if not match or match.group(3) == "widget.js" or not (WEB / match.group(2) / match.group(3)).is_file():
        return error(context, 404, "route_not_found", "the widget is at /widget.js")
    wanted, folder, name = match.groups()
    return context.res.text((WEB / folder / name).read_text(encoding="utf-8"), 200,
                            {**HEADERS, "cache-control": FOR_GOOD if wanted == version() else SHORT})
