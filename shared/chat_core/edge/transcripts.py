"""Transcript exports as JSON or CSV, written in pages: the `chunk` of each page, appended in order, is the file.

An export is one execution per page, so a long session never runs into an execution's time limit (a synchronous
execution is cut at 30 s: appwrite Executions/Create.php, `requestTimeout: 30`) nor its answer's size (a page weighs
at most MAX_PAGE_BYTES as sent). This module only formats; `service` reads the pages and `authz` decides who may
export. Plain Python: no Appwrite, no clock.

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

from chat_core import jsonio

FORMATS = ("json", "csv")
CONTENT_TYPES = {"json": "application/json; charset=utf-8", "csv": "text/csv; charset=utf-8"}
CSV_COLUMNS = ("sessionId", "messageId", "createdAt", "role", "authorId", "handoff", "text")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# What one page's answer may weigh, in bytes as the function writes it (http.App: ASCII JSON, where the chunk's
# characters are escaped: an emoji costs 12 bytes, a quote 2). A page stops before the message that would pass it
# (a page always holds at least one message: one message of 4,000 characters weighs at most ~48 KB). Far below
# what Appwrite can carry: its API server's output buffer is 12 MB (appwrite app/http.php, OPTION_OUTPUT_BUFFER_SIZE)
# and the executor's 22 MB (open-runtimes/executor app/http.php, buffer_output_size); see docs/api.md.
MAX_PAGE_BYTES = 1_000_000
# Relative to the moment of the export; an export holds only what stays true.
VOLATILE = ("lastSeenAgo", "idleSeconds", "botShouldReply")


@dataclass(frozen=True)
class Page:
    chunk: str
    count: int  # how many of the messages given the chunk holds (fewer when the page's bytes ran out)


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


def sent_bytes(text: str) -> int:
    """What `text` weighs inside an answer as the function writes it (a JSON string, ASCII: jsonio.dumps)."""
    return len(jsonio.dumps(text)) - 2


def page(fmt: str, messages: Sequence[dict], *, first: bool, last: bool, session: dict | None = None,
         exported_at: str | None = None, max_bytes: int = MAX_PAGE_BYTES) -> Page:
    """One page of an export. `messages` are message views, oldest first; `first` is the page without a cursor
    (it opens the file: CSV header, or the JSON document with `session`); `last` is the page with nothing after it
    (it closes the JSON document). The chunk weighs at most `max_bytes` as sent (`sent_bytes`): it stops before
    the message that would pass that, and is then not the last page, whatever `last` says; but it always holds
    one message. `count` tells the caller where the next page starts."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}")
    if fmt == "csv":
        parts, closing = [csv_rows([CSV_COLUMNS])] if first else [], ""
    else:
        parts = ['{"exportedAt":' + _json_value(exported_at) + ',"session":' + _json_value(session or {})
                 + ',"messages":['] if first else []
        closing = "\n]}\n"
    size, count, reserve = sum(map(sent_bytes, parts)), 0, sent_bytes(closing)
    for message in messages:
        if fmt == "csv":
            text = _csv_message(message)
        else:  # every message but the file's very first follows a comma (a later page follows a message)
            text = ("" if first and not count else ",") + "\n" + _json_value(message)
        cost = sent_bytes(text)
        if count and size + cost + reserve > max_bytes:
            last = False
            break
        parts.append(text)
        size += cost
        count += 1
    if last:
        parts.append(closing)
    return Page("".join(parts), count)


def answer(fmt: str, view: dict, messages: Sequence[dict], *, first: bool, more: bool, exported_at: str | None,
           max_bytes: int = MAX_PAGE_BYTES) -> dict:
    """The answer of one export page: its chunk and the cursor of the next page (None after the last). The whole
    answer weighs at most `max_bytes` as sent (or one message more than its other fields leave room for).
    `view` is the caller's view of the session; `messages` are one read page of message views, `more` whether
    more follow."""
    def framed(chunk: str, count: int, next_cursor: str | None) -> dict:
        return {"sessionId": view["sessionId"], "format": fmt, "contentType": CONTENT_TYPES[fmt],
                "filename": filename(view["sessionId"], fmt), "chunk": chunk, "messages": count,
                "nextCursor": next_cursor}
    # The answer around the chunk, at its heaviest: a row ID is at most 36 characters (Appwrite's ID rule).
    frame = len(jsonio.dumps(framed("", len(messages), "x" * 36)))
    part = page(fmt, messages, first=first, last=not more, session=session_record(view), exported_at=exported_at,
                max_bytes=max_bytes - frame)
    more = more or part.count < len(messages)
    return framed(part.chunk, part.count, messages[part.count - 1]["messageId"] if more else None)
