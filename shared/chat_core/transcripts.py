"""Transcript exports as JSON or CSV, written in pages: the `chunk` of each page, appended in order, is the file.

An export is one execution per page, so a long session never runs into an execution's time limit (a synchronous
execution is cut at 30 s, docs/platform.md). This module only formats; `service` reads the pages and `authz` decides who
may export. Plain Python: no Appwrite, no clock.

- JSON: `{"exportedAt", "session": {...}, "messages": [...]}`, one message per line. The first page opens the
  document, every message after the file's first is preceded by a comma, the last page closes it.
- CSV (RFC 4180): UTF-8, CRLF line ends, the header on the first page only, a cell quoted when it holds a comma, a
  quote (doubled) or a line break. Messages only (JSON carries the session's details). A cell that a spreadsheet
  would run as a formula (one starting with `=`, `+`, `-`, `@`, a tab or a carriage return) is prefixed with `'`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from . import jsonio

FORMATS = ("json", "csv")
CONTENT_TYPES = {"json": "application/json; charset=utf-8", "csv": "text/csv; charset=utf-8"}
CSV_COLUMNS = ("sessionId", "messageId", "createdAt", "role", "authorId", "handoff", "text")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# What a page's chunk may hold, in characters, before it stops early (always after at least one message): a page
# of 100 messages of 4,000 characters each stays far below what an execution's answer can carry.
MAX_CHUNK_CHARS = 1_000_000
# Relative to the moment of the export; an export holds only what stays true.
VOLATILE = ("lastSeenAgo", "idleSeconds", "botShouldReply")


@dataclass(frozen=True)
class Page:
    chunk: str
    count: int  # how many of the messages given the chunk holds (fewer when MAX_CHUNK_CHARS was reached)


def filename(session_id: str, fmt: str) -> str:
    return f"transcript-{session_id}.{fmt}"


def session_record(view: dict) -> dict:
    """A session as an export shows it: the caller's view of it, without what depends on the moment."""
    return {k: v for k, v in view.items() if k not in VOLATILE}


def csv_cell(value: Any) -> str:
    """A value as a CSV cell's text: None is empty, booleans are true/false, formula starts are defused."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_rows(rows: Sequence[Sequence[Any]]) -> str:
    out = io.StringIO()
    # QUOTE_MINIMAL quotes a cell holding the delimiter, the quote or any character of the line terminator.
    writer = csv.writer(out, delimiter=",", quotechar='"', doublequote=True, lineterminator="\r\n",
                        quoting=csv.QUOTE_MINIMAL)
    writer.writerows([csv_cell(value) for value in row] for row in rows)
    return out.getvalue()


def _csv_message(message: dict) -> str:
    return csv_rows([[message.get(column) for column in CSV_COLUMNS]])


def _json_value(value: Any) -> str:
    return jsonio.dumps(value, ensure_ascii=False)


def page(fmt: str, messages: Sequence[dict], *, first: bool, last: bool, session: dict | None = None,
         exported_at: str | None = None, max_chars: int = MAX_CHUNK_CHARS) -> Page:
    """One page of an export. `messages` are message views, oldest first; `first` is the page without a cursor
    (it opens the file: CSV header, or the JSON document with `session`); `last` is the page with nothing after it
    (it closes the JSON document). When the chunk reaches `max_chars` it stops after the message that reached it
    and is not the last page, whatever `last` says: `count` tells the caller where the next page starts."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}")
    if fmt == "csv":
        parts = [csv_rows([CSV_COLUMNS])] if first else []
    else:
        parts = ['{"exportedAt":' + _json_value(exported_at) + ',"session":' + _json_value(session or {})
                 + ',"messages":['] if first else []
    size, count = sum(map(len, parts)), 0
    for message in messages:
        if count and size >= max_chars:
            last = False
            break
        if fmt == "csv":
            text = _csv_message(message)
        else:  # every message but the file's very first follows a comma (a later page follows a message)
            text = ("" if first and not count else ",") + "\n" + _json_value(message)
        parts.append(text)
        size += len(text)
        count += 1
    if fmt == "json" and last:
        parts.append("\n]}\n")
    return Page("".join(parts), count)


def answer(fmt: str, view: dict, messages: Sequence[dict], *, first: bool, more: bool, exported_at: str | None,
           max_chars: int = MAX_CHUNK_CHARS) -> dict:
    """The answer of one export page: its chunk and the cursor of the next page (None after the last).
    `view` is the caller's view of the session; `messages` are one read page of message views, `more` whether
    more follow."""
    part = page(fmt, messages, first=first, last=not more, session=session_record(view), exported_at=exported_at,
                max_chars=max_chars)
    more = more or part.count < len(messages)
    return {"sessionId": view["sessionId"], "format": fmt, "contentType": CONTENT_TYPES[fmt],
            "filename": filename(view["sessionId"], fmt),
            "chunk": part.chunk, "messages": part.count,
            "nextCursor": messages[part.count - 1]["messageId"] if more else None}
