"""DEV ONLY: a demo web page with the chat widget embedded, served by the local stack at ``/demo/``.

It stands for a customer's site: a page that adds the widget with one tag, as docs/visitor-side.md tells site
owners to. The script comes from the ``widget`` function (``/functions/widget/widget.js``, as its domain would
serve it), and the page's Content-Security-Policy is strict (no inline script, no inline style but its own, by
nonce), so the demo also shows that the widget needs nothing more than ``script-src`` for its origin and
``connect-src`` for the endpoint. Not part of any deployment: Appwrite never serves this page.
"""

from __future__ import annotations

import html
import secrets
from pathlib import Path
from typing import Any

PAGE = Path(__file__).with_name("demo.html")

THEME = {"title": "Trailhead help", "greeting": "Hi! Ask me about orders, delivery or returns, or ask for a person.",
         "accent": "#24463a"}


def embed_tag(endpoint: str, project: str) -> str:
    """The one tag a site adds (what docs/visitor-side.md shows), pointing at this stack."""
    origin = endpoint.removesuffix("/v1")
    attributes = {"src": f"{origin}/functions/widget/widget.js", "data-endpoint": endpoint, "data-project": project,
                  **{f"data-{key}": value for key, value in THEME.items()}}
    return "<script " + " ".join(f'{name}="{html.escape(value)}"' for name, value in attributes.items()) + \
        " defer></script>"


def page(endpoint: str, project: str, method: str) -> tuple[int, dict[str, str], bytes]:
    if method not in ("GET", "HEAD"):
        return 405, {"content-type": "application/json"}, \
            b'{"message": "The demo page answers GET only.", "code": 405, "type": "general_route_not_found"}'
    origin = endpoint.removesuffix("/v1")
    nonce = secrets.token_urlsafe(16)
    tag = embed_tag(endpoint, project)
    values = {"nonce": nonce, "tag": tag, "tag_text": html.escape(tag),
              "console": html.escape(f"{origin}/functions/agent-console/")}
    body = PAGE.read_text(encoding="utf-8")
    for name, value in values.items():
        body = body.replace("{{" + name + "}}", value)
    socket = origin.replace("http", "ws", 1)  # Realtime (the widget's socket): ws(s):// on the endpoint's host
    policy = (f"default-src 'none'; script-src {origin}; connect-src {origin} {socket}; style-src 'nonce-{nonce}'; "
              "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
    headers: dict[str, Any] = {"content-type": "text/html; charset=utf-8", "cache-control": "no-store",
                               "content-security-policy": policy, "x-content-type-options": "nosniff",
                               "referrer-policy": "no-referrer"}
    return 200, headers, body.encode()


CONSOLE_DEV = Path(__file__).with_name("console-dev.js")
CONSOLE_DEV_PATH = "/devstack/console-dev.js"


def console_dev_script(method: str) -> tuple[int, dict[str, str], bytes]:
    """DEV ONLY: the module the stack adds to the agent console (the dev users, a refresh counter for the tests)."""
    if method not in ("GET", "HEAD"):
        return 405, {"content-type": "application/json"}, \
            b'{"message": "GET only.", "code": 405, "type": "general_route_not_found"}'
    return 200, {"content-type": "text/javascript; charset=utf-8", "cache-control": "no-store",
                 "x-content-type-options": "nosniff"}, CONSOLE_DEV.read_bytes()


def with_console_dev(body: bytes) -> bytes:
    """The console page as the stack serves it: its own modules, then devstack/console-dev.js (same origin, so the
    page's `script-src 'self'` allows it). Production serves the page without it."""
    tag = f'<script type="module" src="{CONSOLE_DEV_PATH}"></script>\n'.encode()
    at = body.rfind(b"</body>")
    return body if at < 0 else body[:at] + tag + body[at:]
