"""Configuration and the one way the CLI talks to the backend: a synchronous function execution.

Settings come from the command's options, then the environment, then a `.env` in the working directory, then the
project's `.env` (read as python-dotenv reads it), then defaults that fit the local stack (`make run`): endpoint
http://127.0.0.1:8787/v1, the project of appwrite.json, the dev API key kept in .local/api-key, acting as the dev
admin `admin-ada`. The project is the nearest folder holding appwrite.json from the working directory up, else the
repository this CLI was installed from (the dev venv's editable install), so `sessions` works from any folder.

    CHAT_ENDPOINT      Appwrite endpoint, with /v1
    CHAT_PROJECT       project ID
    CHAT_API_KEY       API key with execution.write (the local stack's is read from .local/api-key)
    CHAT_ADMIN_SECRET  the functions' ADMIN_SECRET, sent as `X-Chat-Secret` (admin rights)
    CHAT_JWT           an Appwrite account JWT of an agent or admin: Appwrite runs the execution as that user
                       (`X-Appwrite-JWT`) and the functions verify it (`X-Chat-JWT`); the way on a real server
    CHAT_AS_USER       act as this user (the local stack's dev-only impersonation; real servers don't offer it)
    CHAT_DEVSTACK_DATA the local stack's data folder (default .local)
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from appwrite.client import Client
from appwrite.enums.execution_method import ExecutionMethod
from appwrite.exception import AppwriteException
from appwrite.services.functions import Functions

from tools.envfile import read_env_file

DEFAULT_ENDPOINT = "http://127.0.0.1:8787/v1"
DEFAULT_PROJECT = "chat-widget"
DEV_ADMIN = "admin-ada"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}

EXIT_OK, EXIT_API, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3


class CliError(Exception):
    """One line for stderr and the exit code: 1 the backend said no (4xx), 3 unreachable or broken (5xx)."""

    def __init__(self, message: str, exit_code: int = EXIT_API, answer: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.answer = answer


@dataclass(frozen=True)
class Config:
    endpoint: str = DEFAULT_ENDPOINT
    project: str = DEFAULT_PROJECT
    api_key: str = ""
    admin_secret: str = ""
    jwt: str = ""
    as_user: str = ""
    missing: str = ""  # what the local stack's key was looked for in, said when the stack refuses the call

    @property
    def local(self) -> bool:
        return (urlsplit(self.endpoint).hostname or "") in LOOPBACK

    def who(self) -> str:
        if self.as_user:
            return f"as {self.as_user}"
        if self.jwt:
            return "with a JWT"
        return "with the admin secret" if self.admin_secret else "with the API key"


INSTALLED_FROM = Path(__file__).resolve().parents[2]  # the repository of the dev venv's editable install


def project_root(cwd: Path, installed_from: Path = INSTALLED_FROM) -> Path | None:
    """The nearest folder holding appwrite.json, from `cwd` up; else the repository the CLI comes from; else None."""
    for folder in (cwd, *cwd.parents):
        if (folder / "appwrite.json").is_file():
            return folder
    return installed_from if (installed_from / "appwrite.json").is_file() else None


def load_config(env: dict[str, str] | None = None, cwd: Path | None = None, as_user: str | None = None,
                endpoint: str | None = None, warn: Callable[[str], None] | None = None,
                installed_from: Path = INSTALLED_FROM) -> Config:
    """Settings from `env` (default os.environ), else ./.env, else the project's .env, else the local stack's
    defaults; options win. Without the local stack's key, `missing` says where it was looked for."""
    here = Path.cwd() if cwd is None else cwd
    root = project_root(here.resolve(), installed_from)
    files = [Path(".env") if cwd is None else cwd / ".env"]  # warnings name it as the user would
    if root is not None and root != here.resolve():
        files.insert(0, root / ".env")
    values: dict[str, str] = {}
    for dotenv in map(read_env_file, files):  # the working directory's .env wins over the project's
        for line in dotenv.warnings if warn else ():
            warn(line)
        values.update(dotenv.values)
    values.update(os.environ if env is None else env)

    def get(name: str) -> str:
        return (values.get(name) or "").strip()

    endpoint = (endpoint or get("CHAT_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")
    project = get("CHAT_PROJECT") or (_project_of(root / "appwrite.json") if root else DEFAULT_PROJECT)
    config = Config(endpoint=endpoint, project=project, api_key=get("CHAT_API_KEY"),
                    admin_secret=get("CHAT_ADMIN_SECRET"), jwt=get("CHAT_JWT"), as_user=as_user or get("CHAT_AS_USER"))
    if config.local and not (config.api_key or config.jwt):  # the local stack keeps its dev key in its data folder
        data = Path(get("CHAT_DEVSTACK_DATA") or ".local")
        tried = [data] if data.is_absolute() else list(dict.fromkeys([here / data, *([root / data] if root else [])]))
        key_file = next((folder / "api-key" for folder in tried if (folder / "api-key").is_file()), None)
        config = (replace(config, missing=_missing_key(tried, root)) if key_file is None
                  else replace(config, api_key=key_file.read_text(encoding="utf-8").strip()))
    if config.local and not (config.as_user or config.admin_secret or config.jwt):
        config = replace(config, as_user=DEV_ADMIN)
    return config


def _missing_key(tried: list[Path], root: Path | None) -> str:
    where = " or ".join(str(folder / "api-key") for folder in tried)
    start = f"start the stack with `make run` in {root}" if root else "run it from the repository (make run there)"
    return (f"no API key for the local stack: CHAT_API_KEY is not set and there is no {where}; {start}, or set "
            "CHAT_API_KEY (and CHAT_ENDPOINT, CHAT_PROJECT) in the environment or a .env here; for `make run "
            "DATA=...` set CHAT_DEVSTACK_DATA to that folder")


def _project_of(appwrite_json: Path) -> str:
    try:
        return json.loads(appwrite_json.read_text(encoding="utf-8")).get("projectId") or DEFAULT_PROJECT
    except (OSError, ValueError):
        return DEFAULT_PROJECT


class Api:
    """`call(function, method, path)` runs one synchronous execution and returns the function's JSON answer."""

    def __init__(self, config: Config) -> None:
        self.config = config
        client = Client().set_endpoint(config.endpoint).set_project(config.project)
        if config.jwt:  # a signed-in agent: Appwrite's execute rights follow the user, not a key
            client.set_jwt(config.jwt)
        elif config.api_key:
            client.set_key(config.api_key)
        if config.as_user:
            client.add_header("x-appwrite-impersonate-user-id", config.as_user)
        self.functions = Functions(client)

    def call(self, function_id: str, method: str, path: str, body: Any = None,
             query: dict[str, Any] | None = None) -> dict:
        query = {k: v for k, v in (query or {}).items() if v is not None}
        full_path = path + ("?" + urlencode(query) if query else "")
        headers = {"content-type": "application/json"}
        if self.config.admin_secret:
            headers["x-chat-secret"] = self.config.admin_secret
        if self.config.jwt:
            headers["x-chat-jwt"] = self.config.jwt
        try:
            execution = self.functions.create_execution(
                function_id, body=json.dumps(body) if body is not None else "", xasync=False, path=full_path,
                method=ExecutionMethod(method), headers=headers)
        except AppwriteException as exc:
            raise self._appwrite_error(function_id, exc) from None
        except Exception as exc:  # noqa: BLE001 - e.g. an HTML page where the API should be
            raise CliError(f"unexpected answer from {self.config.endpoint}: {type(exc).__name__}",
                           EXIT_UNREACHABLE) from None
        return _answer(function_id, execution.responsestatuscode, execution.responsebody)

    def _appwrite_error(self, function_id: str, exc: AppwriteException) -> CliError:
        endpoint, code = self.config.endpoint, exc.code
        if not code:
            hint = " (is the local stack running? make run)" if self.config.local else ""
            return CliError(f"cannot reach {endpoint}{hint}", EXIT_UNREACHABLE)
        message = _first_line(exc.message)
        if code == 401 and self.config.missing:
            return CliError(f"{endpoint} answered 401: {self.config.missing}", EXIT_API)
        if code == 401:
            return CliError(f"{endpoint} answered 401: {message} (check CHAT_API_KEY / CHAT_PROJECT)", EXIT_API)
        if code == 404 and exc.type == "function_not_found":
            return CliError(f"function {function_id} is not deployed at {endpoint}", EXIT_API)
        return CliError(f"{endpoint} answered {code}: {message}", EXIT_API if code < 500 else EXIT_UNREACHABLE)


def _answer(function_id: str, status: int, text: str) -> dict:
    try:
        data = json.loads(text) if text else {}
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise CliError(f"{function_id} answered {status} without JSON", EXIT_UNREACHABLE)
    if status >= 400 or not status:
        error = data.get("error") if isinstance(data.get("error"), dict) else {}
        code, message = error.get("code", "error"), _first_line(str(error.get("message", "failed")))
        if error.get("assignedAgent"):
            message += f" (assigned to {error['assignedAgent']})"
        raise CliError(f"{code}: {message}", EXIT_API if 400 <= status < 500 else EXIT_UNREACHABLE, answer=data)
    return data


def _first_line(text: str) -> str:
    return (text or "").strip().splitlines()[0][:300] if (text or "").strip() else "no message"
