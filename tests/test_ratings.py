"""The visitor's rating: 1 to 5 and an optional comment, once per session, by its owner, once closed or while
closing; counted in the summary like every other figure (globally and for the agent who held the session)."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from chat_core.domain.model import utcnow
from chat_core.edge import http
from conftest import ADMIN_SECRET, BOT_SECRET, Widget, execute, jwt_for, row
from hardening_support import snapshot, violations


def close(widget: Widget, rating: dict | None = None, **extra):
    body = {"sessionId": widget.session_id, **({"rating": rating} if rating is not None else {}), **extra}
    return execute("close-session", body, token=widget.token)


def rate(widget: Widget, rating, *, token: str | None = None, **caller):
    return execute("close-session", {"sessionId": widget.session_id, "rating": rating}, path="/rate",
                   token=token if token is not None else (None if caller else widget.token), **caller)


def claimed(agent: str = "agent-alice") -> Widget:
    w = Widget()
    execute("escalate", {"sessionId": w.session_id}, token=w.token)
    assert execute("assign-agent", {"sessionId": w.session_id}, path="/claim", user=agent).status == 200
    return w


def summary(**caller) -> dict:
    caller = caller or {"secret": ADMIN_SECRET}
    return execute("list-sessions", method="GET", path="/?limit=1", **caller).json["summary"]


def test_the_visitor_rates_in_the_request_that_closes(appwrite):
    w = claimed()
    answer = close(w, {"score": 4, "comment": "Quick and kind."})
    assert answer.status == 200, answer
    assert (answer.json["closed"], answer.json["rated"]) == (True, True)
    assert answer.json["session"]["rating"] == {"score": 4, "comment": "Quick and kind.",
                                                "ratedAt": answer.json["session"]["closedAt"]}
    stored = row(appwrite, "sessions", w.session_id)
    assert (stored["status"], stored["ratingScore"], stored["ratingComment"]) == ("closed", 4, "Quick and kind.")


def test_the_visitor_rates_a_closed_session_once_and_a_second_rating_is_409(appwrite):
    w = claimed()
    assert close(w).json["closed"] is True
    first = rate(w, {"score": 5})
    assert first.status == 200 and first.json["session"]["rating"]["score"] == 5, first
    assert first.json["session"]["rating"]["comment"] is None
    before = snapshot(appwrite)
    again = rate(w, {"score": 1, "comment": "changed my mind"})
    assert (again.status, again.error) == (409, "already_rated")
    assert again.json["error"]["rating"]["score"] == 5  # what is stored, so the widget can show it
    closing_again = close(w, {"score": 2})
    assert (closing_again.status, closing_again.error) == (409, "already_rated")
    assert snapshot(appwrite) == before


def test_a_session_closed_by_someone_else_is_rated_by_its_visitor_and_a_repeated_close_rates_it(appwrite):
    w = claimed()
    execute("close-session", {"sessionId": w.session_id}, user="agent-alice")
    answer = close(w, {"score": 3})  # the widget's close, after the agent's: nothing to close, but it rates
    assert answer.status == 200, answer
    assert (answer.json["closed"], answer.json["detail"], answer.json["rated"]) == (False, "already_closed", True)
    assert row(appwrite, "sessions", w.session_id)["ratingScore"] == 3


def test_an_open_session_cannot_be_rated(appwrite):
    w = claimed()
    before = snapshot(appwrite)
    answer = rate(w, {"score": 5})
    assert (answer.status, answer.error) == (409, "not_closed")
    assert snapshot(appwrite) == before


def test_only_the_owner_rates(appwrite):
    w = claimed()
    close(w)
    stranger = Widget()
    before = snapshot(appwrite)
    for caller in ({"user": "agent-alice"}, {"secret": ADMIN_SECRET}, {"secret": BOT_SECRET},
                   {"token": stranger.token}):
        answer = rate(w, {"score": 1}, **caller)
        assert (answer.status, answer.error) == (403, "not_owner"), (caller, answer)
    anonymous = execute("close-session", {"sessionId": w.session_id, "rating": {"score": 1}}, path="/rate")
    assert (anonymous.status, anonymous.error) == (403, "not_owner")
    assert snapshot(appwrite) == before


def test_an_agent_closing_with_a_rating_is_refused_and_closes_nothing(appwrite):
    w = claimed()
    before = snapshot(appwrite)
    answer = execute("close-session", {"sessionId": w.session_id, "rating": {"score": 5}}, user="agent-alice")
    assert (answer.status, answer.error) == (403, "not_owner")
    assert snapshot(appwrite) == before


def test_a_signed_in_visitor_rates_with_their_jwt(appwrite):
    created = execute("create-session", {}, user="visitor-vic")
    sid = created.json["sessionId"]
    assert execute("close-session", {"sessionId": sid}, headers={"X-Chat-JWT": jwt_for("visitor-vic")}).status == 200
    answer = execute("close-session", {"sessionId": sid, "rating": {"score": 2}}, path="/rate", user="visitor-vic")
    assert answer.status == 200, answer
    assert row(appwrite, "sessions", sid)["ratingScore"] == 2


@pytest.mark.parametrize(("rating", "code"), [
    ({"score": 0}, "invalid_value"), ({"score": 6}, "invalid_value"), ({"score": -1}, "invalid_value"),
    ({"score": "5"}, "invalid_type"), ({"score": 4.5}, "invalid_type"), ({"score": True}, "invalid_type"),
    ({"score": 5.0}, "invalid_type"), ({}, "missing_field"), ({"score": None}, "missing_field"),
    ({"score": 5, "comment": ""}, "invalid_length"), ({"score": 5, "comment": "x" * 1001}, "invalid_length"),
    ({"score": 5, "comment": 7}, "invalid_type"), ({"score": 5, "comment": "a\x00b"}, "invalid_text"),
    ({"score": 5, "stars": 5}, "unknown_field"), ("5", "invalid_body"), ([5], "invalid_body"),
])
def test_a_bad_rating_is_refused_and_changes_nothing(appwrite, rating, code):
    w = claimed()
    close(w)
    open_one = claimed()
    before = snapshot(appwrite)
    for answer in (rate(w, rating), close(open_one, rating)):
        assert (answer.status, answer.error) == (400, code), answer
    assert snapshot(appwrite) == before


def test_the_largest_comment_fits_its_column(appwrite):
    w = claimed()
    comment = "é" * 1000  # characters, as Appwrite counts a string column's size
    assert close(w, {"score": 5, "comment": comment}).status == 200
    assert row(appwrite, "sessions", w.session_id)["ratingComment"] == comment


def test_two_ratings_racing_one_lands_and_the_other_is_told(appwrite):
    """Both read the closed, unrated session; the first writes; only then does the second write. Its conditional
    write loses, it decides again, and is told the session is rated."""
    w = claimed()
    close(w)
    second_read, first_done = threading.Event(), threading.Event()
    results = {}

    def interleave(index, method, path):
        if method == "PATCH" and "/sessions/" in path:
            if threading.current_thread().name == "second":
                second_read.set()
                first_done.wait(5)
            else:
                second_read.wait(5)
        return None

    appwrite.fault = interleave
    other = threading.Thread(target=lambda: results.update(second=rate(w, {"score": 1})), name="second")
    other.start()
    results["first"] = rate(w, {"score": 5})
    first_done.set()
    other.join(10)
    appwrite.fault = None
    assert results["first"].status == 200, results
    assert (results["second"].status, results["second"].error) == (409, "already_rated")
    assert row(appwrite, "sessions", w.session_id)["ratingScore"] == 5
    assert summary()["ratings"]["count"] == 1


def test_a_session_closed_as_empty_cannot_be_rated(appwrite, monkeypatch):
    w = Widget()
    later, now = utcnow() + timedelta(hours=1), http.utcnow
    monkeypatch.setattr(http, "utcnow", lambda: later)  # an hour on: the sweep closes it as empty
    execute("close-session", trigger="schedule")
    monkeypatch.setattr(http, "utcnow", now)
    assert row(appwrite, "sessions", w.session_id)["closeReason"] == "empty"
    answer = rate(w, {"score": 5})
    assert (answer.status, answer.error) == (404, "session_not_found")


def test_the_summary_counts_ratings_exactly_globally_and_per_agent_before_and_after_the_fold(appwrite):
    for agent, score in (("agent-alice", 5), ("agent-alice", 2), ("agent-bob", 4)):
        close(claimed(agent), {"score": score})
    unassigned = Widget()  # closed with the bot only: counted globally, for no agent
    close(unassigned, {"score": 1})
    close(claimed("agent-bob"))  # closed, not rated
    want = {"count": 4, "average": 3.0, "byAgent": {"agent-alice": {"count": 2, "average": 3.5},
                                                    "agent-bob": {"count": 1, "average": 4.0}}}
    assert summary()["ratings"] == want  # nothing folded yet: the readers add the pending sessions
    assert execute("list-sessions", trigger="schedule").status == 200
    global_row = row(appwrite, "counters", "global")
    assert (global_row["ratings"], global_row["ratingSum"]) == (4, 12)
    assert summary()["ratings"] == want
    assert execute("list-sessions", {}, path="/recount", secret=ADMIN_SECRET).json["summary"]["ratings"] == want
    assert summary(user="admin-ada")["ratings"] == want
    # An agent sees the global figures and their own.
    assert summary(user="agent-bob")["ratings"] == {**want, "byAgent": {"agent-bob": {"count": 1, "average": 4.0}}}
    assert violations(appwrite) == []


def test_a_rating_after_the_fold_is_folded_too(appwrite):
    w = claimed("agent-bob")
    close(w)
    execute("list-sessions", trigger="schedule")
    rate(w, {"score": 3})
    assert summary()["ratings"]["byAgent"] == {"agent-bob": {"count": 1, "average": 3.0}}
    execute("list-sessions", trigger="schedule")
    assert row(appwrite, "sessions", w.session_id)["dirty"] is False
    assert summary()["ratings"]["byAgent"] == {"agent-bob": {"count": 1, "average": 3.0}}
    assert violations(appwrite) == []


def test_an_agent_sees_the_ratings_that_count_for_them_and_no_other_agents(appwrite):
    """Issue 18: the summary hid Bob's ratings from Alice, but listing Bob's closed sessions showed them, comments
    and all. Every staff view follows the summary's rule: admins see every rating, an agent those that count for
    them (the agent who held the session when it closed) and those that count for no agent."""
    bobs = claimed("agent-bob")
    close(bobs, {"score": 2, "comment": "Bob was rude."})
    alices = claimed("agent-alice")
    close(alices, {"score": 5, "comment": "Alice was great."})
    nobodys = Widget()  # the bot's alone: counts for no agent
    close(nobodys, {"score": 4, "comment": "The bot helped."})

    def seen(**caller) -> dict:
        """What a caller sees of each session's rating, in every staff view that shows one."""
        found = {}
        listed = execute("list-sessions", method="GET", path="/?status=closed&limit=100", **caller).json["sessions"]
        by_agent = execute("list-sessions", method="GET", path="/?status=closed&assignedAgent=agent-bob",
                           **caller).json["sessions"]
        for w in (bobs, alices, nobodys):
            sid = w.session_id
            views = [next(s for s in listed if s["sessionId"] == sid),
                     execute("list-sessions", method="GET", path=f"/{sid}", **caller).json["session"],
                     execute("list-sessions", method="GET", path=f"/{sid}/messages", **caller).json["session"],
                     execute("list-sessions", method="GET", path=f"/{sid}/history", **caller).json["session"]]
            if w is bobs:
                views.append(by_agent[0])
            ratings = {json.dumps(v["rating"], sort_keys=True) for v in views}
            assert len(ratings) == 1, (sid, ratings)  # one answer everywhere
            rating = json.loads(ratings.pop())
            history = execute("list-sessions", method="GET", path=f"/{sid}/history", **caller).json["history"]
            rate = next(e for e in history if e["action"] == "rate")
            export = execute("list-sessions", method="GET", path=f"/{sid}/export", **caller).json["chunk"]
            shown = rating is not None
            assert (rate["to"] != "rated", rate["why"] is not None) == (shown, shown), rate
            comment = {bobs: "Bob was rude.", alices: "Alice was great.", nobodys: "The bot helped."}[w]
            assert (comment in export) == shown
            found[w.session_id] = rating and rating["score"]
        return found

    everything = {bobs.session_id: 2, alices.session_id: 5, nobodys.session_id: 4}
    assert seen(secret=ADMIN_SECRET) == everything
    assert seen(user="admin-ada") == everything
    assert seen(user="agent-alice") == {**everything, bobs.session_id: None}
    assert seen(user="agent-bob") == {**everything, alices.session_id: None}
