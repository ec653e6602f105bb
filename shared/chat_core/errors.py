"""The project's errors, and the one catalog of what every error code means and which status it answers with.

Raise a family class with a catalogued code: `BadRequest("...", code="invalid_query")`. The catalog decides the
status; tests/test_errors.py checks that every code raised anywhere is catalogued once with its family's status,
and that the error table of docs/api.md says exactly what the catalog says.
"""

from __future__ import annotations

from typing import Any, NamedTuple


class Kind(NamedTuple):
    """What a code answers: its HTTP status, and what it means (docs/api.md's error table)."""

    status: int
    meaning: str


CATALOG: dict[str, Kind] = {
    # 400: the request itself is wrong; nothing was written
    "invalid_json": Kind(400, "The body, or a JSON string in `userMeta`/`theme`, is not strict JSON: bad syntax "
                              "or UTF-8, `NaN`/`Infinity`, a number beyond a double, or nested deeper than 32 "
                              "levels."),
    "invalid_body": Kind(400, "The body is JSON but not an object."),
    "unknown_field": Kind(400, "A body field or query parameter this route does not take."),
    "missing_field": Kind(400, "A required field is missing or null."),
    "invalid_type": Kind(400, "A field has the wrong JSON type (`userMeta` not an object, `handoff` not a "
                              "boolean...)."),
    "invalid_length": Kind(400, "A text field is empty or longer than its limit."),
    "invalid_text": Kind(400, "A text field holds a NUL character or a lone surrogate."),
    "operator_text": Kind(400, "A reason or rating comment is a JSON object with a `\"method\"` that Appwrite would "
                               "apply as an operation on the session instead of storing it (docs/platform.md)."),
    "invalid_id": Kind(400, "An ID is not 1 to 36 (session, agent, cursor) or 1 to 64 (message `id`) ASCII letters, "
                            "digits, `.`, `-`, `_`; a trailing newline counts."),
    "invalid_role": Kind(400, "A message role other than `user`, `bot`, `agent`, `system`."),
    "invalid_handoff": Kind(400, "`handoff: true` on a message whose role is not `bot`."),
    "invalid_query": Kind(400, "A query parameter is malformed, out of range (`limit` 1 to 100 in ASCII digits, "
                               "`idleFor` at most 3650 days, dates from 1970 to 9999) or repeated, or the query "
                               "string is too long or not UTF-8."),
    "invalid_cursor": Kind(400, "The cursor is not a row of this list: unknown, deleted, or another session's "
                                "message (all answered alike)."),
    "invalid_value": Kind(400, "A number field is out of its range (`settleSeconds` 0 to 3600, `rating.score` 1 to "
                               "5, `capacity` 0 to 1000)."),
    "reserved_reason": Kind(400, "A close `reason` that reads as `empty` or `idle` (any case, surrounding spaces): "
                                 "those mark the idle sweep's own closes."),
    "invalid_shortcut": Kind(400, "A saved reply's `shortcut` is not 1 to 32 lower-case letters, digits or `-` "
                                  "(a leading `/` is dropped)."),
    "invalid_availability": Kind(400, "`availability` is not one of `available`, `away`, `offline`."),
    "too_large": Kind(400, "`userMeta` or `theme` is longer than its column once encoded."),
    "invalid_agent": Kind(400, "`agentId` names no user with the agent or admin label."),
    "claim_for_other": Kind(400, "`/claim` with an `agentId` other than the caller's own: `/assign` assigns "
                                 "someone else."),
    "no_agent": Kind(400, "`/claim` or `/availability` with the admin secret, which names no agent: use `/assign`, "
                          "or `agentId`."),
    # 401, 403: who calls
    "unauthorized": Kind(401, "The route needs a signed-in agent or the admin secret; the caller is anonymous."),
    "invalid_credentials": Kind(401, "The `X-Chat-Secret` is wrong, or Appwrite refused the JWT "
                                     "(`X-Chat-JWT` / `x-appwrite-user-jwt`: expired, revoked or forged), or a "
                                     "credential header is longer than 4,096 characters."),
    "execution_key_refused": Kind(401, "Appwrite refused the execution's key: a forged `X-Appwrite-Key` header "
                                       "replaced Appwrite's own (or the function lacks a scope; it logs which)."),
    "forbidden": Kind(403, "This caller may not do this to this session (not its owner, the bot, its agent or an "
                           "admin)."),
    "not_owner": Kind(403, "Only the session's owner may send a heartbeat, download its transcript from "
                           "`touch-session` or rate the session."),
    "not_assignee": Kind(403, "The caller is not the session's agent; only they or an admin may close it or hand "
                              "it on."),
    "not_an_agent": Kind(403, "The caller is signed in without the `agent` or `admin` label."),
    "not_an_admin": Kind(403, "The caller is an agent, but this needs the `admin` label or the admin secret."),
    # 404, 405
    "session_not_found": Kind(404, "No session with this ID."),
    "message_not_found": Kind(404, "An event names a message row that is not stored (a forged event)."),
    "reply_not_found": Kind(404, "No saved reply with this shortcut."),
    "route_not_found": Kind(404, "This function has no such path."),
    "not_found": Kind(404, "A row the operation needed was deleted while it ran."),
    "method_not_allowed": Kind(405, "The path exists, but not with this method."),
    # 409: the session's state says no
    "session_closed": Kind(409, "The session is closed."),
    "already_assigned": Kind(409, "Another agent has the session; `assignedAgent` names them."),
    "not_assigned": Kind(409, "The session has no agent to transfer or unassign."),
    "not_closed": Kind(409, "The session is still open: rate it in the request that closes it (close-session with "
                            "`rating`) or once it is closed."),
    "already_rated": Kind(409, "The session was rated already (once per session); `rating` holds the stored one."),
    "at_capacity": Kind(409, "The agent already holds as many sessions as their capacity allows (`load`, "
                             "`capacity` say how many); an admin may assign or transfer over it with "
                             "`overCapacity: true`."),
    "concurrent_update": Kind(409, "The session (or, for a summary, the counters) kept changing while the operation "
                                   "ran; try again."),
    "busy": Kind(409, "A fold or a repair of the counters is running (one at a time); try again in a minute."),
    "reply_exists": Kind(409, "A saved reply with this shortcut exists; remove it first to change it."),
    "too_many_replies": Kind(409, "There are 200 saved replies already (the console reads them in one request)."),
    "already_exists": Kind(409, "A row with this ID already exists."),
    "conflict": Kind(409, "A conditional write lost a race. Internal: the operation decides again, and answers "
                          "`concurrent_update` if it keeps losing."),
    # 413, 429
    "payload_too_large": Kind(413, "The body is larger than 64 KiB."),
    "rate_limited": Kind(429, "More visitor messages, escalations or heartbeats than a per-minute limit allows: "
                              "the session's (`MAX_MESSAGES_PER_MINUTE`), the signed-in visitor's across their "
                              "sessions, or the guests' shared budget (`budget` says which); `retryAfterSeconds` "
                              "says when to retry."),
    "too_many_sessions": Kind(429, "More new sessions this minute than this caller's budget (`USER_SESSIONS_"
                                   "PER_MINUTE` for a signed-in visitor, the guests' shared `GUEST_SESSIONS_PER_"
                                   "MINUTE`) or the project's `SESSIONS_PER_MINUTE` allows (`budget` says which); "
                                   "`retryAfterSeconds` says when to retry."),
    # 5xx: not the caller's fault
    "internal_error": Kind(500, "A bug (an uncaught exception, or an answer with no strict JSON form); logged, "
                                "without details in the answer."),
    "upstream_rejected": Kind(502, "Appwrite refused a request it should accept (scopes, schema drift)."),
    "upstream_unavailable": Kind(503, "Appwrite is unreachable or failing; try again."),
}


class ChatError(Exception):
    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, code: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        kind = CATALOG.get(self.code)
        if kind is not None:  # an uncatalogued code keeps its family's status; tests/test_errors.py fails on it
            self.status = kind.status
        self.details = details

    def to_json(self) -> dict:
        return {"error": {"code": self.code, "message": self.message, **self.details}}


class BadRequest(ChatError):
    status = 400
    code = "bad_request"  # not catalogued: every BadRequest names its code


class Unauthorized(ChatError):
    status = 401
    code = "unauthorized"


class Forbidden(ChatError):
    status = 403
    code = "forbidden"


class NotFound(ChatError):
    status = 404
    code = "not_found"


class MethodNotAllowed(ChatError):
    status = 405
    code = "method_not_allowed"


class Conflict(ChatError):
    status = 409
    code = "conflict"


class PayloadTooLarge(ChatError):
    status = 413
    code = "payload_too_large"


class TooManyRequests(ChatError):
    status = 429
    code = "rate_limited"


class UpstreamUnavailable(ChatError):
    """Appwrite could not be reached or failed: the operation may be retried."""

    status = 503
    code = "upstream_unavailable"


class UpstreamRejected(ChatError):
    """Appwrite refused a request we expected it to accept (scopes, schema drift)."""

    status = 502
    code = "upstream_rejected"


def unknown_cursor() -> BadRequest:
    """One answer for every cursor that is not a row of the list, so it tells nothing about other rows."""
    return BadRequest("unknown cursor", code="invalid_cursor")
