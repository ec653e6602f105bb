"""docs/platform.md: every platform behaviour the code relies on names the test that holds the local stack to it,
and every test it names exists (a renamed or deleted test would leave a behaviour unguarded without anyone
noticing)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "platform.md"
TEST_NAME = re.compile(r"\btest_[a-z0-9_]+\b(?!\.py)")  # a test, not a test file


def behaviour_rows() -> list[list[str]]:
    """The rows of the doc's behaviour tables (four columns: behaviour, versions, source, test)."""
    rows = []
    for line in DOC.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| ") and len(cells) == 4 and cells[0] not in ("behaviour",) and not set(cells[0]) <= {"-"}:
            rows.append(cells)
    return rows


def defined_tests() -> set[str]:
    names = set()
    for path in (ROOT / "tests").rglob("test_*.py"):
        names |= set(re.findall(r"^def (test_[a-z0-9_]+)", path.read_text(encoding="utf-8"), flags=re.MULTILINE))
    return names


def test_every_behaviour_names_its_test_and_its_source():
    rows = behaviour_rows()
    assert len(rows) >= 25
    assert [row[0][:60] for row in rows if not TEST_NAME.search(row[3]) and "tests/" not in row[3]] == []
    assert [row[0][:60] for row in rows if not row[2]] == []


def test_every_test_the_doc_names_exists():
    named = {name for row in behaviour_rows() for name in TEST_NAME.findall(row[3])}
    assert sorted(named - defined_tests()) == []
