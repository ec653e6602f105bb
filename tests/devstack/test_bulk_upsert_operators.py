"""Atomic operators in a bulk upsert (`upsertRows`, PUT /v1/tablesdb/{db}/tables/{table}/rows), as appwrite 1.9.6 and
utopia-php/database 7.2.6 serve them; what the budgets' one-request take relies on (chat_core/infra/limits.py):

- appwrite `src/Appwrite/Platform/Modules/Databases/Http/Databases/Collections/Documents/Bulk/Upsert.php` (which
  `.../TablesDB/Tables/Rows/Bulk/Upsert.php` extends) calls `parseOperators` on every row;
- utopia-php/database `src/Database/Adapter/SQL.php` `upsertDocuments`: a row that exists gets the operator's SQL
  (`Adapter/MariaDB.php` `getOperatorSQL`: `COALESCE(col, 0) + n`, a bounded one a `CASE` that stops at its bound);
  a row the upsert creates gets `applyOperatorToValue` on the column's default, in PHP, without the bound;
- `src/Database/Database.php` `upsertDocumentsWithIncrease` refetches a batch with operators after its transaction
  (`refetchDocuments`): the answer holds each row as it stands after the commit, not the operator.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from appwrite.operator import Operator
from appwrite.services.tables_db import TablesDB

from devstack.fake import FakeAppwrite

APPWRITE_JSON = Path(__file__).resolve().parents[2] / "appwrite.json"
DB = "chat"
WINDOW = "2026-11-25T14:00:00.000+00:00"


@pytest.fixture
def tables():
    with FakeAppwrite(APPWRITE_JSON) as fake:
        yield TablesDB(fake.client())


def budget(row_id: str, used) -> dict:
    return {"$id": row_id, "name": f"budget {row_id}", "windowStart": WINDOW, "used": used}


def used(answer) -> dict[str, int]:
    return {row.id: row.data["used"] for row in answer.rows}


def test_a_bulk_upsert_applies_each_rows_operator_and_answers_the_rows_as_written(tables):
    tables.create_row(DB, "limits", "a", {"name": "budget a", "windowStart": WINDOW, "used": 3})
    answer = tables.upsert_rows(DB, "limits", [budget("a", Operator.increment(1)), budget("b", Operator.increment(1))])
    assert answer.total == 2 and used(answer) == {"a": 4, "b": 1}  # b created: its default 0, plus 1
    assert tables.get_row(DB, "limits", "b").data["used"] == 1
    given_back = tables.upsert_rows(DB, "limits", [budget("a", Operator.decrement(1, 0)),
                                                   budget("b", Operator.decrement(1, 0))])
    assert used(given_back) == {"a": 3, "b": 0}
    again = tables.upsert_rows(DB, "limits", [budget("b", Operator.decrement(1, 0))])
    assert used(again) == {"b": 0}  # a bounded decrement at its bound stops there: no error, unlike decrementRowColumn
    past = tables.upsert_rows(DB, "limits", [budget("a", Operator.increment(5))])
    assert used(past) == {"a": 8}  # an unbounded increment passes any limit the caller has in mind


def test_a_row_the_upsert_creates_gets_the_operator_on_the_columns_default_without_its_bound(tables):
    answer = tables.upsert_rows(DB, "limits", [budget("c", Operator.increment(5, 2)),
                                               budget("d", Operator.decrement(1, 0))])
    assert used(answer) == {"c": 5, "d": -1}  # SQL.php applyOperatorToValue: no bound on a created row
    data = {k: v for k, v in budget("e", Operator.increment(2, 1)).items() if k != "$id"}
    single = tables.upsert_row(DB, "limits", "e", data)
    assert single.data["used"] == 2  # upsertRow goes the same way (Database::upsertDocument)
    existing = tables.upsert_rows(DB, "limits", [budget("c", Operator.increment(5, 6))])
    assert used(existing) == {"c": 6}  # on a row that exists, the SQL CASE stops at the bound
