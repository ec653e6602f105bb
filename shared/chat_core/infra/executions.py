"""Executions of other functions, as any client makes them (the key needs the `execution.write` scope)."""

from __future__ import annotations

import json
from typing import Any

from chat_core.infra.connection import Connection, call


class Executions:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def run(self, function_id: str, body: Any, *, path: str = "/", method: str = "POST",
            headers: dict[str, str] | None = None) -> tuple[int, Any]:
        """A synchronous execution of another function. Returns the function's status and its JSON answer (None
        when not JSON). Never retried here: it may write, and only the caller knows whether a repeat is safe."""
        from appwrite.services.functions import Functions  # a cold-start cost only the functions that call others pay

        execution = call(Functions(self._conn.client()).create_execution, function_id, body=json.dumps(body),
                         xasync=False, path=path, method=method,
                         headers={"content-type": "application/json", **(headers or {})})
        try:
            answer = json.loads(execution.responsebody or "null")
        except ValueError:
            answer = None
        return int(execution.responsestatuscode or 0), answer
