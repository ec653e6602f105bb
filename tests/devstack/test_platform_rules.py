"""The stack refuses and transforms what Appwrite on the 2.x line (1.9.6 source) refuses and transforms.

Each test names the upstream file it follows: parameters validated by Utopia's validators, JSON-looking strings read as
operators on update and upsert, `$updatedAt` after increments and after writes that change nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
from appwrite.exception import AppwriteException
from appwrite.operator import Operator
from appwrite.services.tables_db import TablesDB

from devstack.engine import Engine
from devstack.fake import FakeAppwrite
from devstack.operators import FAILED, php_json_decode
from devstack.server import parse_execution_params

APPWRITE_JSON = Path(__file__).resolve().parents[2] / "appwrite.json"
DB = "chat"
SESSION = {"status": "active", "lastSeen": "2024-05-01T10:00:00Z", "tokenHash": "h" * 64}


@pytest.fixture
def fake():
    with FakeAppwrite(APPWRITE_JSON) as running:
        yield running


@pytest.fixture
def tables(fake):
    return TablesDB(fake.client())


def _get(fake: FakeAppwrite, path: str, query: str) -> requests.Response:
    return requests.get(f"{fake.endpoint}{path}?{query}", timeout=5,
                        headers={"x-appwrite-project": fake.project, "x-appwrite-key": fake.key})


def _error(call, *args, **kwargs) -> AppwriteException:
    with pytest.raises(AppwriteException) as info:
        call(*args, **kwargs)
    return info.value


# --- parameters -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "accepted"), [
    ("true", True), ("false", True), ("1", True), ("0", True),
    ("False", False), ("True", False), ("FALSE", False), ("yes", False), ("", False), ("0.0", False)])
def test_total_is_a_loose_utopia_boolean_on_listing_rows(fake, text: str, accepted: bool) -> None:
    """`total` is `Boolean(true)`: appwrite 1.9.6 `src/Appwrite/Platform/Modules/Databases/Http/TablesDB/Tables/Rows/
    XList.php`; utopia-php/validators 0.2.6
    `src/Validator/Boolean.php` takes `true`/`false`/`1`/`0` only, so SDK 16's `total=False` is a 400, with
    utopia-php/http 2.0.0-rc9 `src/Http/Http.php` `validate()`'s message."""
    for path in (f"/tablesdb/{DB}/tables/sessions/rows",):
        answer = _get(fake, path, f"total={text}")
        if accepted:
            assert answer.status_code == 200, answer.text
        else:
            assert answer.status_code == 400
            assert answer.json()["type"] == "general_argument_invalid"
            assert answer.json()["message"] == "Invalid `total` param: Value must be a valid boolean"


@pytest.mark.parametrize(("value", "accepted"), [
    (True, True), (False, True), ("true", True), ("0", True), (1, True), (0, True),
    ("False", False), (1.0, False), (2, False), ("yes", False), (None, True)])
def test_execution_async_is_a_loose_utopia_boolean(value: object, accepted: bool) -> None:
    """`async` is `Boolean(true)` in appwrite 1.9.6 `src/Appwrite/Platform/Modules/Functions/Http/Executions/
    Create.php` (utopia-php/validators 0.2.6 `src/Validator/Boolean.php`: JSON 1 and 0 pass, 1.0 does not)."""
    body = json.dumps({} if value is None else {"async": value}).encode()
    if accepted:
        assert parse_execution_params(body)["async"] in (True, False)
    else:
        with pytest.raises(Exception) as refused:
            parse_execution_params(body)
        assert (refused.value.code, refused.value.type) == (400, "general_argument_invalid")


def test_increment_value_is_a_utopia_numeric(fake, tables) -> None:
    """`value` and `max`/`min` are `Numeric()` / `Nullable(Numeric())` in appwrite 1.9.6 `.../Documents/Attribute/
    Increment.php` and `Decrement.php` (utopia-php/validators 0.2.6 `src/Validator/Numeric.php`: PHP `is_numeric`)."""
    tables.create_row(DB, "counters", "c1", {"agentId": "a1"})
    path = f"{fake.endpoint}/tablesdb/{DB}/tables/counters/rows/c1/assigned/increment"
    headers = {"x-appwrite-project": fake.project, "x-appwrite-key": fake.key, "content-type": "application/json"}
    answer = requests.patch(path, json={"value": "2", "max": " 5"}, headers=headers, timeout=5)
    assert (answer.status_code, answer.json()["assigned"]) == (200, 2)
    for bad in ({"value": "two"}, {"value": True}, {"value": 1, "max": "0x10"}):
        answer = requests.patch(path, json=bad, headers=headers, timeout=5)
        assert (answer.status_code, answer.json()["type"]) == (400, "general_argument_invalid")


# --- operators ------------------------------------------------------------------------------------------------------


def test_update_reads_operator_strings_whatever_the_column_type(tables) -> None:
    """appwrite 1.9.6 `src/Appwrite/Platform/Modules/Databases/Http/Databases/Action.php` `parseOperators` (update and
    upsert, not create): a string whose `json_decode` holds a known string `method` is an operator, on a string
    column too; stringConcat and stringReplace apply there (utopia-php/database 6.0.0 `src/Database/Adapter/
    MariaDB.php` `getOperatorSQL`)."""
    text = json.dumps({"method": "stringConcat", "values": [" (edited)"]})
    created = tables.create_row(DB, "messages", "m1", {"sessionId": "s1", "role": "user", "text": text})
    assert created.data["text"] == text  # create stores it as it came
    row = tables.update_row(DB, "messages", "m1", {"text": Operator.string_replace("stringConcat", "x")})
    assert row.data["text"] == text.replace("stringConcat", "x")
    row = tables.update_row(DB, "messages", "m1", {"text": '{"method": "stringConcat", "values": ["!"]}'})
    assert row.data["text"] == text.replace("stringConcat", "x") + "!"
    upserted = tables.upsert_row(DB, "messages", "m1", {"text": '{"method":"stringReplace","values":["!","?"]}'})
    assert upserted.data["text"].endswith("?")
    as_object = tables.update_row(DB, "messages", "m1", {"text": {"method": "stringConcat", "values": ["."]}})
    assert as_object.data["text"].endswith("?.")  # a JSON object of that shape is one too


@pytest.mark.parametrize("text", [
    '{"method": "nope", "values": [1]}',  # not a method Operator::isMethod knows
    '{"method": ["increment"]}', '{"method": null}', '["increment"]', '"increment"',
    '{"method": "stringConcat", "values": [NaN]}',  # PHP json_decode knows no NaN
    '{"method": "stringConcat", "values": ["\\ud800"]}',  # an unpaired surrogate fails PHP json_decode
    '{"method": "stringConcat", "values": [' + "[" * 511 + "]" * 511 + "]}",  # 513 levels: beyond PHP's depth
    '{"method": "stringConcat"', "stringConcat",
])
def test_text_that_php_does_not_read_as_an_operator_is_stored_verbatim(tables, text: str) -> None:
    """appwrite 1.9.6 `.../Databases/Http/Databases/Action.php` `parseOperators`: only `json_decode` results holding a
    string `method` that utopia-php/database 6.0.0 `src/Database/Operator.php` `isMethod` knows; PHP's `json_decode`
    (default depth 512) fails on NaN, on unpaired surrogates and on deeper nesting."""
    tables.create_row(DB, "messages", "m1", {"sessionId": "s1", "role": "user", "text": "hi"})
    assert tables.update_row(DB, "messages", "m1", {"text": text}).data["text"] == text


def test_php_json_decode_depth_and_numbers() -> None:
    """PHP `json_decode($s, true)` (depth 512): 512 levels decode, 513 do not; integers past PHP_INT_MAX are floats."""
    assert php_json_decode("[" * 512 + "]" * 512) is not FAILED
    assert php_json_decode("[" * 513 + "]" * 513) is FAILED
    assert php_json_decode("[NaN]") is FAILED and php_json_decode('["\\udc00"]') is FAILED
    assert php_json_decode('["\\ud83d\\ude00"]') == ["\U0001f600"]  # a paired surrogate is one character
    assert isinstance(php_json_decode("[9223372036854775808]")[0], float)
    assert php_json_decode("[9223372036854775807]") == [9223372036854775807]


@pytest.mark.parametrize(("text", "message"), [
    ('{"method": "increment", "values": 5}',
     'Invalid operator for attribute "text": Invalid operator values. Must be an array, got integer'),
    ('{"method": "stringConcat", "values": "x"}',
     'Invalid operator for attribute "text": Invalid operator values. Must be an array, got string'),
    ('{"method": "toggle", "attribute": 3}',
     'Invalid operator for attribute "text": Invalid operator attribute. Must be a string, got integer'),
])
def test_a_malformed_operator_is_a_bad_request(tables, text: str, message: str) -> None:
    """appwrite 1.9.6 `.../Databases/Http/Databases/Action.php` `parseOperators` wraps utopia-php/database 6.0.0
    `src/Database/Operator.php` `parseOperator`'s refusal in 400 `general_bad_request`."""
    tables.create_row(DB, "messages", "m1", {"sessionId": "s1", "role": "user", "text": "hi"})
    err = _error(tables.update_row, DB, "messages", "m1", {"text": text})
    assert (err.code, err.type, err.message) == (400, "general_bad_request", message)


@pytest.mark.parametrize(("column", "text", "message"), [
    ("text", '{"method": "increment", "values": [1]}',
     "Cannot apply increment operator to non-numeric field 'text'"),
    ("text", '{"method": "toggle"}', "Cannot apply toggle operator to non-boolean field 'text'"),
    ("text", '{"method": "dateSetNow"}', "Cannot apply dateSetNow operator to non-datetime field 'text'"),
    ("text", '{"method": "arrayAppend", "values": ["x"]}',
     "Cannot apply arrayAppend operator to non-array field 'text'"),
    ("text", '{"method": "arrayDiff", "values": ["x"]}',
     "Cannot use arrayDiff operator on non-array attribute 'text'"),
    ("text", '{"method": "stringConcat", "values": [5]}',
     "Cannot apply stringConcat operator: requires a string value"),
    ("text", '{"method": "stringReplace", "values": ["a"]}',
     "Cannot apply stringReplace operator: requires exactly 2 string values (search and replace)"),
    ("handoff", '{"method": "stringConcat", "values": ["x"]}',
     "Cannot apply stringConcat operator to non-string field 'handoff'"),
])
def test_an_operator_that_does_not_fit_the_column_is_refused(tables, column: str, text: str, message: str) -> None:
    """utopia-php/database 6.0.0 `src/Database/Validator/Operator.php` (run by `Validator/Structure.php`): 400
    `row_invalid_structure` `Invalid document structure: <its message>`."""
    tables.create_row(DB, "messages", "m1", {"sessionId": "s1", "role": "user", "text": "hi"})
    err = _error(tables.update_row, DB, "messages", "m1", {column: text})
    assert (err.code, err.type, err.message) == (400, "row_invalid_structure", f"Invalid document structure: {message}")


def test_string_concat_is_held_to_the_column_size_in_bytes(tables) -> None:
    """utopia-php/database 6.0.0 `src/Database/Validator/Operator.php`: stringConcat's predicted `strlen` (bytes)
    against the column's size; a result that fits is stored."""
    tables.create_row(DB, "sessions", "s1", {**SESSION, "closeReason": "x" * 60})
    assert tables.update_row(DB, "sessions", "s1", {"closeReason": Operator.string_concat("abcd")}).data[
        "closeReason"] == "x" * 60 + "abcd"
    err = _error(tables.update_row, DB, "sessions", "s1", {"closeReason": Operator.string_concat("é")})  # 2 bytes
    assert err.message == ("Invalid document structure: Cannot apply stringConcat operator: result would exceed "
                           "maximum length of 64 characters")


def test_an_integer_operator_may_not_overflow_32_bits(tables) -> None:
    """utopia-php/database 6.0.0 `src/Database/Validator/Operator.php`: an integer column's unbounded numeric operator
    is refused when its result would pass Database::MAX_INT."""
    tables.create_row(DB, "sessions", "s1", {**SESSION, "messageCount": 2147483000})
    err = _error(tables.update_row, DB, "sessions", "s1", {"messageCount": Operator.increment(1000)})
    assert err.message.endswith("would overflow maximum value of 2147483647")
    assert tables.update_row(DB, "sessions", "s1", {"messageCount": Operator.increment(1000, 2147483647)}).data[
        "messageCount"] == 2147483647


# --- $updatedAt -----------------------------------------------------------------------------------------------------


def test_an_increment_answers_the_row_as_read_with_its_old_updated_at(tables) -> None:
    """utopia-php/database 6.0.0 `src/Database/Database.php` `increaseDocumentAttribute`: the adapter writes the value
    and a new `$updatedAt`, the answer is the document as read with the column changed (appwrite 1.9.6
    `.../Documents/Attribute/Increment.php` returns it): its `$updatedAt` is the old one."""
    created = tables.create_row(DB, "counters", "c1", {"agentId": "a1"})
    bumped = tables.increment_row_column(DB, "counters", "c1", "assigned", 2)
    assert (bumped.data["assigned"], bumped.updatedat) == (2, created.updatedat)
    stored = tables.get_row(DB, "counters", "c1")
    assert stored.data["assigned"] == 2 and stored.updatedat > created.updatedat
    lowered = tables.decrement_row_column(DB, "counters", "c1", "assigned", 1, min=0)
    assert (lowered.data["assigned"], lowered.updatedat) == (1, stored.updatedat)


def test_an_update_that_changes_nothing_keeps_updated_at(tables) -> None:
    """utopia-php/database 6.0.0 `src/Database/Database.php` `updateDocument`: `$updatedAt` is set only when an
    operator is sent or a value differs (`!==`) from the stored one; the X-Appwrite-Timestamp check still runs."""
    created = tables.create_row(DB, "sessions", "s1", {**SESSION, "messageCount": 3})
    same = tables.update_row(DB, "sessions", "s1", {"status": "active", "messageCount": 3, "needsHuman": False})
    assert same.updatedat == created.updatedat
    assert tables.get_row(DB, "sessions", "s1").updatedat == created.updatedat
    changed = tables.update_row(DB, "sessions", "s1", {"messageCount": 4})
    assert changed.updatedat > created.updatedat
    by_operator = tables.update_row(DB, "sessions", "s1", {"messageCount": Operator.increment(0)})
    assert by_operator.updatedat > changed.updatedat  # an operator always counts as a change


def test_a_no_change_update_with_a_stale_timestamp_still_conflicts(fake, tables) -> None:
    """utopia-php/database 6.0.0 `Database::updateDocument` checks the request timestamp whether or not anything
    changed."""
    created = tables.create_row(DB, "sessions", "s1", SESSION)
    tables.update_row(DB, "sessions", "s1", {"status": "closed"})
    stale = TablesDB(fake.client().add_header("x-appwrite-timestamp", created.updatedat))
    assert _error(stale.update_row, DB, "sessions", "s1", {"status": "closed"}).code == 409


def test_engine_operator_parsing_is_not_applied_on_create() -> None:
    """appwrite 1.9.6 `.../Documents/Create.php` never calls `parseOperators`: the engine stores the text."""
    engine = Engine(APPWRITE_JSON)
    text = '{"method": "stringConcat", "values": ["x"]}'
    row = engine.create_row(DB, "messages", "m1", {"sessionId": "s1", "role": "user", "text": text})
    assert row["text"] == text
