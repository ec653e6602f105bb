"""Saved replies (issue 22, item 9): the canned answers admins keep and agents insert with `/` and a few letters.

A reply is named by its shortcut (lower-case letters, digits and '-', as an agent types it after `/`); its row ID
is derived from the shortcut, so the table holds a shortcut once without a read before the write."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import NamedTuple

SHORTCUT_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,31}\Z")
REPLY_TEXT_MAX = 4000  # a message's bound: the reply is sent as one
MAX_REPLIES = 200      # the whole list is read at once (one request) and offered in the console's picker


class SavedReply(NamedTuple):
    """One saved reply, as stored (`created_by`, `created_at`: None before it is)."""

    shortcut: str
    text: str
    created_by: str | None = None
    created_at: datetime | None = None


def reply_id(shortcut: str) -> str:
    """The row of a shortcut: `r_` + 32 hex digits of its SHA-256."""
    return "r_" + hashlib.sha256(shortcut.encode("utf-8")).hexdigest()[:32]
