"""What the local stack's Functions runtime works with (``devstack.functions``): a function's settings, who calls it
and whether their roles may execute it (Appwrite's execute roles; no teams on the stack), one execution to run, and
the error answered in Appwrite's shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


class KeyStore(Protocol):
    """What the runtime needs from ``devstack.rest.KeyRing``."""

    def add(self, key: str, scopes: set[str] | None) -> None: ...

    def check(self, key: str, scope: str) -> Any: ...


class ApiError(Exception):
    """An error answered to the client in Appwrite's shape ``{message, code, type, version}``."""

    def __init__(self, code: int, type_: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.type = type_
        self.message = message


# --------------------------------------------------------------------------- loading


@dataclass(frozen=True)
class FunctionSpec:
    id: str
    name: str
    entrypoint: Path
    execute: tuple[str, ...] = ()
    events: tuple[str, ...] = ()
    scopes: frozenset[str] = frozenset()
    schedule: str = ""
    timeout: int = 15
    enabled: bool = True


@dataclass(frozen=True)
class Caller:
    """Who asks for an execution. ``api_key`` without ``user_id`` is a server (always allowed)."""

    user_id: str = ""
    labels: tuple[str, ...] = ()
    api_key: bool = False


GUEST = Caller()


def caller_roles(caller: Caller) -> set[str]:
    if not caller.user_id:
        return {"any", "guests"}
    return {"any", "users", f"user:{caller.user_id}", *(f"label:{label}" for label in caller.labels)}


def may_execute(spec: FunctionSpec, caller: Caller) -> bool:
    """Appwrite's execute roles; ``team:X`` never matches (the local stack has no teams)."""
    if caller.api_key and not caller.user_id:
        return True
    return bool(caller_roles(caller) & set(spec.execute))



# --------------------------------------------------------------------------- execution


@dataclass
class ExecRequest:
    """One execution to run: the request the function sees, minus what Appwrite adds."""

    trigger: str = "http"
    method: str = "POST"
    path: str = "/"
    headers: dict[str, str] = field(default_factory=dict)
    body: str | bytes = ""
    caller: Caller = GUEST
    event: str = ""
    client_ip: str = ""
    user_jwt: str = ""  # x-appwrite-user-jwt: only for callers with a session (docs/platform.md)
