"""The history's search by visitor and by text (issue 22, item 6), without scanning.

Each session carries `searchText`: the visitor's name and e-mail from `userMeta` (written when it is created), then
the text of every message it admits (written by the admission write that happens anyway), lower-cased and cut at
SEARCH_MAX characters (a chat longer than that is searchable by its first 16,000 characters). A fulltext index on it
serves Appwrite's `search` query: MariaDB's MATCH ... AGAINST in boolean mode (utopia-php/database
`src/Database/Adapter/MariaDB.php`, `Query::TYPE_SEARCH`), which appends `*` to the value (`getFulltextValue` in
`src/Database/Adapter/SQL.php`): each query word is a prefix. Boolean mode ORs the words of one value, so the list
sends one `search` per word (at most MAX_WORDS) and Appwrite ANDs them: every word must start a word of the chat.

InnoDB indexes words of at least 3 characters (`innodb_ft_min_token_size`) that are not on its default stopword
list, so shorter words and stopwords are dropped from a search rather than sent to match nothing."""

from __future__ import annotations

import json
import re

SEARCH_MAX = 16000  # characters of searchText; the column is string(16384), TEXT off the row
MAX_WORDS = 5
MIN_WORD = 3
WORD = re.compile(r"\w+")
# InnoDB's default stopwords (INFORMATION_SCHEMA.INNODB_FT_DEFAULT_STOPWORD): never indexed.
STOPWORDS = frozenset({
    "a", "about", "an", "are", "as", "at", "be", "by", "com", "de", "en", "for", "from", "how", "i", "in", "is", "it",
    "la", "of", "on", "or", "that", "the", "this", "to", "was", "what", "when", "where", "who", "will", "with", "und",
    "www"})


def visitor_text(user_meta: str) -> str:
    """The name and e-mail a site may pass in `userMeta` (a JSON object), as searchText starts."""
    try:
        meta = json.loads(user_meta or "{}")
    except ValueError:
        return ""
    if not isinstance(meta, dict):
        return ""
    parts = [meta.get(key) for key in ("name", "email")]
    return _line(" ".join(p for p in parts if isinstance(p, str)))[:SEARCH_MAX]


def with_message(search_text: str, text: str) -> str:
    """searchText once a message is admitted: its text appended while there is room."""
    line = _line(text)
    if not line or len(search_text) >= SEARCH_MAX:
        return search_text
    joined = f"{search_text} {line}" if search_text else line
    return joined[:SEARCH_MAX]


def without_message(search_text: str, added: str) -> str:
    """searchText with an admission taken back: the text it `added` cut off the end, if nothing came after it (else
    a later message's text would go too: it stays, and the taken-back words may still match, never a stored one
    fail to)."""
    return search_text[: len(search_text) - len(added)] if added and search_text.endswith(added) else search_text


def query_words(q: str) -> list[str]:
    """The words of a search, each to be sent as its own `search` query: lower-cased, indexable, at most
    MAX_WORDS, each once."""
    found: list[str] = []
    for word in WORD.findall(q.lower()):
        if len(word) >= MIN_WORD and word not in STOPWORDS and word not in found:
            found.append(word)
    return found[:MAX_WORDS]


def _line(text: str) -> str:
    return " ".join(text.lower().split())
