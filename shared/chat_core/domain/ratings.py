"""The visitor's rating of a conversation: a score of 1 to 5 and an optional comment, once per session, by its
owner, once the session is closed or in the request that closes it (the rule; `ops/sessions.py` writes it).

Stored on the session row by a conditional write: two ratings racing cannot both land, and the second one is a 409
`already_rated` whatever the timing. The summary counts ratings like every other figure: a session's rating is part
of its tally (`rules.contribution`), so the fold and the repair keep the count and the sum, globally and for the
agent who held the session when it closed, exact at any size.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from chat_core.domain import rules
from chat_core.domain.inputs import Rating
from chat_core.domain.model import CLOSED, Change, Session, iso
from chat_core.errors import Conflict, NotFound


def rate(session: Session, rating: Rating, now: datetime) -> Change:
    """The rule: a closed session, never rated, takes the rating."""
    if session.status == CLOSED and session.close_reason == rules.EMPTY:
        # Closed as empty: on its way out, as if it had never been created (service.close_idle).
        raise NotFound(f"no session {session.id}", code="session_not_found")
    if session.status != CLOSED:
        raise Conflict("the session is still open: rate it while closing it, or once it is closed",
                       code="not_closed")
    if session.rating_score is not None:
        raise Conflict("this session was rated already", code="already_rated", rating=given(session))
    return Change(replace(session, rating_score=rating.score, rating_comment=rating.comment, rated_at=now))


def closing(session: Session, change: Change, rating: Rating | None, now: datetime) -> Change:
    """A close that carries a rating: the close (or, for a session closed already, nothing) and then the rating,
    in one write."""
    if rating is None:
        return change
    return rate(change.after or session, rating, now)


def given(session: Session) -> dict | None:
    """The rating as stored (what a 409 `already_rated` says, and what views show), or None."""
    if session.rating_score is None:
        return None
    return {"score": session.rating_score, "comment": session.rating_comment, "ratedAt": iso(session.rated_at)}
