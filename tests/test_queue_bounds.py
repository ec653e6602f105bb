"""The human queue under a flood (issue 18, items 4 and 5), through the functions against the fake Appwrite:
escalations and heartbeats draw on per-minute budgets like messages; a guest's flood never takes a signed-in
visitor's place; a waiting visitor whose widget still polls (a background tab) is not closed as idle."""

from __future__ import annotations

from conftest import BOT_SECRET, Widget, execute, row, rows
from hardening_support import violations
from test_budgets import FORGED, written


def escalate(session: dict | Widget, **who):
    session_id = session.session_id if isinstance(session, Widget) else session["sessionId"]
    token = session.token if isinstance(session, Widget) else session["token"]
    return execute("escalate", {"sessionId": session_id}, token=token, **who)


def heartbeat(w: Widget, **headers):
    return execute("touch-session", {"sessionId": w.session_id}, token=w.token, headers=headers or None)


def poll(w: Widget):
    return execute("touch-session", method="GET", path=f"/messages?sessionId={w.session_id}", token=w.token)


def sweep() -> dict:
    result = execute("close-session", trigger="schedule")
    assert result.status == 200, result
    return result.json


# --- item 4: one guest floods the queue ----------------------------------------------------------

def test_a_guests_flood_never_takes_a_signed_in_visitors_place(appwrite, clock, budgets, monkeypatch):
    """The repro: one guest (no JWT) starts 40 chats and asks for a person in each; then a signed-in visitor asks.
    They are told they are next, and the first agent to free up gets them, not the oldest fake."""
    budgets(GUEST_ESCALATIONS_PER_MINUTE=1000)  # this test is about the order, not the budget
    monkeypatch.setenv("AGENT_CAPACITY", "1")
    fakes = [Widget() for _ in range(40)]
    for fake in fakes:
        clock.advance(0.01)
        assert escalate(fake).status == 200
    clock.advance(0.01)
    vic = execute("create-session", {}, user="visitor-vic").json
    answer = escalate(vic, user="visitor-vic")
    assert answer.status == 200, answer
    queue = answer.json["session"]["queue"]
    assert (queue["position"], queue["waiting"]) == (0, 41)
    later_guest = Widget()
    assert escalate(later_guest).json["session"]["queue"]["position"] == 41  # guests: behind everyone signed in
    first_fake = escalate(fakes[0]).json["session"]["queue"]
    assert first_fake["position"] == 1  # a guest's place among guests is kept, behind the signed-in visitor

    became = execute("assign-agent", {"availability": "available"}, path="/availability", user="agent-alice")
    assert became.status == 200, became
    assert row(appwrite, "sessions", vic["sessionId"])["assignedAgent"] == "agent-alice"
    assert all(row(appwrite, "sessions", f.session_id)["assignedAgent"] is None for f in fakes)
    assert violations(appwrite) == []


def test_guests_share_one_escalation_budget_that_no_header_or_path_gets_around(appwrite, clock, budgets):
    budgets(GUEST_ESCALATIONS_PER_MINUTE=3, USER_ESCALATIONS_PER_MINUTE=1)
    guests = [Widget() for _ in range(7)]
    assert [escalate(g).status for g in guests[:3]] == [200] * 3
    before = written(appwrite)
    refused = escalate(guests[3], headers=FORGED)
    assert (refused.status, refused.error, refused.json["error"]["budget"]) == (429, "rate_limited", "guests")
    assert refused.json["error"]["retryAfterSeconds"] == 55
    # Asking in a message, or through the bot's hand-off, is the same escalation and draws on the same budget.
    asked = guests[4].say("I want to talk to a human")
    assert (asked.status, asked.json["error"]["budget"]) == (429, "guests")
    handoff = execute("touch-session", {"sessionId": guests[5].session_id,
                                        "message": {"role": "bot", "text": "Let me get a colleague", "handoff": True}},
                      secret=BOT_SECRET)
    assert (handoff.status, handoff.json["error"]["budget"]) == (429, "guests")
    assert written(appwrite) == before  # refused: nothing stored, no budget used
    # An agent putting a chat in the queue is staff work: no visitor budget.
    staff = execute("escalate", {"sessionId": guests[6].session_id}, user="agent-bob")
    assert staff.status == 200 and staff.json["escalated"]
    # A signed-in visitor has a budget of their own, out of the guests' reach.
    vic = [execute("create-session", {}, user="visitor-vic").json for _ in range(2)]
    assert escalate(vic[0], user="visitor-vic").status == 200
    assert escalate(vic[1], user="visitor-vic").json["error"]["budget"] == "user"
    clock.advance()
    assert escalate(guests[3]).status == 200
    assert guests[4].say("I want to talk to a human").status == 200
    assert row(appwrite, "sessions", guests[4].session_id)["needsHuman"] is True
    assert violations(appwrite) == []


def test_asking_again_costs_no_budget(appwrite, clock, budgets):
    budgets(GUEST_ESCALATIONS_PER_MINUTE=1)
    w = Widget()
    assert escalate(w).json["escalated"] is True
    again = escalate(w)  # already waiting: a no-op, which takes nothing
    assert (again.status, again.json["escalated"]) == (200, False)
    assert w.say("is a human there?").status == 200  # a message in a waiting chat escalates nothing


def test_heartbeats_draw_on_a_budget_like_messages(appwrite, clock, budgets):
    budgets(GUEST_HEARTBEATS_PER_MINUTE=2, USER_HEARTBEATS_PER_MINUTE=1)
    guests = [Widget() for _ in range(3)]
    assert [heartbeat(g).status for g in guests[:2]] == [200, 200]
    before = written(appwrite)
    refused = heartbeat(guests[2], **FORGED)
    assert (refused.status, refused.error, refused.json["error"]["budget"]) == (429, "rate_limited", "guests")
    assert written(appwrite) == before
    vic = execute("create-session", {}, user="visitor-vic").json
    beat = execute("touch-session", {"sessionId": vic["sessionId"]}, user="visitor-vic")
    assert beat.status == 200
    assert execute("touch-session", {"sessionId": vic["sessionId"]}, user="visitor-vic").json["error"]["budget"] \
        == "user"
    clock.advance()
    assert heartbeat(guests[2]).status == 200


# --- item 5: a waiting visitor in a background tab -------------------------------------------------

def test_a_waiting_visitor_whose_widget_polls_is_not_closed_as_idle(appwrite, clock, budgets):
    """The widget sends heartbeats only while its tab is in front, and polls every minute in the background. A
    visitor waiting for a person in a background tab keeps their place as long as the widget polls; one whose
    widget stopped (the tab closed) is closed after IDLE_CLOSE_MINUTES, and so is a bot-only chat left polling."""
    budgets(IDLE_CLOSE_MINUTES=30)
    waiting, gone, bot_only = Widget(), Widget(), Widget()
    for w in (waiting, gone):
        assert escalate(w).status == 200
    bot_only.say("hello")
    asked_at = row(appwrite, "sessions", waiting.session_id)["lastSeen"]
    stamps = []
    for _minute in range(45):
        clock.advance()
        for w in (waiting, bot_only):
            assert poll(w).status == 200
        stamps.append(row(appwrite, "sessions", waiting.session_id)["lastSeen"])
        sweep()
    assert row(appwrite, "sessions", waiting.session_id)["status"] == "active"
    assert row(appwrite, "sessions", waiting.session_id)["needsHuman"] is True
    assert row(appwrite, "sessions", gone.session_id)["closeReason"] == "idle"
    assert row(appwrite, "sessions", bot_only.session_id)["closeReason"] == "idle"
    # Presence is written once every few minutes, not on every poll: polls stay reads.
    assert stamps[0] == asked_at and 5 <= len(set(stamps)) <= 10
    assert violations(appwrite) == []


def test_a_poll_by_someone_else_or_past_the_budget_moves_nothing(appwrite, clock, budgets):
    budgets(GUEST_HEARTBEATS_PER_MINUTE=1)
    w = Widget()
    assert escalate(w).status == 200
    seen = row(appwrite, "sessions", w.session_id)["lastSeen"]
    clock.advance(10)
    staff = execute("touch-session", method="GET", path=f"/messages?sessionId={w.session_id}", secret=BOT_SECRET)
    assert staff.status == 200 and row(appwrite, "sessions", w.session_id)["lastSeen"] == seen
    assert heartbeat(Widget()).status == 200  # the guests' heartbeats for this minute, spent
    answer = poll(w)
    assert answer.status == 200 and answer.json["session"]["queue"]["position"] == 0  # the poll still answers
    assert row(appwrite, "sessions", w.session_id)["lastSeen"] == seen
    clock.advance()
    poll(w)
    assert row(appwrite, "sessions", w.session_id)["lastSeen"] != seen
    assert [r["used"] for r in rows(appwrite, "limits") if r["name"] == "heartbeats:guests"][-1] == 1
