"""`sessions replies list|add|remove` (issue 22, item 9) against an in-process local stack: real executions."""

from __future__ import annotations

import json

from test_cli import cli, env, stack  # noqa: F401  (fixtures)


def test_replies_add_list_remove(stack, env):  # noqa: F811
    code, out, err = cli(env, "sessions", "replies", "list")
    assert (code, err) == (0, "") and out.startswith("No saved replies")
    assert cli(env, "replies", "add", "/refund", "Refunds take 3 to 5 working days.") == (0, "/refund saved\n", "")
    assert cli(env, "replies", "add", "hello", "Hi! " + "How can I help you today? " * 5)[0] == 0
    code, out, err = cli(env, "replies", "list")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("/hello   Hi! How can I help") and all(len(line) <= 80 for line in lines)
    assert lines[-1] == "/refund  Refunds take 3 to 5 working days."
    code, out, _ = cli(env, "replies", "list", "--json")
    assert [r["shortcut"] for r in json.loads(out)["replies"]] == ["hello", "refund"]

    assert cli(env, "replies", "add", "refund", "again") == (
        1, "", "error: reply_exists: /refund exists already; remove it first to change it\n")
    assert cli(env, "replies", "add", "Bad Name", "x")[2].startswith("error: invalid_shortcut")
    assert cli(env, "replies", "remove", "refund", "--as", "agent-alice")[2].startswith("error: not_an_admin")
    assert cli(env, "replies", "remove", "refund") == (0, "/refund removed\n", "")
    assert cli(env, "replies", "remove", "refund") == (1, "", "error: reply_not_found: no saved reply /refund\n")
    assert cli(env, "replies", "list", "--as", "agent-alice")[1].startswith("/hello")
