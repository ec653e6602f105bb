"""The context every operation takes: who calls, when, with which settings, and the gateway to Appwrite.

It sits below the operations so that any of them can import it (no operation imports another to get it)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from chat_core.config import Settings
from chat_core.domain.authz import Caller
from chat_core.infra.gateway import Gateway


@dataclass
class Core:
    gateway: Gateway
    settings: Settings
    caller: Caller
    now: datetime
    log: Callable[[str], None] = print
