"""The legacy Databases API's document routes, `/v1/databases/{db}/collections/{c}/documents...`, served by the same
row handlers as TablesDB (devstack/rest.py), as Appwrite 1.9.6 and 2.x still serve them.

Upstream (appwrite 1.9.6, `src/Appwrite/Platform/Modules/Databases/Http/`): every TablesDB rows action extends the
Collections one (`TablesDB/Tables/Rows/Create.php` is `class Create extends DocumentCreate`, and so on for Get,
XList, Update, Upsert, Delete, Bulk/* and Attribute/Increment|Decrement), so the two spellings run one action and
differ only in what `isCollectionsAPI()` / `getSDKGroup()` / `getContext()` pick:

- the path (`Databases/Collections/Documents/*.php` `setHttpPath`): `databases/{db}/collections/{c}/documents[/{id}]`,
  `.../documents/{id}/{attribute}/increment|decrement`;
- the scope: `documents.read` / `documents.write` (the rows routes take `rows.*` or `documents.*`);
- the ID parameter `documentId` (`rowId`), the bulk parameter `documents` (`rows`);
- the answer: the Document model (`Utopia/Response/Model/Document.php`: `$collectionId` where Row has `$tableId`),
  lists and bulk answers `{"total", "documents"}` (`rows`);
- the errors (`app/config/errors.php`): `document_*`, `collection_*`, `attribute_*` where TablesDB says `row_*`,
  `table_*`, `column_*`, with the same messages in those words.

Databases of either type answer on either spelling (`Databases/Action.php` `getDatabaseTypeQueryFilters`: legacy and
tablesdb are interchangeable), so a database made through TablesDB serves documents too. Everything else (query
parsing, permissions, validation, transactions through `transactionId`) is the rows code's, unchanged.
"""

from __future__ import annotations

import json
import re
from typing import Any

from devstack import params

Response = tuple[int, dict[str, str], bytes]

# The words TablesDB uses and the legacy API's for them, in error types and messages (errors.php).
_WORDS = {"row": "document", "rows": "documents", "table": "collection", "tables": "collections",
          "column": "attribute", "columns": "attributes", "rowid": "documentId"}  # `rowId`: Create.php 191-197
# errors.php 837-841 and 879-883: the two descriptions differ by more than the words (no final period here).
_MESSAGES = {"The document data is missing. Try again with document data populated.":
             "The document data is missing. Try again with document data populated"}
_WORD = re.compile(r"\b(" + "|".join(sorted(_WORDS, key=len, reverse=True)) + r")\b", re.IGNORECASE)
_TYPE_PREFIX = re.compile(r"^(row|table|column)_")


def tablesdb_path(path: str) -> str | None:
    """`/v1/databases/{db}/collections/{c}/documents...` -> the TablesDB rows path; None for any other path (the
    collection and attribute routes are devstack/manage_tables.py's)."""
    parts = path.split("/")  # ['', 'v1', 'databases', db, 'collections', c, 'documents', ...]
    if len(parts) < 7 or parts[1:3] != ["v1", "databases"] or parts[4] != "collections" or parts[6] != "documents":
        return None
    rest = "/".join(parts[7:])
    target = f"/v1/tablesdb/{parts[3]}/tables/{parts[5]}/rows" + (f"/{rest}" if rest else "")
    return target


def scope(method: str) -> str:
    """`Documents/*.php` `label('scope', ...)`: reads `documents.read`, every write `documents.write`."""
    return "documents.read" if method == "GET" else "documents.write"


def request_body(body: bytes) -> bytes:
    """`documentId` -> `rowId`, `documents` -> `rows` (the same parameters under the legacy names)."""
    if not body.strip():
        return body
    try:
        parsed = params.php_json(body)
    except ValueError:  # invalid, NaN/Infinity, too deep (devstack/params.py)
        return body  # the rows code answers the invalid body
    if not isinstance(parsed, dict):
        return body
    renamed = {{"documentId": "rowId", "documents": "rows"}.get(k, k): v for k, v in parsed.items()
               if k not in ("rowId", "rows")}  # the legacy route has no such parameters
    return json.dumps(renamed).encode()


def response(answer: Response) -> Response:
    """The rows code's answer in the Document model's and the legacy errors' words."""
    status, headers, body = answer
    if not body or "json" not in headers.get("content-type", ""):
        return answer
    try:
        payload = json.loads(body)
    except ValueError:
        return answer
    if status >= 400 and isinstance(payload, dict):
        payload["type"] = _TYPE_PREFIX.sub(lambda m: _WORDS[m.group(1)] + "_", str(payload.get("type", "")))
        message = _reword(str(payload.get("message", "")))
        payload["message"] = _MESSAGES.get(message, message)
    else:
        payload = _document_model(payload)
    return status, headers, json.dumps(payload).encode()


def _document_model(payload: Any) -> Any:
    if not isinstance(payload, dict):
        return payload
    if "rows" in payload and "total" in payload:  # a list, or a bulk answer
        return {("documents" if k == "rows" else k): ([_document(r) for r in v] if k == "rows" else v)
                for k, v in payload.items()}
    return _document(payload)


def _document(row: Any) -> Any:
    if not isinstance(row, dict) or "$tableId" not in row:
        return row
    return {("$collectionId" if k == "$tableId" else k): v for k, v in row.items()}


def _reword(message: str) -> str:
    def swap(match: re.Match[str]) -> str:
        word = match.group(1)
        legacy = _WORDS[word.lower()]
        return legacy.capitalize() if word[0].isupper() else legacy
    return _WORD.sub(swap, message)
