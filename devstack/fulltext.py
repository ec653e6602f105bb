"""Appwrite's `search` query on a fulltext index, as Appwrite on MariaDB answers it (the product's history search,
issue 22 item 6: `shared/chat_core/domain/search.py`).

Sources (each behaviour has its test in tests/devstack/test_fulltext.py):
- appwrite/appwrite `src/Appwrite/Utopia/Database/Validator/IndexedQueries.php` (and utopia-php/database's query
  validator since): `search` on an attribute without a fulltext index over exactly that attribute is refused,
  `Searching by attribute "<attr>" requires a fulltext index.`
- utopia-php/database `src/Database/Adapter/SQL.php` `getFulltextValue`: the characters `@ + - * ) ( < > ~ "` become
  spaces, whitespace collapses and is trimmed; a value wrapped in double quotes is a phrase, any other gets `*`
  appended (its last word is a prefix). `src/Database/Adapter/MariaDB.php` (`Query::TYPE_SEARCH`): an empty value
  matches nothing (`0 = 1`), else `MATCH(attr) AGAINST (:value IN BOOLEAN MODE)`.
- MariaDB's InnoDB fulltext in boolean mode: words without an operator are optional (any one matches: OR); case is
  ignored (utf8mb4 general collation); words are runs of letters, digits and `_`; words shorter than
  `innodb_ft_min_token_size` (3) and the default stopwords (INFORMATION_SCHEMA.INNODB_FT_DEFAULT_STOPWORD) are not
  indexed, so a query word that is one of them matches nothing, unless it carries `*` (then it is a prefix of
  the indexed words).
The stack matches row by row (it serves the semantics, not the index's speed).
"""

from __future__ import annotations

import re

SPECIAL = '@+-*)(<>~"'
MIN_TOKEN = 3
WORD = re.compile(r"\w+")
STOPWORDS = frozenset({
    "a", "about", "an", "are", "as", "at", "be", "by", "com", "de", "en", "for", "from", "how", "i", "in", "is", "it",
    "la", "of", "on", "or", "that", "the", "this", "to", "was", "what", "when", "where", "who", "will", "with", "und",
    "www"})


def fulltext_value(value: str) -> str:
    """utopia-php/database SQL::getFulltextValue."""
    exact = value.startswith('"') and value.endswith('"')
    for char in SPECIAL:
        value = value.replace(char, " ")
    value = " ".join(value.split())
    if not value:
        return ""
    return f'"{value}"' if exact else value + "*"


def _tokens(text: str) -> list[str]:
    return [w for w in WORD.findall(text.lower()) if len(w) >= MIN_TOKEN and w not in STOPWORDS]


def matches(text: str | None, boolean_query: str) -> int:
    """MATCH(text) AGAINST (boolean_query IN BOOLEAN MODE), for the values `fulltext_value` makes: 1 or 0."""
    if not text or not boolean_query:
        return 0
    tokens = _tokens(text)
    if boolean_query.startswith('"') and boolean_query.endswith('"'):
        phrase = _tokens(boolean_query[1:-1])
        n = len(phrase)
        return int(bool(phrase) and any(tokens[i:i + n] == phrase for i in range(len(tokens) - n + 1)))
    indexed = set(tokens)
    for term in boolean_query.lower().split():
        words = WORD.findall(term)  # `example.com*`: the parser splits at `.` too; `*` makes the last a prefix
        prefix = words.pop() if term.endswith("*") and words else None
        if any(w in indexed for w in words) or (prefix and any(t.startswith(prefix) for t in indexed)):
            return 1
    return 0
