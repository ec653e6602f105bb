"""What auto-assignment adds to the widget's answer, on the local stack (executions over loopback HTTP).

    .venv/bin/python -m bench.assignment_latency [--runs 60]

The visitor's message that asks for a person (touch-session), timed at the client, in three settings:
  off       AUTO_ASSIGN=off: the admission only (today's manual flow), plus the queue the visitor is shown
  waiting   auto-assignment on, every agent full: the agent rows are read, nobody can take it, the queue is shown
  assigned  auto-assignment on, an agent with a free slot: the session is assigned inside the same answer
and the same for the "Talk to a person" button (escalate). Medians and 95th percentiles in milliseconds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from stack_support import Party, disable_functions, function_variables  # noqa: E402

from bench import ROOMY_BUDGETS  # noqa: E402
from devstack.server import Stack  # noqa: E402

ADMIN_SECRET = "latency-admin-secret"
AGENT = "agent-lat"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(runs: int) -> dict:
    figures: dict = {}
    with tempfile.TemporaryDirectory() as data, \
            function_variables({**ROOMY_BUDGETS, "ADMIN_SECRET": ADMIN_SECRET, "AGENT_AWAY_SECONDS": "86400"}), \
            Stack(data_dir=Path(data), port=0, run_scheduler=False) as stack:
        disable_functions(stack, "bot")
        stack.add_user(AGENT, AGENT, ["agent"])
        admin = Party(stack, headers={"x-chat-secret": ADMIN_SECRET})
        agent = Party(stack, user=AGENT)
        assert agent.run("assign-agent", {"availability": "available"}, path="/availability")[0] == 200

        def visitor() -> tuple[Party, str, dict]:
            party = Party(stack, key=False)
            status, created = party.run("create-session", {})
            assert status == 201
            return party, created["sessionId"], {"x-session-token": created["token"]}

        def timed(setting: str, how: str) -> None:
            took = []
            for _ in range(runs):
                party, sid, me = visitor()
                started = time.perf_counter()
                if how == "message":
                    status, answer = party.run("touch-session", {"sessionId": sid, "message": {
                        "text": "I want to talk to a human"}}, headers=me)
                else:
                    status, answer = party.run("escalate", {"sessionId": sid}, headers=me)
                took.append((time.perf_counter() - started) * 1000)
                assert status == 200, answer
                expected = "agent_assigned" if setting == "assigned" else "active"
                assert answer["session"]["status"] == expected, (setting, answer)
                if setting == "assigned":  # the agent ends it at once: a slot free for the next run
                    assert agent.run("close-session", {"sessionId": sid})[0] == 200
                else:
                    assert admin.run("close-session", {"sessionId": sid})[0] == 200
                stack.wait_idle(10)
            figures[f"{how} ({setting})"] = {"median_ms": round(statistics.median(took), 1),
                                             "p95_ms": round(percentile(took, 0.95), 1)}

        for how in ("message", "button"):
            with function_variables({"AUTO_ASSIGN": "off"}):
                timed("off", how)
            assert admin.run("assign-agent", {"agentId": AGENT, "capacity": 0}, path="/capacity")[0] == 200
            timed("waiting", how)
            assert admin.run("assign-agent", {"agentId": AGENT, "capacity": 1}, path="/capacity")[0] == 200
            timed("assigned", how)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=60)
    runs = parser.parse_args().runs
    print(f"{'answer':<26}{'median ms':>10}{'p95 ms':>9}   ({runs} runs each)")
    for name, row in measure(runs).items():
        print(f"{name:<26}{row['median_ms']:>10}{row['p95_ms']:>9}")


if __name__ == "__main__":
    main()
