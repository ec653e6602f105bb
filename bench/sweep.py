"""How long the idle sweep takes at full capacity on the local stack, and what it costs in requests.

    .venv/bin/python -m bench.sweep [--per-minute 600]

With SESSIONS_PER_MINUTE=N, a sweep may delete 2N empty sessions and close 2N idle ones (ops.sweep.sweep_capacity).
This fills the stack's tables straight through the engine with 2N sessions an earlier run closed as empty (folded
since, so to be deleted), 2N empty sessions idle long enough to be closed as empty, and 2N sessions with a message,
idle long enough to be closed, plus a minute's budget rows of N visitors, then fires
close-session's schedule once (the execution Appwrite would make) and times it. The sweep runs every minute: it
keeps up if one run takes well under a minute.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from datetime import datetime, timedelta, timezone

from bench.stack import Counted
from devstack.server import Stack


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-minute", type=int, default=600, help="SESSIONS_PER_MINUTE")
    args = parser.parse_args()
    capacity = 2 * args.per_minute
    os.environ["SESSIONS_PER_MINUTE"] = str(args.per_minute)
    now = datetime.now(timezone.utc)
    long_ago = (now - timedelta(hours=2)).isoformat()
    old_window = (now - timedelta(minutes=10)).replace(second=0, microsecond=0).isoformat()
    with tempfile.TemporaryDirectory() as data, Stack(data_dir=data, port=0, run_scheduler=False) as stack:
        engine = stack.engine
        engine.bulk_insert("chat", "sessions", (
            {"$id": f"s_gone{i:08d}", "status": "closed", "closeReason": "empty", "closedAt": long_ago,
             "lastSeen": long_ago, "tokenHash": "0" * 64, "counted": "", "dirty": False}
            for i in range(capacity)))
        engine.bulk_insert("chat", "sessions", (
            {"$id": f"s_empty{i:08d}", "status": "active", "lastSeen": long_ago, "tokenHash": "0" * 64}
            for i in range(capacity)))
        engine.bulk_insert("chat", "sessions", (
            {"$id": f"s_idle{i:08d}", "status": "active", "lastSeen": long_ago, "tokenHash": "0" * 64,
             "messageCount": 1} for i in range(capacity)))
        engine.bulk_insert("chat", "limits", (
            {"$id": f"b_old{i:08d}", "name": f"messages:user:u{i}", "windowStart": old_window, "used": 3}
            for i in range(args.per_minute)))
        engine.create_row("chat", "counters", "global", {"total": 2 * capacity})
        counted = Counted(stack.rest)
        queued = stack.fire_schedule("close-session")
        assert stack.wait_idle(600)
        record = stack.runtime.get_execution(queued["$id"])
        result, elapsed = json.loads(record["responseBody"]), record["duration"]
    print("| measure | result |\n|---|---|")
    print(f"| SESSIONS_PER_MINUTE | {args.per_minute:,} (sweep capacity {capacity:,} deleted + {capacity:,} "
          f"closed as empty + {capacity:,} closed) |")
    print(f"| one sweep | {elapsed:.1f} s: {result.get('deleted', 0):,} empty sessions deleted, "
          f"{result.get('closedAsEmpty', 0):,} closed as empty, "
          f"{result.get('closed', 0):,} idle sessions closed, {result.get('budgetRowsDropped', 0):,} past budget "
          "rows dropped |")
    print(f"| TablesDB requests | {counted.count:,} |")


if __name__ == "__main__":
    main()
