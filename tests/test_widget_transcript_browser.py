"""The widget's "Download transcript", in headless Chromium on the demo page: one CSV file, through a Blob, from
one execution per page of touch-session /export."""

from __future__ import annotations

import codecs
import csv
import io
from pathlib import Path

import pytest
from test_widget_browser import Widget, browser, site, stack, stored, watch  # noqa: F401  (fixtures)

pytestmark = pytest.mark.browser


def test_the_visitor_downloads_the_transcript_as_one_csv_file(stack, browser):  # noqa: F811
    page = browser.new_context(accept_downloads=True).new_page()
    problems = watch(page)
    page.goto(f"{site(stack)}/demo/")
    widget = Widget(page).open()
    more = widget.panel.get_by_role("button", name="More options")
    assert more.is_hidden()  # nothing to download (or end) before the first message

    widget.box.fill('=1+1, "a quote"\nand a second line')
    widget.box.press("Enter")
    widget.reply("bot", "get a colleague")
    session_id = stored(page)["session"]["id"]
    with page.expect_download() as saved:
        widget.choose("Download transcript")  # in the header's menu
    file = saved.value
    widget.note("Transcript downloaded.")

    assert file.suggested_filename == f"transcript-{session_id}.csv"
    data = Path(file.path()).read_bytes()
    assert data.startswith(codecs.BOM_UTF8)  # spreadsheet programs then read UTF-8
    header, *rows = csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""), strict=True)
    assert header == ["sessionId", "messageId", "createdAt", "role", "authorId", "handoff", "text"]
    assert [(r[3], r[6]) for r in rows][:2] == [
        ("user", "'=1+1, \"a quote\"\nand a second line"),  # as typed, the formula defused
        ("bot", "I'm not sure I can answer that. Let me get a colleague who can help.")]
    exports = [e for e in stack.runtime.list_executions("touch-session") if e["requestPath"].startswith("/export")]
    assert len(exports) == 1  # one page: one execution, however many messages it holds
    assert problems == []
    page.context.close()
