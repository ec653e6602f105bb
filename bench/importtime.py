"""What a function's cold import costs against the Appwrite SDK's own import (`python -X importtime`).

    .venv/bin/python -m bench.importtime [--runs 15]

"SDK alone" imports what every request of a function needs from the SDK: the client, its exception, `Query` and
the TablesDB service (the other services load only when a request uses them: `infra.users`), measured on fresh
interpreters as the sum of the self times of every module it loads beyond a bare interpreter's. A function's import
is its `src/main.py` loaded as the runtime loads it; what it adds is the self time of every module it loads that the
SDK alone does not (chat_core, the entrypoint, the few stdlib modules they pull). Its import is then the SDK's plus
that: the figure printed is (median SDK + median added) / median SDK, the target (issue 20) at most 1.05 for every
function importing the SDK, with the quartiles of both and of the ratio taken round by round (each round imports
the SDK alone and then every function, so load from a neighbour weighs on both alike). The added part is a sum of
small modules, far steadier than the SDK's 300-400 ms on a shared machine, which is why it is measured apart. The
development venv's editable-install finder (`__editable__...`) is left out: a deployment installs chat_core as a
regular package.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SDK_ALONE = "import appwrite.client, appwrite.exception, appwrite.query, appwrite.services.tables_db, requests"
LINE = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|( *)(\S+)")
BASELINE = "import importlib.util"
TARGET = 1.05


def import_times(code: str, pycache: str) -> dict[str, int]:
    """module -> self time (us) for one fresh interpreter running `code`, its bytecode cached under `pycache`."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    result = subprocess.run([sys.executable, "-X", "importtime", "-X", f"pycache_prefix={pycache}", "-c", code],
                            capture_output=True, text=True, cwd=ROOT, check=True, env=env)
    return {match.group(4): int(match.group(1)) for line in result.stderr.splitlines()
            if (match := LINE.match(line))}


def function_code(function_id: str) -> str:
    path = ROOT / "functions" / function_id / "src" / "main.py"
    return (f"{BASELINE}; s = importlib.util.spec_from_file_location('main', {str(path)!r}); "
            "m = importlib.util.module_from_spec(s); s.loader.exec_module(m)")


def loaded(code: str, base: set[str], pycache: str) -> tuple[int, set[str]]:
    """The import's cost (us) beyond a bare interpreter's, and the modules it loaded."""
    times = import_times(code, pycache)
    extra = {name: us for name, us in times.items() if name not in base and not name.startswith("__editable__")}
    return sum(extra.values()), set(extra)


def measure(runs: int) -> tuple[list[int], dict[str, list[int]], dict[str, bool]]:
    """The SDK's samples, what each function adds to it (us, round by round), and whether the function imports it.

    Every module is imported from bytecode, as on a deployment (pip compiles what it installs): a first, discarded
    import of each writes it into a private `pycache_prefix` (the tree is left alone, and a shell's
    PYTHONDONTWRITEBYTECODE would otherwise have chat_core compiled from source at every run). Each round imports
    the SDK alone, then every function, so a neighbour's load on a shared machine weighs on both sides alike."""
    with tempfile.TemporaryDirectory(prefix="importtime-") as pycache:
        return _measure(runs, pycache)


def _measure(runs: int, pycache: str) -> tuple[list[int], dict[str, list[int]], dict[str, bool]]:
    functions = sorted(d.name for d in (ROOT / "functions").iterdir() if (d / "src" / "main.py").exists())
    for code in (BASELINE, SDK_ALONE, *(function_code(f) for f in functions)):
        import_times(code, pycache)
    base = set(import_times(BASELINE, pycache))
    sdk: list[int] = []
    sdk_modules: set[str] = set()
    rounds: list[dict[str, dict[str, int]]] = []
    for _ in range(runs):
        cost, modules = loaded(SDK_ALONE, base, pycache)
        sdk.append(cost)
        sdk_modules |= modules
        rounds.append({f: import_times(function_code(f), pycache) for f in functions})
    added = {f: [sum(us for name, us in one[f].items() if name not in base and name not in sdk_modules
                     and not name.startswith("__editable__")) for one in rounds] for f in functions}
    uses_sdk = {f: "appwrite.client" in rounds[0][f] for f in functions}
    return sdk, added, uses_sdk


def quartiles(values: list[float]) -> tuple[float, float]:
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    sdk, added, uses_sdk = measure(runs)
    sdk_ms = statistics.median(sdk) / 1000
    q1, q3 = quartiles([us / 1000 for us in sdk])
    print(f"SDK alone: median {sdk_ms:.1f} ms over {runs} fresh interpreters "
          f"(quartiles {q1:.1f}-{q3:.1f}, min {min(sdk) / 1000:.1f}, max {max(sdk) / 1000:.1f})")
    print("adds: the median ms the function's import adds, and its quartiles. x SDK: (median SDK + median adds) / "
          "median SDK, the figure\nthe target is on; per round: the quartiles of that ratio round by round; best: "
          "(min SDK + min adds) / min SDK, the least disturbed.")
    print(f"{'function':<16}{'adds ms':>9}{'quartiles':>13}{'x SDK':>8}{'per round':>15}{'best':>8}  at most {TARGET}?")
    worst = 0.0
    for function_id, costs in added.items():
        add_ms = statistics.median(costs) / 1000
        a1, a3 = quartiles([us / 1000 for us in costs])
        if not uses_sdk[function_id]:
            print(f"{function_id:<16}{add_ms:>9.1f}{a1:>7.1f}-{a3:<5.1f}       -  (imports neither the SDK nor "
                  "chat_core)")
            continue
        ratio = (sdk_ms + add_ms) / sdk_ms
        r1, r3 = quartiles([(s + a) / s for s, a in zip(sdk, costs, strict=True)])
        best = (min(sdk) + min(costs)) / min(sdk)
        worst = max(worst, ratio)
        verdict = "yes" if ratio <= TARGET else "NO"
        print(f"{function_id:<16}{add_ms:>9.1f}{a1:>7.1f}-{a3:<5.1f}{ratio:>8.3f}{r1:>9.3f}-{r3:.3f}{best:>8.3f}"
              f"  {verdict}")
    print(f"worst function importing the SDK: {worst:.3f} x the SDK's own import (target at most {TARGET}): "
          f"{'met' if worst <= TARGET else 'NOT met'}")


if __name__ == "__main__":
    main()
