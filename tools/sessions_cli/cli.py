"""Command line: `sessions list|show|messages|export|history|audit|assign|unassign|close|repair|agents|capacity|
availability|replies` (the `sessions` command `make venv` installs).

`.venv/bin/python -m tools.sessions_cli` runs the same, with or without the word `sessions` before the command.
Exit codes: 0 done, 1 the backend refused (4xx: unknown session, 401, not allowed), 2 usage, 3 unreachable or a
server error (5xx).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from . import render, replies
from .api import EXIT_API, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE, Api, CliError, load_config

FULL_ID_LENGTH = 34  # "s_" + 32 hex digits, as create-session makes them
PREFIX_SCAN_PAGES = 20

EPILOG = """examples:
  sessions list --needs-human --sort waiting     (the queue: the longest waiting first)
  sessions list --status active,agent_assigned --agent agent-alice --idle-for 15m
  sessions list --created-after 2026-01-01T00:00:00Z --limit 50 --json
  sessions list --port 9000                 (the local stack of `make run PORT=9000`)
  sessions show s_3f9a1c2b7d40
  sessions messages s_3f9a1c2b7d40 --all
  sessions export s_3f9a1c2b7d40 --format csv -o chat.csv
  sessions history s_3f9a1c2b7d40
  sessions audit --agent agent-alice --from 2026-11-01T00:00:00Z --to 2026-12-01T00:00:00Z --all
  sessions assign s_3f9a1c2b7d40 --agent agent-bob
  sessions unassign s_3f9a1c2b7d40
  sessions close s_3f9a1c2b7d40 --reason spam --as agent-alice
  sessions agents
  sessions capacity agent-bob 4             (or `default`: the project's AGENT_CAPACITY)
  sessions availability agent-bob away
  sessions assign s_3f9a1c2b7d40 --agent agent-bob --over-capacity
  sessions replies add refund "Refunds take 3 to 5 working days."   (agents type /refund in the console)
  sessions replies list
  sessions replies remove refund

A session ID may be shortened to any unique prefix (the table shows 14 characters; --wide shows all).
--as, --port, --endpoint and --no-color go before or after the command.
Settings: CHAT_ENDPOINT, CHAT_PROJECT, CHAT_API_KEY, CHAT_ADMIN_SECRET, CHAT_AS_USER, CHAT_DEVSTACK_DATA
(environment, else ./.env); the defaults reach the local stack of `make run` as the dev admin admin-ada.
exit codes: 0 ok, 1 refused (4xx), 2 usage, 3 unreachable or server error"""

def _common(parser: argparse.ArgumentParser) -> None:
    """Options accepted before and after the command. SUPPRESS: a later parser never resets an earlier value."""
    hide = argparse.SUPPRESS
    parser.add_argument("--as", dest="as_user", metavar="USER", default=hide,
                        help="act as this user (API-key impersonation)")
    parser.add_argument("--endpoint", metavar="URL", default=hide,
                        help="Appwrite endpoint with /v1 (default CHAT_ENDPOINT or http://127.0.0.1:8787/v1)")
    parser.add_argument("--port", type=int, metavar="N", default=hide,
                        help="the local stack on 127.0.0.1:N (as `make run PORT=N`)")
    parser.add_argument("--no-color", dest="no_color", action="store_true", default=hide,
                        help="never colour (default: colour on a TTY)")


def parser(prog: str = "sessions") -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog=prog, description="Chat sessions, for admins.", epilog=EPILOG,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(top)
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_commands(commands)
    # `python -m tools.sessions_cli sessions list`, as documented before the `sessions` command existed.
    group = commands.add_parser("sessions", help="the same commands (`sessions list` = `list`)",
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG)
    _common(group)
    _add_commands(group.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    return top


def _add_commands(commands: argparse._SubParsersAction) -> None:
    ls = commands.add_parser("list", help="sessions, newest activity first, then the summary")
    ls.add_argument("--status", action="append", metavar="S",
                    help="active, agent_assigned or closed (repeat or comma-separate)")
    human = ls.add_mutually_exclusive_group()
    human.add_argument("--needs-human", dest="needs_human", action="store_const", const="true",
                       help="only sessions waiting for a human")
    human.add_argument("--no-needs-human", dest="needs_human", action="store_const", const="false")
    ls.add_argument("--agent", help="only sessions assigned to this agent")
    ls.add_argument("--idle-for", metavar="AGE", help="visitor silent at least this long: 90s, 15m, 2h, 1d")
    ls.add_argument("--created-after", metavar="ISO", help="e.g. 2026-01-31T00:00:00Z")
    ls.add_argument("--created-before", metavar="ISO")
    ls.add_argument("--sort", choices=("last-seen", "waiting"), default="last-seen",
                    help="last-seen: newest activity first; waiting: the longest waiting first (escalatedAt)")
    ls.add_argument("--oldest-first", action="store_true", help="least recently seen first")
    _paging(ls)
    ls.add_argument("--wide", action="store_true", help="full session IDs, no width limit")
    ls.set_defaults(run=_list)

    show = commands.add_parser("show", help="one session in detail")
    show.add_argument("session_id", metavar="ID")
    show.set_defaults(run=_show)

    msgs = commands.add_parser("messages", help="a session's messages, oldest first")
    msgs.add_argument("session_id", metavar="ID")
    _paging(msgs)
    msgs.add_argument("--all", action="store_true", help="follow every page")
    msgs.set_defaults(run=_messages)

    export = commands.add_parser("export", help="a session's transcript as one JSON or CSV file")
    export.add_argument("session_id", metavar="ID")
    export.add_argument("--format", choices=("json", "csv"), default="json", help="default json")
    export.add_argument("-o", "--output", metavar="FILE",
                        help="write the file here (whole or not at all); default: standard output")
    export.add_argument("--limit", type=int, metavar="N", help="messages per page (execution), 1 to 100 (default 100)")
    export.set_defaults(run=_export)
    _common(export)

    hist = commands.add_parser("history", help="a session's timeline: every transition, who, when and why")
    hist.add_argument("session_id", metavar="ID")
    hist.add_argument("--limit", type=int, metavar="N", help="page size, 1 to 100 (default 100)")
    hist.add_argument("--cursor", metavar="SEQ", help="continue after this entry (printed under a full page)")
    hist.add_argument("--all", action="store_true", help="follow every page")
    hist.set_defaults(run=_history)

    trail = commands.add_parser("audit", help="the audit trail by agent and time range, oldest first (admin)")
    trail.add_argument("--agent", help="entries by this agent, or about their sessions")
    trail.add_argument("--from", dest="start", metavar="ISO", help="from this moment on, e.g. 2026-11-01T00:00:00Z")
    trail.add_argument("--to", dest="end", metavar="ISO", help="before this moment")
    trail.add_argument("--newest-first", action="store_true")
    _paging(trail)
    trail.add_argument("--all", action="store_true", help="follow every page")
    trail.set_defaults(run=_audit)

    assign = commands.add_parser("assign", help="assign a waiting session to an agent (admin)")
    assign.add_argument("session_id", metavar="ID")
    assign.add_argument("--agent", required=True, help="the agent's user ID")
    assign.add_argument("--over-capacity", dest="over_capacity", action="store_true",
                        help="even if the agent is at capacity (marked on the session)")
    assign.set_defaults(run=_assign)

    unassign = commands.add_parser("unassign", help="put an assigned session back in the queue")
    unassign.add_argument("session_id", metavar="ID")
    unassign.set_defaults(run=_unassign)

    close = commands.add_parser("close", help="close a session")
    close.add_argument("session_id", metavar="ID")
    close.add_argument("--reason", help="stored as the close reason (default: closed by agent)")
    close.set_defaults(run=_close)

    repair = commands.add_parser("repair", help="rebuild the counters and message counts from the rows (admin)")
    repair.add_argument("--settle-seconds", type=int, metavar="N",
                        help="repair a message count only if its session was left alone this long (default 60; "
                             "0 after a crash, when nothing runs)")
    repair.set_defaults(run=_repair)

    agents = commands.add_parser("agents", help="agents: availability, load and capacity")
    agents.set_defaults(run=_agents)

    capacity = commands.add_parser("capacity", help="how many sessions an agent may hold at once (admin)")
    capacity.add_argument("agent", metavar="AGENT")
    capacity.add_argument("capacity", metavar="N", help="0 to 1000, or `default` (the project's AGENT_CAPACITY)")
    capacity.set_defaults(run=_capacity)

    availability = commands.add_parser("availability", help="set an agent's availability (admin)")
    availability.add_argument("agent", metavar="AGENT")
    availability.add_argument("availability", choices=("available", "away", "offline"))
    availability.set_defaults(run=_availability)

    replies.add_command(commands, _common)

    for sub in (ls, show, msgs, hist, trail, assign, unassign, close, repair, agents, capacity, availability):
        sub.add_argument("--json", action="store_true", help="print the function's raw JSON answer")
        _common(sub)


def _paging(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--limit", type=int, metavar="N", help="page size, 1 to 100 (default 25)")
    sub.add_argument("--cursor", metavar="ID", help="continue after this ID (printed under a full page)")


class Out:
    def __init__(self, stream: TextIO, color: bool) -> None:
        self.stream = stream
        self.style = render.Style(color)
        self.width = shutil.get_terminal_size((80, 24)).columns if stream.isatty() else 80

    def lines(self, lines: list[str]) -> None:
        self.stream.write("".join(line + "\n" for line in lines))

    def json(self, data: Any) -> None:
        self.stream.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def main(argv: list[str] | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None,
         env: dict[str, str] | None = None, prog: str = "sessions") -> int:
    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):  # argparse prints to sys.*
            args = parser(prog).parse_args(argv)
            if getattr(args, "endpoint", None) and getattr(args, "port", None):
                parser(prog).error("give --endpoint or --port, not both")
    except SystemExit as exc:  # argparse: --help is 0, a usage error is 2
        return int(exc.code or 0)
    env = dict(os.environ) if env is None else env
    color = stdout.isatty() and not getattr(args, "no_color", False) and "NO_COLOR" not in env \
        and env.get("TERM") != "dumb"
    out = Out(stdout, color)
    port = getattr(args, "port", None)
    endpoint = f"http://127.0.0.1:{port}/v1" if port else getattr(args, "endpoint", None)
    try:
        config = load_config(env, as_user=getattr(args, "as_user", None), endpoint=endpoint,
                             warn=lambda line: stderr.write(f"warning: {line}\n"))
        args.run(Api(config), args, out)
    except CliError as exc:
        stderr.write(f"error: {exc.message}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        stderr.write("interrupted\n")
        return EXIT_UNREACHABLE
    except BrokenPipeError:  # `| head`
        return EXIT_OK
    return EXIT_OK


def entry_point() -> None:
    """The installed `sessions` command."""
    sys.exit(main())


# --------------------------------------------------------------------------- commands


def _list(api: Api, args: argparse.Namespace, out: Out) -> None:
    statuses = ",".join(part for item in args.status or [] for part in item.split(",") if part) or None
    answer = api.call("list-sessions", "GET", "/", query={
        "status": statuses, "needsHuman": args.needs_human, "assignedAgent": args.agent, "idleFor": args.idle_for,
        "createdAfter": args.created_after, "createdBefore": args.created_before,
        **({"sort": "escalatedAt", "order": "asc"} if args.sort == "waiting" else
           {"order": "asc" if args.oldest_first else None}),
        "limit": args.limit, "cursor": args.cursor})
    if args.json:
        out.json(answer)
    else:
        out.lines(render.list_view(answer, width=out.width, wide=args.wide, style=out.style))


def _show(api: Api, args: argparse.Namespace, out: Out) -> None:
    answer = _by_id(api, args.session_id, lambda sid: api.call("list-sessions", "GET", f"/{sid}"))
    if args.json:
        out.json(answer)
    else:
        out.lines(render.session_view(answer["session"], width=out.width, style=out.style))


def _messages(api: Api, args: argparse.Namespace, out: Out) -> None:
    def page(sid: str, cursor: str | None) -> dict:
        return api.call("list-sessions", "GET", f"/{sid}/messages", query={"limit": args.limit, "cursor": cursor})

    answer = _by_id(api, args.session_id, lambda sid: page(sid, args.cursor))
    if args.all:
        pages = 1
        while answer.get("nextCursor") and pages < 1000:
            following = page(answer["session"]["sessionId"], answer["nextCursor"])
            answer = {**following, "messages": answer["messages"] + following["messages"]}
            pages += 1
    if args.json:
        out.json(answer)
    else:
        out.lines(render.messages_view(answer, width=out.width, style=out.style))


def _export(api: Api, args: argparse.Namespace, out: Out) -> None:
    """Every page of list-sessions /{id}/export, the chunks appended: to FILE via a temporary file renamed at the
    end (an export that fails leaves no partial file), or to standard output as the pages arrive."""
    def page(sid: str, cursor: str | None) -> dict:
        return api.call("list-sessions", "GET", f"/{sid}/export",
                        query={"format": args.format, "limit": args.limit, "cursor": cursor})

    target = Path(args.output) if args.output else None
    partial = target.with_name(f".{target.name}.part") if target else None
    try:
        with (partial.open("w", encoding="utf-8", newline="") if partial else contextlib.nullcontext(out.stream)) \
                as stream:
            answer = _by_id(api, args.session_id, lambda sid: page(sid, None))
            sid, pages, count, seen = answer["sessionId"], 1, 0, set()
            while True:
                stream.write(answer["chunk"])
                count += answer["messages"]
                cursor = answer["nextCursor"]
                if cursor is None:
                    break
                if cursor in seen:  # a server that does not move on would loop forever
                    raise CliError(f"the export of {sid} repeated the cursor {cursor}", EXIT_UNREACHABLE)
                seen.add(cursor)
                answer = page(sid, cursor)
                pages += 1
        if partial and target:
            partial.replace(target)
    except OSError as exc:
        if partial is None or isinstance(exc, BrokenPipeError):  # standard output: `main` handles `| head`
            raise
        raise CliError(f"cannot write {exc.filename or args.output}: {exc.strerror}", EXIT_USAGE) from None
    finally:
        if partial:
            partial.unlink(missing_ok=True)
    if target:
        out.lines([f"{sid}: {count} message{'' if count == 1 else 's'} in {pages} page{'' if pages == 1 else 's'}"
                   f" written to {target}"])


def _history(api: Api, args: argparse.Namespace, out: Out) -> None:
    def page(sid: str, cursor: str | None) -> dict:
        return api.call("list-sessions", "GET", f"/{sid}/history", query={"limit": args.limit, "cursor": cursor})

    answer = _by_id(api, args.session_id, lambda sid: page(sid, args.cursor))
    if args.all:
        answer = _all_pages(answer, "history", lambda cursor: page(answer["session"]["sessionId"], cursor))
    if args.json:
        out.json(answer)
    else:
        out.lines(render.history_view(answer, width=out.width, style=out.style))


def _audit(api: Api, args: argparse.Namespace, out: Out) -> None:
    def page(cursor: str | None) -> dict:
        return api.call("list-sessions", "GET", "/audit", query={
            "agent": args.agent, "from": args.start, "to": args.end, "order": "desc" if args.newest_first else None,
            "limit": args.limit, "cursor": cursor})

    answer = page(args.cursor)
    if args.all:
        answer = _all_pages(answer, "audit", page)
    if args.json:
        out.json(answer)
    else:
        out.lines(render.audit_view(answer, width=out.width, style=out.style))


def _all_pages(answer: dict, key: str, following: Callable[[str], dict]) -> dict:
    pages = 1
    while answer.get("nextCursor") and pages < 1000:
        more = following(answer["nextCursor"])
        answer = {**more, key: answer[key] + more[key]}
        pages += 1
    return answer


def _assign(api: Api, args: argparse.Namespace, out: Out) -> None:
    body = {"overCapacity": True} if args.over_capacity else {}
    answer = _by_id(api, args.session_id, lambda sid: api.call("assign-agent", "POST", "/assign",
                                                               {"sessionId": sid, "agentId": args.agent, **body}))
    _changed(out, args, answer, f"assigned to {args.agent}")


def _unassign(api: Api, args: argparse.Namespace, out: Out) -> None:
    answer = _by_id(api, args.session_id, lambda sid: api.call("assign-agent", "POST", "/unassign",
                                                               {"sessionId": sid}))
    _changed(out, args, answer, "back in the queue")


def _close(api: Api, args: argparse.Namespace, out: Out) -> None:
    body = {"reason": args.reason} if args.reason else {}
    answer = _by_id(api, args.session_id, lambda sid: api.call("close-session", "POST", "/",
                                                               {"sessionId": sid, **body}))
    _changed(out, args, {**answer, "changed": answer.get("closed")}, "closed")


def _repair(api: Api, args: argparse.Namespace, out: Out) -> None:
    body = {} if args.settle_seconds is None else {"settleSeconds": args.settle_seconds}
    answer = api.call("list-sessions", "POST", "/recount", body)
    if args.json:
        out.json(answer)
    else:
        out.lines(render.repair_view(answer, width=out.width, style=out.style))


def _agents(api: Api, args: argparse.Namespace, out: Out) -> None:
    answer = api.call("list-sessions", "GET", "/agents")
    if args.json:
        out.json(answer)
    else:
        out.lines(render.agents_view(answer, width=out.width, style=out.style))


def _capacity(api: Api, args: argparse.Namespace, out: Out) -> None:
    if args.capacity == "default":
        value = None
    elif args.capacity.isascii() and args.capacity.isdigit():
        value = int(args.capacity)
    else:
        raise CliError("capacity must be a number of sessions or `default`", EXIT_USAGE)
    answer = api.call("assign-agent", "POST", "/capacity", {"agentId": args.agent, "capacity": value})
    _agent_changed(out, args, answer)


def _availability(api: Api, args: argparse.Namespace, out: Out) -> None:
    answer = api.call("assign-agent", "POST", "/availability",
                      {"agentId": args.agent, "availability": args.availability})
    _agent_changed(out, args, answer)


def _agent_changed(out: Out, args: argparse.Namespace, answer: dict) -> None:
    if args.json:
        out.json(answer)
        return
    out.lines(render.agents_view({"agents": [answer["agent"]]}, width=out.width, style=out.style)[:2])
    if answer.get("assigned"):
        out.lines([f"auto-assigned to {args.agent}: {', '.join(answer['assigned'])}"])


def _changed(out: Out, args: argparse.Namespace, answer: dict, what: str) -> None:
    if args.json:
        out.json(answer)
        return
    session = answer.get("session") or {}
    sid = session.get("sessionId", args.session_id)
    if answer.get("changed"):
        out.lines([f"{sid} {what}"])
    else:
        out.lines([f"{sid} unchanged: {answer.get('detail') or 'nothing to do'}"])


# --------------------------------------------------------------------------- short IDs


def _by_id(api: Api, session_id: str, action: Callable[[str], dict]) -> dict:
    """Run `action` with the ID; if no such session and the ID is short, with the one session it prefixes."""
    try:
        return action(session_id)
    except CliError as exc:
        code = ((exc.answer or {}).get("error") or {}).get("code")
        if code != "session_not_found" or len(session_id) >= FULL_ID_LENGTH:
            raise
    return action(_resolve_prefix(api, session_id))


def _resolve_prefix(api: Api, prefix: str) -> str:
    matches: list[str] = []
    cursor = None
    for _ in range(PREFIX_SCAN_PAGES):
        page = api.call("list-sessions", "GET", "/", query={"limit": 100, "cursor": cursor, "summary": "false"})
        matches += [s["sessionId"] for s in page["sessions"] if s["sessionId"].startswith(prefix)]
        cursor = page.get("nextCursor")
        if not cursor or len(matches) > 1:
            break
    if not matches:
        raise CliError(f"session_not_found: no session {prefix}", EXIT_API)
    if len(matches) > 1:
        raise CliError(f"ambiguous ID {prefix}: {', '.join(matches[:3])}... (type more of it)", EXIT_API)
    return matches[0]


__all__ = ["main", "parser", "entry_point", "EXIT_USAGE"]
