"""Deploy appwrite.json with the pinned Appwrite CLI (npm ``appwrite-cli`` 12.0.1), non-interactively, with an API key.

    python -m tools.deploy --endpoint http://127.0.0.1:8788/v1 --key <API key> [--root .] [--home DIR]

The CLI comes from ``tools/appwrite-cli`` (``npm ci`` there, by ``make cli``; nothing global). Its settings
(endpoint, key) go to ``<home>/.appwrite/prefs.json``: the CLI keeps them under ``$HOME``, so HOME points at a
project-local folder. ``--project-id`` is written into appwrite.json by the CLI; the file is kept in the CLI's own
format (4-space JSON, no final newline), so giving it its own ``projectId`` changes nothing. From the folder holding
appwrite.json:

    appwrite client --endpoint <endpoint> --project-id <projectId of appwrite.json> --key <key>
    appwrite push tables --all --force
    appwrite push functions --all --force --no-code
    appwrite push functions --all --force

Why two function passes: with an API key and no console session, CLI 12 creates a NEW function and then fails to
give it a domain (``sdkForConsole`` demands a signed-in session; appwrite/sdk-for-cli#239, fixed in later CLIs by
appwrite/sdk-generator#1651) and skips its code. The first pass (settings only) creates or updates every function,
reporting that error once per new function; the second finds them all and uploads, builds and activates the code.

The CLI exits 0 even when a build fails, so ``verify`` then reads the project back over REST: every function of
appwrite.json has an active deployment whose build is ``ready``, every column and index is ``available``.

What it prints (``out``) is ``readable``: the CLI's transcript without its spinner frames and escape sequences, each
function's progress reduced to its final line, each table to one line, and the first pass's expected errors folded
into one line saying why. ``deploy`` returns the raw transcript, which the tests check.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLI_DIR = ROOT / "tools" / "appwrite-cli"
CLI = CLI_DIR / "node_modules" / ".bin" / "appwrite"
CLI_VERSION = "12.0.1"


def install_cli() -> Path:
    """``npm ci`` in tools/appwrite-cli unless the pinned CLI is already there; returns the executable."""
    installed = CLI_DIR / "node_modules" / "appwrite-cli" / "package.json"
    if not installed.is_file() or json.loads(installed.read_text())["version"] != CLI_VERSION:
        npm = shutil.which("npm")
        if npm is None:
            raise SystemExit("npm is needed to install the Appwrite CLI (tools/appwrite-cli)")
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=CLI_DIR, check=True)
    return CLI


def commands(endpoint: str, key: str, project: str) -> list[list[str]]:
    """The CLI invocations, in order (what docs/deploy.md shows)."""
    return [["client", "--endpoint", endpoint, "--project-id", project, "--key", key],
            ["push", "tables", "--all", "--force"],
            ["push", "functions", "--all", "--force", "--no-code"],
            ["push", "functions", "--all", "--force"]]


def run_cli(args: list[str], *, root: Path = ROOT, home: Path | None = None) -> subprocess.CompletedProcess:
    """One CLI invocation from the folder holding appwrite.json, its settings kept under ``home``."""
    cli = install_cli()
    home = home or root / ".local" / "appwrite-cli-home"
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "HOME": str(home), "NO_COLOR": "1", "CI": "true"}
    return subprocess.run([str(cli), *args], cwd=root, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=1800)


# Escape sequences (CSI, OSC) a terminal would interpret; the CLI sends some even with NO_COLOR in some paths.
_ESCAPES = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")
# A row of the CLI's progress table: its mark (a spinner frame, ✓ or ✗), the state, the function and a detail.
_PROGRESS = re.compile(r"^(?P<mark>\S)\s+(?P<state>\w+)\s+\u2022\s+(?P<item>.*?\((?P<id>\S+)\))\s*"
                       r"(?:\u2022\s*(?P<detail>.*?))?\s*$")
_CREATED = re.compile(r"^\u2713 Success: Created (.+ \( \S+ \))$")
_TABLE_PART = re.compile(r"^\u2713 Success: Created (\d+) (columns|indexes)$")
_TABLE_DONE = re.compile(r"^\u2713 Success: Successfully pushed (?!\d+ tables)(.+)$")
_NO_SESSION = "Session not found"
_NO_VARIABLES = "Error fetching console variables."


def _screen_lines(text: str) -> list[str]:
    """What a terminal would leave on screen, line by line: escapes removed, each ``\r`` redraw reduced to its
    last frame, trailing blanks trimmed."""
    return [_ESCAPES.sub("", line).split("\r")[-1].rstrip() for line in text.replace("\r\n", "\n").split("\n")]


def readable(args: list[str], output: str) -> list[str]:
    """One CLI command's output, as a person reads it: its final results and anything unexpected.

    Dropped: the ``Info`` narration, the rules of the table of changes (its rows stay) and blank lines. The
    progress table the CLI redraws while building (one block per frame) becomes one final line per function. A
    table's ``Created N columns`` and ``Created N indexes`` join its ``Successfully pushed`` line, and the tables a
    push created share one line. On the ``--no-code`` pass, the "Session not found" error of each new function (and
    its "Error fetching console variables.") is CLI 12's API-key issue (docs/deploy.md): one line says so. Anything
    else, an unexpected error included, is kept as printed."""
    first_pass = "--no-code" in args
    kept: list[str] = []
    progress: dict[str, str] = {}  # function -> its latest row, in first-seen order
    parts: list[str] = []
    expected: list[str] = []
    variables = 0  # each expected error comes with one "Error fetching console variables."

    def flush_progress() -> None:
        kept.extend(progress.values())
        progress.clear()

    for line in _screen_lines(output):
        text = line.strip()
        row = _PROGRESS.match(text)
        if row and not (first_pass and _NO_SESSION in (row["detail"] or "")):
            progress[row["item"]] = f"{row['mark']} {row['state']:<10} \u2022 {row['item']}" + (
                f" \u2022 {row['detail']}" if row["detail"] and row["mark"] not in "\u2713" else "")
            continue
        if not text:
            continue  # blank lines, also between two frames of the progress table
        flush_progress()
        if row:  # the first pass's expected error
            expected.append(row["id"])
            continue
        if first_pass and text == _NO_VARIABLES:
            variables += 1
            continue  # folded with the expected errors (or counted below)
        if text.startswith("\u2139 Info:") or set(text) <= set("\u2500\u2502\u253c\u250c\u2510\u2514\u2518 "):
            continue
        created = _CREATED.match(text)
        if created and kept and _CREATED.match(kept[-1].split(", ")[0]):
            kept[-1] += f", {created[1]}"  # the tables the push created, on one line
            continue
        if _TABLE_PART.match(text):
            parts.append(text)
            continue
        done = _TABLE_DONE.match(text)
        if done and parts:
            counts = [_TABLE_PART.match(p) for p in parts]
            text = f"\u2713 Success: Successfully pushed {done[1]}: " + ", ".join(f"{m[1]} {m[2]}" for m in counts)
            parts.clear()
        kept.extend(parts)
        parts.clear()
        if first_pass and expected and text == "\u2717 Error: No functions were pushed.":
            text += " (expected, above)"
        kept.append(text)
    flush_progress()
    kept.extend(parts)
    if expected:
        kept.insert(0, f"\u2717 Expected: \"{_NO_SESSION}\" for each new function ({', '.join(expected)}): CLI 12 "
                       "with an API key cannot give it a domain (appwrite/sdk-for-cli#239, docs/deploy.md); it was "
                       "created, the next pass deploys it")
    if variables and not expected:
        kept.insert(0, f"{_NO_VARIABLES} (x{variables})")
    return kept


def deploy(endpoint: str, key: str, *, root: Path = ROOT, home: Path | None = None, out=None) -> str:
    """Run the CLI commands against ``endpoint``; returns their combined output, as the CLI printed it. ``out`` gets
    each command line and what ``readable`` keeps of its output."""
    transcript = []
    project = json.loads((root / "appwrite.json").read_text(encoding="utf-8"))["projectId"]
    for args in commands(endpoint, key, project):
        shown = " ".join("<key>" if arg == key else arg for arg in args)
        done = run_cli(args, root=root, home=home)
        text = f"$ appwrite {shown}\n{done.stdout}{done.stderr}"
        transcript.append(text)
        if out is not None:
            out.write("".join(f"{line}\n" for line in [f"$ appwrite {shown}",
                                                       *readable(args, done.stdout + done.stderr)]))
            out.flush()
        if done.returncode != 0:
            raise RuntimeError(f"appwrite {shown} exited with {done.returncode}:\n{text}")
    return "".join(transcript)


def _get(endpoint: str, project: str, key: str, path: str) -> dict:
    request = urllib.request.Request(endpoint + path, headers={"x-appwrite-project": project, "x-appwrite-key": key})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


def verify(endpoint: str, key: str, root: Path = ROOT) -> dict[str, dict]:
    """The project as appwrite.json wants it, or AssertionError; returns each function's active deployment."""
    config = json.loads((root / "appwrite.json").read_text(encoding="utf-8"))
    project = config["projectId"]
    for table in config.get("tables", []):
        remote = _get(endpoint, project, key, f"/tablesdb/{table['databaseId']}/tables/{table['$id']}")
        columns = {c["key"]: c["status"] for c in remote["columns"]}
        indexes = {i["key"]: i["status"] for i in remote["indexes"]}
        wanted = {c["key"]: "available" for c in table["columns"]}
        assert columns == wanted, f"table {table['$id']}: columns {columns}"
        # Row security decides what Realtime sends to browsers (docs/security.md): messages and signals have it.
        assert remote["rowSecurity"] == table["rowSecurity"], f"table {table['$id']}: rowSecurity"
        assert remote["$permissions"] == table["$permissions"], f"table {table['$id']}: $permissions"
        assert indexes == {i["key"]: "available" for i in table["indexes"]}, f"table {table['$id']}: {indexes}"
    active = {}
    for function in config.get("functions", []):
        remote = _get(endpoint, project, key, f"/functions/{function['$id']}")
        assert remote["deploymentId"], f"function {function['$id']} has no active deployment"
        deployment = _get(endpoint, project, key, f"/functions/{function['$id']}/deployments/{remote['deploymentId']}")
        assert deployment["status"] == "ready", f"{function['$id']}: {deployment['status']}\n{deployment['buildLogs']}"
        active[function["$id"]] = deployment
    return active


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.deploy", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoint", required=True, help="e.g. http://127.0.0.1:8788/v1 or https://<host>/v1")
    parser.add_argument("--key", required=True, help="an API key of the project (see docs/deploy.md for its scopes)")
    parser.add_argument("--root", default=str(ROOT), help="the folder holding appwrite.json")
    parser.add_argument("--home", default=None, help="where the CLI keeps its settings (default .local/...)")
    args = parser.parse_args(argv)
    root = Path(args.root).resolve()
    deploy(args.endpoint, args.key, root=root, home=Path(args.home) if args.home else None, out=sys.stdout)
    for function_id, deployment in verify(args.endpoint, args.key, root).items():
        print(f"{function_id}: deployment {deployment['$id']} ready, active")
    return 0


if __name__ == "__main__":
    sys.exit(main())
