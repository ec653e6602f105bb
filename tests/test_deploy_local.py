"""The real Appwrite CLI deploys appwrite.json to a blank local stack; the story then runs on what it deployed.

`make deploy-local` runs this module. The CLI (npm appwrite-cli 12.0.1, from tools/appwrite-cli) is driven by
tools/deploy.py with the stack's API key: `push tables`, then `push functions` (settings, then code). Each
function's code is the archive the CLI packed and uploaded; the stack builds it into a fresh virtualenv with the
function's `commands` and, once active, executions run that build in its own interpreter, not the working tree.
"""

from __future__ import annotations

import io
import json
import sys
import tarfile
import urllib.request
from pathlib import Path

import pytest
from stack_support import (
    ADMIN_SECRET,
    BOT_SECRET,
    FORGED,
    Party,
    disable_functions,
    run_whole_story,
    set_function_variables,
)

from devstack.server import Stack
from tools.deploy import deploy, run_cli, verify

ROOT = Path(__file__).resolve().parent.parent
CONFIG = json.loads((ROOT / "appwrite.json").read_text())
FUNCTIONS = [f["$id"] for f in CONFIG["functions"]]
ENTRYPOINTS = {f["$id"]: f["entrypoint"] for f in CONFIG["functions"]}
ASSETS = {"bot": ["shared/chat_core/bot/faq.json"], "touch-session": ["shared/chat_core/bot/faq.json"]}  # read at run
# time (package data: the FAQ bot answers in touch-session, the bot function gives it to a model)
# The functions that serve the front end: their own folder and the web/ folders they serve, no shared/, no SDK.
WEB = {"widget": ("web/widget/", "web/shared/"), "agent-console": ("web/console/", "web/shared/")}

pytestmark = pytest.mark.build


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    data = tmp_path_factory.mktemp("deployed")
    config = (ROOT / "appwrite.json").read_bytes()
    printed = Printed()
    with Stack(data_dir=data / "stack", port=0, run_scheduler=False, blank=True) as stack:
        transcript = deploy(stack.endpoint, stack.api_key, home=data / "cli-home", out=printed)
        assert (ROOT / "appwrite.json").read_bytes() == config  # the CLI rewrote it identically (--project-id)
        active = verify(stack.endpoint, stack.api_key)
        set_function_variables(stack, {"ADMIN_SECRET": ADMIN_SECRET, "BOT_SECRET": BOT_SECRET,
                                       "IDLE_CLOSE_MINUTES": "30", "BOT_INLINE": "off"})  # the story's own AI bot
        stack.printed = printed.getvalue()
        yield stack, transcript, active


class Printed(io.StringIO):
    """What `make deploy-local` shows (stdout, with -s), kept for the test of its length and content."""

    def write(self, text: str) -> int:
        sys.stdout.write(text)
        return super().write(text)

    def flush(self) -> None:
        sys.stdout.flush()


def _get(stack: Stack, path: str) -> bytes:
    request = urllib.request.Request(stack.endpoint + path, headers={"x-appwrite-project": stack.project_id,
                                                                     "x-appwrite-key": stack.api_key})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return answer.read()


def test_the_cli_pushed_every_table_and_function(deployed):
    stack, transcript, active = deployed
    assert f"Successfully pushed {len(CONFIG['tables'])} tables" in transcript  # sessions ... audit
    assert f"Successfully pushed {len(FUNCTIONS)} functions." in transcript
    assert sorted(active) == sorted(FUNCTIONS)
    assert {d["type"] for d in active.values()} == {"cli"}  # uploaded by the CLI, not by hand
    assert stack.engine.table("chat", "sessions").columns["status"].elements == ("active", "agent_assigned", "closed")


def test_what_make_deploy_local_prints_is_short_and_names_every_function(deployed):
    """The CLI's raw output is hundreds of lines (one block of spinner frames per poll of the builds, and the first
    pass's expected errors); what is printed is each command, its results, one line for the expected errors."""
    stack, transcript, _ = deployed
    printed = stack.printed
    assert len(transcript.splitlines()) > 100  # what it was before (538 lines on the day of issue 22)
    assert not [c for c in printed if c in "\x1b\r" or 0x2800 <= ord(c) <= 0x28ff or 0x25d0 <= ord(c) <= 0x25d3]
    lines = printed.splitlines()
    assert len(lines) <= 45, printed  # a screenful
    assert [line for line in lines if line.startswith("$ appwrite ")] == [
        "$ appwrite client --endpoint " + stack.endpoint + " --project-id chat-widget --key <key>",
        "$ appwrite push tables --all --force", "$ appwrite push functions --all --force --no-code",
        "$ appwrite push functions --all --force"]
    assert f"Successfully pushed {len(CONFIG['tables'])} tables" in printed
    assert f"Successfully pushed {len(FUNCTIONS)} functions." in printed
    expected = [line for line in lines if "Session not found" in line]
    assert len(expected) == 1 and expected[0].startswith("\u2717 Expected: ")
    assert all(f"{f}," in expected[0] or f"{f})" in expected[0] for f in FUNCTIONS)
    for function in CONFIG["functions"]:
        assert f"\u2713 Deployed   \u2022 {function['name']} ({function['$id']})" in lines, function["$id"]


def test_the_whole_story_runs_on_the_deployed_build(deployed):
    stack, _, active = deployed
    disable_functions(stack, "bot")  # the story plays its own AI bot
    run_whole_story(stack, FORGED)  # with mixed-case X-Appwrite-* and Authorization forged on top
    # `escalate` is not in the story: a message asking for a person escalates in the write that admits it.
    for function_id in ("create-session", "touch-session", "assign-agent", "close-session"):
        executions = json.loads(_get(stack, f"/functions/{function_id}/executions"))["executions"]
        assert executions and {e["deploymentId"] for e in executions} == {active[function_id]["$id"]}


def test_the_functions_run_the_pinned_sdk_without_warnings(deployed):
    stack, _, active = deployed
    for function_id, deployment in active.items():
        if function_id in WEB:  # they import neither the SDK nor chat_core: nothing installed
            assert "Successfully installed" not in deployment["buildLogs"], function_id
            continue
        assert "appwrite-27.0.0" in deployment["buildLogs"], function_id  # pip's "Successfully installed" line
    Party(stack, key=False).run("create-session", {})
    for function_id in FUNCTIONS:
        for execution in json.loads(_get(stack, f"/functions/{function_id}/executions"))["executions"]:
            assert "Please downgrade your SDK" not in execution["logs"] + execution["errors"], function_id


@pytest.mark.parametrize("function_id", FUNCTIONS)
def test_the_uploaded_archive_holds_the_function_and_its_package_only(deployed, function_id):
    stack, _, active = deployed
    archive = _get(stack, f"/functions/{function_id}/deployments/{active[function_id]['$id']}/download")
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        names = {member.name for member in tar.getmembers() if member.isfile()}
    if function_id in WEB:
        needed = {ENTRYPOINTS[function_id], f"functions/{function_id}/requirements.txt",
                  *(str(p.relative_to(ROOT)) for folder in WEB[function_id] for p in (ROOT / folder).glob("*.*"))}
        assert needed <= names
        assert all(n.startswith((f"functions/{function_id}/", *WEB[function_id])) for n in names), sorted(names)
        assert not [n for n in names if n.startswith("shared/")] and len(archive) < 100_000
    else:
        needed = {ENTRYPOINTS[function_id], f"functions/{function_id}/requirements.txt", "shared/pyproject.toml",
                  *ASSETS.get(function_id, []),
                  *(p.relative_to(ROOT).as_posix() for p in (ROOT / "shared" / "chat_core").rglob("*.py")
                    if "__pycache__" not in p.parts)}
        assert needed <= names
        assert all(n.startswith((f"functions/{function_id}/", "shared/chat_core/")) or n == "shared/pyproject.toml"
                   for n in names), sorted(names)
    deployment = json.loads(_get(stack, f"/functions/{function_id}/deployments/{active[function_id]['$id']}"))
    print(f"\n{function_id}: archive {len(archive):,} B, build {deployment['buildSize']:,} B, "
          f"total {deployment['totalSize']:,} B")  # what docs/deploy.md quotes (`make deploy-local` shows it)
    forbidden = ("tests/", ".env", ".venv", "devstack/", "docs/", "bench/", "tools/", ".local", "__pycache__",
                 ".egg-info", ".git", ".tar.gz")
    assert not [n for n in names if any(f in n for f in forbidden)]


def test_pushing_the_same_tables_again_changes_nothing(deployed):
    stack, _, _ = deployed
    before = json.loads(_get(stack, "/tablesdb/chat/tables/sessions"))
    transcript = run_cli(["push", "tables", "--all", "--force"], home=Path(stack.data_dir).parent / "cli-home")
    assert transcript.returncode == 0, transcript.stderr
    assert "Successfully pushed 0 tables" in transcript.stdout, transcript.stdout
    after = json.loads(_get(stack, "/tablesdb/chat/tables/sessions"))
    assert [(c["key"], c["$createdAt"]) for c in after["columns"]] == \
        [(c["key"], c["$createdAt"]) for c in before["columns"]]  # nothing deleted and recreated


def test_the_deployed_bot_answers_from_the_faq_its_package_ships(deployed):
    """The FAQ is package data of the common package (shared/chat_core/bot/faq.json, `package-data` in
    shared/pyproject.toml): the build that pip installed from the archive finds it. Here the deployed `bot` answers
    from it (BOT_INLINE is off in this module: the story plays its own bot); touch-session's FAQ bot loads it the same
    way (`chat_core.bot.faq.shipped`)."""
    stack, _, _ = deployed
    disable_functions(stack, "bot", enabled=True)
    widget = Party(stack, key=False)
    status, created = widget.run("create-session", {})
    assert status == 201
    mine = {"x-session-token": created["token"]}
    assert widget.run("touch-session", {"sessionId": created["sessionId"], "message": {
        "text": "What are your opening hours?"}}, headers=mine)[0] == 200
    assert stack.wait_idle(30)
    status, page = widget.run("touch-session", path=f"/messages?sessionId={created['sessionId']}", method="GET",
                              headers=mine)
    assert status == 200 and [m["role"] for m in page["messages"]] == ["user", "bot"]
    assert "Monday to Friday" in page["messages"][1]["text"]
