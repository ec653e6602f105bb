"""Exports on the local stack, over HTTP through the real SDK: the CLI follows every page of a session longer than
one page and writes one file, the same messages as JSON and as CSV; a visitor downloads only their own."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from appwrite.exception import AppwriteException
from stack_support import ADMIN_SECRET, BOT_SECRET, Party, disable_functions, function_variables, sign_in

from devstack.server import Stack
from tools.sessions_cli.cli import main

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = ['Hi, I said "refund", twice', "=HYPERLINK(\"http://evil.test\")", "first line\r\nsecond, line",
           "+44 20 7946 0000", "-1", "@channel", "\tleading tab", "zürich ☕ 東京 🎉"]
PAGE = 7


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with function_variables({"ADMIN_SECRET": ADMIN_SECRET, "BOT_SECRET": BOT_SECRET, "BOT_INLINE": "off"}), \
            Stack(ROOT, data_dir=tmp_path_factory.mktemp("export"), port=0, run_scheduler=False) as running:
        disable_functions(running, "bot")  # this test plays the bot, so the transcript is what it wrote
        yield running


@pytest.fixture(scope="module")
def chat(stack) -> dict:
    """A session of 8 visitor messages, 12 bot replies and 2 agent replies: more than three pages of 7."""
    widget, bot = Party(stack, key=False), Party(stack, key=False, headers={"X-Chat-Secret": BOT_SECRET})
    status, created = widget.run("create-session", {"userMeta": {"name": "Vic"}})
    assert status == 201
    sid, me = created["sessionId"], {"x-session-token": created["token"]}
    for text in HOSTILE:
        assert widget.run("touch-session", {"sessionId": sid, "message": {"text": text}}, headers=me)[0] == 200
        for n in (1, 2) if text.startswith(("=", "-", "@", "z")) else (1,):
            assert bot.run("touch-session", {"sessionId": sid, "message": {"role": "bot", "text": f"{n}: {text}"}}
                           )[0] == 200
    alice = Party(stack, signed_in="agent-alice")
    assert alice.run("assign-agent", {"sessionId": sid}, path="/claim")[0] == 200
    for text in ("Alice here, \"hello\"", "=cmd|' /C calc'!A0"):
        assert alice.run("touch-session", {"sessionId": sid, "message": {"role": "agent", "text": text}})[0] == 200
    assert stack.wait_idle(10)
    return {"sessionId": sid, "headers": me, "widget": widget}


def cli(env: dict, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err, env=env)
    return code, out.getvalue(), err.getvalue()


def visitor_transcript(chat: dict) -> list[dict]:
    """What the widget shows: GET touch-session /messages, every page; each message as stored (an export holds the
    stored messages: the widget's answers add an agent message's `authorName`)."""
    messages, cursor = [], ""
    while True:
        status, page = chat["widget"].run(
            "touch-session", path=f"/messages?sessionId={chat['sessionId']}&limit=5{cursor}", method="GET",
            headers=chat["headers"])
        assert status == 200
        messages += [{k: v for k, v in m.items() if k != "authorName"} for m in page["messages"]]
        if not page["nextCursor"]:
            return messages
        cursor = f"&cursor={page['nextCursor']}"


def test_the_cli_exports_a_long_session_completely_and_identically_as_json_and_csv(stack, chat, tmp_path,
                                                                                 monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = {"CHAT_ENDPOINT": stack.endpoint, "CHAT_PROJECT": stack.project_id, "CHAT_JWT": sign_in(stack, "agent-bob")}
    sid = chat["sessionId"]
    code, out, err = cli(env, "export", sid, "--format", "json", "-o", "chat.json", "--limit", str(PAGE))
    assert (code, err) == (0, "")
    assert out == f"{sid}: 22 messages in 4 pages written to chat.json\n"
    admin = {**env, "CHAT_JWT": "", "CHAT_ADMIN_SECRET": ADMIN_SECRET, "CHAT_API_KEY": stack.api_key}
    code, out, err = cli(admin, "sessions", "export", sid[:12], "--format", "csv", "--output", "chat.csv",
                         "--limit", str(PAGE))
    assert (code, err) == (0, "") and "22 messages in 4 pages" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chat.csv", "chat.json"]  # no partial file left

    document = json.loads((tmp_path / "chat.json").read_text(encoding="utf-8"))
    seen = visitor_transcript(chat)
    assert document["messages"] == seen and len(seen) == 22
    assert document["session"]["sessionId"] == sid and document["session"]["assignedAgent"] == "agent-alice"

    raw = (tmp_path / "chat.csv").read_bytes()
    assert raw.count(b"sessionId,messageId,createdAt") == 1
    header, *rows = csv.reader(io.StringIO(raw.decode("utf-8"), newline=""), strict=True)
    records = [dict(zip(header, row, strict=True)) for row in rows]
    assert [(r["messageId"], r["role"], r["authorId"] or None, r["createdAt"]) for r in records] == [
        (m["messageId"], m["role"], m["authorId"], m["createdAt"]) for m in seen]
    assert [r["text"] for r in records] == [("'" + m["text"]) if m["text"][0] in "=+-@\t" else m["text"]
                                            for m in seen]

    # Without -o the same file goes to standard output.
    code, out, _ = cli(env, "export", sid, "--format", "csv", "--limit", str(PAGE))
    assert code == 0 and out.encode("utf-8") == raw


def test_a_failed_export_leaves_no_file(stack, chat, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = {"CHAT_ENDPOINT": stack.endpoint, "CHAT_PROJECT": stack.project_id, "CHAT_API_KEY": stack.api_key,
           "CHAT_AS_USER": "visitor-without-label"}
    code, _, err = cli(env, "export", chat["sessionId"], "-o", "chat.json")
    assert code == 1 and err.startswith("error: ") and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []
    admin = {**env, "CHAT_AS_USER": "admin-ada"}
    code, out, err = cli(admin, "export", chat["sessionId"], "-o", str(tmp_path / "no-such-folder" / "chat.json"))
    assert (code, out) == (2, "") and err.startswith("error: cannot write ") and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_a_visitor_downloads_their_own_transcript_and_nobody_elses(stack, chat):
    widget = chat["widget"]
    status, page = widget.run("touch-session", path=f"/export?sessionId={chat['sessionId']}&format=json",
                              method="GET", headers=chat["headers"])
    assert status == 200 and page["nextCursor"] is None
    assert json.loads(page["chunk"])["messages"] == visitor_transcript(chat)

    status, other = widget.run("create-session", {})
    mine = {"x-session-token": other["token"]}
    status, refused = widget.run("touch-session", path=f"/export?sessionId={chat['sessionId']}&format=csv",
                                 method="GET", headers=mine)
    assert (status, refused["error"]["code"]) == (403, "not_owner") and "chunk" not in refused
    with pytest.raises(AppwriteException) as kept_out:  # and the staff route is not a guest's to run at all
        widget.run("list-sessions", path=f"/{chat['sessionId']}/export", method="GET", headers=mine)
    assert kept_out.value.code == 401
