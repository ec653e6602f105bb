"""How much importing a function adds to importing the Appwrite SDK alone (`python -X importtime`).

    .venv/bin/python -m bench.importtime [--runs 15]

"SDK alone" imports exactly the SDK modules the functions use. For a function, the added cost is the self time of
every module its import loads that the SDK-alone import does not (chat_core, the entrypoint, the few stdlib modules
they add). Both are medians over fresh interpreters. The development venv's editable-install finder
(`__editable__...`) is left out: a deployment installs chat_core as a regular package.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SDK_ALONE = ("import appwrite.client, appwrite.exception, appwrite.operator, appwrite.query, "
             "appwrite.services.tables_db, appwrite.services.users, requests")
LINE = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|( *)(\S+)")
BASELINE = "import importlib.util"


def import_times(code: str) -> dict[str, tuple[int, int, int]]:
    """module -> (self us, cumulative us, depth) for one fresh interpreter."""
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True,
                            cwd=ROOT, check=True)
    times = {}
    for line in result.stderr.splitlines():
        match = LINE.match(line)
        if match:
            times[match.group(4)] = (int(match.group(1)), int(match.group(2)), len(match.group(3)))
    return times


def sdk_cost(runs: int) -> tuple[float, set[str]]:
    base = set(import_times(BASELINE))
    samples, modules = [], set()
    for _ in range(runs):
        times = import_times(SDK_ALONE)
        modules |= set(times)
        samples.append(sum(s for name, (s, _, _) in times.items() if name not in base))
    return statistics.median(samples), modules | base


def added_cost(function_id: str, known: set[str], runs: int) -> float:
    path = ROOT / "functions" / function_id / "src" / "main.py"
    code = (f"{BASELINE}; s = importlib.util.spec_from_file_location('main', {str(path)!r}); "
            "m = importlib.util.module_from_spec(s); s.loader.exec_module(m)")
    samples = []
    for _ in range(runs):
        times = import_times(code)
        samples.append(sum(s for name, (s, _, _) in times.items()
                           if name not in known and not name.startswith("__editable__")))
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    sdk, known = sdk_cost(runs)
    print(f"SDK alone: {sdk / 1000:.1f} ms (median of {runs})")
    print(f"{'function':<18}{'adds ms':>9}{'adds %':>9}")
    for function_dir in sorted((ROOT / "functions").iterdir()):
        added = added_cost(function_dir.name, known, runs)
        print(f"{function_dir.name:<18}{added / 1000:>9.1f}{added / sdk:>9.1%}")


if __name__ == "__main__":
    main()
