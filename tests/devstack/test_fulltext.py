"""The stack's `search` query on a fulltext index (devstack/fulltext.py), each behaviour with its source:

- appwrite/appwrite src/Appwrite/Utopia/Database/Validator/IndexedQueries.php: `search` needs a fulltext index over
  exactly that attribute, else `Searching by attribute "<attr>" requires a fulltext index.` (400).
- utopia-php/database src/Database/Adapter/SQL.php `getFulltextValue`: `@ + - * ) ( < > ~ "` become spaces, a
  quoted value is a phrase, any other gets `*` appended; src/Database/Adapter/MariaDB.php `Query::TYPE_SEARCH`: an
  empty value is `0 = 1`, else MATCH ... AGAINST (... IN BOOLEAN MODE).
- MariaDB InnoDB fulltext, boolean mode: operator-less words are ORed; case-insensitive; words under 3 characters
  (innodb_ft_min_token_size) and the default stopwords are not indexed; `word*` is a prefix.
"""

from __future__ import annotations

import pytest
from appwrite.query import Query
from appwrite.services.tables_db import TablesDB
from test_engine import APPWRITE_JSON, DB, error_of, session

from devstack.fake import FakeAppwrite
from devstack.fulltext import fulltext_value, matches


@pytest.fixture
def tables():
    with FakeAppwrite(APPWRITE_JSON) as fake:
        yield TablesDB(fake.client())


def found(tables, *queries) -> list[str]:
    return sorted(r.id for r in tables.list_rows(DB, "sessions", [*queries, Query.limit(100)]).rows)


def test_the_value_is_prepared_as_getFulltextValue_does():
    assert fulltext_value("vic@example.com") == "vic example.com*"
    assert fulltext_value("  (refund)  -tent+ ") == "refund tent*"
    assert fulltext_value('"order 1042"') == '"order 1042"'
    assert fulltext_value("@*~") == ""


def test_boolean_mode_words_prefixes_and_phrases():
    text = "vic walker vic@example.com my order 1042 never came"
    assert matches(text, "walk*") and matches(text, "VIC*") and matches(text, "1042*")
    assert matches(text, "zzz walker")                     # words are ORed
    assert matches(text, fulltext_value("vic@example.com"))  # `example.com*`: split at the dot
    assert not matches(text, "walk")                       # without *: a whole word
    assert not matches(text, "my*") and not matches(text, "com*")  # under 3 characters, a stopword: not indexed
    assert matches(text, '"order 1042"') and not matches(text, '"1042 order"')
    assert not matches(None, "vic*") and not matches(text, "")


def test_search_lists_rows_through_the_fulltext_index(tables):
    tables.create_row(DB, "sessions", "s1", session(searchText="vic walker my parcel never came"))
    tables.create_row(DB, "sessions", "s2", session(searchText="greta i want a refund for the tent"))
    tables.create_row(DB, "sessions", "s3", session())
    assert found(tables, Query.search("searchText", "parc")) == ["s1"]
    assert found(tables, Query.search("searchText", "tent refund")) == ["s2"]
    assert found(tables, Query.search("searchText", "walker greta")) == ["s1", "s2"]      # one value: OR
    assert found(tables, Query.search("searchText", "walker"), Query.search("searchText", "greta")) == []  # AND
    assert found(tables, Query.search("searchText", "~@")) == []                          # empty: 0 = 1
    assert found(tables, Query.search("searchText", "refund"), Query.equal("status", ["active"])) == ["s2"]


def test_search_without_a_fulltext_index_is_refused(tables):
    err = error_of(tables.list_rows, DB, "sessions", [Query.search("firstWords", "x")])
    assert (err.code, err.type) == (400, "general_query_invalid")
    assert 'Searching by attribute "firstWords" requires a fulltext index.' in err.message
