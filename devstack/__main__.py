"""Command line of the local stack (development only, loopback only).

    python -m devstack run [--port 8787] [--data .local] [--reset] [--blank] [--platform HOST ...]
        [--deny-realtime-guests]
        (`make run [PORT=] [DATA=] [RESET=1]` runs this)
    python -m devstack fire-schedule close-session [--port 8787] [--data .local]
    python -m devstack user add agent-zoe --labels agent [--name "Zoe"]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from .server import DB_FILE, DEV_USERS, KEY_FILE, WEB_PLATFORMS, Stack
from .startup import DataLock, StartupError

DEFAULT_PORT, DEFAULT_DATA = 8787, ".local"
# The functions' secrets (chat_core.config): shown as set or not in the banner, never their values.
SECRETS = ("BOT_SECRET", "ADMIN_SECRET")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return args.command_fn(args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    run = _with_common(commands.add_parser("run", help="serve the stack until Ctrl-C"))
    run.add_argument("--reset", action="store_true",
                     help="start with an empty database (refused while another stack uses the data folder)")
    run.add_argument("--blank", action="store_true",
                     help="a new, empty project: no tables or functions until `appwrite push` (kept in --data)")
    run.add_argument("--no-dev-mode", action="store_true",
                     help="refuse the dev-only x-devstack-user header")
    run.add_argument("--verbose", action="store_true", help="log every request")
    run.add_argument("--platform", action="append", default=[], metavar="HOST",
                     help="register a Web platform (a hostname, `*.example.com` allowed) whose pages may open "
                          "Realtime sockets; localhost (the demo) always is")
    run.add_argument("--deny-realtime-guests", action="store_true",
                     help="Appwrite 2.x's Realtime policy: guests may not subscribe")
    run.set_defaults(command_fn=_run)

    fire = _with_common(commands.add_parser("fire-schedule", help="run a function's schedule now"))
    fire.add_argument("function_id")
    fire.set_defaults(command_fn=_fire_schedule)

    user = commands.add_parser("user", help="manage dev users").add_subparsers(dest="action", required=True)
    add = _with_common(user.add_parser("add", help="create or replace a user"))
    add.add_argument("user_id")
    add.add_argument("--name", default="")
    add.add_argument("--labels", nargs="*", default=[], help="e.g. --labels agent admin (or agent,admin)")
    add.set_defaults(command_fn=_user_add)
    return parser


def _with_common(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--data", default=DEFAULT_DATA, help="data directory (SQLite file and dev API key)")
    parser.add_argument("--root", default=".", help="repository root holding appwrite.json")
    return parser


# --------------------------------------------------------------------------- run


def _run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        stack = Stack(args.root, data_dir=args.data, port=args.port, reset=args.reset,
                      dev_mode=not args.no_dev_mode, blank=args.blank,
                      generate_secrets=() if args.blank else ("BOT_SECRET",),
                      web_platforms=tuple(dict.fromkeys([*WEB_PLATFORMS, *args.platform])),
                      deny_realtime_guests=args.deny_realtime_guests).start()
    except StartupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for line in stack.env_file.warnings:
        print(f"warning: {line}", file=sys.stderr)
    stack.serve_forever(ready=lambda: print(banner(stack), flush=True))  # signals are the stack's by then
    # Stopped, folder freed: the process only exits now. Python's finalization puts SIG_DFL back for signals with a
    # Python handler, so a signal of the same burst landing then would kill it; ignored ones stay ignored.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)
    return 0


def banner(stack: Stack) -> str:
    """What a developer needs to copy: endpoint, project, key, users, secrets and working snippets."""
    specs = stack.runtime.functions.values()
    events = [f"{s.id} <- {', '.join(s.events)}" for s in specs if s.events]
    schedules = [f"{s.id} '{s.schedule}' (UTC)" for s in specs if s.schedule]
    users = ", ".join(f"{uid} [{', '.join(labels)}]" for uid, _, labels in DEV_USERS)
    endpoint, project, key = stack.endpoint, stack.project_id, stack.api_key
    python = interpreter(stack.root)
    deploy_hint = f"{python} -m tools.deploy --endpoint {endpoint} --key <the API key> (appwrite push)"
    data = "" if stack.data_dir == Path(DEFAULT_DATA) else f" --data {stack.data_dir}"
    target = f"--port {stack.port}{data}"
    cli_env = "" if stack.data_dir == Path(DEFAULT_DATA) else f"CHAT_DEVSTACK_DATA={stack.data_dir} "
    cli_port = "" if stack.port == DEFAULT_PORT else f" --port {stack.port}"
    make_args = "".join([f" PORT={stack.port}" if stack.port != DEFAULT_PORT else "",
                         f" DATA={stack.data_dir}" if data else ""])
    dev_user = ("dev mode: a request may also send x-devstack-user: <id> to act as that user (not in Appwrite)"
                if stack.dev_mode else "dev mode off: x-devstack-user is refused")
    return f"""
Local Appwrite-compatible stack (development only; NOT Appwrite)
  endpoint   {endpoint}
  project    {project}
  API key    {key}   (kept in {stack.data_dir / KEY_FILE})
  data       {stack.data_dir / DB_FILE}
  functions  {', '.join(s.id for s in specs) or "none yet: " + deploy_hint}
  events     {'; '.join(events) or '-'}
  schedules  {'; '.join(schedules) or '-'}
  dev users  {users}
             sign in as <id>@example.test with the dev password: {stack.dev_password}
  {dev_user}
{secrets_lines(stack)}
  demo site  http://{stack.host}:{stack.port}/demo/  (chat as a visitor; answer in the console, in another tab)
  console    http://{stack.host}:{stack.port}/functions/agent-console/  (sign in as agent-alice@example.test)
  realtime   ws://{stack.host}:{stack.port}/v1/realtime?project={project}  (Web platforms: \
{', '.join(stack.web_platforms)}; guests {'denied' if stack.deny_realtime_guests else 'allowed'})
  admin CLI  {cli_env}.venv/bin/sessions list{cli_port}

Python SDK:
  from appwrite.client import Client
  from appwrite.services.functions import Functions
  client = Client().set_endpoint("{endpoint}").set_project("{project}").set_key("{key}")
  run = Functions(client).create_execution("create-session", body="{{}}")
  print(run.responsestatuscode, run.responsebody)
  # an agent sends their account JWT as X-Chat-JWT (see docs/security.md);
  # dev only: client.add_header("x-appwrite-impersonate-user-id", "agent-alice")

curl:
  curl -s -X POST {endpoint}/functions/create-session/executions \\
    -H 'content-type: application/json' -H 'x-appwrite-project: {project}' \\
    -H 'x-appwrite-key: {key}' -d '{{"body": "{{}}"}}'
  curl -s -X POST {endpoint}/functions/list-sessions/executions \\
    -H 'content-type: application/json' -H 'x-appwrite-project: {project}' -H 'x-appwrite-key: {key}' \\
    -d '{{"method": "GET", "headers": {{"X-Chat-Secret": "<ADMIN_SECRET>"}}}}'

  {python} -m devstack fire-schedule close-session {target}
  {python} -m devstack user add agent-zoe --labels agent {target}
Ctrl-C stops the stack; data stays in {stack.data_dir} (make run{make_args} RESET=1 starts empty).
"""


def interpreter(root: Path) -> str:
    """The Python running the stack (the venv's, which has the packages `python -m devstack` needs; the system's
    may not): relative to the repository when inside it, as `.venv/bin/python`, else its absolute path (issue 22,
    item 12)."""
    executable = Path(sys.executable)
    try:
        return str(executable.relative_to(Path(root).resolve()))
    except ValueError:
        try:
            return str(executable.absolute().relative_to(Path(root).absolute()))
        except ValueError:
            return str(executable)


def secrets_lines(stack: Stack) -> str:
    """Which of the functions' secrets are set and where from; never a value."""
    states = []
    for name in SECRETS:
        if stack.env_file.values.get(name):
            states.append(f"{name} set (.env)")
        elif name in stack.generated_secrets:
            states.append(f"{name} made up for this run (the demo's bot)")
        elif os.environ.get(name):
            states.append(f"{name} set (environment)")
        else:
            states.append(f"{name} NOT set")
    lines = [f"  secrets    {', '.join(states)}",
             f"             set them in {stack.root / '.env'} (NAME=value lines) or the environment, then restart"]
    if not all(os.environ.get(name) for name in SECRETS):
        lines.append("             while unset, the calls that need one get 401")
    return "\n".join(lines)


# --------------------------------------------------------------------------- talking to a running stack


def _fire_schedule(args: argparse.Namespace) -> int:
    try:
        record = _post(args, f"/v1/devstack/schedules/{args.function_id}", {})
    except (urllib.error.URLError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    summary = {k: record.get(k) for k in ("$id", "status", "responseStatusCode", "responseBody", "logs",
                                          "errors", "duration")}
    print(json.dumps(summary, indent=2))
    return 0 if record.get("status") == "completed" else 1


def _user_add(args: argparse.Namespace) -> int:
    labels = [label for item in args.labels for label in item.split(",") if label]
    try:
        _post(args, f"/v1/devstack/users/{args.user_id}", {"name": args.name, "labels": labels})
    except urllib.error.URLError as exc:
        if not isinstance(exc.reason, ConnectionRefusedError):
            print(f"error: {exc}", file=sys.stderr)
            return 1
        where = str(Path(args.data) / DB_FILE)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    else:
        print(f"user {args.user_id} labels={labels} -> running stack on port {args.port}")
        return 0
    try:  # no stack answers on that port: write straight into the data folder, if no stack holds it
        _add_offline(args, labels)
    except StartupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"user {args.user_id} labels={labels} -> {where}")
    return 0


def _add_offline(args: argparse.Namespace, labels: list[str]) -> None:
    from .engine import Engine
    from .schema import load_schema

    lock = DataLock(Path(args.data))  # never write under a stack that runs on another port
    lock.acquire("add the user offline", "Add it through that stack: the same command with --port {port}")
    try:
        engine = Engine(load_schema(Path(args.root) / "appwrite.json"), str(Path(args.data) / DB_FILE))
        try:
            engine.put_user(args.user_id, args.name or args.user_id, labels)
        finally:
            engine.close()
    finally:
        lock.release()


def _post(args: argparse.Namespace, path: str, payload: dict[str, Any]) -> dict[str, Any]:
    """POST to the running stack with the data dir's dev key; an error answer raises ValueError."""
    key_file = Path(args.data) / KEY_FILE
    key = key_file.read_text(encoding="utf-8").strip() if key_file.is_file() else ""
    request = urllib.request.Request(
        f"http://127.0.0.1:{args.port}{path}", data=json.dumps(payload).encode(), method="POST",
        headers={"content-type": "application/json", "x-appwrite-key": key})
    try:
        with urllib.request.urlopen(request, timeout=330) as answer:  # a schedule may run 300 s
            return json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        raise ValueError(f"{exc.code}: {exc.read().decode(errors='replace')}") from None


if __name__ == "__main__":
    sys.exit(main())
