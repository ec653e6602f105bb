"""The legacy Databases API's document routes and float attributes, as the Node system we compare with
(bench/story.py) calls them through node-appwrite 20: each behaviour names the appwrite 1.9.6 file it follows."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from urllib.parse import quote

import pytest

from devstack.server import Stack

DOCS = "/databases/legacy/collections/notes/documents"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with Stack(data_dir=tmp_path_factory.mktemp("documents"), port=0, run_scheduler=False, blank=True) as running:
        running.keys.add("documents-only", {"documents.read", "documents.write"})
        running.keys.add("rows-only", {"rows.read", "rows.write"})
        assert call(running, "POST", "/tablesdb", {"databaseId": "legacy", "name": "Legacy"})[0] == 201
        assert call(running, "POST", "/tablesdb/legacy/tables", {"tableId": "notes", "name": "notes"})[0] == 201
        for kind, body in (("string", {"key": "text", "size": 100, "required": True}),
                           ("float", {"key": "score", "required": False, "min": 0, "max": 1}),
                           ("float", {"key": "weight", "required": False}),
                           ("boolean", {"key": "done", "required": False})):
            assert call(running, "POST", f"/databases/legacy/collections/notes/attributes/{kind}", body)[0] == 202
        assert running.project.wait_idle()
        yield running


def call(stack: Stack, method: str, path: str, body: dict | None = None, key: str | None = None,
         query: str = "") -> tuple[int, dict]:
    headers = {"x-appwrite-project": stack.project_id, "x-appwrite-key": key or stack.api_key,
               "content-type": "application/json"}
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(stack.endpoint + path + query, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            text = answer.read()
            return answer.status, json.loads(text) if text else {}
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def queries(*items: dict) -> str:
    return "?" + "&".join(f"queries[{i}]={quote(json.dumps(q))}" for i, q in enumerate(items))


def test_a_document_is_a_row_in_the_document_model(stack):
    """Documents/Create.php (`documentId`, `data`), Get.php, Update.php (PATCH `data`); Model/Document.php:
    `$collectionId` where the Row model has `$tableId`."""
    status, created = call(stack, "POST", DOCS, {"documentId": "n1", "data": {"text": "hello", "score": 0.5}})
    assert status == 201 and created["$collectionId"] == "notes" and created["$databaseId"] == "legacy"
    assert "$tableId" not in created and created["score"] == 0.5
    status, updated = call(stack, "PATCH", f"{DOCS}/n1", {"data": {"done": True}})
    assert status == 200 and updated["done"] is True and updated["text"] == "hello"
    assert call(stack, "GET", f"{DOCS}/n1")[1]["done"] is True
    row = call(stack, "GET", "/tablesdb/legacy/tables/notes/rows/n1")[1]  # the same data through TablesDB
    assert row["$tableId"] == "notes" and row["done"] is True


def test_unique_asks_for_a_generated_id(stack):
    """Documents/Create.php: `documentId` is a CustomId, `unique()` generates one."""
    status, created = call(stack, "POST", DOCS, {"documentId": "unique()", "data": {"text": "generated"}})
    assert status == 201 and created["$id"] != "unique()" and len(created["$id"]) == 20


def test_lists_answer_documents_and_total(stack):
    """Documents/XList.php: `{"total", "documents"}`; the same query parsing as the rows (`Query::parseQueries`)."""
    call(stack, "POST", DOCS, {"documentId": "n2", "data": {"text": "listed", "score": 1}})
    status, listed = call(stack, "GET", DOCS, query=queries({"method": "equal", "attribute": "text",
                                                              "values": ["listed"]}))
    assert status == 200 and set(listed) == {"total", "documents"}
    assert listed["total"] == 1 and listed["documents"][0]["$collectionId"] == "notes"


def test_a_query_in_the_old_string_syntax_is_refused(stack):
    """Query::parse (utopia-php/database) reads JSON only: `equal("text", "x")`, as the Node system still sends it,
    is 400 general_query_invalid."""
    status, error = call(stack, "GET", DOCS, query="?queries[0]=" + quote('equal("text", "listed")'))
    assert (status, error["type"]) == (400, "general_query_invalid")


def test_a_transaction_id_that_names_no_transaction_reads_what_is_committed(stack):
    """Documents/XList.php with `transactionId`: TransactionState::listDocuments, whose getTransactionState answers
    no staged operation for an unknown transaction; `total=0` (Boolean, loose) skips the count. node-appwrite 20
    sends a list's 4th and 5th positional arguments so: `listDocuments(db, c, queries, 20, 0)` from the Node system."""
    status, listed = call(stack, "GET", DOCS, query="?transactionId=20&total=0")
    assert status == 200 and listed["total"] == 0 and len(listed["documents"]) >= 2


@pytest.mark.parametrize(("method", "path", "body", "expected"), [
    ("GET", f"{DOCS}/missing", None, (404, "document_not_found", "Document with the requested ID")),
    ("POST", DOCS, {"documentId": "n1", "data": {"text": "again"}}, (409, "document_already_exists", "Document")),
    ("POST", DOCS, {"documentId": "n9", "data": {"text": "x", "unknown": 1}},
     (400, "document_invalid_structure", "Unknown attribute")),
    ("GET", "/databases/legacy/collections/missing/documents", None, (404, "collection_not_found", "Collection")),
])
def test_errors_speak_of_documents_and_collections(stack, method, path, body, expected):
    """app/config/errors.php: the document_*, collection_* errors the Collections API throws where TablesDB throws
    row_*, table_* (one action for both: `isCollectionsAPI()`)."""
    status, error = call(stack, method, path, body)
    assert (status, error["type"]) == expected[:2] and expected[2] in error["message"]
    assert "row" not in error["message"].lower().split()


def test_documents_need_the_documents_scopes(stack):
    """Documents/*.php `label('scope', 'documents.read' | 'documents.write')`: a key with only the rows scopes is
    refused; one with the documents scopes is served."""
    assert call(stack, "GET", DOCS, key="rows-only")[0] == 401
    assert call(stack, "GET", DOCS, key="documents-only")[0] == 200
    assert call(stack, "POST", DOCS, {"documentId": "n3", "data": {"text": "k"}}, key="documents-only")[0] == 201


@pytest.mark.parametrize(("value", "stored"), [(0.25, 0.25), (1, 1.0), (True, None), ("0.5", None), (1.5, None)])
def test_a_float_attribute_takes_numbers_within_its_range(stack, value, stored):
    """Attributes/Float/Create.php (`min`/`max`, stored as a Range) and utopia-php/database's FloatValidator (a PHP
    float or int; not a boolean or a numeric string)."""
    status, answer = call(stack, "POST", DOCS, {"documentId": "unique()", "data": {"text": "f", "score": value}})
    if stored is None:
        assert (status, answer["type"]) == (400, "document_invalid_structure")
    else:
        assert status == 201 and answer["score"] == stored


def test_a_float_attribute_without_bounds_spans_php_floats(stack):
    """Attributes/Float/Create.php: `$min ??= -PHP_FLOAT_MAX; $max ??= PHP_FLOAT_MAX`; Model/AttributeFloat.php
    answers `type` `double`."""
    listed = call(stack, "GET", "/databases/legacy/collections/notes/attributes")[1]["attributes"]
    weight = next(a for a in listed if a["key"] == "weight")
    assert weight["type"] == "double" and weight["min"] == -1.7976931348623157e308
    assert weight["max"] == 1.7976931348623157e308
    assert call(stack, "POST", DOCS, {"documentId": "w1", "data": {"text": "w", "weight": -3e300}})[0] == 201
    found = call(stack, "GET", DOCS, query=queries({"method": "lessThan", "attribute": "weight", "values": [0]}))[1]
    assert [d["$id"] for d in found["documents"]] == ["w1"]
