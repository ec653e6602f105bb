"""The local stack's tiny stand-in for the Users service (``devstack.engine``): users with labels, email and phone
in SQLite, answered as the model ``GET /v1/users/{id}`` and ``GET /v1/account`` answer.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from typing import Any

from devstack.values import ID_PATTERN, EngineError, format_datetime

Event = dict[str, Any]


class Users:
    """The users of ``Engine`` (a mixin: the connection, the lock and ``_write`` are the engine's)."""

    # -- users (a tiny stand-in for the Users service) ----------------------------------------

    def put_user(self, user_id: str, name: str = "", labels: Iterable[str] = (), *, email: str = "",
                 phone: str = "") -> dict:
        """Create or replace a user; labels are Appwrite user labels (e.g. "agent", "admin")."""
        if not isinstance(user_id, str) or not ID_PATTERN.match(user_id):
            raise EngineError(400, "general_argument_invalid", "Invalid `userId` param")
        stamp = format_datetime(self._now())
        labels_json = json.dumps(list(labels))

        def work() -> tuple[dict, list[Event]]:
            self._conn.execute(
                "INSERT INTO _users (_id, name, labels, email, phone, _createdAt, _updatedAt) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(_id) DO UPDATE SET name = excluded.name, "
                "labels = excluded.labels, email = excluded.email, phone = excluded.phone, "
                "_updatedAt = excluded._updatedAt", (user_id, name, labels_json, email, phone, stamp, stamp))
            return self._user(user_id), []
        return self._write(work)

    def get_user(self, user_id: str) -> dict:
        with self._lock:
            return self._user(user_id)

    def _user(self, user_id: str) -> dict:
        row = self._conn.execute("SELECT * FROM _users WHERE _id = ?", (user_id,)).fetchone()
        if row is None:
            raise EngineError(404, "user_not_found", "User with the requested ID could not be found.")
        return _user_model(row)

    def user_by_email(self, email: str) -> dict | None:
        """The user with this email address (Appwrite stores addresses in lower case), among every user: a lookup,
        not a list call, so it never stops at a page (the sign-in once looked in the first 25 only)."""
        if not email:
            return None
        with self._lock:
            row = self._conn.execute("SELECT * FROM _users WHERE lower(email) = lower(?) ORDER BY _seq LIMIT 1",
                                     (email,)).fetchone()
        return _user_model(row) if row is not None else None


# ---------------------------------------------------------------------------------------------
# Users: the model `GET /v1/users/{id}` and `GET /v1/account` answer.


def _user_model(row: sqlite3.Row) -> dict:
    return {
        "$id": row["_id"], "$createdAt": row["_createdAt"], "$updatedAt": row["_updatedAt"],
        "name": row["name"], "registration": row["_createdAt"], "status": True,
        "labels": json.loads(row["labels"]), "passwordUpdate": "", "email": row["email"],
        "phone": row["phone"], "emailVerification": False, "phoneVerification": False, "mfa": False,
        "prefs": {}, "targets": [], "accessedAt": row["_updatedAt"],
    }
