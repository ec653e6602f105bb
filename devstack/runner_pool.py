"""The warm runtimes that execute an activated build on the local stack (``devstack.builds`` activates it): up to
``WORKERS_PER_FUNCTION`` interpreters of the build's own ``runtime-env`` per deployment, each running
``devstack/runner.py`` (open-runtimes' Python server in miniature) and serving one execution at a time over a pipe.
"""

from __future__ import annotations

import base64
import json
import select
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from .context import RuntimeContext

WORKERS_PER_FUNCTION = 4
RUNNER = Path(__file__).with_name("runner.py")
CONTEXT = Path(__file__).with_name("context.py")


class _Worker:
    def __init__(self, python: Path, src: Path, entrypoint: str, env: dict[str, str]) -> None:
        self.process = subprocess.Popen([str(python), "-I", str(RUNNER), str(src), entrypoint, str(CONTEXT)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, cwd=src)

    def ask(self, request: dict[str, Any], timeout: float) -> dict[str, Any] | None:
        """The answer, or None when the runtime died or did not answer in time (then it is killed)."""
        assert self.process.stdin is not None and self.process.stdout is not None
        try:
            self.process.stdin.write(json.dumps(request).encode() + b"\n")
            self.process.stdin.flush()
            ready, _, _ = select.select([self.process.stdout], [], [], timeout)
            line = self.process.stdout.readline() if ready else b""
        except (BrokenPipeError, OSError):
            line = b""
        if not line:
            self.kill()
            return None
        return json.loads(line)

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()


class RunnerPool:
    """Up to ``WORKERS_PER_FUNCTION`` warm runtimes of one deployment; each runs one execution at a time."""

    def __init__(self, deployment_id: str, src: Path, entrypoint: str, env: dict[str, str]) -> None:
        self.deployment_id, self.src, self.entrypoint, self.env = deployment_id, src, entrypoint, env
        self.python = src / "function" / "runtime-env" / "bin" / "python"
        self._idle: list[_Worker] = []
        self._count = 0
        self._closed = False
        self._state = threading.Condition()

    def call(self, context: RuntimeContext, timeout: float) -> dict[str, Any]:
        """Run one execution; fills ``context.logs``/``errors`` and returns the _Outcome fields."""
        deadline = time.monotonic() + timeout
        worker = self._take(deadline)
        if worker is None:
            return {"status": 500, "error": f"Operation timed out after {timeout:g} seconds."}
        # The path and query stay apart: a decoded path may hold a "?" of its own (%3F).
        request = {"method": context.req.method, "path": context.req.path, "queryString": context.req.query_string,
                   "headers": context.req.headers,
            "body": base64.b64encode(context.req.body_binary).decode(), "url": context.req.url}
        answer = worker.ask(request, max(0.0, deadline - time.monotonic()))
        self._give_back(worker)
        if answer is None:
            return {"status": 500, "error": f"Operation timed out after {timeout:g} seconds."
                    if time.monotonic() >= deadline else "The runtime stopped before answering."}
        context.logs.extend(answer["logs"])
        context.errors.extend(answer["errors"])
        return {"status": answer["status"], "body": base64.b64decode(answer["body"]), "headers": answer["headers"]}

    def _take(self, deadline: float) -> _Worker | None:
        with self._state:
            while True:
                while self._idle:
                    worker = self._idle.pop()
                    if worker.alive():
                        return worker
                    self._count -= 1
                if self._count < WORKERS_PER_FUNCTION and not self._closed:
                    self._count += 1
                    break
                left = deadline - time.monotonic()
                if left <= 0 or not self._state.wait(left):
                    return None
        try:
            return _Worker(self.python, self.src, self.entrypoint, self.env)
        except OSError:
            with self._state:
                self._count -= 1
            raise

    def _give_back(self, worker: _Worker) -> None:
        with self._state:
            if worker.alive() and not self._closed:
                self._idle.append(worker)
            else:
                self._count -= 1
                worker.kill()
            self._state.notify()

    def close(self) -> None:
        with self._state:
            self._closed = True
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.kill()
