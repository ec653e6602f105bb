"""Issue 20, items 3 and 5, on the in-memory gateway: a waiting visitor's place follows every move of the queue
through the queue's row (its line: the first waiters' ordering keys), without a count, and a poll costs at most 3
requests. GIVEN a queue, WHEN it moves (someone ahead leaves, someone joins behind or ahead, a chat is handed
back), THEN the place a poll counts from the row; beyond the line, the figure kept on the session and its bound."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from chat_core.domain import queue as line_of
from chat_core.domain.inputs import Assignment, Page, SessionRequest
from chat_core.domain.model import Queue, iso
from chat_core.domain.queue import Line, key_ms
from chat_core.domain.signals import queue_line
from chat_core.edge.views import queue_view
from chat_core.ops import assignment, escalation, queueing, schedule, sessions
from chat_core.ops import messages as ops_messages
from fakes import fixtures
from fakes.world import NOW, World

no_backoff, world = fixtures.no_backoff, fixtures.world  # the fast tests' fixtures (fakes/fixtures.py)

ROOT = Path(__file__).resolve().parent.parent


def waiting(world: World, who: str | None = None):
    """A visitor (signed in as `who`, else a guest) asks for a person a second after the last one."""
    world.later(seconds=1)
    caller = world.user(who) if who else world.visitor()
    started = world.started(caller)
    escalation.escalate(world.core(caller if who else world.visitor(started.token)),
                        SessionRequest(started.session.id, started.token, reason="help"), started.token)
    return started, caller if who else world.visitor(started.token)


def poll(world: World, visitor) -> tuple[Queue | None, int]:
    """GET touch-session /messages as the route runs it: the session (and the presence write when due), the page,
    the place. Returns the queue told and the requests it cost."""
    started, caller = visitor
    core = world.core(caller)
    before = len(world.gw.calls)
    session, wrote = sessions.own_session(core, started.session.id, started.token)
    ops_messages.page_of(core, session.id, Page(50, None))
    told = queueing.queue_of(core, session, look=not wrote)
    return told, len(world.gw.calls) - before


def place(world: World, visitor) -> tuple[int, int]:
    told, _ = poll(world, visitor)
    assert told is not None
    return told.position, told.waiting


# --- the line, as the widget reads it ---------------------------------------------------------------------

def test_the_line_is_encoded_as_the_widgets_test_reads_it():
    """tests/js/widget-queue.test.mjs counts places from this very text: both sides count the same."""
    t0 = key_ms(NOW.replace(year=2026, month=12, day=7))
    line = Line(4, ((t0, True), (t0 + 1500, False), (t0 + 3000, True), (t0 + 4000, False)))
    text = line_of.encode(line)
    assert f"export const LINE = '{text}';" in (ROOT / "tests/js/widget-queue.test.mjs").read_text()
    assert line_of.decode(text) == line
    at = [NOW.replace(year=2026, month=12, day=7) + timedelta(seconds=s) for s in (0, 1.5, 3, 4)]
    assert [line_of.place(line, at[0], True), line_of.place(line, at[2], True), line_of.place(line, at[1], False),
            line_of.place(line, at[3], False)] == [(0, 4), (1, 4), (2, 4), (3, 4)]
    assert line_of.decode("not json") is None and line_of.decode(None) is None


def test_a_new_wait_joins_the_line_in_its_place():
    line = Line(2, ((1000, True), (3000, False)))
    assert line_of.with_entry(line, NOW, True).entries[-1] == (key_ms(NOW), True)
    full = Line(250, tuple((n * 1000, True) for n in range(line_of.LINE_SIZE)))
    assert line_of.with_entry(full, NOW, True) == Line(251, full.entries)  # beyond the line: only counted


# --- moves ------------------------------------------------------------------------------------------------

def test_the_place_moves_when_someone_ahead_leaves_and_not_when_someone_behind_does(world):
    first, second, third = waiting(world, "vic-1"), waiting(world, "vic-2"), waiting(world, "vic-3")
    assert place(world, third) == (2, 3)
    closed = world.core(first[1])
    sessions.close(closed, SessionRequest(first[0].session.id, first[0].token), first[0].token)
    assert place(world, third) == (1, 2)  # no minute's pass: the close wrote the queue's row
    sessions.close(world.core(third[1]), SessionRequest(third[0].session.id, third[0].token), third[0].token)
    assert place(world, second) == (0, 1)


def test_a_signed_in_visitor_who_asks_later_goes_ahead_of_a_waiting_guest(world):
    guest = waiting(world)
    assert place(world, guest) == (0, 1)
    waiting(world, "vic")
    assert place(world, guest) == (1, 2)


def test_a_claim_moves_everyone_behind(world):  # nobody available: nothing is assigned on its own
    line = [waiting(world, f"vic-{n}") for n in range(3)]
    assert [place(world, v) for v in line] == [(0, 3), (1, 3), (2, 3)]
    assignment.claim(world.core(world.agent("agent-alice")), Assignment(line[0][0].session.id))
    assert [place(world, v) for v in line[1:]] == [(0, 2), (1, 2)]


def test_a_chat_handed_back_waits_again_from_the_back_of_its_line(world):
    first, second = waiting(world, "vic-1"), waiting(world, "vic-2")
    alice = world.core(world.agent("agent-alice"))
    assignment.claim(alice, Assignment(first[0].session.id))
    assert place(world, second) == (0, 1)
    world.later(seconds=1)
    assignment.unassign(world.core(world.agent("agent-alice")), Assignment(first[0].session.id))
    assert place(world, first) == (1, 2) and place(world, second) == (0, 2)


def test_a_waiting_poll_costs_at_most_3_requests(world):
    visitor = waiting(world, "vic")
    for n in range(5):
        waiting(world, f"behind-{n}")
    told, cost = poll(world, visitor)
    assert (told.position, cost) == (0, 3)  # the session, the page, the queue's row
    world.later(minutes=6)  # lastSeen is old: this poll writes it, and reads no row (the figures kept)
    schedule.minute(world.core(world.system()))  # the minute's pass keeps the figures fresh
    told, cost = poll(world, visitor)
    assert (told.position, cost) == (0, 3)  # the session, the presence write, the page
    assert poll(world, visitor)[1] == 3


def test_an_escalation_counts_its_figures_before_its_write_and_keeps_them_with_it(world):
    for n in range(3):
        waiting(world, f"ahead-{n}")
    world.later(seconds=1)
    caller = world.user("vic")
    started = world.started(caller)
    before = len(world.gw.calls)
    done = escalation.escalate(world.core(caller), SessionRequest(started.session.id, None, reason="help"), None)
    calls = world.gw.calls[before:]
    # read, the signed-in visitor's own budget (one upsert), the agents at work, the line, the write (with the
    # figures), the signal with the queue's row
    assert calls == ["sessions.get", "limits.take_together", "agents.online", "sessions.line", "sessions.update",
                     "signals.publish_many"]
    kept = world.session(started.session.id).queue
    assert (kept.position, kept.waiting) == (3, 4) and done.session.queue == kept
    row = world.gw.signals.rows["queue"][0]
    assert line_of.decode(row["line"]).entries[-1] == (key_ms(done.session.escalated_at), True)


# --- beyond the line: the figure kept, and its bound ----------------------------------------------------

def test_beyond_the_line_the_place_is_the_figure_kept_until_the_minutes_pass(world, monkeypatch):
    monkeypatch.setattr(line_of, "LINE_SIZE", 2)
    from chat_core.ops import signals as ops_signals
    monkeypatch.setattr(ops_signals, "LINE_SIZE", 2)
    line = [waiting(world, f"vic-{n}") for n in range(4)]
    assert place(world, line[1]) == (1, 4)  # in the line: counted from the row
    assert place(world, line[3]) == (3, 4)  # beyond: the figure its escalation kept
    sessions.close(world.core(line[0][1]), SessionRequest(line[0][0].session.id, line[0][0].token),
                   line[0][0].token)
    assert place(world, line[1]) == (0, 3)
    # Beyond the line, the figure kept is behind by the moves since it was counted (at most the last minute's
    # while the minute's pass runs); the pass counts it again.
    assert place(world, line[3]) == (3, 4)
    world.later(seconds=30)
    schedule.minute(world.core(world.system()))
    assert place(world, line[3]) == (2, 3)


def test_two_moves_at_once_leave_the_row_behind_until_the_next_move_or_the_minutes_pass(world):
    first, _, third = waiting(world, "vic-1"), waiting(world, "vic-2"), waiting(world, "vic-3")
    stale = world.gw.signals.rows["queue"]
    sessions.close(world.core(first[1]), SessionRequest(first[0].session.id, first[0].token), first[0].token)
    world.gw.signals.rows["queue"] = stale  # a concurrent move's upsert landed last, with the line it read before
    assert place(world, third) == (2, 3)
    world.later(seconds=30)
    schedule.minute(world.core(world.system()))
    assert place(world, third) == (1, 2)


# --- when the figures were counted: a row left behind never takes the place of fresher figures -------------

def test_the_row_and_the_answer_say_when_their_figures_were_counted(world):
    """The row's `at` is when its line was read; an answer's `queue.asOf` is when its figures were: the line's read
    when the place came from it, else when the figures kept were counted (the widget keeps the newer:
    tests/js/widget-queue.test.mjs)."""
    first = waiting(world, "vic-1")
    second = waiting(world, "vic-2")
    escalated = world.now
    row = world.gw.signals.rows["queue"][0]
    assert row["at"] == iso(escalated) and queue_line(row).as_of == escalated
    assert queue_view(world.session(second[0].session.id).queue)["asOf"] == iso(escalated)  # kept by the escalation
    world.later(seconds=20)
    told, _ = poll(world, second)  # counted from the row the escalation wrote
    assert queue_view(told)["asOf"] == iso(escalated)
    world.later(seconds=20)
    assignment.claim(world.core(world.agent("agent-alice")), Assignment(first[0].session.id))
    moved = world.now
    told, _ = poll(world, second)  # the claim moved the queue: its row, read after its write
    assert (told.position, told.waiting, queue_view(told)["asOf"]) == (0, 1, iso(moved))
    world.later(minutes=6)  # this poll writes lastSeen and reads no row: the figures the minute's pass kept
    schedule.minute(world.core(world.system()))
    told, _ = poll(world, second)
    assert told.as_of == moved + timedelta(minutes=6)


def test_a_row_a_failed_write_left_behind_never_replaces_fresher_figures(world):
    """The close's row write fails, so does the minute's pass's: the row keeps the line from before the close, while
    the pass kept figures counted after it. A poll tells the figures kept, not a place counted from the older row."""
    first, _, third = waiting(world, "vic-1"), waiting(world, "vic-2"), waiting(world, "vic-3")
    world.later(seconds=5)
    world.gw.fail("signals.publish_many")
    sessions.close(world.core(first[1]), SessionRequest(first[0].session.id, first[0].token), first[0].token)
    assert place(world, third) == (2, 3)  # the row could not say yet: the figures kept are older than it
    world.later(seconds=30)
    world.gw.fail("signals.publish")
    schedule.minute(world.core(world.system()))
    assert line_of.decode(world.gw.signals.rows["queue"][0]["line"]).waiting == 3  # still the row from before
    assert place(world, third) == (1, 2)  # the figures the pass counted, not the row's older line


def test_the_minutes_pass_says_when_it_read_the_line_not_when_it_started(world):
    """The pass reads the queue after its fold and its auto-assignment, which may take most of a minute; a visitor
    who asks for a person meanwhile writes the row first. The pass's row and the figures it keeps say when the pass
    read the line, so neither ranks behind that move's row (a widget would ignore them, web/widget/queue.js)."""
    waiting(world, "vic-1"), waiting(world, "vic-2")
    started = world.core(world.system())  # the pass starts: its fold runs first
    world.later(seconds=30)
    last = waiting(world, "vic-3")  # meanwhile, a third visitor waits: its row
    moved = queue_line(world.gw.signals.rows["queue"][0]).as_of
    world.later(seconds=2)
    schedule.minute(started)  # now the pass walks the queue
    row = queue_line(world.gw.signals.rows["queue"][0])
    assert row.waiting == 3 and row.as_of == world.now > moved
    assert not line_of.older(row, world.session(last[0].session.id).queue)  # the figures it was told stand
