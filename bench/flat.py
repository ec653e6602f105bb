"""Flat in agents (issue 20, item 2): what a waiting visitor's answers, an escalation, the console's heartbeat, the
minute's pass and the list's summary cost with 3 agents and with 3,000, printed side by side.

    .venv/bin/python -m bench.flat

It runs the measurements `tests/test_cost_flat.py` asserts (the same functions, on the fake Appwrite behind
`responses`, one fresh fake per team size): 3,000 agents are 6,000 agent rows, all but one offline, and a counter row
each for the console's figures.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("APPWRITE_FUNCTION_API_ENDPOINT", "http://appwrite.test/v1")

import conftest  # noqa: E402
import test_cost_flat  # noqa: E402

from bench import ROOMY_BUDGETS  # noqa: E402

SIZES = (3, 3000)


def measured(measure: Callable, size: int) -> dict[str, int]:
    """One measurement on a fresh fake Appwrite, with the environment the tests' `appwrite` fixture sets."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {"APPWRITE_FUNCTION_API_ENDPOINT": conftest.ENDPOINT,
                            "APPWRITE_FUNCTION_PROJECT_ID": conftest.PROJECT, "ADMIN_SECRET": conftest.ADMIN_SECRET,
                            "BOT_SECRET": conftest.BOT_SECRET, **ROOMY_BUDGETS}.items():
            patch.setenv(name, value)
        with conftest.fake_appwrite() as fake:
            return measure(fake, patch, size)


def main() -> None:
    figures = {size: {**measured(test_cost_flat.costs, size), **measured(test_cost_flat.console_costs, size)}
               for size in SIZES}
    print(f"{'Appwrite requests':<48}" + "".join(f"{f'{size:,} agents':>14}" for size in SIZES))
    for name in figures[SIZES[0]]:
        print(f"{name:<48}" + "".join(f"{figures[size][name]:>14}" for size in SIZES))
    flat = all(figures[size] == figures[SIZES[0]] for size in SIZES)
    print("flat in agents" if flat else "NOT flat in agents")


if __name__ == "__main__":
    main()
