"""The sessions CLI against an in-process local stack: real executions, real HTTP."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from appwrite.client import Client
from appwrite.services.functions import Functions
from stack_support import OWN_BOT, disable_functions, function_variables, sign_in

from devstack.server import Stack
from tools.sessions_cli.api import load_config
from tools.sessions_cli.cli import main

ROOT = Path(__file__).resolve().parent.parent
ADMIN_SECRET = "cli-admin-secret"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with function_variables(OWN_BOT), \
            Stack(ROOT, data_dir=tmp_path_factory.mktemp("stack"), port=0, run_scheduler=False) as running:
        yield running


@pytest.fixture
def env(stack, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no .env of the developer's leaks in
    return {"CHAT_ENDPOINT": stack.endpoint, "CHAT_PROJECT": stack.project_id, "CHAT_API_KEY": stack.api_key}


def server(stack, user: str | None = None) -> Functions:
    client = Client().set_endpoint(stack.endpoint).set_project(stack.project_id).set_key(stack.api_key)
    if user:
        client.add_header("x-appwrite-impersonate-user-id", user)
    return Functions(client)


def run(fn: Functions, function_id: str, body: dict, path: str = "/", headers: dict | None = None) -> dict:
    execution = fn.create_execution(function_id, body=json.dumps(body), path=path,
                                    headers={"content-type": "application/json", **(headers or {})})
    assert execution.responsestatuscode < 400, execution.responsebody
    return json.loads(execution.responsebody)


def new_session(stack, text: str = "hello", escalate: str | None = None) -> str:
    fn = server(stack)
    created = run(fn, "create-session", {"userMeta": {"page": "/pricing"}})
    sid, token = created["sessionId"], created["token"]
    run(fn, "touch-session", {"sessionId": sid, "message": {"text": text}}, headers={"x-session-token": token})
    if escalate:
        run(fn, "escalate", {"sessionId": sid, "reason": escalate}, headers={"x-session-token": token})
    stack.wait_idle()
    return sid


def cli(env: dict, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err, env=env)
    return code, out.getvalue(), err.getvalue()


def test_list_shows_a_table_and_the_summary_within_80_columns(stack, env):
    disable_functions(stack, "bot")  # one visitor message each, no bot reply: the counts below are the visitor's
    waiting = new_session(stack, escalate="asked for a person")
    held = new_session(stack)
    run(server(stack, "admin-ada"), "assign-agent", {"sessionId": held, "agentId": "agent-bob"}, path="/assign")

    code, out, err = cli(env, "sessions", "list")

    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "STATUS", "HUMAN", "AGENT", "LAST", "SEEN", "MSGS", "DURATION"]
    assert max(len(line) for line in lines) <= 80
    assert "\033[" not in out  # no colour when not a TTY
    row = next(line for line in lines if line.startswith(waiting[:14]))
    assert re.search(r"active\s+yes\s+-\s+(just now|\d+ seconds? ago)\s+1\s+\S+", row), row
    row = next(line for line in lines if line.startswith(held[:14]))
    assert re.search(r"assigned\s+-\s+agent-bob\s", row), row
    assert "Summary" in out and "Waiting for a human: " in out
    assert "Workload: " in out and "agent-bob 1" in out
    assert re.search(r"Average time to assignment: \d+ seconds? \(\d+ assignments?\)", out)


def test_list_filters_and_pages(stack, env):
    waiting = new_session(stack, escalate="billing")
    code, out, _ = cli(env, "sessions", "list", "--needs-human", "--status", "active", "--oldest-first")
    assert code == 0
    rows = [line for line in out.splitlines() if line.startswith("s_")]
    assert rows and all(" yes " in row for row in rows)
    assert any(row.startswith(waiting[:14]) for row in rows)

    code, out, _ = cli(env, "sessions", "list", "--limit", "1")
    assert code == 0 and "More: add --cursor s_" in out
    cursor = re.search(r"--cursor (\S+)", out).group(1)
    code, out2, _ = cli(env, "sessions", "list", "--limit", "1", "--cursor", cursor)
    assert code == 0 and out2.splitlines()[1] != out.splitlines()[1]

    code, out, _ = cli(env, "sessions", "list", "--agent", "nobody-at-all")
    assert code == 0 and "No sessions match." in out


def test_the_queue_lists_the_longest_waiting_first(stack, env):
    first, second = new_session(stack, escalate="first in line"), new_session(stack, escalate="second in line")

    def listed(*flags: str) -> list[str]:
        code, out, _ = cli(env, "sessions", "list", "--needs-human", "--limit", "100", "--wide", *flags)
        assert code == 0
        return [line.split()[0] for line in out.splitlines() if line.startswith("s_")]
    by_activity, queue = listed(), listed("--sort", "waiting")
    assert by_activity.index(second) < by_activity.index(first)  # newest activity first
    assert queue.index(first) < queue.index(second)  # waiting longest first


def test_json_prints_the_raw_answer(stack, env):
    sid = new_session(stack)
    code, out, _ = cli(env, "sessions", "list", "--json", "--limit", "100")
    answer = json.loads(out)
    assert code == 0
    assert sid in [s["sessionId"] for s in answer["sessions"]]
    assert set(answer["summary"]) >= {"total", "byStatus", "needsHuman", "agents", "averageSecondsToAssignment"}


def test_show_and_messages_accept_a_short_id(stack, env):
    sid = new_session(stack, text="where is my order " * 8, escalate="wants a human")
    code, out, _ = cli(env, "sessions", "show", sid[:12])
    assert code == 0
    assert f"Session    {sid}" in out and "waiting for a human" in out and "wants a human" in out

    fn = server(stack, "admin-ada")
    run(fn, "touch-session", {"sessionId": sid, "message": {"text": "an admin note", "role": "system"}})
    code, out, _ = cli(env, "sessions", "messages", sid, "--limit", "1")
    lines = out.splitlines()
    assert code == 0
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  user   where is my order", lines[0])
    assert max(len(line) for line in lines) <= 80
    assert "More: add --cursor" in out and "an admin note" not in out
    code, out, _ = cli(env, "sessions", "messages", sid, "--all")
    assert code == 0 and "system" in out and "an admin note" in out and "More:" not in out


def test_assign_unassign_close(stack, env):
    sid = new_session(stack, escalate="help")
    assert cli(env, "sessions", "assign", sid, "--agent", "agent-alice")[:2] == (0, f"{sid} assigned to agent-alice\n")
    assert load_session(env, sid)["assignedAgent"] == "agent-alice"
    assert cli(env, "sessions", "unassign", sid)[:2] == (0, f"{sid} back in the queue\n")
    assert load_session(env, sid)["needsHuman"] is True
    assert cli(env, "sessions", "close", sid, "--reason", "spam")[:2] == (0, f"{sid} closed\n")
    session = load_session(env, sid)
    assert (session["status"], session["closeReason"]) == ("closed", "spam")
    assert cli(env, "sessions", "close", sid)[:2] == (0, f"{sid} unchanged: already_closed\n")


def test_agents_capacity_availability_and_an_override(stack, env):
    def bob() -> dict:
        listed = json.loads(cli(env, "sessions", "agents", "--json")[1])["agents"]
        return next((a for a in listed if a["agentId"] == "agent-bob"), {"load": 0})
    held = bob()["load"]  # what earlier tests left him
    assert cli(env, "sessions", "capacity", "agent-bob", str(held + 1))[0] == 0
    code, out, _ = cli(env, "sessions", "availability", "agent-bob", "away")
    assert code == 0 and "agent-bob" in out and "away" in out
    first, second = new_session(stack, escalate="help"), new_session(stack, escalate="help")
    assert cli(env, "sessions", "assign", first, "--agent", "agent-bob")[0] == 0
    code, _, err = cli(env, "sessions", "assign", second, "--agent", "agent-bob")
    assert code == 1 and err.startswith(f"error: at_capacity: agent-bob holds {held + 1} of {held + 1}"), err
    assert cli(env, "sessions", "assign", second, "--agent", "agent-bob", "--over-capacity")[0] == 0
    code, out, _ = cli(env, "sessions", "show", second)
    assert "by an admin  (over capacity)" in out
    code, out, _ = cli(env, "sessions", "agents")
    assert code == 0 and all(len(line) <= 80 for line in out.splitlines())
    line = next(line for line in out.splitlines() if line.startswith("agent-bob"))
    assert line.split()[1:4] == ["away", str(held + 2), str(held + 1)], line  # availability, load, capacity
    assert "auto-assignment on" in out
    assert cli(env, "sessions", "capacity", "agent-bob", "default")[0] == 0
    assert cli(env, "sessions", "capacity", "agent-bob", "many")[0] == 2
    for sid in (first, second):
        assert cli(env, "sessions", "close", sid)[0] == 0
    assert bob()["load"] == held


def load_session(env: dict, sid: str) -> dict:
    code, out, _ = cli(env, "sessions", "show", sid, "--json")
    assert code == 0
    return json.loads(out)["session"]


def test_the_admin_secret_works_without_impersonation(stack, env, monkeypatch):
    monkeypatch.setenv("ADMIN_SECRET", ADMIN_SECRET)  # the functions read their variables per request
    sid = new_session(stack, escalate="help")
    secret_env = {**env, "CHAT_ADMIN_SECRET": ADMIN_SECRET}
    assert load_config(secret_env).as_user == ""
    assert cli(secret_env, "sessions", "assign", sid, "--agent", "agent-bob")[0] == 0
    code, _, err = cli({**secret_env, "CHAT_ADMIN_SECRET": "wrong"}, "sessions", "show", sid)
    assert code == 1 and err == "error: invalid_credentials: the secret is not valid\n"


def test_repair_rebuilds_counters_and_message_counts(stack, env, monkeypatch):
    monkeypatch.setenv("ADMIN_SECRET", ADMIN_SECRET)
    sid = new_session(stack, text="one")
    count = stack.engine.get_row("chat", "sessions", sid)["messageCount"]
    stack.engine.update_row("chat", "sessions", sid, {"messageCount": count + 2})  # as a crash could leave it
    secret_env = {**env, "CHAT_ADMIN_SECRET": ADMIN_SECRET}
    code, out, err = cli(secret_env, "sessions", "repair")
    assert (code, err) == (0, "")
    assert "Message counts: 0 repaired, 1 left for later" in out  # it was just written: maybe still in flight
    code, out, _ = cli(secret_env, "sessions", "repair", "--settle-seconds", "0")
    assert code == 0 and "Message counts: 1 repaired" in out and "Summary" in out, out
    assert stack.engine.get_row("chat", "sessions", sid)["messageCount"] == count
    assert cli(env, "sessions", "repair", "--as", "agent-alice")[0] == 1  # admins only


def test_errors_are_one_line_with_exit_codes(stack, env):
    code, out, err = cli(env, "sessions", "show", "s_" + "0" * 32)
    assert (code, out) == (1, "")
    assert err == f"error: session_not_found: no session s_{'0' * 32}\n"

    code, _, err = cli(env, "sessions", "close", "s_zz")
    assert code == 1 and err.count("\n") == 1 and "s_zz" in err

    code, _, err = cli({**env, "CHAT_API_KEY": "not-the-key"}, "sessions", "list")
    assert code == 1 and err.startswith("error: ") and "401" in err and err.count("\n") == 1

    code, _, err = cli({**env, "CHAT_AS_USER": "agent-bob"}, "sessions", "assign", "s_x", "--agent", "agent-bob")
    assert code == 1 and "not_an_admin" in err

    code, _, err = cli({**env, "CHAT_ENDPOINT": "http://127.0.0.1:9/v1"}, "sessions", "list")
    assert code == 3 and err == "error: cannot reach http://127.0.0.1:9/v1 (is the local stack running? make run)\n"

    assert cli(env, "sessions", "frobnicate")[0] == 2
    assert cli(env, "sessions", "assign", "s_x")[0] == 2  # --agent is required


def test_defaults_reach_the_local_stack_with_no_configuration(stack, tmp_path, monkeypatch):
    (tmp_path / ".local").mkdir()
    (tmp_path / ".local" / "api-key").write_text(stack.api_key + "\n")
    (tmp_path / ".env").write_text(f"CHAT_ENDPOINT={stack.endpoint}\n")
    monkeypatch.chdir(tmp_path)
    config = load_config({})
    assert (config.api_key, config.as_user, config.project) == (stack.api_key, "admin-ada", "chat-widget")
    assert cli({}, "sessions", "list", "--limit", "1")[0] == 0


def test_the_module_runs_as_a_command():
    answer = subprocess.run([sys.executable, "-m", "tools.sessions_cli", "sessions", "list"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60,
                            env={"CHAT_ENDPOINT": "http://127.0.0.1:9/v1", "PATH": "/usr/bin:/bin"})
    assert answer.returncode == 3 and answer.stdout == ""
    assert answer.stderr.startswith("error: cannot reach") and answer.stderr.count("\n") == 1


def test_options_work_before_or_after_the_command(stack, env):
    sid = new_session(stack, escalate="help")
    for argv in (["--as", "agent-bob", "assign", sid, "--agent", "agent-bob"],
                 ["assign", "--as", "agent-bob", sid, "--agent", "agent-bob"],
                 ["assign", sid, "--agent", "agent-bob", "--as", "agent-bob"],
                 ["sessions", "assign", sid, "--agent", "agent-bob", "--as", "agent-bob"],
                 ["--as", "agent-bob", "sessions", "assign", sid, "--agent", "agent-bob"]):
        code, _, err = cli(env, *argv)
        assert code == 1 and "not_an_admin" in err, argv  # acted as the agent, wherever --as stood
    # the last one given wins, as with any command line
    assert cli(env, "--as", "agent-bob", "assign", sid, "--agent", "agent-bob", "--as", "admin-ada")[0] == 0


def test_port_and_endpoint_options_pick_the_stack(stack, env):
    unreachable = {**env, "CHAT_ENDPOINT": "http://127.0.0.1:9/v1"}
    for argv in (["list", "--port", str(stack.port)], ["--port", str(stack.port), "sessions", "list"],
                 ["list", "--endpoint", stack.endpoint], ["--endpoint", stack.endpoint, "list"]):
        code, out, err = cli(unreachable, *argv, "--limit", "1")
        assert (code, err) == (0, ""), argv
        assert out.startswith(("ID ", "No sessions match.")), out
    code, out, err = cli(env, "list", "--port", "1", "--endpoint", stack.endpoint)
    assert code == 2 and out == "" and "not both" in err


def test_the_installed_command_runs_from_any_folder(stack, tmp_path):
    command = Path(sys.executable).parent / "sessions"  # what `make venv` installs
    answer = subprocess.run([str(command), "list", "--port", str(stack.port), "--limit", "1"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60,
                            env={"PATH": "/usr/bin:/bin", "CHAT_API_KEY": stack.api_key,
                                 "CHAT_PROJECT": stack.project_id})
    assert (answer.returncode, answer.stderr) == (0, "")
    assert answer.stdout.startswith(("ID ", "No sessions match."))
    usage = subprocess.run([str(command), "--help"], capture_output=True, text=True, timeout=60)
    assert usage.returncode == 0 and usage.stdout.startswith("usage: sessions ")


def test_outside_the_venv_the_module_says_how_to_run_it():
    # -S: no site-packages, as with a system python3 that has neither chat_core nor the Appwrite SDK
    answer = subprocess.run([sys.executable, "-S", "-m", "tools.sessions_cli", "sessions", "list"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert answer.returncode == 2 and answer.stdout == ""
    assert "Traceback" not in answer.stderr and answer.stderr.count("\n") == 1
    assert answer.stderr.startswith("error: ")
    assert ".venv/bin/sessions" in answer.stderr and "make venv" in answer.stderr


def test_a_signed_in_agent_uses_the_cli_with_a_jwt(stack, env):
    """On a real server there is no impersonation: an agent's account JWT is what proves them."""
    sid = new_session(stack, escalate="help")
    jwt_env = {**env, "CHAT_JWT": sign_in(stack, "agent-bob"), "CHAT_API_KEY": ""}
    assert load_config(jwt_env).as_user == ""
    code, out, _ = cli(jwt_env, "sessions", "list", "--needs-human")
    assert code == 0 and sid[:14] in out
    code, _, err = cli({**jwt_env, "CHAT_JWT": "not.a.jwt"}, "sessions", "list")
    assert code == 1 and "401" in err


def test_from_a_subfolder_it_finds_the_project_and_its_stack(stack, tmp_path):
    """Item 11: run from deep inside a project (or anywhere, for the CLI's own repository), `sessions` walks up to the
    folder holding appwrite.json and takes its .env, its project and its stack's key, with no configuration."""
    project = tmp_path / "project"
    (project / ".local").mkdir(parents=True)
    (project / ".local" / "api-key").write_text(stack.api_key + "\n")
    (project / ".env").write_text(f"CHAT_ENDPOINT={stack.endpoint}\n")
    (project / "appwrite.json").write_text(json.dumps({"projectId": stack.project_id}))
    deep = project / "web" / "console"
    deep.mkdir(parents=True)
    command = Path(sys.executable).parent / "sessions"
    answer = subprocess.run([str(command), "list", "--limit", "1"], cwd=deep, capture_output=True, text=True,
                            timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert (answer.returncode, answer.stderr) == (0, "")
    assert answer.stdout.startswith(("ID ", "No sessions match."))


def test_without_a_key_it_says_what_is_missing_and_how_to_set_it(stack, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    answer = subprocess.run([str(Path(sys.executable).parent / "sessions"), "list"], cwd=elsewhere,
                            capture_output=True, text=True, timeout=60,
                            env={"PATH": "/usr/bin:/bin", "CHAT_ENDPOINT": stack.endpoint,
                                 "CHAT_PROJECT": stack.project_id, "CHAT_DEVSTACK_DATA": str(tmp_path / "no-stack")})
    assert answer.returncode == 1 and answer.stdout == "" and answer.stderr.count("\n") == 1, answer
    assert f"no {tmp_path / 'no-stack' / 'api-key'}" in answer.stderr
    assert "CHAT_API_KEY" in answer.stderr and "make run" in answer.stderr and "CHAT_DEVSTACK_DATA" in answer.stderr
