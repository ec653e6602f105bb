"""`POST .../rows` (createRow, createRows) and the legacy document routes' request bodies against appwrite 1.9.6:
`src/Appwrite/Platform/Modules/Databases/Http/Databases/Collections/Documents/Create.php` (the parameter checks,
devstack/creates.py; the transaction staging, devstack/transactions_staging.py) and utopia-php/http 2.0.0-rc23
`src/Http/Adapter/Swoole/Request.php` 264-276 (PHP's `json_decode`: no NaN, at most 512 levels; a body it cannot read
is no parameters; devstack/params.py `php_json`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devstack.fake import FakeAppwrite

APPWRITE_JSON = Path(__file__).resolve().parents[2] / "appwrite.json"
ROWS = "/v1/tablesdb/chat/tables/messages/rows"
DOCS = "/v1/databases/chat/collections/messages/documents"


@pytest.fixture(scope="module")
def fake():
    with FakeAppwrite(APPWRITE_JSON) as running:
        yield running


def call(fake, method, path, body):
    headers = {"x-appwrite-project": fake.project, "x-appwrite-key": fake.key, "content-type": "application/json"}
    status, _, answer = fake.api.handle(method, path, "", headers, json.dumps(body).encode())
    return status, json.loads(answer)


def message(row_id, **extra):
    return {"$id": row_id, "sessionId": "s1", "role": "user", "text": "x", **extra}


def test_an_empty_rows_list_is_missing_data_not_a_missing_row_id(fake):
    """Create.php 164-172: `rows: []` and no data -> getMissingDataException() (row_missing_data)."""
    status, answer = call(fake, "POST", ROWS, {"rows": []})
    assert (status, answer["type"]) == (400, "row_missing_data")


def test_a_bulk_rows_invalid_id_is_a_bad_request(fake):
    """Create.php 379-385: each row's `$id` checked by CustomId -> GENERAL_BAD_REQUEST, not the `rowId` param's
    general_argument_invalid (the stand-in's message names a parameter the call did not send)."""
    status, answer = call(fake, "POST", ROWS, {"rows": [message("x" * 40)]})
    assert (status, answer["type"]) == (400, "general_bad_request")
    assert "rowId" not in answer["message"]


def test_a_legacy_create_without_document_id_speaks_of_documents(fake):
    """Create.php 184-189: 'Document ID is required when creating a single document.' (document_missing_data);
    the legacy route must not name TablesDB's `rowId`."""
    status, answer = call(fake, "POST", DOCS, {"data": {"sessionId": "s1", "role": "user", "text": "t"}})
    assert status == 400 and answer["type"] == "document_missing_data"
    assert "rowId" not in answer["message"]


def test_bulk_create_inside_a_transaction_is_staged(fake):
    """Create.php 396-464: with `transactionId`, `rows` is staged as one bulkCreate (answer: total, no rows); the
    stand-in's staging reads `rowId`/`data` only and refuses the call with an invalid `rowId`."""
    status, txn = call(fake, "POST", "/v1/tablesdb/transactions", {})
    assert status == 201
    status, answer = call(fake, "POST", ROWS, {"rows": [message("t1")], "transactionId": txn["$id"]})
    assert status in (200, 201), answer
    assert answer.get("total") == 1


def test_a_staged_bulk_create_is_read_through_and_committed(fake):
    """TransactionState.php 449-462 (each staged row reads as a create) and Transactions/Update.php 817-839 (the
    commit inserts them all)."""
    _, txn = call(fake, "POST", "/v1/tablesdb/transactions", {})
    rows = [message("bc1"), message("bc2", text="y")]
    assert call(fake, "POST", ROWS, {"rows": rows, "transactionId": txn["$id"]}) == (200, {"rows": [], "total": 2})
    headers = {"x-appwrite-project": fake.project, "x-appwrite-key": fake.key}
    status, _, seen = fake.api.handle("GET", ROWS + "/bc2", f"transactionId={txn['$id']}", headers, b"")
    assert status == 200 and json.loads(seen)["text"] == "y"
    assert fake.api.handle("GET", ROWS + "/bc2", "", headers, b"")[0] == 404
    assert call(fake, "PATCH", f"/v1/tablesdb/transactions/{txn['$id']}", {"commit": True})[0] == 200
    assert call(fake, "GET", ROWS + "/bc1", {})[0] == 200


def test_the_legacy_route_names_its_own_parameters(fake):
    """Create.php 191-197 (`documentId`) and errors.php 837-841 (the document description, no final period)."""
    status, answer = call(fake, "POST", DOCS, {"documents": [message("d1")], "documentId": "d1"})
    assert (status, answer["type"]) == (400, "general_bad_request") and '"documentId"' in answer["message"]
    status, answer = call(fake, "POST", DOCS, {"documents": []})
    assert (status, answer["type"]) == (400, "document_missing_data")
    assert answer["message"] == "The document data is missing. Try again with document data populated"


def test_nan_is_not_a_float_value(tmp_path):
    """A float (double) attribute never stores `NaN`: PHP's json_decode refuses the body (Python's json takes it, and
    the range check passes NaN since no comparison is true), so the create sees no parameters: 400 (and the
    attribute route refuses a NaN bound, devstack/manage_tables.py)."""
    import urllib.error
    import urllib.request

    from devstack.server import Stack
    from tests.devstack.test_documents import call as http

    def raw(stack, path, data):
        headers = {"x-appwrite-project": stack.project_id, "x-appwrite-key": stack.api_key,
                   "content-type": "application/json"}
        request = urllib.request.Request(stack.endpoint + path, data=data, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    with Stack(data_dir=tmp_path, port=0, run_scheduler=False, blank=True) as stack:
        assert http(stack, "POST", "/tablesdb", {"databaseId": "d", "name": "d"})[0] == 201
        assert http(stack, "POST", "/tablesdb/d/tables", {"tableId": "t", "name": "t"})[0] == 201
        float_route = "/databases/d/collections/t/attributes/float"
        assert raw(stack, float_route, b'{"key": "bad", "required": false, "min": NaN}')[0] == 400
        assert http(stack, "POST", float_route, {"key": "score", "required": False})[0] == 202
        assert stack.project.wait_idle()
        body = b'{"documentId": "n1", "data": {"score": NaN}}'
        status, answer = raw(stack, "/databases/d/collections/t/documents", body)
        assert (status, answer["type"]) == (400, "document_missing_data")


def test_a_deeply_nested_body_is_answered_not_raised(fake):
    """RestApi.handle never raises: a nesting Python's json cannot parse (a RecursionError, not a ValueError) is, like
    one deeper than json_decode's 512, a body with no parameters (utopia-php/http Swoole/Request.php 270-276), on the
    legacy route (parsed first by devstack/documents.py) as on the rows route."""
    headers = {"x-appwrite-project": fake.project, "x-appwrite-key": fake.key, "content-type": "application/json"}
    body = b'{"a":' * 100000 + b"1" + b"}" * 100000
    for path, missing in ((DOCS, "document_missing_data"), (ROWS, "row_missing_data")):
        status, _, answer = fake.api.handle("POST", path, "", headers, body)
        assert (status, json.loads(answer)["type"]) == (400, missing)


@pytest.mark.parametrize(("depth", "status"), [(512, 201), (513, 400)])
def test_json_decode_reads_512_levels_and_no_more(fake, depth, status):
    """PHP's json_decode (depth 512) counts the body's own object as the first level (an unknown parameter is
    ignored)."""
    nested = "[" * (depth - 1) + "]" * (depth - 1)
    body = f'{{"rowId": "deep{depth}", "data": {{"sessionId": "s1", "role": "user", "text": "t"}}, "x": {nested}}}'
    headers = {"x-appwrite-project": fake.project, "x-appwrite-key": fake.key, "content-type": "application/json"}
    assert fake.api.handle("POST", ROWS, "", headers, body.encode())[0] == status
