"""Appwrite accounts for the local stack: email/password sessions, JWTs, and who a JWT or session belongs to.

What it reproduces (Appwrite 1.8.1, `app/controllers/api/account.php`; OpenAPI `accountCreateEmailPasswordSession`,
`accountCreateJWT`, `accountGet`):
- `POST /v1/account/sessions/email {email, password}` -> 201 session; the secret travels in the cookie
  `a_session_<project>` and, for pages on another domain, in the `X-Fallback-Cookies` answer header (JSON
  `{"a_session_<project>": secret}`), which the page sends back as a request header of the same name.
  A wrong email or password -> 401 `user_invalid_credentials`.
- `POST /v1/account/jwts` (with a session) -> 201 `{jwt}`, valid 900 s by default, at most 3,600.
- `POST /v1/account/sessions/anonymous` -> 201 session of a new user with no email or password (what a widget
  uses to give each visitor an identity it can prove). Rate-limited by Appwrite itself: 50 per hour per client
  IP (`abuse-limit` 50, `abuse-key` `ip:{ip}`, default `abuse-time` 3600 s, in a fixed window of
  `floor(now / 3600) * 3600`: `app/controllers/shared/api.php` with utopia-php/abuse 1.0.2 `TimeLimit`); the 51st
  answers 429 `general_rate_limit_exceeded`, and every answer carries `X-RateLimit-Limit`, `-Remaining`, `-Reset`.
- `GET /v1/account` with `X-Appwrite-JWT` (or a session) -> the user, labels included. A bad, expired or revoked
  JWT -> 401 `user_jwt_invalid`; no credentials -> 401 `general_unauthorized_scope` (role: guests).
- Executions: a caller with a session gets `x-appwrite-user-jwt` (valid for the function's timeout + 60 s,
  `Executions/Create.php`); a caller that authenticates with a JWT does not.
JWTs here are HS256 tokens signed with a per-stack secret, carrying `userId`, `sessionId` and `exp` like Appwrite's;
a JWT is valid only while its session exists. Sessions live in memory: restarting the stack signs everyone out.
Dev users get the dev password (`DEVSTACK_PASSWORD`, printed in the banner); real Appwrite has no such thing.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from http.cookies import CookieError, SimpleCookie

from devstack.engine import Engine, EngineError

JWT_DEFAULT_SECONDS, JWT_MAX_SECONDS = 900, 3600
SESSION_SECONDS = 365 * 24 * 3600  # Appwrite's default session length: one year
DEV_PASSWORD = "devstack-password"
ANONYMOUS_SESSIONS_PER_IP, ABUSE_WINDOW_SECONDS = 50, 3600  # appwrite 1.9.6 app/controllers/api/account.php
# POST /v1/account/jwts: abuse-limit APP_LIMIT_WRITE_RATE_DEFAULT * 2, abuse-time APP_LIMIT_WRITE_RATE_PERIOD_DEFAULT,
# abuse-key `url:{url},userId:{userId}` (appwrite 1.9.6 app/controllers/api/account.php, app/init/constants.php)
JWTS_PER_USER, JWT_WINDOW_SECONDS = 120, 60


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="milliseconds")


def guest_refused() -> EngineError:
    return EngineError(401, "general_unauthorized_scope", 'User (role: guests) missing scopes (["account"])')


def invalid_jwt() -> EngineError:
    return EngineError(401, "user_jwt_invalid", "The JWT token is invalid. Please check the JWT and try again.")


def jwt_and_cookie_set() -> EngineError:
    return EngineError(403, "user_jwt_and_cookie_set", "JWT and cookie used in the same request. Use either "
                       "`setJWT` or `setCookie`. Learn about which authentication method to use in the SSR docs: "
                       "https://appwrite.io/docs/products/auth/server-side-rendering")


def session_not_found() -> EngineError:
    return EngineError(404, "user_session_not_found", "The current user session could not be found.")


class RateLimited(EngineError):
    """Appwrite's abuse limit: 429 general_rate_limit_exceeded, with the X-RateLimit-* headers."""

    def __init__(self, headers: dict[str, str]) -> None:
        super().__init__(429, "general_rate_limit_exceeded",
                         "Rate limit for the current endpoint has been exceeded. Please try again after some time.")
        self.headers = headers


class Accounts:
    def __init__(self, engine: Engine, project: str) -> None:
        self.engine = engine
        self.project = project
        self.cookie_name = f"a_session_{project}"
        self._signing_key = secrets.token_bytes(32)
        self._passwords: dict[str, bytes] = {}  # user ID -> PBKDF2 hash
        self._salt = secrets.token_bytes(16)
        self._sessions: dict[str, tuple[str, str, float]] = {}  # secret -> (session ID, user ID, expires)
        self._dev_sessions: dict[str, str] = {}  # user ID -> secret of the session impersonation uses
        self._abuse: dict[tuple[str, int, int], int] = {}  # (abuse key, window start, window length) -> hits
        self._lock = threading.Lock()

    # -- passwords and sessions --------------------------------------------------------------

    def set_password(self, user_id: str, password: str) -> None:
        with self._lock:
            self._passwords[user_id] = self._hash(password)

    def _hash(self, password: str) -> bytes:
        return hashlib.pbkdf2_hmac("sha256", password.encode("utf-8", "surrogatepass"), self._salt, 1000)

    def sign_in(self, email: str, password: str) -> tuple[dict, str]:
        """An email/password session: (the session model, its secret)."""
        user = self.engine.user_by_email(email)  # every user, not a page of them
        expected = self._passwords.get(user["$id"]) if user else None
        if user is None or expected is None or not hmac.compare_digest(expected, self._hash(password)):
            raise EngineError(401, "user_invalid_credentials",
                              "Invalid credentials. Please check the email and password.")
        return self._new_session(user["$id"])

    def _new_session(self, user_id: str, provider: str = "email") -> tuple[dict, str]:
        secret, session_id, now = secrets.token_hex(32), secrets.token_hex(10), time.time()
        with self._lock:
            self._sessions[secret] = (session_id, user_id, now + SESSION_SECONDS)
        model = {"$id": session_id, "$createdAt": _iso(now), "$updatedAt": _iso(now), "userId": user_id,
                 "expire": _iso(now + SESSION_SECONDS), "provider": provider, "current": True,
                 "secret": ""}  # a client sees the secret only in its cookie
        return model, secret

    def take(self, key: str, limit: int, seconds: int) -> dict[str, str]:
        """One hit on Appwrite's abuse limit `key` (`app/controllers/shared/api.php`, the `api` init hook, with
        utopia-php/abuse `TimeLimit`: a fixed window of `floor(now / seconds) * seconds`, `remaining` counted before
        the hit). Answers the `X-RateLimit-*` headers; raises RateLimited once the window holds `limit` hits."""
        now = time.time()
        window = int(now // seconds) * seconds
        with self._lock:
            for stale in [k for k in self._abuse if k[1] + k[2] <= now]:  # windows over no longer matter
                del self._abuse[stale]
            used = self._abuse.get((key, window, seconds), 0)
            allowed = used < limit
            if allowed:
                self._abuse[(key, window, seconds)] = used + 1
        headers = {"x-ratelimit-limit": str(limit),
                   # utopia-php/abuse counts the calls before this one: `limit - (count + 1)`, never below 0
                   "x-ratelimit-remaining": str(max(0, limit - used - 1)),
                   "x-ratelimit-reset": str(window + seconds)}
        if not allowed:
            raise RateLimited(headers)
        return headers

    def anonymous_session(self, client_ip: str) -> tuple[dict, str, dict[str, str]]:
        """A new anonymous user and its session: (the session model, its secret, the rate-limit headers).
        Refused with 429 once this IP made ANONYMOUS_SESSIONS_PER_IP in the current hour window."""
        headers = self.take(f"ip:{client_ip}", ANONYMOUS_SESSIONS_PER_IP, ABUSE_WINDOW_SECONDS)
        user_id = secrets.token_hex(10)
        self.engine.put_user(user_id)
        model, secret = self._new_session(user_id, provider="anonymous")
        return model, secret, headers

    def authenticate(self, headers: Mapping[str, str]) -> tuple[str, str]:
        """(user ID, session secret) of a request, resolved as appwrite 1.9.6 `app/init/resources/request.php`
        (the `user` resource) does: a live session first; then `X-Appwrite-JWT`, refused with 403
        `user_jwt_and_cookie_set` next to a live session and with 401 `user_jwt_invalid` when it does not verify. A
        JWT caller has no session secret. ("", "") is a guest."""
        secret = self.session_secret(headers) or ""
        user_id = self.session_user(secret)[1] if secret and self.known_session(secret) else ""
        if jwt := headers.get("x-appwrite-jwt", ""):
            if user_id:
                raise jwt_and_cookie_set()
            return self.jwt_user(jwt), ""
        return user_id, secret if user_id else ""

    def sign_out(self, secret: str) -> None:
        with self._lock:
            self._sessions.pop(secret, None)

    def dev_session(self, user_id: str) -> str:
        """DEV ONLY: a session for a user the stack impersonates, so its executions carry a user JWT."""
        with self._lock:
            secret = self._dev_sessions.get(user_id)
            if secret in self._sessions:
                return secret
        _, secret = self._new_session(user_id)
        with self._lock:
            self._dev_sessions[user_id] = secret
        return secret

    def session_secret(self, headers: Mapping[str, str]) -> str | None:
        """The session a request presents: `X-Appwrite-Session`, the cookie, or `X-Fallback-Cookies`."""
        if headers.get("x-appwrite-session"):
            return headers["x-appwrite-session"]
        cookies = SimpleCookie()
        with contextlib.suppress(CookieError):  # a malformed cookie header is no session
            cookies.load(headers.get("cookie", ""))
        if self.cookie_name in cookies:
            return cookies[self.cookie_name].value
        try:
            fallback = json.loads(headers.get("x-fallback-cookies", "") or "{}")
        except ValueError:
            return None
        value = fallback.get(self.cookie_name) if isinstance(fallback, dict) else None
        return value if isinstance(value, str) else None

    def session_user(self, secret: str) -> tuple[str, str]:
        """(session ID, user ID) of a live session. An unknown or expired one makes the caller a guest, as in
        Appwrite, so routes that need a user answer 401 general_unauthorized_scope."""
        with self._lock:
            found = self._sessions.get(secret)
        if found is None or found[2] < time.time():
            raise guest_refused()
        return found[0], found[1]

    def known_session(self, secret: str) -> bool:
        with self._lock:
            found = self._sessions.get(secret)
        return found is not None and found[2] >= time.time()

    # -- JWTs ----------------------------------------------------------------------------------

    def create_jwt(self, secret: str, seconds: int = JWT_DEFAULT_SECONDS) -> str:
        if not 0 <= seconds <= JWT_MAX_SECONDS:
            raise EngineError(400, "general_argument_invalid", "Invalid `duration` param: Value must be a valid "
                              f"range between 0 and {JWT_MAX_SECONDS:,}")
        session_id, user_id = self.session_user(secret)
        expires = int(time.time()) + (seconds or JWT_DEFAULT_SECONDS)
        claims = {"userId": user_id, "sessionId": session_id, "exp": expires}
        head = _b64(json.dumps({"typ": "JWT", "alg": "HS256"}).encode())
        body = _b64(json.dumps(claims, separators=(",", ":")).encode())
        signature = hmac.new(self._signing_key, f"{head}.{body}".encode(), hashlib.sha256).digest()
        return f"{head}.{body}.{_b64(signature)}"

    def jwt_user(self, jwt: str) -> str:
        """The user ID behind a JWT whose signature, expiry and session all hold; else 401 user_jwt_invalid."""
        try:
            head, body, signature = jwt.split(".")
            expected = hmac.new(self._signing_key, f"{head}.{body}".encode(), hashlib.sha256).digest()
            if not hmac.compare_digest(expected, _unb64(signature)):
                raise invalid_jwt()
            claims = json.loads(_unb64(body))
            user_id, session_id, expires = str(claims["userId"]), str(claims["sessionId"]), float(claims["exp"])
        except (ValueError, KeyError, TypeError, UnicodeError):
            raise invalid_jwt() from None
        if expires < time.time():
            raise invalid_jwt()
        with self._lock:
            alive = any(s == session_id and u == user_id for s, u, _ in self._sessions.values())
        if not alive:
            raise invalid_jwt()
        return user_id

    def user_for(self, headers: Mapping[str, str]) -> dict:
        """`GET /v1/account`: the user a JWT or a session proves, as the Users model."""
        user_id, _ = self.authenticate(headers)
        if not user_id:
            raise guest_refused()
        return self.engine.get_user(user_id)

    def session_cookie_headers(self, secret: str) -> dict[str, str]:
        expires = datetime.now(timezone.utc) + timedelta(seconds=SESSION_SECONDS)
        cookie = (f"{self.cookie_name}={secret}; expires={expires:%a, %d %b %Y %H:%M:%S GMT}; path=/; "
                  "httponly; samesite=lax")
        return {"set-cookie": cookie, "x-fallback-cookies": json.dumps({self.cookie_name: secret})}

    def cleared_cookie_headers(self) -> dict[str, str]:
        return {"set-cookie": f"{self.cookie_name}=; expires=Thu, 01 Jan 1970 00:00:00 GMT; path=/; httponly"}
