"""Users and accounts: a user's labels and name (Users API) and who a JWT belongs to (Account API with that JWT), all
remembered by a warm instance for a while in `Memory`, an object the process keeps (`MEMORY`, the default every
gateway uses; tests clear it with `MEMORY.clear()`)."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Hashable
from typing import Generic, TypeVar

from chat_core.domain.authz import Account
from chat_core.errors import ChatError, Unauthorized, UpstreamRejected
from chat_core.infra.connection import Connection, RowMissing, read

JWT_CACHE_MAX = 2048  # verified JWTs one warm instance remembers
NAME_CACHE_MAX = 2048  # users' names one warm instance remembers
NAME_CACHE_SECONDS = 600  # a renamed agent shows under the new name within 10 minutes
NAME_RETRY_SECONDS = 60  # a name that could not be read is not asked for again for a minute
V = TypeVar("V")


class ExpiringCache(Generic[V]):
    """Values kept until their own expiry (on the clock the caller passes), at most `size` of them (None: no bound):
    when full, the expired go first, then the oldest. Safe to share between a warm instance's threads."""

    def __init__(self, size: int | None = None) -> None:
        self.size = size
        self._entries: dict[Hashable, tuple[float, V]] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, now: float) -> V | None:
        with self._lock:
            entry = self._entries.get(key)
        return entry[1] if entry and entry[0] > now else None

    def put(self, key: Hashable, value: V, expires: float, now: float) -> None:
        with self._lock:
            if self.size is not None and len(self._entries) >= self.size:
                for stale in [k for k, (at, _) in self._entries.items() if at <= now]:
                    del self._entries[stale]
                while len(self._entries) >= self.size:
                    del self._entries[next(iter(self._entries))]
            self._entries[key] = (expires, value)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


class Memory:
    """What a warm instance remembers of users between executions: labels and names by user ID (monotonic clock),
    and accounts by the SHA-256 of their JWT (wall clock: a JWT's expiry is wall-clock time)."""

    def __init__(self) -> None:
        self.labels: ExpiringCache[frozenset[str]] = ExpiringCache()
        self.names: ExpiringCache[str] = ExpiringCache(NAME_CACHE_MAX)
        self.jwts: ExpiringCache[Account] = ExpiringCache(JWT_CACHE_MAX)

    def clear(self) -> None:
        self.labels.clear()
        self.names.clear()
        self.jwts.clear()


MEMORY = Memory()  # the process's: created once, kept by the warm instance


class Users:
    def __init__(self, conn: Connection, memory: Memory = MEMORY) -> None:
        self._conn = conn
        self._memory = memory

    def labels(self, user_id: str) -> frozenset[str]:
        """A user's labels, remembered for LABEL_CACHE_SECONDS (a label change waits that long)."""
        now = time.monotonic()
        cached = self._memory.labels.get(user_id, now)
        if cached is not None:
            return cached
        return self._read(user_id, now)[0]

    def display_name(self, user_id: str) -> str:
        """A user's name ("" when they have none or are gone), remembered for NAME_CACHE_SECONDS: one Users read
        per user and warm instance in that time, shared with the labels (the same read gives both)."""
        now = time.monotonic()
        cached = self._memory.names.get(user_id, now)
        if cached is not None:
            return cached
        try:
            return self._read(user_id, now)[1]
        except ChatError:  # no users.read scope, Appwrite down: no name for a minute, the answer itself stands
            self._memory.names.put(user_id, "", now + NAME_RETRY_SECONDS, now)
            return ""

    def _read(self, user_id: str, now: float) -> tuple[frozenset[str], str]:
        """One Users read: the labels and the name, both remembered."""
        try:
            from appwrite.services.users import Users as UsersService  # loaded by the first read: cold starts skip it
            user = read(UsersService(self._conn.client()).get, user_id)
            labels = frozenset(str(label) for label in user.labels)
            name = str(user.name or "").strip()[:128]
        except RowMissing:
            labels, name = frozenset(), ""
        self._memory.labels.put(user_id, labels, now + self._conn.settings.label_cache_seconds, now)
        self._memory.names.put(user_id, name, now + NAME_CACHE_SECONDS, now)
        return labels, name

    def account_for_jwt(self, jwt: str) -> Account:
        """Who a JWT belongs to, as Appwrite says (GET /account with that JWT), with the user's labels.

        Remembered for LABEL_CACHE_SECONDS, never past the JWT's own expiry, so a revoked session or a removed label
        is honoured within that time. A JWT Appwrite refuses is a 401 for our caller."""
        digest = hashlib.sha256(jwt.encode("utf-8", "surrogatepass")).hexdigest()
        now = time.time()
        cached = self._memory.jwts.get(digest, now)
        if cached is not None:
            return cached
        try:
            from appwrite.services.account import Account as AccountService  # as above
            user = read(AccountService(self._conn.client(jwt=jwt)).get)
        except (Unauthorized, RowMissing, UpstreamRejected):  # 401 user_jwt_invalid: expired, revoked or forged
            raise Unauthorized("the JWT is not valid or has expired; sign in again",
                               code="invalid_credentials") from None
        account = Account(user_id=str(user.id), labels=frozenset(str(label) for label in user.labels))
        tick = time.monotonic()  # the agent's name comes with the read: the widget's answers need no other
        self._memory.names.put(account.user_id, str(user.name or "").strip()[:128], tick + NAME_CACHE_SECONDS, tick)
        expires = min(now + self._conn.settings.label_cache_seconds, _jwt_expiry(jwt))
        self._memory.jwts.put(digest, account, expires, now)
        return account


def _jwt_expiry(jwt: str) -> float:
    """The `exp` claim, read without checking the signature (Appwrite checked it): only bounds our cache."""
    try:
        payload = jwt.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, ValueError, KeyError, TypeError):
        return 0.0  # no readable expiry: don't cache
