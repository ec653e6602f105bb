"""Query strings in, typed inputs out, or BadRequest: the pages, filters and exports of the GET routes. Nothing here
writes. (Bodies are `validation`.)"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from chat_core.domain import search
from chat_core.domain.inputs import AuditFilter, ExportRequest, HistoryPage, Page, SessionFilter
from chat_core.domain.model import STATUSES, parse_time
from chat_core.edge.validation import LIMIT_PATTERN, identifier
from chat_core.errors import BadRequest

# Patterns end in \Z, never $ ($ also matches before a trailing "\n"), and are used with fullmatch. Digits are
# ASCII only: str.isdigit() and \d accept "²" or "٣", which int() then refuses or reads.
DURATION_PATTERN = re.compile(r"([0-9]{1,9})([smhd]?)\Z")


PAGE_MAX, PAGE_DEFAULT = 100, 25


IDLE_FOR_MAX = timedelta(days=3650)


EARLIEST, LATEST = datetime(1970, 1, 1, tzinfo=timezone.utc), datetime(9999, 12, 31, tzinfo=timezone.utc)


HISTORY_MAX, HISTORY_DEFAULT = 100, 100


SEQ_PATTERN = re.compile(r"[0-9]{1,9}\Z")


def history_page(query: dict[str, list[str]]) -> HistoryPage:
    """GET /{id}/history ?limit=1..100&cursor=<seq>: the cursor is the `nextCursor` of the page before."""
    unknown = sorted(set(query) - {"limit", "cursor"})
    if unknown:
        raise BadRequest(f"unknown query parameter(s): {', '.join(unknown)[:200]}", code="unknown_field")
    raw_limit, cursor = _single(query, "limit"), _single(query, "cursor")
    limit = HISTORY_DEFAULT
    if raw_limit is not None:
        if not (LIMIT_PATTERN.fullmatch(raw_limit) and 1 <= int(raw_limit) <= HISTORY_MAX):
            raise BadRequest(f"limit must be 1 to {HISTORY_MAX}", code="invalid_query")
        limit = int(raw_limit)
    if cursor is not None and not SEQ_PATTERN.fullmatch(cursor):
        raise BadRequest("cursor must be the nextCursor of the page before", code="invalid_cursor")
    return HistoryPage(limit, int(cursor) if cursor else 0)


AUDIT_PARAMS = ("agent", "from", "to", "order", "limit", "cursor")


def audit_filter(query: dict[str, list[str]]) -> AuditFilter:
    """GET /audit ?agent=&from=&to=&order=asc|desc (and limit, cursor: `page`)."""
    unknown = sorted(set(query) - set(AUDIT_PARAMS))
    if unknown:
        raise BadRequest(f"unknown query parameter(s): {', '.join(unknown)[:200]}", code="unknown_field")
    agent = _single(query, "agent")
    order = _single(query, "order") or "asc"
    if order not in ("asc", "desc"):
        raise BadRequest("order must be asc or desc", code="invalid_query")
    start, end = _query_time(_single(query, "from"), "from"), _query_time(_single(query, "to"), "to")
    if start and end and end <= start:
        raise BadRequest("to must be after from", code="invalid_query")
    return AuditFilter(agent=identifier(agent, "agent") if agent else None, start=start, end=end,
                       oldest_first=order == "asc")


def _single(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise BadRequest(f"{name} given more than once", code="invalid_query")
    return values[0]


def page(query: dict[str, list[str]], default: int = PAGE_DEFAULT) -> Page:
    raw_limit = _single(query, "limit")
    if raw_limit is None:
        limit = default
    elif LIMIT_PATTERN.fullmatch(raw_limit) and 1 <= int(raw_limit) <= PAGE_MAX:
        limit = int(raw_limit)
    else:
        raise BadRequest(f"limit must be 1 to {PAGE_MAX}", code="invalid_query")
    cursor = _single(query, "cursor")
    return Page(limit, identifier(cursor, "cursor") if cursor else None)


def _query_bool(raw: str | None, name: str) -> bool | None:
    if raw is None:
        return None
    if raw not in ("true", "false"):
        raise BadRequest(f"{name} must be true or false", code="invalid_query")
    return raw == "true"


def _query_time(raw: str | None, name: str) -> datetime | None:
    """An ISO 8601 date-time between 1970 and 9999, in UTC (an offset at the edge of the calendar overflows)."""
    if raw is None:
        return None
    try:
        if not raw.isascii():
            raise ValueError(raw)
        moment = parse_time(raw).astimezone(timezone.utc)
    except (ValueError, OverflowError, AttributeError):
        raise BadRequest(f"{name} must be an ISO 8601 date-time", code="invalid_query") from None
    if not EARLIEST <= moment <= LATEST:
        raise BadRequest(f"{name} must be between 1970 and 9999", code="invalid_query")
    return moment


def duration(raw: str | None, name: str = "idleFor") -> timedelta | None:
    """`90`, `90s`, `15m`, `2h`, `1d`."""
    if raw is None:
        return None
    match = DURATION_PATTERN.fullmatch(raw)
    if not match:
        raise BadRequest(f"{name} must look like 90, 90s, 15m, 2h or 1d", code="invalid_query")
    seconds = int(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
    if seconds > IDLE_FOR_MAX.total_seconds():  # now - idleFor must stay a date
        raise BadRequest(f"{name} must be at most {IDLE_FOR_MAX.days} days", code="invalid_query")
    return timedelta(seconds=seconds)


LIST_PARAMS = ("status", "needsHuman", "assignedAgent", "idleFor", "createdAfter", "createdBefore", "order",
               "sort", "summary", "limit", "cursor", "rating", "q")


# What a list can be sorted by: the visitor's last activity, or when the session started waiting for a human
# (the queue, oldest waiter first with order=asc; the index (needsHuman, escalatedAt) serves it).
SORT_COLUMNS = ("lastSeen", "escalatedAt")


def session_filter(query: dict[str, list[str]]) -> SessionFilter:
    unknown = sorted(set(query) - set(LIST_PARAMS))
    if unknown:
        raise BadRequest(f"unknown query parameter(s): {', '.join(unknown)[:200]}", code="unknown_field")
    status = _single(query, "status")
    statuses = tuple(status.split(",")) if status else ()
    if any(s not in STATUSES for s in statuses):
        raise BadRequest(f"status must be among {', '.join(STATUSES)}", code="invalid_query")
    agent = _single(query, "assignedAgent")
    rating = _single(query, "rating")
    ratings = tuple(rating.split(",")) if rating else ()
    if any(r not in ("1", "2", "3", "4", "5") for r in ratings):
        raise BadRequest("rating must be 1 to 5, or several separated by commas", code="invalid_query")
    order = _single(query, "order") or "desc"
    if order not in ("asc", "desc"):
        raise BadRequest("order must be asc or desc", code="invalid_query")
    sort_by = _single(query, "sort") or "lastSeen"
    if sort_by not in SORT_COLUMNS:
        raise BadRequest(f"sort must be one of {', '.join(SORT_COLUMNS)}", code="invalid_query")
    return SessionFilter(
        statuses=statuses,
        needs_human=_query_bool(_single(query, "needsHuman"), "needsHuman"),
        assigned_agent=identifier(agent, "assignedAgent") if agent else None,
        idle_for=duration(_single(query, "idleFor")),
        created_after=_query_time(_single(query, "createdAfter"), "createdAfter"),
        created_before=_query_time(_single(query, "createdBefore"), "createdBefore"),
        oldest_first=order == "asc",
        sort_by=sort_by,
        with_summary=_query_bool(_single(query, "summary"), "summary") is not False,
        ratings=tuple(sorted({int(r) for r in ratings})),
        words=_search_words(_single(query, "q")),
    )


def _search_words(q: str | None) -> tuple[str, ...]:
    """`q`: the visitor's name or e-mail, or words of the chat; each word of 3 characters or more starts a word of
    the session's searchText (domain.search). A `q` with no such word is a 400, not a list of everything."""
    if q is None:
        return ()
    if len(q) > 200:
        raise BadRequest("q must be at most 200 characters", code="invalid_query")
    words = search.query_words(q)
    if not words:
        raise BadRequest("q needs a word of 3 or more letters or digits (short and common words are not indexed)",
                         code="invalid_query")
    return tuple(words)


def export_request(query: dict[str, list[str]], *, with_session: bool = False) -> ExportRequest:
    """`format` (json or csv, default json), `limit` (messages per page, default 100) and `cursor` (the nextCursor
    of the page before); the visitor's route also takes `sessionId`."""
    from chat_core.edge import transcripts  # the export routes' formats, loaded with them
    allowed = ("format", "limit", "cursor", *(("sessionId",) if with_session else ()))
    unknown = sorted(set(query) - set(allowed))
    if unknown:
        raise BadRequest(f"unknown query parameter(s): {', '.join(unknown)[:200]}", code="unknown_field")
    fmt = _single(query, "format") or "json"
    if fmt not in transcripts.FORMATS:
        raise BadRequest(f"format must be one of {', '.join(transcripts.FORMATS)}", code="invalid_query")
    return ExportRequest(fmt=fmt, page=page({k: v for k, v in query.items() if k in ("limit", "cursor")},
                                            default=PAGE_MAX),
                         session_id=identifier(_single(query, "sessionId")) if with_session else None)
