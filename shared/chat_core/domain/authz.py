"""Who is calling, proven, and what they may do: every authorization decision of the bundle, one per action.

Trust model (README "Security"):
- Headers a function sees can be forged by its caller, `x-appwrite-*` ones included (Appwrite refuses only the
  lower-case spelling; the runtime keeps the caller's value when a name repeats), and the executor puts its own
  `Authorization: Basic ...` on every execution. So nothing here trusts `x-appwrite-user-id`, `authorization` or
  the trigger header for identity.
- A visitor proves a session with its token (`X-Session-Token`); only the token's hash is stored.
- A signed-in user (agent, admin, signed-in visitor) proves themselves with an Appwrite JWT: `x-appwrite-user-jwt`
  (Appwrite sets it for callers with a session) or `X-Chat-JWT` (callers that hold a JWT, e.g. the console). The
  function asks Appwrite who that is (Account API), which also returns the user's labels.
- The AI bot and admin tools send a secret in `X-Chat-Secret` (BOT_SECRET / ADMIN_SECRET).
Proof is lazy: an action asks only for what it needs, cheapest first, so the widget's hot path (a token) costs
no request to Appwrite.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable
from typing import NamedTuple

from chat_core.config import Settings
from chat_core.domain.model import Session
from chat_core.errors import BadRequest, Forbidden, Unauthorized

SECRET_HEADER = "x-chat-secret"
JWT_HEADER = "x-chat-jwt"
SESSION_JWT_HEADER = "x-appwrite-user-jwt"
TOKEN_HEADER = "x-session-token"
MAX_CREDENTIAL = 4096  # longer than any JWT or secret we issue: refused before it is hashed or sent anywhere
JWT_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")  # three base64url parts


class Credentials(NamedTuple):
    """What a request presents, read once at the boundary. None of it is trusted until checked."""

    secret: str | None = None
    jwt: str | None = None
    token: str | None = None

    @classmethod
    def from_headers(cls, headers: dict[str, str]) -> Credentials:
        jwt = _credential(headers, JWT_HEADER) or _credential(headers, SESSION_JWT_HEADER)
        if jwt is not None and not JWT_SHAPE.fullmatch(jwt):  # never sent on: a header can't carry it, nor Appwrite
            raise Unauthorized("the JWT is not valid or has expired; sign in again", code="invalid_credentials")
        return cls(secret=_credential(headers, SECRET_HEADER), jwt=jwt, token=_credential(headers, TOKEN_HEADER))


def _credential(headers: dict[str, str], name: str) -> str | None:
    value = headers.get(name, "").strip()
    if len(value) > MAX_CREDENTIAL:
        raise Unauthorized(f"{name} is too long", code="invalid_credentials")
    return value or None


class Account(NamedTuple):
    """A user Appwrite vouched for (from a JWT)."""

    user_id: str
    labels: frozenset[str]


def hash_token(token: str) -> str:
    return hashlib.sha256(_bytes(token)).hexdigest()


def secrets_match(given: str, expected: str) -> bool:
    """Constant-time comparison; an unset secret never matches."""
    return bool(expected) and hmac.compare_digest(_bytes(given), _bytes(expected))


def _bytes(text: str) -> bytes:
    # A header is whatever the caller sent: a lone surrogate must not turn a wrong secret into a 500.
    return text.encode("utf-8", "surrogatepass")


class Caller:
    """The caller of one request. `kind` is "admin" or "bot" (a secret), "user" (a JWT, verified on first use),
    "anonymous", or "system" (the event and schedule handlers, whose work is safe whoever triggers it)."""

    def __init__(self, kind: str, settings: Settings, *, jwt: str | None = None, token: str | None = None,
                 verify: Callable[[str], Account] | None = None) -> None:
        self.kind = kind
        self.token = token
        self.settings = settings
        self._jwt = jwt
        self._verify = verify
        self._account: Account | None = None

    @classmethod
    def resolve(cls, creds: Credentials, settings: Settings, verify: Callable[[str], Account]) -> Caller:
        if creds.secret is not None:
            if secrets_match(creds.secret, settings.admin_secret):
                return cls("admin", settings, token=creds.token)
            if secrets_match(creds.secret, settings.bot_secret):
                return cls("bot", settings, token=creds.token)
            raise Unauthorized("the secret is not valid", code="invalid_credentials")
        if creds.jwt is not None:
            return cls("user", settings, jwt=creds.jwt, token=creds.token, verify=verify)
        return cls("anonymous", settings, token=creds.token)

    @classmethod
    def system(cls, settings: Settings) -> Caller:
        return cls("system", settings)

    @classmethod
    def reference_bot(cls, settings: Settings) -> Caller:
        """The bundled bot's event handler, which only Appwrite runs (docs/security.md): it posts as the bot."""
        return cls("bot", settings)

    def account(self) -> Account | None:
        """The proven user, or None for callers without a JWT. An invalid JWT is a 401, never 'anonymous'."""
        if self.kind != "user":
            return None
        if self._account is None:
            assert self._verify is not None and self._jwt is not None
            self._account = self._verify(self._jwt)
        return self._account

    @property
    def verified_account(self) -> Account | None:
        """The account if this request already verified its JWT; never verifies (no request)."""
        return self._account

    @property
    def user_id(self) -> str | None:
        account = self.account()
        return account.user_id if account else None

    @property
    def is_admin(self) -> bool:
        if self.kind == "admin":
            return True
        account = self.account()
        return bool(account) and self.settings.admin_label in account.labels

    @property
    def is_agent(self) -> bool:
        account = self.account()
        return self.is_admin or (bool(account) and self.settings.agent_label in account.labels)

    @property
    def is_bot(self) -> bool:
        return self.kind == "bot"

    def owns(self, session: Session, token: str | None = None) -> bool:
        """The token first (free); a signed-in visitor's JWT only if the session has an owner to compare."""
        token = token or self.token
        if token and secrets_match(hash_token(token), session.token_hash):
            return True
        return session.owner_id is not None and self.kind == "user" and self.user_id == session.owner_id


# --- one decision per action -------------------------------------------------------------------------

def create_session(caller: Caller) -> str | None:
    """Anyone may open a chat; a signed-in visitor becomes its owner (so a new device can resume it)."""
    return caller.user_id if caller.kind == "user" else None


def heartbeat(caller: Caller, session: Session, token: str | None) -> None:
    if not caller.owns(session, token):
        raise Forbidden("only the session's owner can touch it", code="not_owner")


def rate(caller: Caller, session: Session, token: str | None) -> None:
    """Only the visitor who owns the session rates it (its token, or the signed-in owner's JWT)."""
    if not caller.owns(session, token):
        raise Forbidden("only the session's owner may rate it", code="not_owner")


def recorded_actor(caller: Caller) -> str:
    """Who the audit trail says made a change: `bot`, `admin` (the secret), `agent:<id>` (a signed-in agent or
    admin), `system` (schedules and events), else `visitor`. Never a request: a JWT the action did not need to
    verify (a visitor proven by its token) is not verified here either, and records as the visitor."""
    if caller.kind in ("bot", "admin", "system"):
        return caller.kind
    account = caller.verified_account
    if account is not None and account.labels & {caller.settings.agent_label, caller.settings.admin_label}:
        return f"agent:{account.user_id}"
    return "visitor"


def sees_every_agents_ratings(caller: Caller) -> bool:
    """The summary's ratings per agent: admins see everyone's, an agent only their own."""
    return caller.is_admin


def sees_rating(caller: Caller, session: Session) -> bool:
    """One session's rating (score and comment) in a staff view, by the summary's rule: admins see every one; an
    agent, those that count for them (the agent who held the session when it closed, `rules.contribution`) and those
    that count for no agent (a session closed from the queue or the bot's alone)."""
    return sees_every_agents_ratings(caller) or session.assigned_agent in (None, caller.user_id)


def post_message(caller: Caller, session: Session, token: str | None, role: str) -> str | None:
    """Who may post which role. Returns the author to record for agent messages."""
    if role == "user" and caller.owns(session, token):
        return None
    if role in ("bot", "system") and (caller.is_bot or caller.is_admin):
        return None
    if role == "agent" and caller.kind in ("admin", "user") and (
            caller.is_admin or (caller.is_agent and session.assigned_agent == caller.user_id)):
        return caller.user_id
    raise Forbidden(f"this caller may not post '{role}' messages to this session")


def read_transcript(caller: Caller, session: Session, token: str | None) -> None:
    if caller.is_bot or caller.owns(session, token) or _is_staff(caller):
        return
    raise Forbidden("only the session's owner, the bot or an agent may read it", code="forbidden")


def export_own_transcript(caller: Caller, session: Session, token: str | None) -> None:
    """The visitor's download (touch-session /export): the owner only. Staff export from list-sessions."""
    if not caller.owns(session, token):
        raise Forbidden("only the session's owner may download it here", code="not_owner")


def escalate(caller: Caller, session: Session, token: str | None) -> str:
    """Returns who escalated, as recorded on the session."""
    if caller.is_bot:
        return "bot"
    if caller.owns(session, token):
        return "owner"
    if _is_staff(caller):
        return actor(caller)
    raise Forbidden("only the session's owner, the bot or an agent may escalate it", code="forbidden")


def close(caller: Caller, session: Session, token: str | None) -> str:
    """Returns who closes: "visitor" or "agent"."""
    if caller.owns(session, token):
        return "visitor"
    if caller.is_admin or (_is_staff(caller) and session.assigned_agent in (None, caller.user_id)):
        return "agent"
    if _is_staff(caller):
        raise Forbidden(f"session is assigned to {session.assigned_agent}; only they or an admin may close it",
                        code="not_assignee")
    raise Forbidden("only the session's owner, its agent or an admin may close it", code="forbidden")


def reassign(caller: Caller, session: Session) -> None:
    """Transfer and unassign: the current assignee or an admin (owning the session changes nothing)."""
    require_agent(caller)
    if caller.is_admin or (caller.user_id is not None and session.assigned_agent == caller.user_id):
        return
    raise Forbidden(f"session is assigned to {session.assigned_agent}; only they or an admin may hand it on",
                    code="not_assignee")


def actor(caller: Caller) -> str:
    """How staff actions are recorded on a session (`escalatedBy`): `agent:<id>`, or `agent:admin` for the secret."""
    return f"agent:{caller.user_id or 'admin'}"


def claim(caller: Caller, agent_id: str | None) -> str:
    """An agent claims for itself. Returns the agent's ID."""
    require_agent(caller)
    if caller.user_id is None:
        raise BadRequest("the admin secret has no agent identity: use /assign with agentId", code="no_agent")
    if agent_id not in (None, caller.user_id):
        raise BadRequest("an agent claims for itself; /assign assigns someone else", code="claim_for_other")
    return caller.user_id


def require_agent(caller: Caller) -> None:
    """Lists, one session, its transcript for staff."""
    if caller.kind in ("anonymous", "bot", "system"):
        raise Unauthorized("sign in as an agent (a JWT), or send the admin secret", code="unauthorized")
    if not caller.is_agent:
        raise Forbidden(f"this needs the '{caller.settings.agent_label}' label", code="not_an_agent")


def require_admin(caller: Caller) -> None:
    """Assigning someone else, recount."""
    require_agent(caller)
    if not caller.is_admin:
        raise Forbidden(f"this needs the '{caller.settings.admin_label}' label or the admin secret",
                        code="not_an_admin")


def _is_staff(caller: Caller) -> bool:
    return caller.kind in ("admin", "user") and caller.is_agent
