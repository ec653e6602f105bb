"""The local stack's ``Stack``, which wires everything together behind one HTTP server.

The parts: ``devstack.httpd`` (the HTTP layer, on 127.0.0.1 only), ``devstack.devapp`` (the routes, who calls,
executions, function domains, dev-only helpers), ``devstack.execution_params`` (an execution's parameters and
model as Appwrite validates and shows them); below them the engine, the REST API, accounts, functions, builds,
Realtime and the management API the ``Stack`` builds.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tools.envfile import EnvFile, read_env_file

from . import realtime
from .accounts import DEV_PASSWORD, Accounts
from .builds import Deployments
from .devapp import DevApp
from .engine import Engine
from .execution_params import parse_execution_params
from .functions import FunctionRuntime, Scheduler
from .httpd import MAX_BODY, SOCKET_TIMEOUT, VERSION, _Handler, _Server
from .manage import ManagementApi
from .project import ProjectState
from .rest import KeyRing, RestApi
from .schema import load_schema
from .startup import DataLock, bind_error, corrupt_database_error

__all__ = ["DB_FILE", "DEV_USERS", "KEY_FILE", "WEB_PLATFORMS", "Stack", "parse_execution_params"]

STOP_POLL_SECONDS = 0.1  # how soon serve_forever sees a stop signal
DB_FILE = "devstack.sqlite3"
REPO_ROOT = Path(__file__).resolve().parent.parent  # default root: the repo holding appwrite.json
KEY_FILE = "api-key"
PROJECT_FILE = "project.json"  # a blank stack's databases, tables, functions and deployments
DEV_USERS = (("agent-alice", "Alice (agent)", ("agent",)), ("agent-bob", "Bob (agent)", ("agent",)),
             ("admin-ada", "Ada (admin)", ("admin",)))
DEV_EMAIL_DOMAIN = "example.test"  # agent-alice signs in as agent-alice@example.test with the dev password
# The project's Web platforms for Realtime's origin check: the demo's own origin (http://127.0.0.1:<port>) counts as
# `localhost` (Appwrite's Origin validator treats 127.0.0.1 and [::1] as localhost).
WEB_PLATFORMS = ("localhost",)


# --------------------------------------------------------------------------- the stack


class Stack:
    """Engine + REST API + key ring + functions + events + scheduler behind one HTTP server.

    ``with Stack(data_dir=tmp, port=0) as stack:`` then use ``stack.endpoint``,
    ``stack.project_id``, ``stack.api_key``. ``port=0`` binds a free port (read ``stack.port``).
    ``root`` (default: this repository) holds appwrite.json, the functions and an optional .env;
    ``data_dir`` defaults to ``root/.local``. ``run_scheduler=False`` keeps cron out of tests
    (use ``fire_schedule`` or ``scheduler.tick(when)``).
    """

    def __init__(self, root: str | Path | None = None, *, data_dir: str | Path | None = None,
                 port: int = 8787, host: str = "127.0.0.1", config: str = "appwrite.json",
                 reset: bool = False, dev_mode: bool = True, seed_users: bool = True,
                 run_scheduler: bool = True, max_body: int = MAX_BODY,
                 socket_timeout: float = SOCKET_TIMEOUT, dev_password: str | None = None,
                 blank: bool = False, generate_secrets: tuple[str, ...] = (),
                 web_platforms: tuple[str, ...] = WEB_PLATFORMS, deny_realtime_guests: bool = False) -> None:
        if host not in ("127.0.0.1", "localhost"):
            raise ValueError("the local stack listens on loopback only")
        self.root = Path(root).resolve() if root is not None else REPO_ROOT
        self.config_path = self.root / config
        self.data_dir = Path(data_dir) if data_dir is not None else self.root / ".local"
        self.host, self.port, self.dev_mode = host, port, dev_mode
        self._reset, self._seed, self._run_scheduler = reset, seed_users, run_scheduler
        self._max_body, self._socket_timeout = max_body, socket_timeout
        self.dev_password = dev_password or os.environ.get("DEVSTACK_PASSWORD") or DEV_PASSWORD
        # blank: a new, empty project (no tables, no functions) that `appwrite push` fills; kept in data_dir.
        self.blank = blank
        self.project_id = json.loads(self.config_path.read_text(encoding="utf-8")).get("projectId", "local")
        self.api_key = ""
        self._saved_env: dict[str, str | None] = {}
        self.env_file = EnvFile()  # root/.env as read at start: its values and what it could not read
        # DEV ONLY: secrets made up for this run when neither .env nor the environment sets them (`make run` asks
        # for BOT_SECRET, so the demo's bot answers out of the box). Never printed; gone when the stack stops.
        self._generate_secrets = generate_secrets
        self.generated_secrets: tuple[str, ...] = ()
        # Realtime (devstack/realtime.py): the hostnames of the project's Web platforms (an Origin must name one, or
        # the stack's own host), and the 2.x policy that denies guests (off, as in a new project).
        self.web_platforms, self.deny_realtime_guests = tuple(web_platforms), deny_realtime_guests
        self._lock = DataLock(self.data_dir)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.stop_signal = 0  # the signal that asked serve_forever to stop (0: none yet)

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> Stack:
        """Lock the data folder and bind the port before touching any file; ``StartupError`` when that fails."""
        self._lock.acquire()  # a second stack on the same folder stops here, before --reset deletes anything
        try:
            self._start()
        except BaseException:
            self._abandon()
            raise
        return self

    def _start(self) -> None:
        try:
            self._server = _Server((self.host, self.port), _Handler)  # bind first: the port goes into env
        except OSError as exc:
            raise bind_error(self.host, self.port, exc) from None
        self._server.max_body, self._server.socket_timeout = self._max_body, self._socket_timeout
        self.port = self._server.server_address[1]
        self._lock.note(self.port)
        if self._reset:
            for suffix in ("", "-wal", "-shm", "-journal"):
                (self.data_dir / (DB_FILE + suffix)).unlink(missing_ok=True)
            (self.data_dir / PROJECT_FILE).unlink(missing_ok=True)
            for folder in ("builds", "deployments"):
                shutil.rmtree(self.data_dir / folder, ignore_errors=True)
        self.api_key = _stable_key(self.data_dir / KEY_FILE)
        self._set_env()
        self.project = ProjectState(self.data_dir / PROJECT_FILE if self.blank else None)
        if not self.blank:  # the working tree: appwrite.json's tables and functions, no push needed
            config = json.loads(self.config_path.read_text(encoding="utf-8"))
            self.project.seed(config)
            self.project.seed_functions(config)
        try:
            self.engine = Engine(self.project.schema() if self.blank else load_schema(self.config_path),
                                 str(self.data_dir / DB_FILE))
        except sqlite3.DatabaseError as exc:
            raise corrupt_database_error(self.data_dir / DB_FILE, exc) from None
        self.project.on_schema = self.engine.set_schema
        self.project.resume()
        self.keys = KeyRing()
        self.keys.add(self.api_key, None)  # the dev key: every scope
        self.accounts = Accounts(self.engine, self.project_id)
        self.rest = RestApi(self.engine, self.keys, self.project_id, self.accounts)
        self.runtime = FunctionRuntime({}, self.keys)
        self.engine.subscribe(self.runtime.dispatch_event)
        self.realtime = realtime.Realtime(project_id=self.project_id, engine=self.engine, accounts=self.accounts,
                                          api_hostnames=(self.host,), web_platforms=self.web_platforms,
                                          deny_guests=self.deny_realtime_guests)
        self.engine.subscribe(self.realtime.on_row_event)  # row events, after commit, to the sockets
        self._server.realtime = self.realtime
        self.scheduler = Scheduler(self.runtime)
        self.deployments = Deployments(self.project, self.runtime, self.scheduler, self.data_dir, self.root,
                                       self._runtime_env())
        self.deployments.sync()
        self.manage = ManagementApi(self.project, self.deployments, self.keys, self.project_id)
        if self._seed:
            for user_id, name, labels in DEV_USERS:
                self.add_user(user_id, name, labels)
        self._server.app = DevApp(self)
        # A short poll interval keeps stop() (and so every test teardown) fast.
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="devstack-http", daemon=True)
        self._thread.start()
        if self._run_scheduler:
            self.scheduler.start()

    def _abandon(self) -> None:
        """Undo a start that failed half-way: free the port, the environment and the folder."""
        if self._server is not None:
            self._server.server_close()
            self._server = None
        if getattr(self, "engine", None) is not None:
            self.engine.close()
        self._restore_env()
        self._lock.release()

    def stop(self) -> None:
        if self._server is None:
            return
        self.realtime.close()  # every socket gets 1001 (going away) before the server stops
        self._server.shutdown()
        self._server.server_close()
        self._server = None
        self.scheduler.stop()
        self.deployments.close()
        self.project.close()
        self.runtime.close()
        close = getattr(self.engine, "close", None)
        if close is not None:
            close()
        self._restore_env()
        self._lock.release()

    def serve_forever(self, ready: Callable[[], None] | None = None) -> None:
        """Block until SIGINT or SIGTERM (the CLI's ``run``), then stop cleanly. ``ready`` runs once the signals are
        the stack's (the CLI prints its banner there: whoever reads it may signal at once).

        A signal handler runs in the main thread between two bytecodes, possibly in the middle of code that holds a
        lock, or of another handler: one that takes a lock can deadlock the process (``threading.Event.set`` did,
        when a second signal arrived while the first handler held the event's lock, and the orphan kept the data
        folder). So the handler only sets a flag, which takes no lock, and stays installed until the process exits:
        any number of signals in any order only ask again for the stop under way."""
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                signal.signal(signum, self._on_stop_signal)
        if ready is not None:
            ready()
        try:
            while not self.stop_signal:
                time.sleep(STOP_POLL_SECONDS)  # a signal cuts the sleep short; its handler runs right away
        finally:
            self.stop()

    def _on_stop_signal(self, signum: int, _frame: object) -> None:
        self.stop_signal = signum  # one attribute store: no lock, safe inside any code or another handler

    # ---- conveniences for tests and the CLI

    def add_user(self, user_id: str, name: str = "", labels: list[str] | tuple[str, ...] = ()) -> None:
        """A user who can sign in as `<user_id>@example.test` with the dev password."""
        self.engine.put_user(user_id, name or user_id, list(labels), email=f"{user_id}@{DEV_EMAIL_DOMAIN}")
        self.accounts.set_password(user_id, self.dev_password)

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """True once every queued event/async/schedule execution has finished."""
        return self.runtime.wait_idle(timeout)

    def fire_schedule(self, function_id: str) -> dict[str, Any]:
        """Queue one ``schedule`` execution now; returns the ``waiting`` execution model."""
        return self.runtime.fire_schedule(function_id)

    def key_allows(self, key: str, scope: str) -> bool:
        try:
            return bool(self.keys.check(key, scope))
        except Exception:  # noqa: BLE001 - a key ring may signal "no" by raising
            return False

    # ---- environment

    def _set_env(self) -> None:
        """Functions share this process's environment: set it once, restore it at stop."""
        values = {"APPWRITE_FUNCTION_API_ENDPOINT": self.endpoint,
                  "APPWRITE_FUNCTION_PROJECT_ID": self.project_id,
                  "APPWRITE_FUNCTION_DEPLOYMENT": "local", "APPWRITE_FUNCTION_RUNTIME_NAME": "Python",
                  "APPWRITE_FUNCTION_RUNTIME_VERSION": "3.12", "APPWRITE_VERSION": VERSION,
                  "APPWRITE_REGION": "local"}
        self.env_file = read_env_file(self.root / ".env")
        values.update(self.env_file.values)
        missing = [name for name in self._generate_secrets if not values.get(name) and not os.environ.get(name)]
        values.update({name: "devstack-" + secrets.token_urlsafe(24) for name in missing})
        self.generated_secrets = tuple(missing)
        for name in (*values, "APPWRITE_FUNCTION_ID", "APPWRITE_FUNCTION_NAME"):
            self._saved_env.setdefault(name, os.environ.get(name))
        os.environ.update(values)

    def _runtime_env(self) -> dict[str, str]:
        """What a deployed build's runtime sees besides the function's variables (Executions/Create.php)."""
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
                "APPWRITE_FUNCTION_API_ENDPOINT": self.endpoint, "APPWRITE_FUNCTION_PROJECT_ID": self.project_id,
                "APPWRITE_FUNCTION_RUNTIME_NAME": "Python", "APPWRITE_FUNCTION_RUNTIME_VERSION": "3.12",
                "APPWRITE_VERSION": VERSION, "APPWRITE_REGION": "local"}

    def _restore_env(self) -> None:
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env.clear()


def _stable_key(path: Path) -> str:
    """One dev API key per data dir, kept across restarts so copy-pasted snippets keep working."""
    if path.is_file() and (key := path.read_text(encoding="utf-8").strip()):
        return key
    key = "devstack_" + secrets.token_hex(32)
    path.write_text(key + "\n", encoding="utf-8")
    path.chmod(0o600)
    return key
