"""`.env` as the ecosystem reads it (python-dotenv), the same in the local stack and the sessions CLI, with a
warning for each line it cannot read."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from devstack.server import Stack
from tools.envfile import read_env_file
from tools.sessions_cli.api import load_config
from tools.sessions_cli.cli import main

TRICKY = """\
# a comment
BOT_SECRET=b0t # note
export ADMIN_SECRET='quoted # not a comment'
SPACED = "two words"
BASE=https://example.test
URL=${BASE}/v1
EMPTY=
"""


def test_reads_what_python_dotenv_reads(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(TRICKY)
    env = read_env_file(tmp_path / ".env")
    assert env.values == {"BOT_SECRET": "b0t", "ADMIN_SECRET": "quoted # not a comment", "SPACED": "two words",
                          "BASE": "https://example.test", "URL": "https://example.test/v1", "EMPTY": ""}
    assert env.warnings == ()


def test_warns_about_each_line_it_cannot_read_without_showing_it(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("GOOD=1\nthis line is s3cret garbage\nLONELY\nALSO_GOOD='2'\n")
    env = read_env_file(tmp_path / ".env")
    assert env.values == {"GOOD": "1", "ALSO_GOOD": "2"}
    assert env.warnings == (f"{tmp_path / '.env'} line 2: not NAME=value; ignored",
                            f"{tmp_path / '.env'}: LONELY has no '=' and no value; ignored")
    assert "s3cret" not in " ".join(env.warnings)


def test_a_missing_or_unreadable_file_is_empty(tmp_path: Path) -> None:
    assert read_env_file(tmp_path / "nope.env").values == {}
    (tmp_path / ".env").write_bytes(b"KEY=\xff\xfe\n")
    env = read_env_file(tmp_path / ".env")
    assert env.values == {} and len(env.warnings) == 1 and "cannot read it" in env.warnings[0]


def test_the_stack_gives_functions_the_values_without_inline_comments(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("BOT_SECRET", raising=False)
    (tmp_path / "appwrite.json").write_text(json.dumps({"projectId": "p", "tables": [], "functions": []}))
    (tmp_path / ".env").write_text(TRICKY + "oops\n")
    with Stack(tmp_path, data_dir=tmp_path / "data", port=0, run_scheduler=False, seed_users=False) as stack:
        assert os.environ["BOT_SECRET"] == "b0t"
        assert os.environ["ADMIN_SECRET"] == "quoted # not a comment"
        assert stack.env_file.warnings == (f"{tmp_path / '.env'}: oops has no '=' and no value; ignored",)


@pytest.mark.parametrize("line, expected", [("CHAT_ADMIN_SECRET=s3cret # admin", "s3cret"),
                                            ("export CHAT_ADMIN_SECRET=\"s p\"", "s p")])
def test_the_cli_reads_the_same_way(tmp_path: Path, line: str, expected: str) -> None:
    (tmp_path / ".env").write_text(line + "\n")
    assert load_config({}, cwd=tmp_path).admin_secret == expected


def test_the_cli_warns_about_bad_lines_and_still_runs(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / ".env").write_text("CHAT_ENDPOINT=http://127.0.0.1:9/v1\nnot a setting\n")
    monkeypatch.chdir(tmp_path)
    out, err = io.StringIO(), io.StringIO()
    code = main(["sessions", "list"], stdout=out, stderr=err, env={})
    assert code == 3  # it read CHAT_ENDPOINT and went there
    assert err.getvalue().splitlines() == [
        "warning: .env line 2: not NAME=value; ignored",
        "error: cannot reach http://127.0.0.1:9/v1 (is the local stack running? make run)"]
