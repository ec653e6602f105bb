"""TablesDB transactions on the stack (devstack/transactions*.py), driven through the SDK 27 `TablesDB` against
FakeAppwrite (the stack's REST, in process). Each test names the upstream file it follows: paths in appwrite/appwrite
(1.9.6 line) unless they say utopia-php/database (7.2.x); `Transactions/` is
`src/Appwrite/Platform/Modules/Databases/Http/Databases/Transactions/`, `Documents/` is
`src/Appwrite/Platform/Modules/Databases/Http/Databases/Collections/Documents/`. The clock is injected: the engine's
`now` (rows' `$updatedAt`) and the transactions' (TTL, staging moments) are the same controlled clock.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from appwrite.exception import AppwriteException
from appwrite.query import Query
from appwrite.services.tables_db import TablesDB

from devstack import engine as engine_module
from devstack.fake import FakeAppwrite
from devstack.transactions import MAX_OPERATIONS, TTL_DEFAULT

APPWRITE_JSON = Path(__file__).resolve().parents[2] / "appwrite.json"
DB = "chat"
START = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)


class Clock:
    def __init__(self) -> None:
        self.moment = START

    def __call__(self) -> datetime:
        return self.moment

    def advance(self, seconds: float) -> None:
        self.moment += timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(engine_module, "now", clock)
    return clock


@pytest.fixture
def fake(clock):
    with FakeAppwrite(APPWRITE_JSON) as fake:
        yield fake


@pytest.fixture
def tables(fake):
    return TablesDB(fake.client())


def limit_row(name: str, used: int = 0) -> dict:
    return {"name": name, "windowStart": "2026-11-02T09:00:00Z", "used": used}


def error_of(call, *args, **kwargs) -> AppwriteException:
    with pytest.raises(AppwriteException) as info:
        call(*args, **kwargs)
    return info.value


def used(tables, row_id: str) -> int:
    return tables.get_row(DB, "limits", row_id).data["used"]


def raw(fake, method: str, path: str, body: dict | None = None, query: str = "") -> tuple[int, dict]:
    """One request straight to the stack's REST (for bodies the SDK would never send)."""
    headers = {"x-appwrite-project": fake.project, "x-appwrite-key": fake.key, "content-type": "application/json"}
    status, _, answer = fake.api.handle(method, "/v1" + path, query, headers, json.dumps(body or {}).encode())
    return status, json.loads(answer) if answer else {}


# -- the transaction resource ----------------------------------------------------------------------


def test_create_get_list_delete(fake, tables, clock):
    """Transactions/Create.php 62-88 (TTL param: src/.../Http/TablesDB/Transactions/Create.php 44, bounds
    APP_DATABASE_TXN_TTL_MIN/MAX/DEFAULT in app/init/constants.php 77-79), Get.php, XList.php (queries on status and
    expiresAt: src/Appwrite/Utopia/Database/Validator/Queries/Transactions.php), Delete.php (any status, 204), the
    model src/Appwrite/Utopia/Response/Model/Transaction.php, 404 transaction_not_found (app/config/errors.php 1087)."""
    default = tables.create_transaction()
    assert (default.status, default.operations) == ("pending", 0)
    assert default.expiresat == "2026-11-02T09:05:00.000+00:00" and default.createdat == default.updatedat
    assert TTL_DEFAULT == 300
    assert tables.create_transaction(ttl=60).expiresat == "2026-11-02T09:01:00.000+00:00"
    longest = tables.create_transaction(ttl=3600)
    for ttl in (59, 3601):
        error = error_of(tables.create_transaction, ttl=ttl)
        assert (error.code, error.type) == (400, "general_argument_invalid")
    assert tables.get_transaction(default.id).model_dump(by_alias=True) == default.model_dump(by_alias=True)
    listed = tables.list_transactions()
    assert listed.total == 3 and {t.id for t in listed.transactions} >= {default.id, longest.id}
    tables.update_transaction(longest.id, rollback=True)
    failed = tables.list_transactions(queries=[Query.equal("status", "failed")])
    assert [t.id for t in failed.transactions] == [longest.id] and failed.total == 1
    assert error_of(tables.list_transactions, queries=[Query.equal("operations", 0)]).code == 400
    tables.delete_transaction(longest.id)  # settled transactions can be deleted too
    error = error_of(tables.get_transaction, longest.id)
    assert (error.code, error.type) == (404, "transaction_not_found")
    assert error_of(tables.delete_transaction, longest.id).code == 404


def test_staged_writes_apply_only_at_commit(fake, tables):
    """Stage with `transactionId` on every row write the stack serves: Documents/Create.php 396-464 (201, a mock row),
    Update.php 258-322 (200), Upsert.php 266-328 (201), Delete.php 139-192 (204), Attribute/Increment.php 110-174 and
    Attribute/Decrement.php (200, the step as the column's value), Bulk/Delete.php 121-167 (200, total 0). The commit
    (Transactions/Update.php 148-305) replays them in order; a write to a row created earlier in the same
    transaction is applied to it (the dependent branch of handleUpdateOperation, 583-592)."""
    for name in ("a", "b", "c", "d"):
        tables.create_row(DB, "limits", name, limit_row(name, used=5))
    tx = tables.create_transaction().id
    created = tables.create_row(DB, "limits", "new", limit_row("new"), transaction_id=tx)
    assert (created.id, created.sequence, created.createdat, created.data["used"]) == ("new", "", "", 0)
    updated = tables.update_row(DB, "limits", "a", {"used": 7}, transaction_id=tx)
    assert updated.data == {"name": "a", "windowStart": "2026-11-02T09:00:00.000+00:00", "used": 7}
    tables.update_row(DB, "limits", "new", {"used": 3}, transaction_id=tx)  # a row the transaction created
    assert tables.upsert_row(DB, "limits", "e", limit_row("e", used=1), transaction_id=tx).data["used"] == 1
    tables.delete_row(DB, "limits", "b", transaction_id=tx)
    assert tables.increment_row_column(DB, "limits", "c", "used", 2, transaction_id=tx).data["used"] == 2
    assert tables.decrement_row_column(DB, "limits", "d", "used", 4, transaction_id=tx).data["used"] == 4
    bulk = tables.delete_rows(DB, "limits", [Query.equal("name", ["zzz"])], transaction_id=tx)
    assert (bulk.total, bulk.rows) == (0, [])
    assert tables.get_transaction(tx).operations == 8
    assert tables.list_rows(DB, "limits").total == 4 and used(tables, "a") == 5  # nothing applied yet
    assert error_of(tables.get_row, DB, "limits", "new").code == 404
    committed = tables.update_transaction(tx, commit=True)
    assert (committed.status, committed.operations) == ("committed", 8)
    assert {r.id: r.data["used"] for r in tables.list_rows(DB, "limits").rows} == {
        "a": 7, "c": 7, "d": 1, "new": 3, "e": 1}
    error = error_of(tables.update_transaction, tx, commit=True)  # a settled transaction
    assert (error.code, error.type) == (400, "transaction_not_ready")
    assert tables.get_transaction(tx).status == "committed"  # kept: only its logs are deleted (Deletes.php 1817)


def test_create_operations_then_commit_costs_three_requests(fake, tables):
    """createOperations: Transactions/Operations/Create.php 72-255 (TablesDB route: src/.../Http/TablesDB/
    Transactions/Operations/Create.php, operations in the shape of src/Appwrite/Utopia/Database/Validator/
    Operation.php, type tablesdb: databaseId, tableId, action, rowId, data; increments take data.column/value/max).
    An update of a row created in the same batch is accepted (the `dependants` of lines 232-239)."""
    tables.create_row(DB, "limits", "a", limit_row("a", used=1))
    tables.create_row(DB, "limits", "z", limit_row("z"))
    operations = [
        {"action": "create", "databaseId": DB, "tableId": "limits", "rowId": "x", "data": limit_row("x")},
        {"action": "update", "databaseId": DB, "tableId": "limits", "rowId": "x", "data": {"used": 4}},
        {"action": "upsert", "databaseId": DB, "tableId": "limits", "rowId": "y", "data": limit_row("y", used=2)},
        {"action": "increment", "databaseId": DB, "tableId": "limits", "rowId": "a",
         "data": {"column": "used", "value": 5, "max": 10}},
        {"action": "decrement", "databaseId": DB, "tableId": "limits", "rowId": "a",
         "data": {"column": "used", "value": 1, "min": 0}},
        {"action": "delete", "databaseId": DB, "tableId": "limits", "rowId": "z"},
    ]
    fake.reset_counts()
    tx = tables.create_transaction()
    staged = tables.create_operations(tx.id, operations)
    assert (staged.operations, staged.status) == (6, "pending")
    assert tables.update_transaction(tx.id, commit=True).status == "committed"
    assert len(fake.requests) == 3  # create, one createOperations for all N writes, commit
    assert {r.id: r.data["used"] for r in tables.list_rows(DB, "limits").rows} == {"a": 5, "x": 4, "y": 2}


@pytest.mark.parametrize(("operation", "needle"), [
    ({"action": "create", "databaseId": DB, "rowId": "x", "data": {}}, "Missing required key: tableId"),
    ({"action": "explode", "databaseId": DB, "tableId": "limits", "rowId": "x"}, "Key 'action' must be one of"),
    ({"action": "update", "databaseId": DB, "tableId": "limits", "data": {}}, "Key 'rowId' is required"),
    ({"action": "update", "databaseId": DB, "tableId": "limits", "rowId": "x"}, "Missing required key: data"),
    ({"action": "increment", "databaseId": DB, "tableId": "limits", "rowId": "x", "data": {"attribute": "used"}},
     "Key 'column' is required in data for increment"),
    ({"action": "increment", "databaseId": DB, "tableId": "limits", "rowId": "x",
      "data": {"column": "used", "value": "lots"}}, "Key 'value' must be a numeric value"),
    ({"action": "bulkDelete", "databaseId": DB, "tableId": "limits", "data": {}}, "Key 'queries' is required"),
])
def test_create_operations_validates_each_operation(tables, operation, needle):
    """src/Appwrite/Utopia/Database/Validator/Operation.php 100-214 (type tablesdb): 400 before anything is staged;
    an empty list is 400 general_bad_request (Transactions/Operations/Create.php 74-76)."""
    tx = tables.create_transaction().id
    error = error_of(tables.create_operations, tx, [operation])
    assert (error.code, error.type) == (400, "general_argument_invalid") and needle in error.message
    error = error_of(tables.create_operations, tx, [])
    assert (error.code, error.type) == (400, "general_bad_request")
    assert tables.get_transaction(tx).operations == 0


def test_create_operations_checks_rows_tables_and_databases(tables):
    """Transactions/Operations/Create.php 119-156: update, delete, increment and decrement need the row as the
    transaction sees it (404 document_not_found; upsert does not), unknown databases and tables are 404
    database_not_found / collection_not_found (these names even on TablesDB)."""
    tx = tables.create_transaction().id
    op = {"databaseId": DB, "tableId": "limits", "rowId": "ghost"}
    for action, data in (("update", {"used": 1}), ("delete", None), ("increment", {"column": "used"})):
        error = error_of(tables.create_operations, tx, [{**op, "action": action, **({"data": data} if data else {})}])
        assert (error.code, error.type) == (404, "document_not_found")
    tables.create_operations(tx, [{**op, "action": "upsert", "data": limit_row("ghost")}])
    error = error_of(tables.create_operations, tx, [{**op, "action": "upsert", "tableId": "nope", "data": {}}])
    assert (error.code, error.type) == (404, "collection_not_found")
    error = error_of(tables.create_operations, tx, [{**op, "action": "upsert", "databaseId": "nope", "data": {}}])
    assert (error.code, error.type) == (404, "database_not_found")
    assert tables.get_transaction(tx).operations == 1


# -- reads ------------------------------------------------------------------------------------------


def test_reads_inside_a_transaction_see_its_staged_writes(tables):
    """src/Appwrite/Databases/TransactionState.php: getDocument (50-92) and listDocuments/countDocuments (106-223),
    used by Documents/Get.php 108-110 and XList.php 151-154. Staged creates, updates, upserts and deletes show;
    staged increments do not (the replay reads data['attribute'], TablesDB stages data['column']: 422-447); a read
    with a transaction that is not pending (or unknown) sees the committed rows."""
    tables.create_row(DB, "limits", "a", limit_row("a", used=1))
    tables.create_row(DB, "limits", "b", limit_row("b", used=1))
    tables.create_row(DB, "limits", "c", limit_row("c", used=1))
    tx = tables.create_transaction().id
    tables.update_row(DB, "limits", "a", {"used": 9}, transaction_id=tx)
    tables.delete_row(DB, "limits", "b", transaction_id=tx)
    tables.create_row(DB, "limits", "n", limit_row("n", used=2), transaction_id=tx)
    tables.increment_row_column(DB, "limits", "c", "used", 5, transaction_id=tx)
    assert tables.get_row(DB, "limits", "a", transaction_id=tx).data["used"] == 9
    assert tables.get_row(DB, "limits", "a").data["used"] == 1  # outside the transaction: committed
    assert error_of(tables.get_row, DB, "limits", "b", transaction_id=tx).type == "row_not_found"
    staged = tables.get_row(DB, "limits", "n", transaction_id=tx)
    assert (staged.data["used"], staged.sequence, staged.createdat) == (2, "", "")
    assert tables.get_row(DB, "limits", "c", transaction_id=tx).data["used"] == 1  # the increment is invisible
    inside = tables.list_rows(DB, "limits", transaction_id=tx)
    assert {r.id: r.data["used"] for r in inside.rows} == {"a": 9, "c": 1, "n": 2} and inside.total == 3
    assert tables.list_rows(DB, "limits").total == 3 and tables.list_rows(DB, "limits", total=False).total == 0
    assert tables.list_rows(DB, "limits", transaction_id="unknown").total == 3
    tables.update_transaction(tx, rollback=True)
    assert tables.get_row(DB, "limits", "a", transaction_id=tx).data["used"] == 1


# -- limits and expiry ----------------------------------------------------------------------------


def test_operations_limit(tables):
    """APP_LIMIT_DATABASE_TRANSACTION = 100 (app/init/constants.php 50; APP_DATABASE_TXN_MAX_OPERATIONS, line 80,
    is read nowhere): every staging route refuses the 101st operation with 400 transaction_limit_exceeded
    (errors.php 1117; Documents/Create.php 414-422, Transactions/Operations/Create.php 98-106, a batch counted
    whole)."""
    assert MAX_OPERATIONS == 100
    tables.create_row(DB, "limits", "a", limit_row("a"))
    tx = tables.create_transaction().id
    batch = [{"action": "update", "databaseId": DB, "tableId": "limits", "rowId": "a", "data": {"used": i}}
             for i in range(60)]
    tables.create_operations(tx, batch)
    error = error_of(tables.create_operations, tx, batch)  # 60 + 60 > 100: nothing of it is staged
    assert (error.code, error.type) == (400, "transaction_limit_exceeded")
    tables.create_operations(tx, batch[:40])
    assert tables.get_transaction(tx).operations == 100
    for call in (lambda: tables.update_row(DB, "limits", "a", {"used": 1}, transaction_id=tx),
                 lambda: tables.increment_row_column(DB, "limits", "a", "used", transaction_id=tx),
                 lambda: tables.delete_rows(DB, "limits", transaction_id=tx)):
        error = error_of(call)
        assert (error.code, error.type) == (400, "transaction_limit_exceeded")
    tables.update_transaction(tx, commit=True)
    assert used(tables, "a") == 39


def test_expired_transaction_refuses_staging_and_commit(tables, clock):
    """Transactions/Update.php 142-146 and the staging routes (Documents/Update.php 270-274, Operations/Create.php
    92-96): past expiresAt, 410 transaction_expired (errors.php 1107); the transaction stays pending (the maintenance
    job deletes it later, Workers/Deletes.php 1833-1866) and nothing is applied. A rollback is refused the same way."""
    tables.create_row(DB, "limits", "a", limit_row("a"))
    tx = tables.create_transaction(ttl=60).id
    tables.update_row(DB, "limits", "a", {"used": 5}, transaction_id=tx)
    clock.advance(60)
    tables.update_row(DB, "limits", "a", {"used": 6}, transaction_id=tx)  # at expiresAt: still in time
    clock.advance(0.001)
    for call in (lambda: tables.update_row(DB, "limits", "a", {"used": 7}, transaction_id=tx),
                 lambda: tables.create_operations(tx, [{"action": "delete", "databaseId": DB, "tableId": "limits",
                                                        "rowId": "a"}]),
                 lambda: tables.update_transaction(tx, commit=True),
                 lambda: tables.update_transaction(tx, rollback=True)):
        error = error_of(call)
        assert (error.code, error.type) == (410, "transaction_expired")
    assert tables.get_transaction(tx).status == "pending" and used(tables, "a") == 0


def test_staging_checks_transaction_state(tables):
    """Who answers what for a missing or settled transaction: the row create/update/upsert/delete routes 404
    transaction_not_found and 400 transaction_not_ready (Documents/Update.php 259-268); increment/decrement, bulk
    delete and createOperations 400 general_bad_request (Attribute/Increment.php 111-117, Bulk/Delete.php 122-126,
    Transactions/Operations/Create.php 88-90)."""
    tables.create_row(DB, "limits", "a", limit_row("a"))
    error = error_of(tables.update_row, DB, "limits", "a", {"used": 1}, transaction_id="nothere")
    assert (error.code, error.type) == (404, "transaction_not_found")
    error = error_of(tables.increment_row_column, DB, "limits", "a", "used", transaction_id="nothere")
    assert (error.code, error.type) == (400, "general_bad_request")
    tx = tables.create_transaction().id
    tables.update_transaction(tx, rollback=True)
    assert tables.get_transaction(tx).status == "failed"  # a rollback leaves it failed (Update.php 511-516)
    error = error_of(tables.create_row, DB, "limits", "b", limit_row("b"), transaction_id=tx)
    assert (error.code, error.type) == (400, "transaction_not_ready")
    for call in (lambda: tables.decrement_row_column(DB, "limits", "a", "used", transaction_id=tx),
                 lambda: tables.delete_rows(DB, "limits", transaction_id=tx),
                 lambda: tables.create_operations(tx, [{"action": "delete", "databaseId": DB, "tableId": "limits",
                                                        "rowId": "a"}])):
        error = error_of(call)
        assert (error.code, error.type) == (400, "general_bad_request")
    error = error_of(tables.update_row, DB, "limits", "ghost", {"used": 1}, transaction_id=tx)
    assert (error.code, error.type) == (404, "row_not_found")  # the row is looked up before the transaction


# -- the commit ----------------------------------------------------------------------------------


def test_commit_is_all_or_nothing(fake, tables):
    """Transactions/Update.php 195-348: one database transaction; a structure error in the 3rd operation (checked
    only now: staging validates nothing against the columns) fails the commit with 400 document_invalid_structure
    (the Documents name, lines 328-332), the first two are undone and the transaction is failed."""
    tables.create_row(DB, "limits", "a", limit_row("a"))
    tx = tables.create_transaction().id
    tables.create_row(DB, "limits", "b", limit_row("b"), transaction_id=tx)
    tables.update_row(DB, "limits", "a", {"used": 3}, transaction_id=tx)
    tables.update_row(DB, "limits", "a", {"used": "three"}, transaction_id=tx)  # accepted when staged
    error = error_of(tables.update_transaction, tx, commit=True)
    assert (error.code, error.type) == (400, "document_invalid_structure")
    assert tables.get_transaction(tx).status == "failed"
    assert used(tables, "a") == 0 and tables.list_rows(DB, "limits").total == 1
    tables.create_row(DB, "limits", "b", limit_row("b"))  # the failed create left nothing behind


def test_conflict_when_a_staged_row_changed_after_staging(fake, tables, clock):
    """Transactions/Update.php 575-605 (update), 619-652 (upsert), 666-690 (delete): a write to a row the
    transaction did not touch before runs under withRequestTimestamp(<when it was staged>), and utopia-php/database
    src/Database/Database.php (6453-6456 updateDocument, 7545-7553 upsertDocuments, 7883-7891 deleteDocument)
    throws ConflictException when the row's $updatedAt is later: 409 transaction_conflict (Update.php 318-322),
    nothing applied."""
    for name in ("a", "b", "c"):
        tables.create_row(DB, "limits", name, limit_row(name))
    stages = (lambda tx: tables.update_row(DB, "limits", "a", {"used": 1}, transaction_id=tx),
              lambda tx: tables.upsert_row(DB, "limits", "a", limit_row("a", used=1), transaction_id=tx),
              lambda tx: tables.delete_row(DB, "limits", "a", transaction_id=tx),
              lambda tx: tables.delete_rows(DB, "limits", [Query.equal("name", ["a"])], transaction_id=tx))
    for other, stage in enumerate(stages, start=2):
        clock.advance(1)
        tx = tables.create_transaction().id
        tables.update_row(DB, "limits", "b", {"used": 5}, transaction_id=tx)
        stage(tx)
        clock.advance(1)
        # Someone else, after the staging (a new value each time: an update that changes nothing keeps $updatedAt)
        tables.update_row(DB, "limits", "a", {"used": other})
        error = error_of(tables.update_transaction, tx, commit=True)
        assert (error.code, error.type) == (409, "transaction_conflict")
        assert used(tables, "b") == 0 and used(tables, "a") == other
        assert tables.get_transaction(tx).status == "failed"
    clock.advance(1)
    tx = tables.create_transaction().id  # a row written before the staging is no conflict
    tables.update_row(DB, "limits", "a", {"used": 3}, transaction_id=tx)
    assert tables.update_transaction(tx, commit=True).status == "committed" and used(tables, "a") == 3


def test_rows_only_read_or_incremented_are_not_checked(fake, tables, clock):
    """Reads are not staged (Documents/Get.php 108-110 only reads through TransactionState), so a row only read in
    the transaction is never compared at the commit; increments are not compared either: increaseDocumentAttribute
    (utopia-php/database src/Database/Database.php 7661-7757) never reads the request timestamp that
    Transactions/Update.php 749-757 sets. A duplicate create is a conflict (DuplicateException, Update.php 318)."""
    for name in ("a", "b", "c"):
        tables.create_row(DB, "limits", name, limit_row(name))
    tx = tables.create_transaction().id
    assert tables.get_row(DB, "limits", "b", transaction_id=tx).data["used"] == 0
    tables.list_rows(DB, "limits", transaction_id=tx)
    tables.update_row(DB, "limits", "a", {"used": 1}, transaction_id=tx)
    tables.increment_row_column(DB, "limits", "c", "used", 2, transaction_id=tx)
    clock.advance(1)
    tables.update_row(DB, "limits", "b", {"used": 7})  # the row the transaction read
    tables.update_row(DB, "limits", "c", {"used": 10})  # the row it increments
    assert tables.update_transaction(tx, commit=True).status == "committed"
    assert (used(tables, "a"), used(tables, "b"), used(tables, "c")) == (1, 7, 12)
    tx = tables.create_transaction().id
    tables.create_row(DB, "limits", "d", limit_row("d"), transaction_id=tx)
    tables.create_row(DB, "limits", "d", limit_row("d"))
    error = error_of(tables.update_transaction, tx, commit=True)
    assert (error.code, error.type) == (409, "transaction_conflict")


def test_increment_bounds_are_checked_at_commit(fake, tables):
    """A staged increment or decrement is accepted whatever its bound (Attribute/Increment.php 110-174 stages
    value and max as given); the commit applies it with increaseDocumentAttribute/decreaseDocumentAttribute, whose
    LimitException (utopia-php/database Database.php 7713-7715) fails the whole commit with 400
    attribute_limit_exceeded (Transactions/Update.php 333-337)."""
    tables.create_row(DB, "limits", "a", limit_row("a", used=8))
    tables.create_row(DB, "limits", "b", limit_row("b", used=1))
    tx = tables.create_transaction().id
    tables.increment_row_column(DB, "limits", "a", "used", 1, 10, transaction_id=tx)
    tables.increment_row_column(DB, "limits", "a", "used", 1, 10, transaction_id=tx)
    tables.decrement_row_column(DB, "limits", "b", "used", 1, 0, transaction_id=tx)
    assert tables.update_transaction(tx, commit=True).status == "committed"
    assert (used(tables, "a"), used(tables, "b")) == (10, 0)
    tx = tables.create_transaction().id
    tables.decrement_row_column(DB, "limits", "a", "used", 4, 0, transaction_id=tx)
    tables.increment_row_column(DB, "limits", "a", "used", 1, 10, transaction_id=tx)  # 6 + 1 fits
    tables.decrement_row_column(DB, "limits", "b", "used", 1, 0, transaction_id=tx)  # 0 - 1 does not
    error = error_of(tables.update_transaction, tx, commit=True)
    assert (error.code, error.type) == (400, "attribute_limit_exceeded")
    assert (used(tables, "a"), used(tables, "b")) == (10, 0)


def test_events_only_for_committed_writes_after_the_commit(fake, tables):
    """Transactions/Update.php 357-508: no event while staging (the routes reset the event queue, e.g.
    Documents/Update.php 317) or on a rollback or a failed commit; after the commit, one per operation: the row as
    committed for create, update, increment/decrement and upsert (always `update`, line 433), the removed row for a
    delete; bulk operations none (442-446)."""
    tables.create_row(DB, "limits", "a", limit_row("a"))
    tables.create_row(DB, "limits", "b", limit_row("b"))
    events = []
    fake.engine.subscribe(events.append)
    tx = tables.create_transaction().id
    tables.update_row(DB, "limits", "a", {"used": 1}, transaction_id=tx)
    tables.update_transaction(tx, rollback=True)
    tx = tables.create_transaction().id
    tables.create_row(DB, "limits", "n", limit_row("n"), transaction_id=tx)
    tables.update_row(DB, "limits", "a", {"used": 4}, transaction_id=tx)
    tables.increment_row_column(DB, "limits", "a", "used", 1, transaction_id=tx)
    tables.upsert_row(DB, "limits", "u", limit_row("u"), transaction_id=tx)
    tables.delete_row(DB, "limits", "b", transaction_id=tx)
    tables.delete_rows(DB, "limits", [Query.equal("name", ["nothing"])], transaction_id=tx)
    assert events == []
    tables.update_transaction(tx, commit=True)
    assert [(e["rowId"], e["action"]) for e in events] == [
        ("n", "create"), ("a", "update"), ("a", "update"), ("u", "update"), ("b", "delete")]
    assert events[1]["row"]["used"] == 5 and events[2]["row"]["used"] == 5  # the row as committed
    assert events[0]["row"]["$sequence"] != "" and events[4]["row"]["name"] == "b"


def test_bulk_delete_in_a_transaction(fake, tables, clock):
    """Bulk/Delete.php 121-167 stages the queries (checked now); the commit deletes the rows they match then
    (Transactions/Update.php 977-1009), comparing each row not written earlier in the transaction with the staging
    moment."""
    for name, value in (("a", 1), ("b", 1), ("c", 2)):
        tables.create_row(DB, "limits", name, limit_row(name, used=value))
    tx = tables.create_transaction().id
    tables.create_row(DB, "limits", "d", limit_row("d", used=1), transaction_id=tx)
    tables.delete_rows(DB, "limits", [Query.equal("used", [1])], transaction_id=tx)
    assert error_of(tables.delete_rows, DB, "limits", ["not a query"], transaction_id=tx).code == 400
    # A read in the transaction drops the staged rows the queries match, not the committed ones
    # (TransactionState.php 521-540 applies a bulk delete to the staged state only).
    assert {r.id for r in tables.list_rows(DB, "limits", transaction_id=tx).rows} == {"a", "b", "c"}
    tables.update_transaction(tx, commit=True)
    assert [r.id for r in tables.list_rows(DB, "limits").rows] == ["c"]


def test_commit_and_rollback_take_json_booleans_only(fake, tables):
    """`commit`/`rollback` are `new Boolean()` in Transactions/Update.php 77-78 (TablesDB: src/.../Http/TablesDB/
    Transactions/Update.php 52-53): strict, so only JSON true/false pass (utopia-php/validators Boolean::isValid:
    "true", "1" and 1 need `loose`), 400 general_argument_invalid otherwise; neither or both true is 400
    general_bad_request (Update.php 122-127)."""
    tables.create_row(DB, "limits", "a", limit_row("a"))
    tx = tables.create_transaction().id
    tables.update_row(DB, "limits", "a", {"used": 1}, transaction_id=tx)
    for value in ("true", "1", 1, "yes", "True"):
        status, answer = raw(fake, "PATCH", f"/tablesdb/transactions/{tx}", {"commit": value})
        assert (status, answer["type"]) == (400, "general_argument_invalid")
        assert answer["message"] == "Invalid `commit` param: Value must be a valid boolean"
    status, answer = raw(fake, "PATCH", f"/tablesdb/transactions/{tx}", {"rollback": 0})
    assert (status, answer["type"]) == (400, "general_argument_invalid")
    for body in ({}, {"commit": False, "rollback": False}, {"commit": True, "rollback": True}):
        status, answer = raw(fake, "PATCH", f"/tablesdb/transactions/{tx}", body)
        assert (status, answer["type"]) == (400, "general_bad_request")
    assert raw(fake, "PATCH", f"/tablesdb/transactions/{tx}", {"commit": True, "rollback": False})[0] == 200
    assert used(tables, "a") == 1


def test_transaction_routes_need_the_rows_scopes(fake):
    """The TablesDB transaction routes' `scope` labels (src/.../Http/TablesDB/Transactions/*.php): rows.read for
    get and list, rows.write for the others."""
    fake.keys.add("reader", {"rows.read"})
    reader = TablesDB(fake.client(key="reader"))
    assert reader.list_transactions().total == 0
    error = error_of(reader.create_transaction)
    assert (error.code, error.type) == (401, "general_unauthorized_scope")
