"""`sessions replies list|add|remove`: the saved replies agents insert in the console with `/` (list-sessions
/replies; adding and removing needs an admin)."""

from __future__ import annotations

import argparse
import textwrap
from typing import Any

from .api import EXIT_USAGE, Api, CliError


def add_command(commands: argparse._SubParsersAction, common: Any) -> None:
    replies = commands.add_parser("replies", help="saved replies: list, add SHORTCUT TEXT, remove SHORTCUT (admin)")
    actions = replies.add_subparsers(dest="replies_action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="every saved reply, by shortcut")
    add = actions.add_parser("add", help="a new saved reply (admin)")
    add.add_argument("shortcut", metavar="SHORTCUT", help="what agents type after /: a-z, 0-9 and -, at most 32")
    add.add_argument("text", metavar="TEXT", help="the reply (or - to read it from standard input)")
    remove = actions.add_parser("remove", help="remove a saved reply (admin)")
    remove.add_argument("shortcut", metavar="SHORTCUT")
    for sub in (replies, listing, add, remove):
        sub.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                         help="print the function's raw JSON answer")
        common(sub)
    replies.set_defaults(run=run, json=False)


def run(api: Api, args: argparse.Namespace, out: Any) -> None:
    if args.replies_action == "list":
        answer = api.call("list-sessions", "GET", "/replies")
        if args.json:
            out.json(answer)
        else:
            out.lines(list_view(answer["replies"], out.width))
        return
    if args.replies_action == "add":
        text = args.text
        if text == "-":
            import sys
            text = sys.stdin.read().rstrip("\n")
        if not text.strip():
            raise CliError("the reply's text is empty", EXIT_USAGE)
        answer = api.call("list-sessions", "POST", "/replies", {"shortcut": args.shortcut, "text": text})
        said = f"/{answer['reply']['shortcut']} saved"
    else:
        answer = api.call("list-sessions", "DELETE", f"/replies/{args.shortcut.lstrip('/')}")
        said = f"/{answer['removed']} removed"
    if args.json:
        out.json(answer)
    else:
        out.lines([said])


def list_view(replies: list[dict], width: int) -> list[str]:
    if not replies:
        return ["No saved replies (an admin adds one: sessions replies add SHORTCUT TEXT)."]
    pad = max(len(r["shortcut"]) for r in replies) + 3
    lines = []
    for reply in replies:
        body = textwrap.wrap(" ".join(reply["text"].split()), max(20, width - pad)) or [""]
        lines.append(f"/{reply['shortcut']}".ljust(pad) + body[0])
        lines += [" " * pad + rest for rest in body[1:]]
    return lines
