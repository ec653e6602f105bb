"""The gateway's contract: one suite, run against the in-memory fake (tests/fakes/gateway.py) and the real gateway
over the fake Appwrite (devstack's engine behind `responses`, through the SDK), asserting what the operations rely
on. A behaviour the fake gets wrong fails here, not in a unit test that trusted it; a repository method added or
changed in chat_core.infra without its twin in the fake fails the first test."""

from __future__ import annotations

import inspect
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from chat_core.config import Settings
from chat_core.domain import inputs, rules, signals
from chat_core.domain.model import AVAILABLE, Message, Transition, iso, parse_time
from chat_core.domain.queue import Line, key_ms
from chat_core.errors import BadRequest, Unauthorized, UpstreamUnavailable
from chat_core.infra.connection import RowExists, RowMissing, StaleWrite
from chat_core.infra.gateway import REPOSITORIES, Gateway
from conftest import KEY, jwt_for
from fakes.gateway import FakeGateway

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=timezone.utc)
T = iso  # a column's value
# The request each repository call of the fault tests sends, for the fake Appwrite's fault plan.
REQUESTS = {"sessions.update": r"^PATCH .*/tables/sessions/rows/", "messages.create": r"^POST .*/tables/messages/rows"}


class Env:
    def __init__(self, kind: str, gateway, appwrite=None) -> None:
        self.kind, self.gw, self._appwrite = kind, gateway, appwrite

    def fail(self, name: str, *, lost: bool = False) -> None:
        if self._appwrite is None:
            self.gw.fail(name, lost=lost)
        else:
            self._appwrite.fail_next("applied_timeout" if lost else "timeout", match=REQUESTS[name])

    def message_readers(self, row_id: str) -> list[str]:
        """A message row's read permissions (who Realtime sends it to)."""
        if self._appwrite is None:
            return self.gw.messages.readers[row_id]
        return self._appwrite.engine.get_row("chat", "messages", row_id)["$permissions"]

    def user(self, user_id: str, labels: tuple[str, ...]) -> str:
        if self._appwrite is None:
            return self.gw.users.put(user_id, labels)
        self._appwrite.engine.put_user(user_id, user_id, list(labels))
        return jwt_for(user_id)


@pytest.fixture(params=["fake", "appwrite"])
def env(request) -> Env:
    if request.param == "fake":
        return Env("fake", FakeGateway())
    appwrite = request.getfixturevalue("appwrite")
    return Env("appwrite", Gateway(Settings.from_env(), KEY), appwrite)


def make(gw, session_id: str, *, seen: datetime = NOW, **columns):
    return gw.sessions.create(session_id, {"status": "active", "lastSeen": T(seen), "needsHuman": False,
                                           "messageCount": 0, "tokenHash": "h", **columns})


def ids(sessions) -> list[str]:
    return [s.id for s in sessions]


# --- the interface -------------------------------------------------------------------------------

def test_the_fake_has_every_repository_method_with_the_real_signature():
    real, fake = Gateway(Settings(endpoint="http://x.invalid/v1", project_id="p"), KEY), FakeGateway()
    missing = []
    assert REPOSITORIES  # the real gateway's repositories, loaded on first use
    for attribute in REPOSITORIES:
        repository = getattr(real, attribute)
        twin = getattr(fake, attribute, None)
        for name, method in inspect.getmembers(type(repository), inspect.isfunction):
            if name.startswith("_"):
                continue
            theirs = getattr(type(twin), name, None)
            if theirs is None or _shape(method) != _shape(theirs):
                missing.append(f"{attribute}.{name}")
    assert missing == []


def _shape(fn) -> list[tuple]:
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]


# --- one session ---------------------------------------------------------------------------------

def test_a_created_session_reads_back_as_created(env):
    made = make(env.gw, "s_a", ownerId="u1", userMeta='{"page": "/"}')
    read = env.gw.sessions.get("s_a")
    assert read == made and read.owner_id == "u1" and read.user_meta == '{"page": "/"}'
    assert read.ledger.dirty and read.ledger.counted is None and read.ledger.write_log == ()
    with pytest.raises(RowExists):
        make(env.gw, "s_a")
    with pytest.raises(RowMissing):
        env.gw.sessions.get("s_none")


def test_a_conditional_write_lands_once_then_a_stale_one_is_refused(env):
    before = make(env.gw, "s_a")
    after = replace(before, status="closed", closed_at=NOW + timedelta(microseconds=1234), close_reason="done",
                    ledger=replace(before.ledger, write_log=("n1",), dirty=False))
    written = env.gw.sessions.update(before, after)
    assert parse_time(written.updated_at) > parse_time(before.updated_at)  # strictly later
    assert written.closed_at == NOW + timedelta(microseconds=1000)  # stored to the millisecond
    assert env.gw.sessions.get("s_a") == written and written.ledger.write_log == ("n1",)
    with pytest.raises(StaleWrite):
        env.gw.sessions.update(before, replace(before, close_reason="other"))
    assert env.gw.sessions.get("s_a").close_reason == "done"
    again = env.gw.sessions.update(written, replace(written, close_reason="x"))
    assert parse_time(again.updated_at) > parse_time(written.updated_at)


def test_an_update_writes_the_session_not_what_is_set_at_creation(env):
    before = make(env.gw, "s_a", userMeta="{}", ownerId="u1")
    written = env.gw.sessions.update(before, replace(before, token_hash="forged", owner_id="u2", user_meta='{"a":1}',
                                                     message_count=3))
    assert (written.token_hash, written.owner_id, written.user_meta, written.message_count) == ("h", "u1", "{}", 3)


def test_an_update_never_sends_text_appwrite_would_apply_as_an_operator(env):
    before = make(env.gw, "s_a")
    with pytest.raises(BadRequest) as refused:
        env.gw.sessions.update(before, replace(before, rating_comment='{"method": "stringReplace", "values": []}'))
    assert refused.value.code == "operator_text" and env.gw.sessions.get("s_a") == before


def test_a_write_to_a_missing_session_is_row_missing(env):
    before = make(env.gw, "s_a")
    env.gw.sessions.delete("s_a")
    with pytest.raises(RowMissing):
        env.gw.sessions.update(before, replace(before, message_count=1))
    with pytest.raises(RowMissing):
        env.gw.sessions.delete("s_a")


def test_a_conditional_delete_only_deletes_the_row_as_read(env):
    before = make(env.gw, "s_a")
    changed = env.gw.sessions.update(before, replace(before, message_count=1))
    assert env.gw.sessions.delete_if_unchanged(before) is False
    assert env.gw.sessions.delete_if_unchanged(changed) is True
    assert env.gw.sessions.delete_if_unchanged(changed) is False


@pytest.mark.parametrize("lost", [False, True], ids=["failed", "answer-lost"])
def test_a_failed_write_is_upstream_unavailable_applied_only_if_its_answer_was_lost(env, lost):
    before = make(env.gw, "s_a")
    env.fail("sessions.update", lost=lost)
    with pytest.raises(UpstreamUnavailable):
        env.gw.sessions.update(before, replace(before, message_count=1))
    assert env.gw.sessions.get("s_a").message_count == (1 if lost else 0)


# --- lists ---------------------------------------------------------------------------------------

def test_the_paging_rule_and_the_cursor(env):
    for n in range(3):
        make(env.gw, f"s_{n}", seen=NOW + timedelta(minutes=n))
    wanted = inputs.SessionFilter(oldest_first=True)
    first, cursor = env.gw.sessions.page(wanted, NOW, 2, None)
    assert ids(first) == ["s_0", "s_1"] and cursor == "s_1"
    second, cursor = env.gw.sessions.page(wanted, NOW, 2, cursor)
    assert ids(second) == ["s_2"] and cursor is None
    newest, _ = env.gw.sessions.page(inputs.SessionFilter(), NOW, 5, None)
    assert ids(newest) == ["s_2", "s_1", "s_0"]
    with pytest.raises(BadRequest) as refused:
        env.gw.sessions.page(wanted, NOW, 2, "s_nobody")
    assert refused.value.code == "invalid_cursor"


def test_a_list_shows_the_listed_columns_and_no_ledger(env):
    before = make(env.gw, "s_a")
    env.gw.sessions.update(before, replace(before, assignments=2, waited_seconds=30, rate_window_count=4,
                                           ledger=replace(before.ledger, write_log=("n1",))))
    (shown,), _ = env.gw.sessions.page(inputs.SessionFilter(), NOW, 5, None)
    assert (shown.token_hash, shown.assignments, shown.rate_window_count, shown.ledger.write_log) == ("", 0, 0, ())
    assert shown.ledger.counted == rules.tally(shown) and not shown.ledger.dirty


def test_list_filters(env):
    make(env.gw, "s_old", seen=NOW - timedelta(hours=2))
    make(env.gw, "s_new", seen=NOW, needsHuman=True, escalatedAt=T(NOW))
    make(env.gw, "s_agent", status="agent_assigned", assignedAgent="alice")
    page = lambda **kw: ids(env.gw.sessions.page(inputs.SessionFilter(**kw), NOW, 10, None)[0])  # noqa: E731
    assert page(idle_for=timedelta(hours=1)) == ["s_old"]
    assert page(needs_human=True) == ["s_new"]
    assert page(statuses=("agent_assigned",), assigned_agent="alice") == ["s_agent"]
    assert page(created_before=datetime(2000, 1, 1, tzinfo=timezone.utc)) == []


def test_the_queue_order_signed_in_visitors_first_each_oldest_first(env):
    for name, minute, owner in [("s_g1", 1, None), ("s_u2", 2, "u"), ("s_g0", 0, None), ("s_u3", 3, "u")]:
        make(env.gw, name, needsHuman=True, escalatedAt=T(NOW + timedelta(minutes=minute)), ownerId=owner)
    make(env.gw, "s_not", escalatedAt=T(NOW))
    assert ids(env.gw.sessions.waiting(1)) == ["s_u2", "s_u3", "s_g0", "s_g1"]  # pages of 1 read on demand
    count = env.gw.sessions.count_waiting
    assert count() == 4 and count(owned=True) == 2 and count(owned=False) == 2
    assert count(before=NOW + timedelta(minutes=2), owned=True) == 0
    assert count(since=NOW + timedelta(minutes=1), owned=False) == 1


def test_the_queues_line_holds_the_first_waiters_keys_by_time_and_counts_them_all(env):
    for name, minute, owner in [("s_g1", 1, None), ("s_u2", 2, "u"), ("s_g0", 0, None), ("s_u3", 3, "u")]:
        make(env.gw, name, needsHuman=True, escalatedAt=T(NOW + timedelta(minutes=minute)), ownerId=owner)
    make(env.gw, "s_not", escalatedAt=T(NOW))
    start = key_ms(NOW)
    assert env.gw.sessions.line(3) == Line(4, ((start, False), (start + 60_000, False), (start + 120_000, True)))
    assert env.gw.signals.line() is None  # no queue row yet
    read = NOW + timedelta(seconds=5, milliseconds=250)  # the row says when its line was read (its `at`)
    env.gw.signals.publish_many([(signals.QUEUE, signals.queue_row(NOW, Line(1, ((start, True),), read)),
                                  signals.QUEUE_READERS)])
    assert env.gw.signals.line() == Line(1, ((start, True),), read)


def test_a_walk_reads_each_page_when_the_caller_reaches_it(env):
    for n in range(3):
        make(env.gw, f"s_{n}", needsHuman=True, escalatedAt=T(NOW + timedelta(minutes=n)))
    seen = []
    for session in env.gw.sessions.waiting(1):
        seen.append(session.id)
        if session.id == "s_0":  # taken from the queue before the next page is read
            s1 = env.gw.sessions.get("s_1")
            env.gw.sessions.update(s1, replace(s1, needs_human=False))
    assert seen == ["s_0", "s_2"]


def test_the_taken_count_counts_sessions_taken_from_the_queue(env):
    make(env.gw, "s_auto", status="agent_assigned", assignedAt=T(NOW), assignedBy="auto")
    make(env.gw, "s_claim", status="agent_assigned", assignedAt=T(NOW + timedelta(minutes=1)), assignedBy="claim")
    make(env.gw, "s_transfer", status="agent_assigned", assignedAt=T(NOW), assignedBy="transfer")
    make(env.gw, "s_early", status="agent_assigned", assignedAt=T(NOW - timedelta(hours=1)), assignedBy="auto")
    assert env.gw.sessions.count_taken_since(NOW) == 2


def test_the_sweeps_and_the_folds_lists(env):
    make(env.gw, "s_idle", seen=NOW - timedelta(hours=1), messageCount=1)
    make(env.gw, "s_empty", seen=NOW - timedelta(hours=2))
    make(env.gw, "s_fresh", seen=NOW)
    make(env.gw, "s_gone", status="closed", closeReason="empty", dirty=False)
    s = env.gw.sessions
    assert ids(s.idle(NOW - timedelta(minutes=30), 10)) == ["s_empty", "s_idle"]
    assert ids(s.idle(NOW - timedelta(minutes=30), 1)) == ["s_empty"]
    assert ids(s.empty(NOW - timedelta(minutes=30), 10)) == ["s_empty"]
    assert ids(s.discarded(10)) == []  # created dirty: the fold has not let it go
    gone = s.get("s_gone")
    s.update(gone, replace(gone, ledger=replace(gone.ledger, dirty=False, fold_batch=3, audit_pending=True)))
    assert ids(s.discarded(10)) == ["s_gone"]
    assert sorted(ids(s.dirty(10))) == ["s_empty", "s_fresh", "s_idle"] and len(s.dirty(2)) == 2
    assert ids(s.in_fold(3)) == ["s_gone"] and sorted(ids(s.pending(2))) == ["s_empty", "s_fresh", "s_gone", "s_idle"]
    assert ids(s.audit_pending(10)) == ["s_gone"] and len(list(s.all())) == 4


# --- messages and the trail ----------------------------------------------------------------------

def _message(n: int, session_id: str = "s_a") -> Message:
    return Message(id=f"m_{n}", session_id=session_id, role="user", text=f"hi {n}", created_at=NOW,
                   client_message_id=f"c{n}", admission="nonce")


READERS = ['read("user:u_1")', 'read("label:agent")', 'read("label:admin")']


def test_messages_are_created_once_and_read_oldest_first_in_pages(env):
    for n in range(3):
        stored = env.gw.messages.create(_message(n), READERS)
        assert replace(stored, created_at=NOW) == _message(n)
    env.gw.messages.create(_message(9, "s_other"), READERS[1:])
    assert (env.message_readers("m_0"), env.message_readers("m_9")) == (READERS, READERS[1:])
    with pytest.raises(RowExists):
        env.gw.messages.create(_message(0), READERS)
    assert env.gw.messages.get("m_1").text == "hi 1"
    page, cursor = env.gw.messages.page("s_a", 2, None)
    assert ids(page) == ["m_0", "m_1"] and cursor == "m_1"
    assert ids(env.gw.messages.page("s_a", 2, cursor)[0]) == ["m_2"]
    latest = env.gw.messages.latest("s_a", 3)  # rows created in the same millisecond share their $createdAt
    assert sorted(ids(latest)) == ["m_0", "m_1", "m_2"] and len(env.gw.messages.latest("s_a", 2)) == 2
    assert [m.created_at for m in latest] == sorted((m.created_at for m in latest), reverse=True)
    assert env.gw.messages.counts() == {"s_a": 3, "s_other": 1}
    assert env.gw.messages.created_id("databases.chat.tables.messages.rows.m_1.create", {"$id": "m_1"}) == "m_1"
    assert env.gw.messages.created_id("databases.chat.tables.sessions.rows.m_1.create", {"$id": "m_1"}) is None


def test_messages_created_together_are_stored_all_or_none_in_order(env):
    """A visitor's message and the FAQ bot's answer: one request (createRows), each row with the readers, one
    $createdAt, the first before the second in a page; a row that exists stores none of them."""
    pair = [_message(0), replace(_message(1), role="bot", client_message_id="re-m_0", bot_decided=False)]
    pair[0] = replace(pair[0], bot_decided=True)
    stored = env.gw.messages.create_many(pair, READERS)
    assert [replace(m, created_at=NOW) for m in stored] == pair
    assert stored[0].created_at == stored[1].created_at and env.message_readers("m_1") == READERS
    assert env.gw.messages.get("m_0").bot_decided is True and env.gw.messages.get("m_1").bot_decided is False
    assert ids(env.gw.messages.page("s_a", 10, None)[0]) == ["m_0", "m_1"]
    with pytest.raises(RowExists):
        env.gw.messages.create_many([_message(2), _message(1)], READERS)
    assert env.gw.messages.counts() == {"s_a": 2}


@pytest.mark.parametrize("lost", [False, True], ids=["failed", "answer-lost"])
def test_a_message_create_that_failed_was_stored_only_if_its_answer_was_lost(env, lost):
    env.fail("messages.create", lost=lost)
    with pytest.raises(UpstreamUnavailable):
        env.gw.messages.create(_message(0), READERS)
    assert env.gw.messages.counts() == ({"s_a": 1} if lost else {})


def test_the_trail_is_stored_once_per_transition_and_read_by_session_and_agent(env):
    entry = Transition("s_a", 1, NOW, "agent:alice", "claim", "waiting", "assigned:alice", None, "alice")
    assert env.gw.audit.create(entry) is True and env.gw.audit.create(entry) is False
    env.gw.audit.create(replace(entry, seq=2, at=NOW + timedelta(minutes=1), agent="bob"))
    env.gw.audit.create(replace(entry, session_id="s_b", at=NOW + timedelta(minutes=2)))
    assert [t.seq for t in env.gw.audit.of_session("s_a", 0, 10)] == [1, 2]
    assert [t.seq for t in env.gw.audit.of_session("s_a", 1, 10)] == [2]
    mine, cursor = env.gw.audit.page(inputs.AuditFilter(agent="alice"), 1, None)
    assert mine == [entry] and cursor is not None
    rest, cursor = env.gw.audit.page(inputs.AuditFilter(agent="alice"), 1, cursor)
    assert [t.session_id for t in rest] == ["s_b"] and cursor is None
    newest, _ = env.gw.audit.page(inputs.AuditFilter(oldest_first=False, end=NOW + timedelta(minutes=2)), 5, None)
    assert [(t.session_id, t.seq) for t in newest] == [("s_a", 2), ("s_a", 1)]


# --- counters, agents, jobs, budgets, users ------------------------------------------------------

def test_counter_rows_are_written_over_the_row_as_read(env):
    from chat_core.domain.model import CounterRow
    env.gw.counters.write(CounterRow(None, {}), {"total": 2}, 1)
    with pytest.raises(StaleWrite):  # "did not exist" is a state too
        env.gw.counters.write(CounterRow(None, {}), {"total": 5}, 1)
    (row,) = env.gw.counters.rows()
    assert (row.agent_id, row.values["total"], row.values["closed"], row.batch) == (None, 2, 0, 1)
    env.gw.counters.write(row, {"total": 3}, 2)
    with pytest.raises(StaleWrite):
        env.gw.counters.write(row, {"total": 4}, 2)
    env.gw.counters.write(CounterRow("alice", {}), {"assigned": 1}, 2)
    assert [(r.agent_id, r.values["total"], r.values["assigned"]) for r in env.gw.counters.rows()] == [
        (None, 3, 0), ("alice", 0, 1)]


def test_a_slot_is_a_bounded_increment_and_its_answer_is_the_row_under_the_lock(env):
    agents = env.gw.agents
    assert agents.take_slot("alice", 0) is None  # no row, no room
    first = agents.take_slot("alice", 2)
    assert (first.load, first.availability) == (1, "offline")
    saved = agents.save("alice", {"availability": AVAILABLE, "capacity": 2})
    assert (saved.load, saved.capacity) == (1, 2)  # a partial update never undoes a slot
    second = agents.take_slot("alice", 2)
    assert second.load == 2 and second.availability == AVAILABLE
    assert agents.write_load(second, 0) is False  # the increment's answer carries the row's old $updatedAt
    assert agents.take_slot("alice", 2) is None and agents.take_slot("alice", None).load == 3
    assert agents.free_slot("alice") and agents.free_slot("alice") and agents.free_slot("alice")
    assert agents.free_slot("alice") is False and agents.free_slot("nobody") is False


def test_a_claims_slot_writes_last_assigned_at_in_the_same_request(env):
    """An unbounded take may carry lastAssignedAt: Appwrite's increment operator in an updateRow answers the row
    as that update left it (load, capacity), and the merged agent shows the later of its two rows' times."""
    agents = env.gw.agents
    first = agents.take_slot("alice", None, NOW)  # no row yet: created holding the slot and the time
    assert (first.load, first.last_assigned_at) == (1, NOW)
    agents.save("alice", {"availability": AVAILABLE, "capacity": 3})
    agents.touch_presence("alice", {"heartbeatAt": T(NOW), "lastAssignedAt": T(NOW - timedelta(minutes=5))})
    later = NOW + timedelta(seconds=30)
    second = agents.take_slot("alice", None, later)
    assert (second.load, second.capacity, second.availability, second.last_assigned_at) == (2, 3, AVAILABLE, later)
    (merged,) = agents.of(["alice"])
    assert (merged.load, merged.last_assigned_at, merged.heartbeat_at) == (2, later, NOW)
    agents.touch_presence("alice", {"lastAssignedAt": T(later + timedelta(seconds=1))})  # an auto-assignment after
    assert agents.of(["alice"])[0].last_assigned_at == later + timedelta(seconds=1)
    assert agents.take_slot("bob", None).last_assigned_at is None  # not stamped: nothing written


def test_agents_rows_slots_and_presence(env):
    agents = env.gw.agents
    assert agents.create_slots("alice", 2) is True and agents.create_slots("alice", 5) is False
    agents.touch_presence("alice", {"heartbeatAt": T(NOW)})
    agents.touch_presence("bob", {"lastAssignedAt": T(NOW)})
    with pytest.raises(RowMissing):
        agents.mark_release("bob", NOW)
    agents.mark_release("alice", NOW)
    by_id = {a.agent_id: a for a in agents.all()}
    assert (by_id["alice"].load, by_id["alice"].heartbeat_at) == (2, NOW)
    assert (by_id["bob"].load, by_id["bob"].last_assigned_at, by_id["bob"].updated_at) == (0, NOW, None)
    assert agents.write_load(by_id["alice"], 1) is True and agents.write_load(by_id["alice"], 0) is False
    assert agents.write_load(by_id["bob"], 1) is False


def test_the_lease(env):
    jobs, minute = env.gw.jobs, timedelta(minutes=1)
    lease = jobs.lease("fold", NOW, minute)
    assert lease is not None and jobs.lease("fold", NOW + timedelta(seconds=59), minute) is None
    assert jobs.lease("fold", NOW + timedelta(seconds=59), minute, force=True) is not None
    jobs.release(lease)  # taken over meanwhile: not ours to give back
    assert jobs.lease("fold", NOW + timedelta(seconds=59), minute) is None
    later = jobs.lease("fold", NOW + minute * 2, minute)
    jobs.release(later)
    assert jobs.lease("fold", NOW + minute * 2, minute) is not None  # given back: free at once
    assert jobs.lease("fold", NOW, minute) is not None  # a lastRunAt in the future is no lease


def test_a_budget_is_a_bounded_count_per_window(env):
    limits, start = env.gw.limits, NOW.replace(second=0)
    assert [limits.take("b_1", "messages:guests", start, 2) for _ in range(3)] == [True, True, False]
    limits.give_back("b_1")
    assert limits.take("b_1", "messages:guests", start, 2) is True
    assert limits.take("b_0", "nobody", start, 0) is False
    limits.take("b_2", "later", start + timedelta(minutes=2), 5)
    limits.give_back("b_none")  # quietly nothing
    assert limits.drop_windows(start + timedelta(minutes=1)) == 1
    assert limits.take("b_2", "later", start + timedelta(minutes=2), 1) is False


def test_budgets_taken_together_are_one_unbounded_count_each_read_back_after_the_write(env):
    """The pair a visitor's message asking for a person spends (ops.budgets.take_message_and_escalation): one
    upsertRows counts on every row, creating a window's row on its first use; nothing refuses (the caller compares);
    the give-back stops at 0."""
    limits, start = env.gw.limits, NOW.replace(second=0)
    pair = [("b_m", "messages:guests"), ("b_e", "escalations:guests")]
    assert limits.take_together(pair, start) == [1, 1]  # both rows created by the same request
    assert limits.take("b_m", "messages:guests", start, 3) is True  # a single take on the same row
    assert limits.take_together(pair, start) == [3, 2]
    assert limits.take_together([("b_e", "escalations:guests")], start) == [3]  # no bound: past any limit
    limits.give_back_together(pair, start)
    assert limits.take_together(pair, start) == [3, 3]
    for _ in range(4):
        limits.give_back_together([("b_e", "escalations:guests")], start)
    assert limits.take_together([("b_e", "escalations:guests")], start) == [1]  # it stopped at 0


def test_users_labels_and_jwts(env):
    jwt = env.user("agent-zed", ("agent",))
    assert env.gw.users.labels("agent-zed") == {"agent"} and env.gw.users.labels("nobody-at-all") == frozenset()
    account = env.gw.users.account_for_jwt(jwt)
    assert (account.user_id, account.labels) == ("agent-zed", {"agent"})
    with pytest.raises(Unauthorized):
        env.gw.users.account_for_jwt("not.a.jwt")
