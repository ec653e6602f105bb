"""The gateway's plumbing: the SDK client that sends through a pooled transport with a timeout."""

from __future__ import annotations

import threading

import appwrite.client
import pytest
import requests
import responses
from appwrite.client import Client
from appwrite.exception import AppwriteException
from appwrite.query import Query
from appwrite.services.tables_db import TablesDB
from chat_core.infra.client import AppwriteClient, PooledTransport

ENDPOINT = "http://sdk.test/v1"


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
