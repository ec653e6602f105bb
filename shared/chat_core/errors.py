"""The project's errors. Each carries the HTTP status and the machine-readable code it answers with."""

from __future__ import annotations

from typing import Any


class ChatError(Exception):
    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, code: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details

    def to_json(self) -> dict:
        return {"error": {"code": self.code, "message": self.message, **self.details}}


class BadRequest(ChatError):
    status = 400
    code = "bad_request"


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
