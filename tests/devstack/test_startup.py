"""Starting the local stack: it never touches a data folder another stack owns, and startup problems are one line
that names the fix (no traceback), from `python -m devstack` and `make run` alike."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devstack.__main__ import banner, interpreter
from devstack.engine import EngineError
from devstack.server import DB_FILE, Stack
from devstack.startup import StartupError

ROOT = Path(__file__).resolve().parents[2]
CONFIG = {
    "projectId": "startup-test",
    "tablesDB": [{"$id": "app", "name": "app", "enabled": True}],
    "tables": [{"$id": "notes", "$permissions": [], "databaseId": "app", "name": "notes", "enabled": True,
                "rowSecurity": False, "indexes": [],
                "columns": [{"key": "text", "type": "string", "required": False, "array": False, "size": 100}]}],
    "functions": [],
}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "appwrite.json").write_text(json.dumps(CONFIG))
    return tmp_path


def _stack(root: Path, data: Path, **options) -> Stack:
    return Stack(root, data_dir=data, port=options.pop("port", 0), run_scheduler=False, seed_users=False, **options)


def _devstack(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    """`python -m devstack ...` as a developer runs it (another process, so another lock holder)."""
    return subprocess.run([sys.executable, "-m", "devstack", *argv], cwd=cwd, capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})


def _one_line_error(answer: subprocess.CompletedProcess) -> str:
    assert answer.returncode == 1, answer
    assert "Traceback" not in answer.stderr
    assert answer.stderr.startswith("error: ") and answer.stderr.count("\n") == 1, answer.stderr
    return answer.stderr


def test_reset_next_to_a_running_stack_is_refused_and_loses_nothing(root: Path) -> None:
    data = root / "data"
    with _stack(root, data) as running:
        running.engine.create_row("app", "notes", "kept", {"text": "precious"})
        files = sorted(p.name for p in data.iterdir())

        err = _one_line_error(_devstack("run", "--reset", "--port", "0", "--data", str(data), "--root", str(root),
                                        cwd=root))
        assert f"port {running.port}" in err and "make run" in err

        with pytest.raises(StartupError, match="belongs to a running stack"):  # same process, second stack
            _stack(root, data, reset=True).start()

        assert sorted(p.name for p in data.iterdir()) == files
        running.engine.create_row("app", "notes", "later", {"text": "still written"})
        assert running.engine.get_row("app", "notes", "kept")["text"] == "precious"
    with _stack(root, data) as again:  # the files the first stack wrote are the ones on disk
        assert {r["$id"] for r in again.engine.list_rows("app", "notes")["rows"]} == {"kept", "later"}


def test_the_folder_is_free_again_once_its_stack_stops(root: Path) -> None:
    data = root / "data"
    with _stack(root, data) as first:
        first.engine.create_row("app", "notes", "old", {"text": "x"})
    with _stack(root, data, reset=True) as fresh:
        assert fresh.engine.list_rows("app", "notes")["total"] == 0


# A machine under load, as when the stack hung: `Event.set` holds its lock a while (CPython's own body, slowed).
SLOW_EVENT_SET = """
import threading, time
def set(self):
    with self._cond:
        time.sleep(0.3)
        self._flag = True
        self._cond.notify_all()
threading.Event.set = set
"""
STOP_SECONDS = 20  # a safety net against a hung stack, not a timed assertion


@pytest.mark.parametrize("loaded", [False, True], ids=["idle", "loaded"])
def test_a_burst_of_signals_stops_the_stack_and_frees_its_folder(root: Path, loaded: bool) -> None:
    """Issue 18, item 10: a second signal while the first one's handler held a lock deadlocked `make run`, and the
    orphan kept the data folder. Any number of SIGINT/SIGTERM in a burst stop it; the folder is free again."""
    data = root / "data"
    prelude = SLOW_EVENT_SET if loaded else ""
    code = prelude + "import sys\nfrom devstack.__main__ import main\nsys.exit(main(sys.argv[1:]))\n"
    process = subprocess.Popen([sys.executable, "-c", code, "run", "--port", "0", "--data", str(data),
                                "--root", str(root)], cwd=root, env={**os.environ, "PYTHONPATH": str(ROOT),
                                                                     "PYTHONUNBUFFERED": "1"},
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for line in process.stdout:  # the banner says it is up: every signal from now on is the stack's
            if line.strip().startswith("endpoint"):
                break
        for signum in [signal.SIGTERM, signal.SIGINT] * 6:  # a burst: each lands while the last is handled
            process.send_signal(signum)
            time.sleep(0.02)
        output = process.communicate(timeout=STOP_SECONDS)[0]
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail("the stack did not stop on a burst of signals")
    assert process.returncode == 0, output
    assert "Traceback" not in output, output
    with _stack(root, data):  # the folder is free: a new stack takes it
        pass


def test_a_busy_port_is_one_line_naming_another_port_and_touches_nothing(root: Path) -> None:
    data = root / "data"
    with _stack(root, data) as first:
        first.engine.create_row("app", "notes", "kept", {"text": "x"})
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(StartupError) as refused:
            _stack(root, data, port=port, reset=True).start()
        assert f"port {port}" in str(refused.value) and "make run PORT=" in str(refused.value)
        assert "\n" not in str(refused.value)

        err = _one_line_error(_devstack("run", "--port", str(port), "--data", str(data), "--root", str(root),
                                        cwd=root))
        assert "make run PORT=" in err
    with _stack(root, data) as again:  # not reset, and not left locked by the failed start
        assert again.engine.get_row("app", "notes", "kept")["text"] == "x"


def test_a_corrupt_database_is_one_line_naming_reset(root: Path) -> None:
    data = root / "data"
    data.mkdir()
    (data / DB_FILE).write_bytes(b"this is not an SQLite file" * 100)

    with pytest.raises(StartupError, match="RESET=1"):
        _stack(root, data).start()
    err = _one_line_error(_devstack("run", "--port", "0", "--data", str(data), "--root", str(root), cwd=root))
    assert str(data / DB_FILE) in err and "make run RESET=1" in err

    with _stack(root, data, reset=True) as fresh:  # the fix it names works
        assert fresh.engine.list_rows("app", "notes")["total"] == 0


def test_offline_user_add_never_writes_under_a_running_stack(root: Path) -> None:
    data = root / "data"
    with _stack(root, data) as running, socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, not listening: connection refused, as when no stack runs there
        err = _one_line_error(_devstack("user", "add", "agent-zoe", "--labels", "agent", "--port",
                                        str(closed.getsockname()[1]), "--data", str(data), "--root", str(root),
                                        cwd=root))
        assert f"--port {running.port}" in err
        with pytest.raises(EngineError) as missing:
            running.engine.get_user("agent-zoe")
        assert missing.value.type == "user_not_found"


def test_the_banner_names_the_real_port_and_which_secrets_are_set(root: Path, monkeypatch) -> None:
    monkeypatch.delenv("ADMIN_SECRET", raising=False)
    monkeypatch.delenv("BOT_SECRET", raising=False)
    (root / ".env").write_text("BOT_SECRET=b0t-value # the bot's\n")
    with _stack(root, root / "data") as stack:
        text = banner(stack)
        assert os.environ["BOT_SECRET"] == "b0t-value"  # what the functions read
    cli_line = next(line for line in text.splitlines() if "admin CLI" in line)
    assert cli_line.endswith(f".venv/bin/sessions list --port {stack.port}")
    assert f"CHAT_DEVSTACK_DATA={root / 'data'}" in cli_line  # the CLI finds this folder's key
    assert f"make run PORT={stack.port} DATA={root / 'data'} RESET=1" in text
    assert "BOT_SECRET set (.env)" in text and "ADMIN_SECRET NOT set" in text
    assert f"{root / '.env'}" in text and "b0t-value" not in text
    # The hints name the Python that runs the stack (the venv's), never a bare `python` (issue 22, item 12).
    hints = [line.strip() for line in text.splitlines() if "-m devstack " in line]
    assert len(hints) == 2 and all(h.startswith(f"{sys.executable} -m devstack ") for h in hints), hints
    if Path(sys.executable).is_relative_to(ROOT):  # `make run`: the repository's venv, named as one types it
        assert interpreter(ROOT) == str(Path(sys.executable).relative_to(ROOT)) == ".venv/bin/python"

    monkeypatch.setenv("ADMIN_SECRET", "from-the-shell")
    (root / ".env").unlink()
    with _stack(root, root / "data") as stack:
        text = banner(stack)
    assert "ADMIN_SECRET set (environment)" in text and "BOT_SECRET NOT set" in text
    assert "from-the-shell" not in text


def test_make_run_passes_port_data_and_reset() -> None:
    def dry_run(*args: str) -> str:
        answer = subprocess.run(["make", "-n", "-s", *args], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert answer.returncode == 0, answer.stderr
        return next(line for line in answer.stdout.splitlines() if "-m devstack run" in line)

    assert dry_run("run").endswith("-m devstack run --port 8787 --data .local")
    assert dry_run("run", "PORT=9000", "RESET=1").endswith("-m devstack run --port 9000 --data .local --reset")
    assert "--reset" not in dry_run("run", "RESET=0")


def test_make_clean_removes_every_cache() -> None:
    answer = subprocess.run(["make", "-n", "-s", "clean"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    removed = answer.stdout.split()
    assert {".venv", ".local", ".pytest_cache", ".ruff_cache", ".hypothesis"} <= set(removed)
