"""Deployments: upload (chunked), build, activation, and the warm runtimes that execute an activated build.

Upload (``Functions/Http/Deployments/Create.php``, 1.8.1): the code arrives as a ``.tar.gz`` in the multipart field
``code``; over 5 MB the CLI sends 5 MB chunks with ``content-range: bytes start-end/size`` and, after the first,
``x-appwrite-id: <deployment id>``. The deployment exists from the first chunk on (``status: waiting``); once every
chunk is in, the build is queued.

Build (``Functions/Workers/Builds.php`` and open-runtimes ``helpers/lifecycle/build.sh`` with the Python
``build-prepare`` hook): status ``processing`` then ``building``; the archive is extracted into the code folder, a
fresh virtualenv ``runtime-env`` is made in it and activated, and the function's ``commands`` run there with
``bash -c``; the output becomes ``buildLogs``. A command that fails makes the deployment ``failed`` with the log;
otherwise it is ``ready``. pip's own cache is left on (open-runtimes keeps a build cache between builds), so
rebuilding with the same requirements does not download them again.

Activation: a ready deployment created with ``activate`` becomes the function's ``deploymentId`` unless the active
one is more recent; ``PATCH /functions/{id}/deployment`` activates one by hand. From then on executions of the
function run that build in its own interpreter (``devstack.runner``), with the function's variables and the
``APPWRITE_*`` variables of ``Executions/Create.php`` as environment. Variables are applied to the next execution
(Appwrite passes them with every execution; the stack restarts the warm runtimes when they change).

The warm runtimes themselves are ``devstack.runner_pool``.
"""

from __future__ import annotations

import logging
import math
import os
import re
import shutil
import subprocess
import sys
import tarfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .engine import EngineError
from .functions import FunctionRuntime, FunctionSpec, Scheduler
from .project import ProjectState, stamp, unique_id
from .runner_pool import RunnerPool

log = logging.getLogger("devstack.builds")

BUILD_TIMEOUT = 900  # _APP_COMPUTE_BUILD_TIMEOUT default
SIZE_LIMIT = 30_000_000  # _APP_COMPUTE_SIZE_LIMIT default: the largest code archive
WORKING_TREE = "local"  # the deployment ID of a function served from the working tree (no build)
_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")
_PUBLIC = ("$id", "$createdAt", "$updatedAt", "type", "resourceId", "resourceType", "entrypoint", "sourceSize",
           "buildSize", "totalSize", "buildId", "activate", "screenshotLight", "screenshotDark", "status",
           "buildLogs", "buildDuration", "providerRepositoryName", "providerRepositoryOwner", "providerRepositoryUrl",
           "providerCommitHash", "providerCommitAuthorUrl", "providerCommitAuthor", "providerCommitMessage",
           "providerCommitUrl", "providerBranch", "providerBranchUrl")



def _log_line(text: str) -> str:
    return f"[{time.strftime('%H:%M:%S')}] [open-runtimes] {text}\n"


class Deployments:
    """Uploads, builds and activations of one stack; keeps ``runtime`` in step with the project's functions."""

    def __init__(self, state: ProjectState, runtime: FunctionRuntime, scheduler: Scheduler, data_dir: Path,
                 root: Path, env: dict[str, str], builders: int = 2) -> None:
        self.state, self.runtime, self.scheduler = state, runtime, scheduler
        self.archives = data_dir / "deployments"
        self.builds = data_dir / "builds"
        self.root = root  # the working tree, for functions whose deployment is WORKING_TREE
        self.env = env  # APPWRITE_FUNCTION_API_ENDPOINT, APPWRITE_FUNCTION_PROJECT_ID, ...
        self._pool = ThreadPoolExecutor(max_workers=builders, thread_name_prefix="devstack-build")
        self._lock = threading.Lock()
        self._building = 0
        self._idle = threading.Condition(self._lock)
        self._runners: dict[str, RunnerPool] = {}
        state.on_functions = self.sync
        for deployment in state.values("deployments"):  # a build the stack stopped in the middle of
            if deployment["status"] in ("processing", "building"):
                self._set(deployment["$id"], status="failed",
                          buildLogs=deployment["buildLogs"] + "The stack stopped during the build.\n")

    # ---- models

    @staticmethod
    def view(deployment: dict[str, Any]) -> dict[str, Any]:
        return {k: deployment.get(k) for k in _PUBLIC}

    def archive_path(self, deployment_id: str) -> Path | None:
        path = self.archives / f"{deployment_id}.tar.gz"
        return path if path.is_file() else None

    # ---- upload

    def upload(self, function: dict[str, Any], entrypoint: str, commands: str, activate: bool, content: bytes,
               content_range: str, upload_id: str, type_: str) -> dict[str, Any]:
        chunk, chunks, size = 1, 1, len(content)
        deployment_id = unique_id()
        if content_range:
            match = _RANGE.match(content_range.strip())
            start, end, size = (int(g) for g in match.groups()) if match else (-1, -1, -1)
            if not match or start > end or end > size:
                raise EngineError(400, "storage_invalid_content_range", "The content range is invalid.")
            deployment_id = upload_id or deployment_id
            if end in (size - 1, size):
                chunk = chunks = -1  # the last chunk: its number comes from the stored deployment
            else:
                chunks = math.ceil(size / (end + 1 - start))
                chunk = start // (end + 1 - start) + 1
        if size > SIZE_LIMIT:
            raise EngineError(400, "storage_invalid_file_size", "File size not allowed.")
        existing = self.state.get("deployments", deployment_id)
        if existing is not None:
            if existing["resourceId"] != function["$id"] or existing["status"] != "waiting":
                raise EngineError(400, "storage_invalid_content_range", "The upload is already complete.")
            chunks = existing["_chunksTotal"]
            chunk = chunks if chunk == -1 else chunk
        elif chunk == -1:
            chunk = chunks = 1
        parts = self.archives / f"{deployment_id}.parts"
        parts.mkdir(parents=True, exist_ok=True)
        (parts / f"{chunk:06d}").write_bytes(content)
        uploaded = len(list(parts.iterdir()))
        created = existing["$createdAt"] if existing else stamp()
        deployment = existing or {
            "$id": deployment_id, "$createdAt": created, "type": type_, "resourceId": function["$id"],
            "resourceType": "functions", "entrypoint": entrypoint, "_commands": commands, "sourceSize": 0,
            "buildSize": 0, "totalSize": 0, "buildId": "", "activate": activate, "screenshotLight": "",
            "screenshotDark": "", "status": "waiting", "buildLogs": "", "buildDuration": 0,
            **{k: "" for k in _PUBLIC if k.startswith("provider")}, "_chunksTotal": chunks}
        deployment.update({"$updatedAt": stamp(), "_chunksUploaded": uploaded})
        complete = uploaded >= chunks
        if complete:
            archive = self.archives / f"{deployment_id}.tar.gz"
            with archive.open("wb") as out:
                for part in sorted(parts.iterdir()):
                    out.write(part.read_bytes())
            shutil.rmtree(parts)
            deployment["sourceSize"] = deployment["totalSize"] = archive.stat().st_size
        self.state.put("deployments", deployment_id, deployment)
        if existing is None:
            def latest(item: dict[str, Any]) -> None:
                item.update(latestDeploymentId=deployment_id, latestDeploymentCreatedAt=created,
                            latestDeploymentStatus="waiting")
            self.state.update("functions", function["$id"], latest)
        if complete:
            with self._lock:
                self._building += 1
            self._pool.submit(self._build, deployment_id)
        return deployment

    # ---- build

    def wait_builds(self, timeout: float = 600) -> bool:
        """True once no build is queued or running (tests and the deploy helper; no polling)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._building == 0, timeout)

    def _set(self, deployment_id: str, **values: Any) -> dict[str, Any]:
        def change(item: dict[str, Any]) -> None:
            item.update(values, **{"$updatedAt": stamp()})
        deployment = self.state.update("deployments", deployment_id, change)
        if "status" in values:
            function = self.state.get("functions", deployment["resourceId"]) or {}
            if function.get("latestDeploymentId") == deployment_id:
                self.state.update("functions", deployment["resourceId"],
                                  lambda item: item.update(latestDeploymentStatus=values["status"]))
        return deployment

    def _build(self, deployment_id: str) -> None:
        started = time.monotonic()
        logs = ""
        try:
            self._set(deployment_id, status="processing")
            deployment = self._set(deployment_id, status="building")
            build = self.builds / deployment_id
            shutil.rmtree(build, ignore_errors=True)
            code = build / "src" / "function"
            code.mkdir(parents=True)
            logs += _log_line("Environment preparation started.")
            with tarfile.open(self.archives / f"{deployment_id}.tar.gz", "r:gz") as archive:
                archive.extractall(code, filter="data")
            venv = code / "runtime-env"
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=300)
            logs += _log_line("Environment preparation finished.")
            logs += _log_line("Build command execution started.")
            env = {"PATH": f"{venv / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}", "VIRTUAL_ENV": str(venv),
                   "HOME": os.environ.get("HOME", str(build)), "LANG": "C.UTF-8",
                   "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
            for name in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_CACHE_DIR", "XDG_CACHE_HOME"):
                if name in os.environ:
                    env[name] = os.environ[name]
            done = subprocess.run(["bash", "-c", deployment["_commands"]], cwd=code, env=env, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=BUILD_TIMEOUT)
            logs += done.stdout.decode("utf-8", "replace")
            if done.returncode != 0:
                raise RuntimeError(f"Build command failed with exit code {done.returncode}.")
            logs += _log_line("Build command execution finished.")
            if not (code / deployment["entrypoint"]).is_file():
                raise RuntimeError(f"Entrypoint {deployment['entrypoint']} is not in the code.")
            size = sum(p.stat().st_size for p in build.rglob("*") if p.is_file() and not p.is_symlink())
            logs += f"[{time.strftime('%H:%M:%S')}] [appwrite] Deployment finished.\n"
            self._set(deployment_id, status="ready", buildLogs=logs, buildSize=size, buildId=deployment_id,
                      totalSize=size + deployment["sourceSize"], buildDuration=math.ceil(time.monotonic() - started))
            if deployment["activate"]:
                self._auto_activate(deployment_id)
        except Exception as exc:  # any failure ends as a failed deployment with its log; the stack goes on
            log.warning("build %s failed: %s", deployment_id, exc)
            self._set(deployment_id, status="failed", buildLogs=logs + f"{exc}\n",
                      buildDuration=math.ceil(time.monotonic() - started))
        finally:
            with self._lock:
                self._building -= 1
                self._idle.notify_all()

    # ---- activation

    def _auto_activate(self, deployment_id: str) -> None:
        deployment = self.state.get("deployments", deployment_id) or {}
        function = self.state.get("functions", deployment["resourceId"]) or {}
        current = self.state.get("deployments", function.get("deploymentId") or "")
        if current is not None and current["$createdAt"] > deployment["$createdAt"]:
            log.info("skipping auto-activation of %s: the active deployment is more recent", deployment_id)
            return
        self.activate(function["$id"], deployment)

    def activate(self, function_id: str, deployment: dict[str, Any]) -> dict[str, Any]:
        def change(item: dict[str, Any]) -> None:
            item.update(live=True, deploymentId=deployment["$id"], deploymentCreatedAt=deployment["$createdAt"])
        return self.state.update("functions", function_id, change)

    # ---- the runtime follows the project

    def sync(self) -> None:
        """Make ``runtime`` serve what the project holds: settings, active deployments, variables."""
        with self._lock:
            functions = self.state.values("functions")
            variables = self.state.values("variables")
            known = {f["$id"] for f in functions}
            for function in functions:
                self._sync_one(function, {v["key"]: v["value"] for v in variables
                                          if v["resourceId"] == function["$id"]})
            for gone in set(self.runtime.functions) - known:
                self.runtime.functions.pop(gone, None)
            self.scheduler.refresh()

    def _sync_one(self, function: dict[str, Any], variables: dict[str, str]) -> None:
        fid, active = function["$id"], function.get("deploymentId") or ""
        if active == WORKING_TREE:
            entrypoint = (self.root / function.get("_path", ".") / function["entrypoint"]).resolve()
        else:
            entrypoint = self.builds / active / "src" / "function" / function["entrypoint"]
        self.runtime.functions[fid] = FunctionSpec(
            id=fid, name=function["name"], entrypoint=entrypoint, execute=tuple(function["execute"]),
            events=tuple(function["events"]), scopes=frozenset(function["scopes"]), schedule=function["schedule"],
            timeout=int(function["timeout"]), enabled=bool(function["enabled"]))
        deployment = self.state.get("deployments", active) if active and active != WORKING_TREE else None
        if active == WORKING_TREE:
            self.runtime.undeployed.discard(fid)
            self._retire(fid)
        elif deployment is None or deployment["status"] != "ready":
            self.runtime.undeployed.add(fid)
            self._retire(fid)
        else:
            self.runtime.undeployed.discard(fid)
            env = {**self.env, **variables, "APPWRITE_FUNCTION_ID": fid, "APPWRITE_FUNCTION_NAME": function["name"],
                   "APPWRITE_FUNCTION_DEPLOYMENT": active, "APPWRITE_DEPLOYMENT_TYPE": deployment["type"]}
            current = self._runners.get(fid)
            if current is None or current.deployment_id != active or current.env != env:
                self._retire(fid)
                pool = RunnerPool(active, self.builds / active / "src", function["entrypoint"], env)
                self._runners[fid] = self.runtime.runners[fid] = pool

    def _retire(self, fid: str) -> None:
        self.runtime.runners.pop(fid, None)
        pool = self._runners.pop(fid, None)
        if pool is not None:
            pool.close()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            for fid in list(self._runners):
                self._retire(fid)
