"""Who the visitor talks to: the agents' names (their Appwrite user's `name`), for the answers the widget reads.

Cost: one Users read per agent and warm instance every 10 minutes (`infra.users.NAME_CACHE_SECONDS`), none when an
agent's own JWT was verified by the same instance meanwhile; a name that cannot be read (no `users.read` scope,
Appwrite failing) is "" for a minute and the answer stands."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chat_core.core import Core


def names(core: Core, user_ids: Iterable[str | None]) -> dict[str, str]:
    """The names of these users, by ID ("" for a user without one)."""
    return {uid: core.gateway.users.display_name(uid) for uid in dict.fromkeys(u for u in user_ids if u)}
