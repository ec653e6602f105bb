"""Configuration from the function's variables (environment). Read per request: cheap, and tests can patch it.

`Settings` is a NamedTuple (a copy with other values: `settings._replace(...)`): every function's import creates the
class, and a frozen dataclass of 30 fields cost about 1 ms of each cold import (issue 20, item 6)."""

from __future__ import annotations

import os
from typing import NamedTuple

DEFAULT_HANDOFF_PHRASES = (
    "human", "real person", "a person", "an agent", "live agent", "speak to someone",
    "talk to someone", "representative", "customer service", "operator",
)


# The oldest Appwrite whose conditional writes and bounded increments really lock the row: utopia-php/database
# 5.9.1 (commit ef47859a, "bypass cache for locking document reads") ships from Appwrite 1.9.5 on (docs/platform.md).
SUPPORTED_APPWRITE = (1, 9, 5)


def platform_warning(env: dict[str, str] | None = None) -> str | None:
    """A warning for the function's log when the runtime's `APPWRITE_VERSION` (Appwrite sets it in every function's
    environment) is older than the supported line; None when it is supported, or unknown."""
    env = os.environ if env is None else env
    raw = env.get("APPWRITE_VERSION", "").strip()
    parts = raw.split("-")[0].split(".")
    if not raw or not all(part.isascii() and part.isdigit() for part in parts):
        return None
    if tuple(int(part) for part in parts) >= SUPPORTED_APPWRITE:
        return None
    minimum = ".".join(map(str, SUPPORTED_APPWRITE))
    return (f"WARNING: this Appwrite is {raw}; the chat functions need {minimum} or later. Before {minimum}, "
            "Appwrite served a write's locking read from its cache, so two agents can both claim one session, an "
            "agent can pass their capacity and a budget can be overspent. Upgrade Appwrite (docs/platform.md).")


class Settings(NamedTuple):
    """The function's variables, parsed (`from_env`); the defaults are the documented ones (docs/deploy.md)."""

    endpoint: str
    project_id: str
    database_id: str = "chat"
    admin_secret: str = ""
    bot_secret: str = ""
    agent_label: str = "agent"
    admin_label: str = "admin"
    handoff_phrases: tuple[str, ...] = DEFAULT_HANDOFF_PHRASES
    idle_close_minutes: int = 30
    max_messages_per_minute: int = 20
    # Per-minute budgets (see `budgets`): 0 for a guest budget means "only signed-in visitors".
    sessions_per_minute: int = 600
    guest_sessions_per_minute: int = 60
    user_sessions_per_minute: int = 5
    guest_messages_per_minute: int = 600
    user_messages_per_minute: int = 60
    guest_escalations_per_minute: int = 20
    user_escalations_per_minute: int = 5
    guest_heartbeats_per_minute: int = 120
    user_heartbeats_per_minute: int = 10
    empty_session_minutes: int = 10
    upstream_timeout_seconds: float = 10.0
    label_cache_seconds: int = 60
    # Availability, auto-assignment and the queue (chat_core.availability, assignment, queueing).
    auto_assign: bool = True
    agent_capacity: int = 5
    agent_away_seconds: int = 90
    queue_rate_minutes: int = 30
    # The FAQ bot answers a visitor's message in the visitor's own write (ops.messages), unless BOT_INLINE is off.
    # With a model (BOT_LLM_ENDPOINT) only a message asking for a person is answered there (the model is not asked
    # about those either): the `bot` function answers the rest on the message's event.
    bot_inline: bool = True
    bot_model: bool = False

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        phrases = env.get("HANDOFF_PHRASES")
        return cls(
            endpoint=env.get("APPWRITE_FUNCTION_API_ENDPOINT", "").rstrip("/"),
            project_id=env.get("APPWRITE_FUNCTION_PROJECT_ID", ""),
            database_id=env.get("DATABASE_ID", "chat"),
            admin_secret=env.get("ADMIN_SECRET", ""),
            bot_secret=env.get("BOT_SECRET", ""),
            agent_label=env.get("AGENT_LABEL", "agent"),
            admin_label=env.get("ADMIN_LABEL", "admin"),
            handoff_phrases=_phrases(phrases) if phrases is not None else DEFAULT_HANDOFF_PHRASES,
            idle_close_minutes=_positive_int(env, "IDLE_CLOSE_MINUTES", 30),
            max_messages_per_minute=_positive_int(env, "MAX_MESSAGES_PER_MINUTE", 20),
            sessions_per_minute=_positive_int(env, "SESSIONS_PER_MINUTE", 600),
            guest_sessions_per_minute=_positive_int(env, "GUEST_SESSIONS_PER_MINUTE", 60, allow_zero=True),
            user_sessions_per_minute=_positive_int(env, "USER_SESSIONS_PER_MINUTE", 5),
            guest_messages_per_minute=_positive_int(env, "GUEST_MESSAGES_PER_MINUTE", 600, allow_zero=True),
            user_messages_per_minute=_positive_int(env, "USER_MESSAGES_PER_MINUTE", 60),
            guest_escalations_per_minute=_positive_int(env, "GUEST_ESCALATIONS_PER_MINUTE", 20, allow_zero=True),
            user_escalations_per_minute=_positive_int(env, "USER_ESCALATIONS_PER_MINUTE", 5),
            guest_heartbeats_per_minute=_positive_int(env, "GUEST_HEARTBEATS_PER_MINUTE", 120, allow_zero=True),
            user_heartbeats_per_minute=_positive_int(env, "USER_HEARTBEATS_PER_MINUTE", 10),
            empty_session_minutes=_positive_int(env, "EMPTY_SESSION_MINUTES", 10),
            upstream_timeout_seconds=float(_positive_int(env, "UPSTREAM_TIMEOUT_SECONDS", 10)),
            label_cache_seconds=_positive_int(env, "LABEL_CACHE_SECONDS", 60, allow_zero=True),
            auto_assign=env.get("AUTO_ASSIGN", "on").strip().lower() not in ("off", "false", "0", "no"),
            agent_capacity=_positive_int(env, "AGENT_CAPACITY", 5, allow_zero=True),
            agent_away_seconds=_positive_int(env, "AGENT_AWAY_SECONDS", 90),
            queue_rate_minutes=_positive_int(env, "QUEUE_RATE_MINUTES", 30),
            bot_inline=env.get("BOT_INLINE", "on").strip().lower() not in ("off", "false", "0", "no"),
            bot_model=bool(env.get("BOT_LLM_ENDPOINT", "").strip()),
        )


def _phrases(raw: str) -> tuple[str, ...]:
    return tuple(p.strip().lower() for p in raw.split(",") if p.strip())


def _positive_int(env, name: str, default: int, allow_zero: bool = False) -> int:
    # A misconfigured variable falls back to the default rather than breaking every request.
    try:
        value = int(env.get(name, default))
    except ValueError:
        return default
    return value if value > 0 or (allow_zero and value == 0) else default
