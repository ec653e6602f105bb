"""Input parsing: a request body or query string in, typed values out, or BadRequest. Nothing here writes."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from chat_core import jsonio
from chat_core.domain import rules
from chat_core.domain.agents import CAPACITY_MAX
from chat_core.domain.inputs import (
    Assignment,
    AvailabilityChange,
    CapacityChange,
    NewMessage,
    NewSession,
    Rating,
    SessionRequest,
)
from chat_core.domain.model import (
    AVAILABILITIES,
    CLIENT_ID_PATTERN,
    ID_PATTERN,
    ROLES,
    TEXT_MAX,
)
from chat_core.domain.replies import REPLY_TEXT_MAX, SHORTCUT_PATTERN
from chat_core.errors import BadRequest
from chat_core.infra import operators

LIMIT_PATTERN = re.compile(r"[0-9]{1,9}\Z")
USER_META_MAX, THEME_MAX = 4096, 2048
REASON_MAX, CLOSE_REASON_MAX = 500, 64
SCORE_MIN, SCORE_MAX, COMMENT_MAX = 1, 5, 1000  # a rating: 1 to 5, and at most 1,000 characters of comment


def fields(body: Any, *, required: tuple[str, ...] = (), optional: tuple[str, ...] = ()) -> dict:
    """The body as a dict holding only known fields, the required ones present."""
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object", code="invalid_body")
    unknown = sorted(set(body) - set(required) - set(optional))
    if unknown:
        raise BadRequest(f"unknown field(s): {', '.join(unknown)[:200]}", code="unknown_field")
    missing = [name for name in required if body.get(name) is None]
    if missing:
        raise BadRequest(f"missing field(s): {', '.join(missing)}", code="missing_field")
    return body


def text(value: Any, name: str, *, max_len: int, min_len: int = 1) -> str:
    if not isinstance(value, str):
        raise BadRequest(f"{name} must be a string", code="invalid_type")
    if not min_len <= len(value) <= max_len:
        raise BadRequest(f"{name} must be {min_len} to {max_len} characters", code="invalid_length")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest(f"{name} is not valid Unicode", code="invalid_text") from None
    if "\x00" in value:
        raise BadRequest(f"{name} must not contain NUL characters", code="invalid_text")
    return value


def optional_text(value: Any, name: str, *, max_len: int, default: str | None = None) -> str | None:
    return default if value is None else text(value, name, max_len=max_len)


def stored_text(value: Any, name: str, *, max_len: int, default: str | None = None) -> str | None:
    """Optional free text that a session update stores (a reason, a rating comment). Appwrite reads a string shaped
    like `{"method": ...}` on an update as an operation (operators.py), so such text is refused, never sent.
    Message text is stored by a create, which Appwrite never parses: it needs no such check."""
    value = optional_text(value, name, max_len=max_len, default=default)
    if operators.reads_as_operator(value):
        raise BadRequest(f"{name} reads as an Appwrite operation (a JSON object with a \"method\")",
                         code="operator_text")
    return value


def identifier(value: Any, name: str = "sessionId") -> str:
    if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
        raise BadRequest(f"{name} must be an ID of letters, digits, '.', '-' or '_' (at most 36)",
                         code="invalid_id")
    return value


def boolean(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise BadRequest(f"{name} must be true or false", code="invalid_type")
    return value


def json_object(value: Any, name: str, *, max_len: int) -> str:
    """An object, or a JSON string holding one, stored as compact strict JSON within max_len characters."""
    if isinstance(value, str):
        try:
            value = jsonio.loads(value)
        except jsonio.NotStrictJSON as exc:
            raise BadRequest(f"{name} must be a strict JSON object: {exc}", code="invalid_json") from None
    if not isinstance(value, dict):
        raise BadRequest(f"{name} must be a JSON object", code="invalid_type")
    if jsonio.too_deep(value):
        raise BadRequest(f"{name} is nested deeper than {jsonio.MAX_DEPTH} levels", code="invalid_json")
    try:
        encoded = jsonio.dumps(value, ensure_ascii=False)  # stored as UTF-8: the column's size counts characters
        encoded.encode("utf-8")  # a lone surrogate has no UTF-8 form
    except (ValueError, TypeError, RecursionError, UnicodeEncodeError):
        raise BadRequest(f"{name} is not storable JSON", code="invalid_json") from None
    if len(encoded) > max_len:
        raise BadRequest(f"{name} is larger than {max_len} characters", code="too_large")
    return encoded


# --- requests -----------------------------------------------------------------------------------

def new_session(body: Any) -> NewSession:
    body = fields(body if body != "" else {}, optional=("userMeta", "theme"))
    return NewSession(
        user_meta=json_object(body.get("userMeta", {}), "userMeta", max_len=USER_META_MAX),
        theme=json_object(body.get("theme", {}), "theme", max_len=THEME_MAX),
    )


def new_message(value: Any) -> NewMessage:
    body = fields(value, required=("text",), optional=("role", "id", "handoff"))
    role = body.get("role", "user")
    if role not in ROLES:
        raise BadRequest(f"role must be one of {', '.join(ROLES)}", code="invalid_role")
    client_id = body.get("id")
    if client_id is not None and (not isinstance(client_id, str) or not CLIENT_ID_PATTERN.fullmatch(client_id)):
        raise BadRequest("message id must be 1 to 64 letters, digits, '-' or '_'", code="invalid_id")
    handoff = boolean(body.get("handoff", False), "handoff")
    if handoff and role != "bot":
        raise BadRequest("only bot messages carry a handoff flag", code="invalid_handoff")
    return NewMessage(role=role, text=text(body["text"], "text", max_len=TEXT_MAX), client_id=client_id,
                      handoff=handoff)


def _token(body: dict) -> str | None:
    return optional_text(body.get("token"), "token", max_len=200)


def touch_request(body: Any) -> SessionRequest:
    body = fields(body, required=("sessionId",), optional=("token", "message"))
    message = body.get("message")
    return SessionRequest(identifier(body["sessionId"]), _token(body),
                          message=new_message(message) if message is not None else None)


def escalate_request(body: Any) -> SessionRequest:
    body = fields(body, required=("sessionId",), optional=("token", "reason"))
    return SessionRequest(identifier(body["sessionId"]), _token(body),
                          reason=stored_text(body.get("reason"), "reason", max_len=REASON_MAX,
                                             default="escalation requested"))


def close_request(body: Any) -> SessionRequest:
    """{sessionId, token?, reason?, rating?}: the visitor may rate in the request that closes."""
    body = fields(body, required=("sessionId",), optional=("token", "reason", "rating"))
    reason = stored_text(body.get("reason"), "reason", max_len=CLOSE_REASON_MAX)
    if reason is not None:  # before anything is read: the sweep's markers are the sweep's (`rules.close` too)
        rules.callers_close_reason(reason)
    return SessionRequest(identifier(body["sessionId"]), _token(body), reason=reason,
                          rating=rating(body["rating"]) if body.get("rating") is not None else None)


def rating(value: Any) -> Rating:
    """{score: 1..5, comment?: 1 to 1,000 characters}; nothing else."""
    body = fields(value, required=("score",), optional=("comment",))
    score = body["score"]
    if isinstance(score, bool) or not isinstance(score, int):
        raise BadRequest("rating.score must be a whole number", code="invalid_type")
    if not SCORE_MIN <= score <= SCORE_MAX:
        raise BadRequest(f"rating.score must be {SCORE_MIN} to {SCORE_MAX}", code="invalid_value")
    return Rating(score, stored_text(body.get("comment"), "rating.comment", max_len=COMMENT_MAX))


def rate_request(body: Any) -> SessionRequest:
    """POST close-session /rate {sessionId, token?, rating}: a closed session's rating."""
    body = fields(body, required=("sessionId", "rating"), optional=("token",))
    return SessionRequest(identifier(body["sessionId"]), _token(body), rating=rating(body["rating"]))


def assign_request(body: Any, *, agent_required: bool, override: bool = False) -> Assignment:
    """{sessionId, agentId?} (agentId required for /assign and /transfer); `override`: the route takes an admin's
    `overCapacity: true` too."""
    names = ("sessionId", "agentId") if agent_required else ("sessionId",)
    extra = ("overCapacity",) if override else ()
    body = fields(body, required=names, optional=(*(() if agent_required else ("agentId",)), *extra))
    agent = body.get("agentId")
    return Assignment(identifier(body["sessionId"]), identifier(agent, "agentId") if agent is not None else None,
                      boolean(body.get("overCapacity", False), "overCapacity"))


def availability_request(body: Any) -> AvailabilityChange:
    """POST assign-agent /availability {availability?, agentId?}."""
    body = fields(body if body != "" else {}, optional=("availability", "agentId"))
    chosen = body.get("availability")
    if chosen is not None and chosen not in AVAILABILITIES:
        raise BadRequest(f"availability must be one of {', '.join(AVAILABILITIES)}", code="invalid_availability")
    agent = body.get("agentId")
    return AvailabilityChange(chosen, identifier(agent, "agentId") if agent is not None else None)


def capacity_request(body: Any) -> CapacityChange:
    """POST assign-agent /capacity {agentId, capacity}: a whole number 0 to CAPACITY_MAX, or null (the default)."""
    body = fields(body, required=("agentId",), optional=("capacity",))
    agent_id = identifier(body["agentId"], "agentId")
    if "capacity" not in body:
        raise BadRequest("missing field(s): capacity (a number, or null for the default)", code="missing_field")
    value = body["capacity"]
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise BadRequest("capacity must be a whole number or null", code="invalid_type")
    if value is not None and not 0 <= value <= CAPACITY_MAX:
        raise BadRequest(f"capacity must be 0 to {CAPACITY_MAX}", code="invalid_value")
    return CapacityChange(agent_id, value)


SETTLE_DEFAULT, SETTLE_MAX = timedelta(seconds=60), timedelta(hours=1)


def recount_request(body: Any) -> timedelta:
    """POST /recount {settleSeconds?}: how long a session must have been left alone before its messageCount is
    set to its stored messages (0: nothing is running, e.g. after a crash; it also takes over a dead fold's lease).
    The default outlasts touch-session's timeout, so no admitted message is still on its way to being stored."""
    body = fields(body if body != "" else {}, optional=("settleSeconds",))
    value = body.get("settleSeconds", int(SETTLE_DEFAULT.total_seconds()))
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest("settleSeconds must be a whole number of seconds", code="invalid_type")
    if not 0 <= value <= SETTLE_MAX.total_seconds():
        raise BadRequest(f"settleSeconds must be 0 to {int(SETTLE_MAX.total_seconds())}", code="invalid_value")
    return timedelta(seconds=value)




def reply_request(body: Any) -> tuple[str, str]:
    """POST list-sessions /replies: {"shortcut": "refund", "text": "..."}; the shortcut as an agent types it after
    `/` (a leading `/` is dropped; lower-case letters, digits and '-', at most 32)."""
    body = fields(body, required=("shortcut", "text"))
    return reply_shortcut(body["shortcut"]), text(body["text"], "text", max_len=REPLY_TEXT_MAX)


def reply_shortcut(value: Any) -> str:
    if isinstance(value, str) and value.startswith("/"):
        value = value[1:]
    if not isinstance(value, str) or not SHORTCUT_PATTERN.fullmatch(value):
        raise BadRequest("shortcut must be 1 to 32 lower-case letters, digits or '-' (as typed after /)",
                         code="invalid_shortcut")
    return value
