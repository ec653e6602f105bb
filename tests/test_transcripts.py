"""Transcript formats (chat_core/transcripts.py): pages that concatenate into one valid JSON or CSV file, whatever
the messages hold and however the export is cut into pages."""

from __future__ import annotations

import csv
import io
import json

from chat_core import jsonio
from chat_core.edge import transcripts
from hypothesis import given, settings
from hypothesis import strategies as st

HOSTILE = [
    'She said "hi", then left',
    "line one\nline two\r\nline three\rfour",
    "a,b,,c",
    '"', '""', ",", "\n",
    "émoji 🎉 中文 עברית Ünïcödé \u2028 \u00a0",
    "=HYPERLINK(\"http://evil.test\",\"click\")",
    "+1 555 0100", "-2+3", "@SUM(A1)", "\tindented", "\rreturn first",
    "1=1 is fine in the middle",
    "'already quoted",
    "plain",
]
SESSION = {"sessionId": "s_1", "status": "closed", "lastSeenAgo": "just now", "idleSeconds": 3,
           "botShouldReply": False, "messageCount": len(HOSTILE), "userMeta": {"name": "=cmd|' /C calc'!A0"}}
EXPORTED_AT = "2026-11-27T10:00:00.000+00:00"


def messages(texts: list[str]) -> list[dict]:
    roles = ("user", "bot", "agent", "system")
    return [{"messageId": f"m_{i:04d}", "sessionId": "s_1", "role": roles[i % 4], "text": text,
             "handoff": i % 5 == 1, "authorId": "agent-alice" if roles[i % 4] == "agent" else None,
             "clientMessageId": f"-c{i}" if i % 3 == 0 else None,
             "createdAt": f"2026-11-27T09:{i % 60:02d}:00.000+00:00"}
            for i, text in enumerate(texts)]


def export(fmt: str, all_messages: list[dict], page_size: int,
           max_bytes: int = transcripts.MAX_PAGE_BYTES) -> str:
    """What a client does: page after page from the cursor each answer gives, the chunks appended."""
    file, start, pages = "", 0, 0
    while True:
        page = all_messages[start:start + page_size]
        more = start + page_size < len(all_messages)
        answer = transcripts.answer(fmt, SESSION, page, first=start == 0, more=more, exported_at=EXPORTED_AT,
                                    max_bytes=max_bytes)
        assert answer["messages"] >= min(1, len(page))
        if answer["messages"] > 1:  # one message always goes; more only within the bytes sent
            assert len(jsonio.dumps(answer)) <= max_bytes
        file += answer["chunk"]
        pages += 1
        assert pages <= len(all_messages) + 1
        if answer["nextCursor"] is None:
            return file
        start = next(i for i, m in enumerate(all_messages) if m["messageId"] == answer["nextCursor"]) + 1


def csv_records(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline=""), strict=True))


def test_csv_is_rfc_4180_with_the_header_once_and_hostile_text_intact():
    given_messages = messages(HOSTILE)
    file = export("csv", given_messages, page_size=3)
    header, *rows = csv_records(file)
    assert header == list(transcripts.CSV_COLUMNS)
    assert file.count("sessionId,messageId") == 1
    assert file.endswith("\r\n") and "\r\n".join(file.split("\r\n")) == file
    assert len(rows) == len(HOSTILE)
    for row, message in zip(rows, given_messages, strict=True):
        record = dict(zip(header, row, strict=True))
        text = message["text"]
        assert record["text"] == ("'" + text if text[0] in "=+-@\t\r" else text)
        assert record["messageId"] == message["messageId"]
        assert record["handoff"] == ("true" if message["handoff"] else "false")
        assert record["authorId"] == (message["authorId"] or "")
    # Quoting as RFC 4180 writes it: the whole cell in quotes, inner quotes doubled.
    assert ',"She said ""hi"", then left"\r\n' in file
    assert ',"line one\nline two\r\nline three\rfour"\r\n' in file


def test_no_csv_cell_starts_like_a_formula():
    file = export("csv", messages(HOSTILE), page_size=4)
    cells = [cell for row in csv_records(file) for cell in row]
    assert [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")] == []
    assert "'=HYPERLINK(\"http://evil.test\",\"click\")" in cells


def test_csv_cells():
    assert [transcripts.csv_cell(v) for v in (None, True, False, 3, "", "a=b", "=1", "-", "@", "\t", "\r\n")] == [
        "", "true", "false", "3", "", "a=b", "'=1", "'-", "'@", "'\t", "'\r\n"]


def test_json_is_the_session_and_every_message_unchanged():
    given_messages = messages(HOSTILE)
    document = json.loads(export("json", given_messages, page_size=2))
    assert list(document) == ["exportedAt", "session", "messages"]
    assert document["exportedAt"] == EXPORTED_AT
    assert document["messages"] == given_messages  # no formula defusing: JSON is data, not a sheet
    assert document["session"]["userMeta"] == SESSION["userMeta"] and document["session"]["sessionId"] == "s_1"
    assert not {"lastSeenAgo", "idleSeconds", "botShouldReply"} & set(document["session"])


def test_every_page_size_gives_the_same_file():
    given_messages = messages(HOSTILE)
    for fmt in transcripts.FORMATS:
        files = {export(fmt, given_messages, page_size=n) for n in (1, 2, 3, 7, len(HOSTILE), 100)}
        assert len(files) == 1, fmt


def test_an_empty_session_is_a_valid_file():
    assert json.loads(export("json", [], page_size=100))["messages"] == []
    assert csv_records(export("csv", [], page_size=100)) == [list(transcripts.CSV_COLUMNS)]


def test_a_page_stops_early_when_its_chunk_is_large_and_the_next_page_goes_on():
    big = messages(["x" * 4000] * 5)
    answer = transcripts.answer("csv", SESSION, big, first=True, more=False, exported_at=EXPORTED_AT,
                                max_bytes=9000)
    assert answer["messages"] == 2 and answer["nextCursor"] == "m_0001"  # a third ~4,070 bytes would pass 9,000
    assert len(jsonio.dumps(answer)) <= 9000
    for fmt in transcripts.FORMATS:
        assert export(fmt, big, page_size=5, max_bytes=9000) == export(fmt, big, page_size=5)
    one = transcripts.answer("json", SESSION, big[:1], first=True, more=False, exported_at=EXPORTED_AT,
                             max_bytes=1)
    assert one["messages"] == 1 and one["nextCursor"] is None  # a page always holds at least one message


def test_the_answer_names_the_file_and_its_type():
    answer = transcripts.answer("csv", SESSION, [], first=True, more=False, exported_at=EXPORTED_AT)
    assert answer["filename"] == "transcript-s_1.csv" and answer["contentType"] == "text/csv; charset=utf-8"
    assert transcripts.answer("json", SESSION, [], first=True, more=False,
                              exported_at=EXPORTED_AT)["contentType"] == "application/json; charset=utf-8"


texts = st.lists(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1,
                         max_size=40), max_size=12)


@settings(max_examples=150, deadline=None)
@given(texts=texts, page_size=st.integers(1, 13), max_bytes=st.integers(1, 400))
def test_any_text_cut_into_any_pages_reads_back(texts, page_size, max_bytes):
    given_messages = messages(texts)
    document = json.loads(export("json", given_messages, page_size, max_bytes))
    assert [m["text"] for m in document["messages"]] == texts
    header, *rows = csv_records(export("csv", given_messages, page_size, max_bytes))
    column = header.index("text")
    assert [row[column] for row in rows] == [("'" + t if t[0] in "=+-@\t\r" else t) for t in texts]
