"""Bounded abuse: what one caller can create or post per minute, keyed on what it cannot forge; empty sessions
deleted; the idle sweep keeping up with the creation ceiling. Functions' mains against the fake Appwrite."""

from __future__ import annotations

from datetime import timedelta

from chat_core.infra.sessions import Sessions
from chat_core.ops import sweep as idle_sweep
from conftest import ADMIN_SECRET, BOT_SECRET, Widget, execute, row, rows
from hardening_support import snapshot, violations

# Headers a caller might hope to be counted by: all of them forgeable, none of them read.
FORGED = {"X-Appwrite-Client-Ip": "203.0.113.9", "X-Forwarded-For": "198.51.100.7", "X-Real-Ip": "192.0.2.1",
          "X-Appwrite-User-Id": "someone-else", "X-Appwrite-Country-Code": "zz"}




def written(fake) -> tuple[str, list]:
    """Everything stored and every budget's use: equal values mean a request wrote nothing and used no budget
    (a budget row a refused request opened and gave back stays, at 0)."""
    return snapshot(fake), [(r["$id"], r["used"]) for r in rows(fake, "limits") if r["used"]]


def create(**kwargs):
    return execute("create-session", {}, **kwargs)


# --- sessions -------------------------------------------------------------------------------------------

def test_guests_share_one_session_budget_that_no_header_gets_around(appwrite, budgets, clock):
    budgets(GUEST_SESSIONS_PER_MINUTE=5)
    assert [create().status for _ in range(5)] == [201] * 5
    before = written(appwrite)
    for headers in (None, FORGED, {"X-Appwrite-Trigger": "schedule"}, {"X-Appwrite-Trigger": "event"}):
        refused = create(headers=headers)
        assert (refused.status, refused.error, refused.json["error"]["budget"]) == (429, "too_many_sessions",
                                                                                     "guests")
        assert refused.json["error"]["retryAfterSeconds"] == 55  # the minute's window ends at 14:01:00
    assert written(appwrite) == before  # a refused request writes nothing, no budget row either
    clock.next_minute()
    assert create(headers=FORGED).status == 201


def test_a_signed_in_visitor_has_a_session_budget_of_their_own(appwrite, budgets, clock):
    budgets(USER_SESSIONS_PER_MINUTE=2, GUEST_SESSIONS_PER_MINUTE=3)
    assert [create(user="visitor-vic").status for _ in range(2)] == [201, 201]
    refused = create(user="visitor-vic", headers=FORGED)
    assert (refused.status, refused.error, refused.json["error"]["budget"]) == (429, "too_many_sessions", "user")
    assert create(user="agent-bob").status == 201  # another user: their own budget
    assert [create().status for _ in range(4)] == [201, 201, 201, 429]  # guests: theirs, untouched by vic
    clock.next_minute()
    assert create(user="visitor-vic").status == 201


def test_the_project_ceiling_bounds_everyone_and_gives_back_what_a_refusal_took(appwrite, budgets, clock):
    budgets(SESSIONS_PER_MINUTE=4, GUEST_SESSIONS_PER_MINUTE=10, USER_SESSIONS_PER_MINUTE=10)
    assert [create().status for _ in range(3)] == [201] * 3
    assert create(secret=ADMIN_SECRET).status == 201  # secrets have no budget of their own, but count
    before = written(appwrite)
    for kwargs in ({}, {"user": "visitor-vic"}, {"secret": BOT_SECRET}):
        refused = create(**kwargs)
        assert (refused.status, refused.json["error"]["budget"]) == (429, "project"), kwargs
    assert written(appwrite) == before  # the guests' and vic's budgets were given back
    clock.next_minute()
    assert create(user="visitor-vic").status == 201


def test_a_bad_request_uses_no_budget(appwrite, budgets, clock):
    budgets(GUEST_SESSIONS_PER_MINUTE=1)
    for body in ({"userMeta": "nope"}, {"theme": {"a": float("nan")}}, {"extra": 1}):
        assert execute("create-session", body).status == 400
    assert execute("create-session", {}, headers={"X-Chat-JWT": "forged"}).status == 401
    assert rows(appwrite, "limits") == []
    assert create().status == 201


def test_zero_guest_sessions_means_only_signed_in_visitors_start_chats(appwrite, budgets, clock):
    budgets(GUEST_SESSIONS_PER_MINUTE=0)
    assert create().error == "too_many_sessions"
    assert create(user="visitor-vic").status == 201


# --- messages -------------------------------------------------------------------------------------------

def test_rotating_sessions_cannot_get_around_the_guests_message_budget(appwrite, budgets, clock):
    """The repro: one client spreading messages over many sessions went around the per-session flood limit."""
    budgets(GUEST_MESSAGES_PER_MINUTE=10, MAX_MESSAGES_PER_MINUTE=20)
    widgets = [Widget() for _ in range(6)]
    sent = [w.say(f"message {i}").status for i in range(2) for w in widgets[:5]]
    assert sent == [200] * 10
    before = written(appwrite)
    refused = execute("touch-session", {"sessionId": widgets[5].session_id, "message": {"text": "a fresh session"}},
                      token=widgets[5].token, headers=FORGED)
    assert (refused.status, refused.error, refused.json["error"]["budget"]) == (429, "rate_limited", "guests")
    assert written(appwrite) == before
    bot = execute("touch-session", {"sessionId": widgets[0].session_id, "message": {"text": "hi", "role": "bot"}},
                  secret=BOT_SECRET)
    assert bot.status == 200  # the bot and agents have no visitor budget
    clock.next_minute()
    assert widgets[5].say("a new minute").status == 200
    assert violations(appwrite) == []


def test_a_signed_in_visitors_messages_share_one_budget_across_their_sessions(appwrite, budgets, clock):
    budgets(USER_MESSAGES_PER_MINUTE=3, GUEST_MESSAGES_PER_MINUTE=100)
    first, second = (execute("create-session", {}, user="visitor-vic").json for _ in range(2))

    def say(session, text):  # with the session's token only: the budget follows the session's owner
        return execute("touch-session", {"sessionId": session["sessionId"], "message": {"text": text}},
                       token=session["token"])
    assert [say(first, "a").status, say(second, "b").status, say(first, "c").status] == [200] * 3
    refused = say(second, "d")
    assert (refused.status, refused.json["error"]["budget"]) == (429, "user")
    assert Widget().say("a guest").status == 200


def test_the_session_flood_limit_refuses_before_the_budget_is_used(appwrite, budgets, clock):
    budgets(MAX_MESSAGES_PER_MINUTE=2, GUEST_MESSAGES_PER_MINUTE=3)
    widget = Widget()
    assert [widget.say(str(i)).status for i in range(4)] == [200, 200, 429, 429]
    assert [r["used"] for r in rows(appwrite, "limits") if r["name"] == "messages:guests"] == [2]
    assert Widget().say("another session").status == 200


# --- empty sessions and the sweep ---------------------------------------------------------------------

def sweep():
    result = execute("close-session", trigger="schedule")
    assert result.status == 200, result
    return result.json


def fold():
    assert execute("list-sessions", trigger="schedule").status == 200


def test_empty_sessions_are_deleted_after_empty_session_minutes(appwrite, budgets, clock, monkeypatch):
    budgets(EMPTY_SESSION_MINUTES=10, IDLE_CLOSE_MINUTES=30)
    old_empty, talked, escalated = Widget(), Widget(), Widget()
    talked.say("hello")
    execute("escalate", {"sessionId": escalated.session_id}, token=escalated.token)
    clock.now += timedelta(minutes=6)
    kept_alive, fresh = Widget(), Widget()
    clock.now += timedelta(minutes=5)  # old_empty idle 11 minutes, kept_alive 5
    assert execute("touch-session", {"sessionId": kept_alive.session_id}, token=kept_alive.token).status == 200
    assert (sweep()["deleted"], row(appwrite, "sessions", old_empty.session_id)["closeReason"]) == (0, "empty")
    assert old_empty.say("too late").error == "session_closed"
    summary = execute("list-sessions", method="GET", secret=ADMIN_SECRET).json["summary"]
    assert summary["total"] == 4 and summary["byStatus"]["active"] == 4  # it counts nowhere already
    fold()  # the counters take that in: the next sweep deletes it
    clock.now += timedelta(minutes=1)
    result = sweep()
    assert (result["deleted"], result["closed"]) == (1, 0)
    stored = {r["$id"] for r in rows(appwrite, "sessions")}
    assert old_empty.session_id not in stored
    assert {talked.session_id, escalated.session_id, kept_alive.session_id, fresh.session_id} <= stored
    assert old_empty.say("too late").error == "session_not_found"
    summary = execute("list-sessions", method="GET", secret=ADMIN_SECRET).json["summary"]
    assert summary["total"] == 4 and summary["byStatus"]["active"] == 4
    assert violations(appwrite) == []  # the counters agree with a recount


def test_a_session_written_after_the_sweep_read_it_is_not_deleted(appwrite, budgets, clock, monkeypatch):
    budgets(EMPTY_SESSION_MINUTES=1)
    widget = Widget()
    clock.now += timedelta(minutes=2)
    listed = Sessions.empty

    def list_then_visitor_writes(self, *args):
        found = listed(self, *args)
        if found:
            assert widget.say("typed just now").status == 200
        return found
    monkeypatch.setattr(Sessions, "empty", list_then_visitor_writes)
    assert sweep()["deleted"] == 0
    stored = row(appwrite, "sessions", widget.session_id)
    assert (stored["messageCount"], stored["status"]) == (1, "active")
    assert violations(appwrite) == []


def test_the_sweep_keeps_up_with_the_creation_ceiling(appwrite, budgets, clock, monkeypatch):
    """Every minute a flood creates as many sessions as the ceiling allows, half of them with a message; the sweep
    runs every minute. After the first sweeps, what is stored stops growing: each sweep removes a minute's worth."""
    ceiling = 10
    budgets(SESSIONS_PER_MINUTE=ceiling, GUEST_SESSIONS_PER_MINUTE=ceiling, EMPTY_SESSION_MINUTES=2,
            IDLE_CLOSE_MINUTES=4)
    monkeypatch.setattr(idle_sweep, "IDLE_CLOSE_MAX_PER_RUN", 0)  # capacity = 2 x ceiling exactly
    open_counts, removed = [], []
    for _minute in range(10):
        made = [Widget() for _ in range(ceiling)]
        assert create().error == "too_many_sessions"
        for widget in made[::2]:
            widget.say("spam")
        clock.next_minute()
        fold()  # list-sessions' minute schedule
        result = sweep()
        removed.append((result["deleted"], result["closed"]))
        open_counts.append(sum(r["status"] != "closed" for r in rows(appwrite, "sessions")))
    assert removed[-5:] == [(ceiling // 2, ceiling // 2)] * 5  # a minute's worth deleted and closed each run
    assert open_counts[-5:] == [open_counts[-1]] * 5 and open_counts[-1] <= ceiling * 5
    assert len(rows(appwrite, "limits")) <= 3 * 3  # past budget windows dropped: 3 budgets x 3 windows kept
    assert violations(appwrite) == []


def test_the_sweep_capacity_is_twice_the_creation_ceiling(monkeypatch):
    from chat_core.config import Settings
    assert idle_sweep.sweep_capacity(Settings("e", "p", sessions_per_minute=600)) == 1200
    assert idle_sweep.sweep_capacity(Settings("e", "p", sessions_per_minute=10)) == idle_sweep.IDLE_CLOSE_MAX_PER_RUN
