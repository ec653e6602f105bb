"""Saved replies (issue 22, item 9): list (agents and admins), add and remove (admins). The console reads the list
once per sign-in and filters it as the agent types `/` and a few letters; nothing here runs per message."""

from __future__ import annotations

from chat_core.core import Core
from chat_core.domain import authz
from chat_core.domain.replies import MAX_REPLIES, SavedReply
from chat_core.errors import Conflict, NotFound
from chat_core.infra.connection import RowExists, RowMissing


def all_replies(core: Core) -> list[SavedReply]:
    """GET list-sessions /replies: one request."""
    return core.gateway.replies.all()


def add(core: Core, shortcut: str, text: str) -> SavedReply:
    """POST list-sessions /replies: a new shortcut (409 `reply_exists` if taken; remove it first to change it).
    Bounded: past MAX_REPLIES, 409 `too_many_replies` (a count first: two requests)."""
    if core.gateway.replies.count() >= MAX_REPLIES:
        raise Conflict(f"there are {MAX_REPLIES} saved replies already; remove one first", code="too_many_replies")
    try:
        return core.gateway.replies.create(SavedReply(shortcut=shortcut, text=text,
                                                      created_by=authz.recorded_actor(core.caller)))
    except RowExists:
        raise Conflict(f"/{shortcut} exists already; remove it first to change it", code="reply_exists") from None


def remove(core: Core, shortcut: str) -> None:
    """DELETE list-sessions /replies/{shortcut}: one request (404 `reply_not_found`)."""
    try:
        core.gateway.replies.delete(shortcut)
    except RowMissing:
        raise NotFound(f"no saved reply /{shortcut}", code="reply_not_found") from None
