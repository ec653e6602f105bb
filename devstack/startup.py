"""What the stack checks before it touches anything: its data folder is its own, its port is free.

A stack holds an exclusive ``flock`` on ``<data>/devstack.lock`` from before it reads or deletes anything in the
folder until it stops. A second stack (or ``--reset``, or an offline ``user add``) on the same folder is refused
instead of deleting or rewriting files the first one still writes to. The kernel drops the lock when the holder's
process ends, however it ends, so a crashed stack never leaves a stale lock behind; the lock file itself stays
(deleting it would let two processes lock two different files of the same name).

Every problem found here is a ``StartupError``: one line that names the fix, for the CLI to print without a
traceback.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
from pathlib import Path

LOCK_FILE = "devstack.lock"


class StartupError(Exception):
    """A problem the developer must fix before the stack can start; ``str()`` is one line naming the fix."""


class DataLock:
    """The exclusive claim of one stack on its data folder; ``acquire`` raises ``StartupError`` when taken."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_FILE
        self._fd: int | None = None

    def acquire(self, what: str = "start a second stack on it",
                fix: str = "Stop that stack first (Ctrl-C in its terminal), or give this one another folder and "
                           "port: make run DATA=.local2 PORT=8788") -> None:
        """Take the folder or raise ``StartupError`` saying who has it; ``fix`` may name the holder's ``{port}``."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StartupError(f"cannot use the data folder {self.path.parent}: {exc.strerror}; "
                               f"pick another with --data DIR (make run DATA=DIR)") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise StartupError(f"cannot lock the data folder {self.path.parent}: {exc.strerror}") from None
            holder = _holder(self.path)
            who = ", ".join(f"{key} {holder[key]}" for key in ("pid", "port") if holder.get(key))
            raise StartupError(f"the data folder {self.path.parent} belongs to a running stack"
                               f"{f' ({who})' if who else ''}; refusing to {what}. "
                               f"{fix.format(port=holder.get('port') or 'PORT')}") from None
        self._fd = fd
        self.note()

    def note(self, port: int | None = None) -> None:
        """Say who holds the lock, so a refused second stack can name it."""
        if self._fd is None:
            return
        info = json.dumps({"pid": os.getpid(), "port": port}).encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, info, 0)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the only descriptor drops the flock
            self._fd = None


def _holder(lock_path: Path) -> dict:
    """``{"pid": 123, "port": 8787}`` as the holder wrote it; empty when it can't be read (yet)."""
    try:
        info = json.loads(lock_path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def bind_error(host: str, port: int, exc: OSError) -> StartupError:
    if exc.errno == errno.EADDRINUSE:
        return StartupError(f"port {port} on {host} is already in use (another stack or program); "
                            f"pick another: make run PORT={port + 1 if 0 < port < 65535 else 8788}")
    if exc.errno == errno.EACCES:
        return StartupError(f"no permission to listen on {host}:{port}; pick a port above 1023: make run PORT=8787")
    return StartupError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; pick another: make run PORT=8788")


def corrupt_database_error(db_file: Path, exc: Exception) -> StartupError:
    return StartupError(f"{db_file} is not a readable SQLite database ({exc}); start empty with "
                        f"make run RESET=1 (deletes that file), or move it away first to keep it")
