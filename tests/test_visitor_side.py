"""The widget and bot functions as deployed, and the local stack's demo: no browser needed here."""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import load_main

from devstack.__main__ import banner
from devstack.context import RuntimeContext, RuntimeRequest
from devstack.server import Stack

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = {f["$id"]: f for f in json.loads((ROOT / "appwrite.json").read_text())["functions"]}


def serve(method: str, path: str):
    context = RuntimeContext(RuntimeRequest(method, path, {}, b""))
    return load_main("widget")(context)


def test_the_widget_function_hands_out_the_script_with_headers_for_any_site():
    answer = serve("GET", "/widget.js")
    assert answer["statusCode"] == 200
    version = re.search(rb'"v/([0-9a-f]{16})/widget/app\.js"', answer["body"]).group(1).decode()
    loader = (ROOT / "web/widget/widget.js").read_text().replace("__WIDGET_VERSION__", version, 1)
    assert answer["body"] == loader.encode()  # the loader, with the deployment's version written in
    headers = {k.lower(): v for k, v in answer["headers"].items()}
    assert headers["content-type"] == "text/javascript; charset=utf-8"
    assert headers["x-content-type-options"] == "nosniff" and headers["cross-origin-resource-policy"] == "cross-origin"
    assert headers["cache-control"] == "public, max-age=300" and headers["access-control-allow-origin"] == "*"


def test_the_widget_modules_are_served_for_any_site_and_cached_for_good_under_their_version():
    version = re.search(rb"v/([0-9a-f]{16})/", serve("GET", "/widget.js")["body"]).group(1).decode()
    for path in ("widget/app.js", "widget/api.js", "shared/dom.js", "shared/execution.js"):
        answer = serve("GET", f"/v/{version}/{path}")
        headers = {k.lower(): v for k, v in answer["headers"].items()}
        assert answer["statusCode"] == 200 and answer["body"] == (ROOT / "web" / path).read_bytes(), path
        assert headers["content-type"] == "text/javascript; charset=utf-8"
        assert headers["access-control-allow-origin"] == "*"  # module scripts are fetched with CORS
        assert headers["cross-origin-resource-policy"] == "cross-origin"
        assert headers["cache-control"] == "public, max-age=31536000, immutable"
    # A page loaded just before a deployment asks for the old version: it gets today's files, briefly cached.
    stale = serve("GET", "/v/0123456789abcdef/widget/app.js")
    assert stale["statusCode"] == 200 and stale["headers"]["cache-control"] == "public, max-age=300"
    # Each file the modules import is served (an import the function cannot answer would break the widget).
    for module in (ROOT / "web/widget").glob("*.js"):
        for imported in re.findall(r'from "\.\.?/([^"]+)"', module.read_text()):
            target = f"widget/{imported}" if not imported.startswith("shared/") else imported
            assert serve("GET", f"/v/{version}/{target}")["statusCode"] == 200, (module.name, imported)


@pytest.mark.parametrize(("method", "path", "status", "code"), [
    ("GET", "/", 404, "route_not_found"), ("GET", "/widget.js/", 404, "route_not_found"),
    ("GET", "/../main.py", 404, "route_not_found"), ("POST", "/widget.js", 405, "method_not_allowed"),
    ("DELETE", "/widget.js", 405, "method_not_allowed"), ("GET", "/v/0/widget/../../functions/widget/src/main.py",
    404, "route_not_found"), ("GET", "/v/0/console/app.js", 404, "route_not_found"),
    ("GET", "/v/0/widget/widget.js", 404, "route_not_found"), ("GET", "/v/0/widget/nothing.js", 404, "route_not_found"),
    ("GET", "/v/0/widget/app.js/", 404, "route_not_found"),
])
def test_anything_else_is_a_json_error(method, path, status, code):
    answer = serve(method, path)
    assert answer["statusCode"] == status and json.loads(answer["body"])["error"]["code"] == code


def test_the_widget_function_needs_nothing_and_the_bot_only_reads_and_writes_rows():
    widget, bot = FUNCTIONS["widget"], FUNCTIONS["bot"]
    assert (widget["execute"], widget["scopes"], widget["events"]) == (["any"], [], [])
    assert (bot["execute"], sorted(bot["scopes"])) == ([], ["rows.read", "rows.write"])
    assert bot["events"] == ["databases.chat.tables.messages.rows.*.create"] and FUNCTIONS["escalate"]["events"] == []


# --- the demo on the local stack ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with Stack(ROOT, data_dir=tmp_path_factory.mktemp("demo"), port=0, run_scheduler=False) as running:
        yield running


def test_the_demo_page_embeds_the_widget_with_one_tag_under_a_strict_policy(stack):
    origin = stack.endpoint.removesuffix("/v1")
    with urllib.request.urlopen(f"{origin}/demo/", timeout=10) as answer:
        page = answer.read().decode()
        policy = answer.headers["content-security-policy"]
    tag = (f'<script src="{origin}/functions/widget/widget.js" data-endpoint="{stack.endpoint}" '
           f'data-project="{stack.project_id}"')
    assert page.count(tag) == 1 and "&lt;script src=" in page  # the tag, and the tag shown as text
    socket = origin.replace("http", "ws", 1)  # the widget's Realtime socket
    assert f"script-src {origin};" in policy and f"connect-src {origin} {socket};" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert f"{origin}/functions/agent-console/" in page
    request = urllib.request.Request(f"{origin}/demo/", data=b"x", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 405


def test_the_banner_names_the_demo(stack):
    assert f"demo site  http://127.0.0.1:{stack.port}/demo/" in banner(stack)


def test_make_run_makes_up_a_bot_secret_only_when_none_is_set(tmp_path, monkeypatch):
    monkeypatch.delenv("BOT_SECRET", raising=False)
    (tmp_path / "appwrite.json").write_text(json.dumps({"projectId": "p", "tablesDB": [], "tables": [],
                                                        "functions": []}))
    with Stack(tmp_path, data_dir=tmp_path / "a", port=0, run_scheduler=False, seed_users=False,
               generate_secrets=("BOT_SECRET",)) as made_up:
        secret = os.environ["BOT_SECRET"]
        text = banner(made_up)
    assert secret.startswith("devstack-") and len(secret) > 30
    assert "BOT_SECRET made up for this run" in text and secret not in text
    assert "BOT_SECRET" not in os.environ  # gone with the stack

    (tmp_path / ".env").write_text("BOT_SECRET=chosen-by-me\n")
    with Stack(tmp_path, data_dir=tmp_path / "b", port=0, run_scheduler=False, seed_users=False,
               generate_secrets=("BOT_SECRET",)) as chosen:
        assert os.environ["BOT_SECRET"] == "chosen-by-me" and chosen.generated_secrets == ()
        assert "BOT_SECRET set (.env)" in banner(chosen)
