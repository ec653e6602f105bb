"""The gateway's plumbing: the SDK client that sends through a pooled transport with a timeout, the one lease on the
`jobs` table, the bump-or-create, and the users' memory."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import appwrite.client
import pytest
import requests
import responses
from appwrite.client import Client
from appwrite.exception import AppwriteException
from appwrite.query import Query
from appwrite.services.tables_db import TablesDB
from chat_core.config import Settings
from chat_core.errors import UpstreamRejected, UpstreamUnavailable
from chat_core.infra import users
from chat_core.infra.client import AppwriteClient, PooledTransport
from chat_core.infra.connection import Connection, Spent
from chat_core.infra.gateway import Gateway
from conftest import KEY, execute, row

ENDPOINT = "http://sdk.test/v1"
NOW = datetime(2030, 1, 1, 12, 0, tzinfo=timezone.utc)


def _sent(client: Client, call) -> list[tuple[str, str, bytes | str | None, dict]]:
    """The requests `call(TablesDB(client))` sends, as (method, url, body, headers minus the user agent)."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(responses.PATCH, ENDPOINT + "/tablesdb/chat/tables/t/rows/r",
                          callback=lambda r: (200, {"Content-Type": "application/json"}, '{"$id": "r"}'))
        mock.add_callback(responses.GET, ENDPOINT + "/tablesdb/chat/tables/t/rows",
                          callback=lambda r: (200, {"Content-Type": "application/json"}, '{"total": 0, "rows": []}'))
        call(TablesDB(client.set_endpoint(ENDPOINT).set_project("p").set_key("k")))
        return [(c.request.method, c.request.url, c.request.body,
                 {k: v for k, v in c.request.headers.items() if k.lower() != "user-agent"}) for c in mock.calls]


@pytest.mark.parametrize("call", [
    lambda t: t.update_row("chat", "t", "r", {"text": "é", "n": 1, "nothing": None}),
    lambda t: t.list_rows("chat", "t", [Query.equal("a", ["b"]), Query.limit(5)], total=False),
], ids=["update", "list"])
def test_the_client_sends_what_the_sdk_sends(call):
    assert _sent(AppwriteClient(3.0), call) == _sent(Client(), call)


def test_every_request_has_the_timeout_and_the_sdk_module_is_not_patched():
    seen: list[dict] = []

    class Recording:
        def request(self, method, url, **kwargs):
            seen.append(kwargs)
            response = requests.Response()
            response.status_code, response._content = 200, b'{"total": 0, "rows": []}'
            response.headers["Content-Type"] = "application/json"
            return response

    TablesDB(AppwriteClient(2.5, Recording()).set_endpoint(ENDPOINT)).list_rows("chat", "t", [], total=False)
    assert seen[0]["timeout"] == 2.5
    assert appwrite.client.requests is requests  # the SDK's own module, as installed


def test_one_connection_pool_per_thread():
    transport, sessions = PooledTransport(), []

    def grab():
        with responses.RequestsMock() as mock:
            mock.add(responses.GET, ENDPOINT + "/x", body="{}")
            transport.request("GET", ENDPOINT + "/x")
            transport.request("GET", ENDPOINT + "/x")
        sessions.append(transport._local.session)
    grab()
    worker = threading.Thread(target=grab)
    worker.start()
    worker.join()
    first = transport._local.session
    assert sessions[0] is first and sessions[1] is not first


@pytest.mark.parametrize("status, content_type, body, code, kind", [
    (404, "application/json", '{"message": "gone", "type": "row_not_found", "code": 404}', 404, "row_not_found"),
    (502, "text/html", "<html>bad gateway</html>", 502, None),
])
def test_errors_are_raised_as_the_sdk_raises_them(status, content_type, body, code, kind):
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, ENDPOINT + "/tablesdb/chat/tables/t/rows/r", status=status, body=body,
                 content_type=content_type)
        with pytest.raises(AppwriteException) as raised:
            TablesDB(AppwriteClient(1.0).set_endpoint(ENDPOINT)).get_row("chat", "t", "r")
    assert (raised.value.code, raised.value.type) == (code, kind)


def test_an_unreachable_appwrite_is_an_exception_with_no_status():
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, ENDPOINT + "/tablesdb/chat/tables/t/rows/r", body=requests.ConnectionError("reset"))
        with pytest.raises(AppwriteException) as raised:
            TablesDB(AppwriteClient(1.0).set_endpoint(ENDPOINT)).get_row("chat", "t", "r")
    assert not raised.value.code  # the SDK gives it code 0: translated as Appwrite unavailable


# --- the lease -------------------------------------------------------------------------------------------

def _jobs():
    return Gateway(Settings.from_env(), KEY).jobs


def test_a_lease_is_held_for_its_duration_then_taken_again(appwrite):
    jobs = _jobs()
    lease = jobs.lease("j", NOW, timedelta(seconds=60))
    assert lease is not None and row(appwrite, "jobs", "j")["holder"] == lease.holder
    assert jobs.lease("j", NOW + timedelta(seconds=59), timedelta(seconds=60)) is None
    assert jobs.lease("j", NOW + timedelta(seconds=60), timedelta(seconds=60)) is not None


def test_a_released_lease_is_free_and_force_takes_a_held_one(appwrite):
    jobs = _jobs()
    lease = jobs.lease("j", NOW, timedelta(seconds=90))
    jobs.release(lease)
    assert jobs.lease("j", NOW, timedelta(seconds=90)) is not None
    assert jobs.lease("j", NOW, timedelta(seconds=90)) is None
    assert jobs.lease("j", NOW, timedelta(seconds=90), force=True) is not None


def test_a_lease_stamped_in_the_future_is_no_lease(appwrite):
    jobs = _jobs()
    assert jobs.lease("j", NOW + timedelta(hours=1), timedelta(seconds=60)) is not None
    assert jobs.lease("j", NOW, timedelta(seconds=60)) is not None


def test_a_lease_whose_answer_was_lost_is_read_back(appwrite):
    jobs = _jobs()
    jobs.lease("j", NOW, timedelta(seconds=60))
    appwrite.fail_next("applied_timeout", match="PATCH")  # it lands; the answer does not
    lease = jobs.lease("j", NOW + timedelta(minutes=2), timedelta(seconds=60))
    assert lease is not None and row(appwrite, "jobs", "j")["holder"] == lease.holder


def test_a_lease_write_that_did_not_land_is_unavailable(appwrite):
    jobs = _jobs()
    jobs.lease("j", NOW, timedelta(seconds=60))
    appwrite.fail_next("503", match="PATCH")
    with pytest.raises(UpstreamUnavailable):
        jobs.lease("j", NOW + timedelta(minutes=2), timedelta(seconds=60))


def test_the_sweep_runs_past_a_lease_stamped_in_the_future(appwrite):
    appwrite.engine.create_row("chat", "jobs", "idle-close", {"lastRunAt": "2999-01-01T00:00:00.000+00:00"})
    answer = execute("close-session", trigger="schedule")
    assert answer.status == 200 and "skipped" not in answer.json, answer
    assert execute("close-session", trigger="schedule").json["skipped"] == "ran_recently"


# --- bump-or-create ---------------------------------------------------------------------------------------

def test_bump_or_create_creates_then_bumps_up_to_its_bound(appwrite):
    conn = Connection(Settings.from_env(), KEY)
    new = {"name": "n", "windowStart": "2030-01-01T12:00:00.000+00:00", "used": 1}
    for used in (1, 2):
        assert conn.bump_or_create("limits", "w", "used", 2, new, "busy").data["used"] == used
    with pytest.raises(Spent):
        conn.bump_or_create("limits", "w", "used", 2, new, "busy")
    with pytest.raises(Spent):  # a bound below 1 leaves no room for a first one: nothing is created
        conn.bump_or_create("limits", "other", "used", 0, new, "busy")
    assert appwrite.engine.list_rows("chat", "limits", [])["total"] == 1


# --- the users' memory ------------------------------------------------------------------------------------

def test_labels_are_remembered_until_cleared(appwrite):
    gateway = Gateway(Settings.from_env(), KEY)
    assert gateway.users.labels("agent-alice") == {"agent"}
    appwrite.reset_counts()
    assert gateway.users.labels("agent-alice") == {"agent"}
    assert appwrite.requests == []
    users.MEMORY.clear()
    assert Gateway(Settings.from_env(), KEY).users.labels("agent-alice") == {"agent"}
    assert len(appwrite.requests) == 1


def test_a_bounded_cache_forgets_the_expired_then_the_oldest():
    cache: users.ExpiringCache[int] = users.ExpiringCache(size=2)
    cache.put("a", 1, expires=5, now=0)
    cache.put("b", 2, expires=100, now=0)
    cache.put("c", 3, expires=100, now=10)  # full: "a" has expired
    assert (cache.get("a", 10), cache.get("b", 10), cache.get("c", 10)) == (None, 2, 3)
    cache.put("d", 4, expires=100, now=10)  # full, none expired: the oldest goes
    assert (cache.get("b", 10), cache.get("d", 10)) == (None, 4)
    assert cache.get("d", 100) is None


def test_a_name_and_the_labels_come_from_one_read_remembered_for_ten_minutes(appwrite, monkeypatch):
    appwrite.engine.put_user("agent-alice", "Alice Martin", ["agent"])
    gateway = Gateway(Settings.from_env(), KEY)
    appwrite.reset_counts()
    assert gateway.users.display_name("agent-alice") == "Alice Martin"
    assert gateway.users.labels("agent-alice") == {"agent"}
    assert gateway.users.display_name("agent-alice") == "Alice Martin"
    assert len(appwrite.requests) == 1
    assert gateway.users.display_name("nobody-here") == ""  # a user that is gone has no name
    clock = [users.time.monotonic() + users.NAME_CACHE_SECONDS + 1]
    monkeypatch.setattr(users.time, "monotonic", lambda: clock[0])
    appwrite.engine.put_user("agent-alice", "Alice M.", ["agent"])
    assert gateway.users.display_name("agent-alice") == "Alice M."  # read again once the ten minutes are over


def test_a_name_that_cannot_be_read_is_empty_and_not_asked_for_again_for_a_minute(appwrite, monkeypatch):
    gateway = Gateway(Settings.from_env(), KEY)

    def refuse(*args, **kwargs):
        raise UpstreamRejected("missing scope users.read")

    monkeypatch.setattr(users, "read", refuse)
    assert gateway.users.display_name("agent-alice") == ""
    appwrite.reset_counts()
    assert gateway.users.display_name("agent-alice") == ""
    assert appwrite.requests == []
