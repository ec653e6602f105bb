"""The soak's short form in CI: widgets, agents and an admin at once over loopback HTTP, then every invariant.

The full run (README figure) is `python -m bench.soak --operations 5000`; this one spends 300 operations.
"""

from __future__ import annotations

from bench.soak import main, markdown, soak


def test_a_short_soak_keeps_every_invariant():
    report = soak(widgets=10, agents=4, operations=300, seed=1)
    failed = [check for check in report["checks"] if not check["passed"]]
    assert failed == [], markdown(report)
    assert report["operations"] == 300 and report["server_errors"] == 0
    assert report["by_type"]["create"]["2xx"] > 0 and report["by_type"]["message"]["2xx"] > 0
    assert sum(report["event_executions"].values()) > 0  # messages fired the bot's event
    assert "claim" in report["by_type"]  # agents found the queue


def test_the_command_line_exits_zero_and_prints_the_tables(capsys):
    assert main(["--widgets", "3", "--agents", "2", "--operations", "60", "--seed", "2"]) == 0
    out = capsys.readouterr().out
    assert "| operations | 60 " in out and "invariant check (10 passed, 0 failed)" in out
