"""The local stack's modules fit in one reading, as the shared package's do: no devstack/ module grows past the bound
tests/test_layers.py holds shared/chat_core/ to (read from there, so the two bounds cannot drift apart)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEVSTACK = ROOT / "devstack"
LAYERS_TEST = ROOT / "tests" / "test_layers.py"

# Modules allowed past the bound, each with the reason it could not be split. Empty: every module fits. A module
# listed here that fits again must leave the list (test_no_exception_is_stale), so the list only ever shrinks.
EXCEPTIONS: dict[str, str] = {}


def max_lines() -> int:
    """MAX_LINES of tests/test_layers.py (the shared package's bound)."""
    for node in ast.parse(LAYERS_TEST.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "MAX_LINES" for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError("tests/test_layers.py no longer defines MAX_LINES")


def line_counts() -> dict[str, int]:
    return {path.relative_to(ROOT).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
            for path in sorted(DEVSTACK.rglob("*.py"))}


def test_every_devstack_module_fits_in_one_reading() -> None:
    counts = line_counts()
    assert "devstack/server.py" in counts  # the walk found the stack
    bound = max_lines()
    too_long = {name: n for name, n in counts.items() if n > bound and name not in EXCEPTIONS}
    assert too_long == {}, f"over {bound} lines: split by concern, or list in EXCEPTIONS with why"


def test_no_exception_is_stale() -> None:
    counts, bound = line_counts(), max_lines()
    stale = sorted(name for name in EXCEPTIONS if counts.get(name, 0) <= bound)
    assert stale == []
