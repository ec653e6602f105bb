"""The management routes over HTTP, without the CLI and without builds: the answers the CLI reads, Appwrite's
errors for bad requests (which change nothing), and the X-Appwrite-Warning of a newer SDK."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from urllib.parse import urlencode

import pytest

from devstack.server import Stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with Stack(data_dir=tmp_path_factory.mktemp("blank"), port=0, run_scheduler=False, blank=True) as running:
        yield running


def call(stack: Stack, method: str, path: str, body: dict | None = None, headers: dict | None = None,
         raw: bytes | None = None) -> tuple[int, dict, dict]:
    sent = {"x-appwrite-project": stack.project_id, "x-appwrite-key": stack.api_key,
            "content-type": "application/json", **(headers or {})}
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(stack.endpoint + path, data=data, method=method, headers=sent)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            text = answer.read()
            return answer.status, json.loads(text) if text else {}, dict(answer.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), dict(exc.headers)


def _table(stack: Stack, table: str = "t1") -> str:
    if call(stack, "GET", "/tablesdb/db")[0] == 404:
        assert call(stack, "POST", "/tablesdb", {"databaseId": "db", "name": "DB"})[0] == 201
    status, _, _ = call(stack, "POST", "/tablesdb/db/tables", {"tableId": table, "name": table, "permissions": [],
                                                                "rowSecurity": False})
    assert status == 201
    return f"/databases/db/collections/{table}"


def test_a_column_is_processing_then_available_and_takes_rows(stack):
    base = _table(stack, "notes")
    status, column, _ = call(stack, "POST", f"{base}/attributes/enum", {
        "key": "mood", "elements": ["good", "bad"], "required": True, "default": None, "array": False})
    assert status == 202 and (column["status"], column["type"], column["format"]) == ("processing", "string", "enum")
    assert stack.project.wait_idle()
    listed = call(stack, "GET", f"{base}/attributes")[1]
    assert listed["total"] == 1 and listed["attributes"][0]["status"] == "available"
    table = call(stack, "GET", "/tablesdb/db/tables/notes")[1]
    assert table["columns"][0]["key"] == "mood" and table["columns"][0]["elements"] == ["good", "bad"]
    assert call(stack, "POST", "/tablesdb/db/tables/notes/rows", {"rowId": "r1", "data": {"mood": "good"}})[0] == 201
    status, error, _ = call(stack, "POST", "/tablesdb/db/tables/notes/rows", {"rowId": "r2", "data": {"mood": "meh"}})
    assert (status, error["type"]) == (400, "row_invalid_structure")


def test_string_columns_answer_encrypt_as_appwrite_does(stack):
    base = _table(stack, "labels")
    call(stack, "POST", f"{base}/attributes/string", {"key": "name", "size": 64, "required": False,
                                                      "default": None, "array": False})
    assert stack.project.wait_idle()
    assert call(stack, "GET", f"{base}/attributes")[1]["attributes"][0]["encrypt"] is False  # set by these routes
    assert call(stack, "GET", "/tablesdb/db/tables/labels")[1]["columns"][0]["encrypt"] is None  # not stored


@pytest.mark.parametrize(("path", "body", "expected"), [
    ("/attributes/string", {"key": "a", "size": 10, "required": True, "default": "x"},
     (400, "attribute_default_unsupported")),
    ("/attributes/integer", {"key": "n", "required": False, "min": 0, "max": 5, "default": 9},
     (400, "attribute_value_invalid")),
    ("/attributes/relationship", {"key": "r", "required": False}, (400, "general_argument_invalid")),
    ("/attributes/email", {"key": "f", "required": False}, (400, "general_argument_invalid")),
    ("/attributes/string", {"key": "s", "size": 10, "required": False, "array": True},
     (400, "general_argument_invalid")),
    ("/attributes/string", {"key": "-bad", "size": 10, "required": False}, (400, "general_argument_invalid")),
    ("/indexes", {"key": "i", "type": "key", "attributes": ["missing"]}, (400, "attribute_unknown")),
    ("/indexes", {"key": "i", "type": "spatial", "attributes": ["x"]}, (400, "general_argument_invalid")),
])
def test_bad_columns_and_indexes_are_refused_and_change_nothing(stack, path, body, expected):
    base = _table(stack, f"bad{abs(hash(path + json.dumps(body))) % 10**6}")
    status, error, _ = call(stack, "POST", base + path, body)
    assert (status, error["type"]) == expected
    assert call(stack, "GET", f"{base}/attributes")[1]["total"] == 0
    assert call(stack, "GET", f"{base}/indexes")[1]["total"] == 0


def test_duplicates_and_unknown_parents_answer_appwrite_errors(stack):
    base = _table(stack, "dupes")
    column = {"key": "flag", "required": False, "default": False, "array": False}
    assert call(stack, "POST", f"{base}/attributes/boolean", column)[0] == 202
    assert call(stack, "POST", f"{base}/attributes/boolean", column)[1]["type"] == "attribute_already_exists"
    assert call(stack, "POST", "/tablesdb/db/tables/dupes/columns/boolean", {**column})[1]["type"] == \
        "general_route_not_found"  # CLI 12 only calls the legacy spelling
    assert call(stack, "GET", "/databases/db/collections/nope/attributes")[1]["type"] == "collection_not_found"
    assert call(stack, "GET", "/tablesdb/db/tables/nope")[1]["type"] == "table_not_found"
    assert call(stack, "GET", "/tablesdb/nope")[1]["type"] == "database_not_found"
    assert call(stack, "POST", "/tablesdb", {"databaseId": "db", "name": "again"})[1]["type"] == \
        "database_already_exists"


def test_an_update_changes_what_rows_may_hold(stack):
    base = _table(stack, "limits")
    call(stack, "POST", f"{base}/attributes/integer", {"key": "n", "required": False, "min": 0, "max": 10})
    assert stack.project.wait_idle()
    status, column, _ = call(stack, "PATCH", f"{base}/attributes/integer/n", {"required": False, "min": 0, "max": 3,
                                                                             "default": None})
    assert status == 200 and column["max"] == 3
    status, error, _ = call(stack, "POST", "/tablesdb/db/tables/limits/rows", {"rowId": "r", "data": {"n": 5}})
    assert (status, error["type"]) == (400, "row_invalid_structure")


def test_lists_page_like_the_cli_reads_them(stack):
    for name in ("p1", "p2", "p3"):
        _table(stack, name)
    query = urlencode({"queries[0]": json.dumps({"method": "limit", "values": [2]}),
                       "queries[1]": json.dumps({"method": "offset", "values": [2]})})
    page = call(stack, "GET", f"/tablesdb/db/tables?{query}")[1]
    assert page["total"] >= 3 and len(page["tables"]) == 2
    status, error, _ = call(stack, "GET", "/tablesdb/db/tables?queries[0]=notjson")
    assert (status, error["type"]) == (400, "general_query_invalid")


def test_functions_are_created_updated_and_refuse_executions_until_deployed(stack):
    spec = {"functionId": "hello", "name": "Hello", "runtime": "python-3.12", "execute": ["any"],
            "entrypoint": "main.py", "commands": "", "scopes": [], "timeout": 15}
    status, function, _ = call(stack, "POST", "/functions", spec)
    assert status == 201 and function["deploymentId"] == "" and function["vars"] == []
    assert call(stack, "POST", "/functions", spec)[1]["type"] == "function_already_exists"
    assert call(stack, "POST", "/functions", {**spec, "functionId": "n", "runtime": "node-22"})[1]["type"] == \
        "function_runtime_unsupported"
    status, error, _ = call(stack, "POST", "/functions", {**spec, "functionId": "n", "specification": "s-64vcpu"})
    assert (status, error["type"], call(stack, "GET", "/functions/n")[0]) == (400, "general_argument_invalid", 404)
    status, function, _ = call(stack, "PUT", "/functions/hello", {**spec, "name": "Hi", "timeout": 30})
    assert status == 200 and (function["name"], function["timeout"]) == ("Hi", 30)
    status, error, _ = call(stack, "POST", "/functions/hello/executions", {})
    assert (status, error["type"]) == (404, "deployment_not_found")
    no_code = b'--x\r\nContent-Disposition: form-data; name="activate"\r\n\r\ntrue\r\n--x--\r\n'
    status, error, _ = call(stack, "POST", "/functions/hello/deployments", raw=no_code,
                            headers={"content-type": "multipart/form-data; boundary=x"})
    assert (status, error["type"]) == (400, "storage_file_empty")
    assert call(stack, "GET", "/functions/hello")[1]["latestDeploymentId"] == ""


def test_secret_variables_are_never_read_back(stack):
    call(stack, "POST", "/functions", {"functionId": "vars", "name": "Vars", "runtime": "python-3.12",
                                        "entrypoint": "main.py"})
    status, variable, _ = call(stack, "POST", "/functions/vars/variables",
                               {"variableId": "token", "key": "TOKEN", "value": "s3cret", "secret": True})
    assert status == 201 and variable["value"] == ""
    assert call(stack, "GET", "/functions/vars")[1]["vars"][0]["value"] == ""
    assert call(stack, "POST", "/functions/vars/variables",
                {"variableId": "other", "key": "TOKEN", "value": "x"})[1]["type"] == "variable_already_exists"


@pytest.mark.parametrize(("sdk_format", "warned"), [("2.8.0", True), ("3.0.0", True), ("2.5.0", False),
                                                    ("2.7.1", False), ("1.8.0", False), (None, False)])
def test_a_newer_sdk_is_warned_on_every_answer(stack, sdk_format, warned):
    headers = {"x-appwrite-response-format": sdk_format} if sdk_format else {}
    for method, path in (("GET", "/tablesdb"), ("GET", "/functions/none"), ("GET", "/health/version")):
        _, _, answer = call(stack, method, path, headers=headers)
        warning = {k.lower(): v for k, v in answer.items()}.get("x-appwrite-warning", "")
        assert ("Please downgrade your SDK" in warning) is warned
        assert not warned or f"built for Appwrite {sdk_format}" in warning


def test_a_blank_project_keeps_what_was_pushed_across_restarts(tmp_path):
    with Stack(data_dir=tmp_path, port=0, run_scheduler=False, blank=True) as first:
        base = _table(first, "kept")
        call(first, "POST", f"{base}/attributes/string", {"key": "text", "size": 20, "required": True})
        assert first.project.wait_idle()
        assert call(first, "POST", "/tablesdb/db/tables/kept/rows", {"rowId": "r", "data": {"text": "hi"}})[0] == 201
    with Stack(data_dir=tmp_path, port=0, run_scheduler=False, blank=True) as second:
        assert call(second, "GET", f"{base}/attributes")[1]["attributes"][0]["status"] == "available"
        assert call(second, "GET", "/tablesdb/db/tables/kept/rows/r")[1]["text"] == "hi"
    with Stack(data_dir=tmp_path, port=0, run_scheduler=False, blank=True, reset=True) as third:
        assert call(third, "GET", "/tablesdb/db")[1]["type"] == "database_not_found"


def test_an_index_keeps_its_orders_as_given(stack):
    """appwrite 1.9.6 src/Appwrite/Platform/Modules/Databases/Http/Databases/Collections/Indexes/Create.php: the
    `orders` param goes into the index unpadded, so a CLI pushing the same file again sees no change (a fulltext
    index with `orders: []` included)."""
    base = _table(stack, "indexed")
    assert call(stack, "POST", f"{base}/attributes/string", {"key": "body", "size": 100, "required": False,
                                                             "array": False})[0] == 202
    assert stack.project.wait_idle()
    assert call(stack, "POST", f"{base}/indexes", {"key": "words", "type": "fulltext", "attributes": ["body"],
                                                   "orders": []})[0] == 202
    assert call(stack, "POST", f"{base}/indexes", {"key": "by_body", "type": "key", "attributes": ["body"]})[0] == 202
    listed = {i["key"]: i["orders"] for i in call(stack, "GET", f"{base}/indexes")[1]["indexes"]}
    assert listed == {"words": [], "by_body": []}
