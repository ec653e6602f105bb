"""Realtime's channels, event names and roles on the local stack (``devstack.realtime``): which channels a client
asks for, which an event is published on, and whose roles may read it. Sources (appwrite/appwrite at the 1.9.6 line;
line numbers of that tree):

- Channels a client lists (``src/Appwrite/Messaging/Adapter/Realtime.php``): ``Realtime::convertChannels`` and, after
  an in-band authentication, ``Realtime::rebindAccountChannels``.
- Events (``src/Appwrite/Event/Realtime.php`` ``trigger``, line 92): the names ``Event::generateEvents`` makes for a
  row of a TablesDB database (``src/Appwrite/Event/Event.php`` lines 486 and 637), the channels
  ``Realtime::fromPayload`` makes (adapter lines 813-1068), the roles: the table's read permissions, plus the row's
  when the table has row security (adapter line 891).
- Roles (``src/Appwrite/Utopia/Database/Documents/User.php`` ``getRoles``): a guest has ``guests``; a user has
  ``user:<id>``, ``users``, ``user:<id>/unverified``, ``users/unverified`` (``/verified`` once verified) and
  ``label:<x>`` for each label. ``any`` is not a role of a connection: an event readable by ``any`` reaches every
  subscriber (``Realtime::getSubscribers``, ``src/Appwrite/Messaging/Adapter/Realtime.php`` line 464).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

SUPPORTED_ACTIONS = ("create", "update", "upsert", "delete")  # adapter line 17
RESOURCE_LEAF_NAMES = {"documents", "rows", "files", "executions", "functions", "account", "teams",
                       "memberships", "presences"}  # adapter line 33
_PERMISSION = re.compile(r'^read\("(.+)"\)$')


def convert_channels(channels: Iterable[str], user_id: str) -> list[str]:
    """``Realtime::convertChannels``: ``account`` also subscribes ``account.<user>``; ``account.<action>`` becomes
    ``account.<user>.<action>`` for a user (kept for a guest); any other ``account.*`` is dropped. Order kept,
    duplicates dropped."""
    result = list(dict.fromkeys(channels))
    for channel in list(result):
        if channel == "account":
            if user_id:
                result.append(f"account.{user_id}")
        elif channel.startswith("account.") and channel[len("account."):] in SUPPORTED_ACTIONS:
            if user_id:
                result[result.index(channel)] = f"account.{user_id}.{channel[len('account.'):]}"
        elif channel.startswith("account."):
            result.remove(channel)
    return list(dict.fromkeys(result))


def rebind_account_channels(channels: list[str], old_user: str, new_user: str) -> list[str]:
    """``Realtime::rebindAccountChannels``: after an in-band authentication, account channels follow the user."""
    if not new_user or old_user == new_user:
        return channels
    rebound = []
    for channel in channels:
        if channel.startswith("account.") and not old_user:
            suffix = channel[len("account."):]
            channel = f"account.{new_user}.{suffix}" if suffix in SUPPORTED_ACTIONS else channel
        elif old_user and channel == f"account.{old_user}":
            channel = f"account.{new_user}"
        elif old_user and channel.startswith(f"account.{old_user}."):
            action = channel[len(f"account.{old_user}."):]
            channel = f"account.{new_user}.{action}" if action in SUPPORTED_ACTIONS else channel
        rebound.append(channel)
    return rebound


def row_event_names(database_id: str, table_id: str, row_id: str, action: str) -> list[str]:
    """``Event::generateEvents`` for a row event of a TablesDB database (the type ``appwrite push`` creates): the
    pattern ``tablesdb.[databaseId].tables.[tableId].rows.[rowId].<action>`` and its shorter forms, each with every
    ID in turn replaced by ``*``, then each name mirrored to ``databases.*.collections.*.documents`` and
    ``databases.*.tables.*.rows`` (``mirrorCollectionEvents``). 64 names; the first is the event itself."""
    keys = ("databaseId", "tableId", "rowId")
    values = dict(zip(keys, (database_id, table_id, row_id), strict=True))
    full = ["tablesdb", "[databaseId]", "tables", "[tableId]", "rows", "[rowId]", action]
    patterns = [full, full[:6], full[:4], full[:2]]

    def fill(pattern: list[str], starred: Iterable[str]) -> str:
        stars = set(starred)
        return ".".join("*" if p.strip("[]") in stars else values.get(p.strip("[]"), p) if p.startswith("[")
                        else p for p in pattern)

    events: list[str] = []
    for pattern in patterns:
        events += [fill(pattern, ()), fill(pattern, keys)]
        for key in keys:  # the loops of generateEvents for a pattern with three IDs, in their order
            for current in keys:
                for sub in keys:
                    if sub in (current, key):
                        continue
                    events += [fill(pattern, (sub,)), fill(pattern, (current, sub)), fill(pattern, (current,))]
    events = list(dict.fromkeys(events))
    mirrored: list[str] = []
    for event in events:
        databases_side = _segments(event, {"tablesdb": "databases", "tables": "collections", "rows": "documents",
                                           "columns": "attributes"})
        tables_side = _segments(databases_side, {"documents": "rows", "collections": "tables",
                                                 "attributes": "columns"})
        mirrored += [event, databases_side, tables_side]
    return list(dict.fromkeys(mirrored))


def _segments(event: str, mapping: dict[str, str]) -> str:
    return ".".join(mapping.get(part, part) for part in event.split("."))


def row_channels(database_id: str, table_id: str, row_id: str, action: str) -> list[str]:
    """``Realtime::fromPayload`` for a ``tablesdb.*`` row event: the legacy ``documents`` channels and the
    ``rows`` channels under both the ``databases`` and the ``tablesdb`` prefix, then each again with ``.<action>``
    (``getDatabaseChannels``; the suffix loop). 16 channels."""
    d, t, r = database_id, table_id, row_id
    channels = list(dict.fromkeys([
        "documents", f"databases.{d}.collections.{t}.documents", f"databases.{d}.collections.{t}.documents.{r}",
        "rows", f"databases.{d}.tables.{t}.rows", f"databases.{d}.tables.{t}.rows.{r}",
        "rows", f"tablesdb.{d}.tables.{t}.rows", f"tablesdb.{d}.tables.{t}.rows.{r}"]))
    if action not in SUPPORTED_ACTIONS:
        return channels
    suffixed = [f"{c}.{action}" for c in channels
                if c.split(".")[-1] in RESOURCE_LEAF_NAMES
                or (len(c.split(".")) >= 2 and c.split(".")[-2] in RESOURCE_LEAF_NAMES)]
    return list(dict.fromkeys(channels + suffixed))


def read_roles(permissions: Iterable[str]) -> list[str]:
    """The roles of the ``read("...")`` permissions (``Document::getRead``); ``write`` grants no read."""
    return [m.group(1) for p in permissions if (m := _PERMISSION.match(p))]


def user_roles(user: dict | None) -> list[str]:
    """``User::getRoles`` for a project user (no teams on the stack)."""
    if not user:
        return ["guests"]
    uid = user["$id"]
    verified = "verified" if user.get("emailVerification") or user.get("phoneVerification") else "unverified"
    return [f"user:{uid}", "users", f"user:{uid}/{verified}", f"users/{verified}",
            *(f"label:{label}" for label in user.get("labels", []))]
