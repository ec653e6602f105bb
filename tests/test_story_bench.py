"""bench.story, the side-by-side story against the Node system (issue 20, item 1): our side runs on the stack and
prints its table; the ratios and the targets are computed from the per-story sums. No timed assertions: the
figures themselves are the bench's to print (docs/reliability.md)."""

from __future__ import annotations

import argparse
import sys

from bench import story
from bench.story_node import STEPS, Step


def table(output: str) -> dict[str, list[str]]:
    rows = {}
    for line in output.splitlines():
        name = next((s for s in (*STEPS, "story") if line.startswith(s + " ") and line[len(s):].startswith("  ")),
                    None)
        if name:
            rows[name] = line[len(name):].split()
    return rows


def test_our_side_of_the_story_runs_and_prints_its_table(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["bench.story", "--runs", "1", "--warm", "0", "--trace"])
    story.main()
    output = capsys.readouterr().out
    rows = table(output)
    assert set(rows) == {*STEPS, "story"}
    faq, model = ([int(float(rows[s][i])) for s in STEPS] for i in (0, 2))  # requests: ours (FAQ), ours (model)
    assert int(float(rows["story"][0])) == sum(faq) and int(float(rows["story"][2])) == sum(model)
    assert all(n > 0 for n in faq + model)
    assert "the comparison needs theirs running" in output and "theirs req" not in output
    # the trace names each request: a question the FAQ bot answers stores the visitor's and the bot's message with
    # one request (createRows, in the visitor's execution), and nothing else writes a message
    question = next(line for line in output.splitlines() if line.strip().startswith("question 1 ("))
    assert question.count("POST /v1/tablesdb/chat/tables/messages/rows") == 1


def _stories(requests: int, ms: float) -> list[dict[str, Step]]:
    per_step = {name: Step(requests, ms) for name in STEPS}
    return [per_step, per_step, per_step]


def test_the_ratios_and_targets_are_those_of_the_story_sums(capsys):
    stories = {story.OURS_FAQ: _stories(2, 1.0), story.OURS_MODEL: _stories(3, 2.0), story.THEIRS: _stories(5, 4.0)}
    story.report(stories, argparse.Namespace(runs=3, warm=1, trace=False))
    output = capsys.readouterr().out
    assert "requests per story, theirs / ours (FAQ bot): 2.50x (target >= 2x: met)" in output
    assert "latency per story, theirs / ours (FAQ bot): 4.00x (target >= 3x: met)" in output
    assert "requests per story, theirs / ours (model): 1.67x (target >= 2x: NOT met)" in output
    assert "latency per story, theirs / ours (model): 2.00x (target >= 3x: NOT met)" in output
    assert table(output)["story"][:6] == ["16", "8.0", "24", "16.0", "40", "32.0"]
