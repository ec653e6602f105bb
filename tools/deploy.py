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
"""

from __future__ import annotations

import argparse
import json
import os
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


def deploy(endpoint: str, key: str, *, root: Path = ROOT, home: Path | None = None, out=None) -> str:
    """Run the CLI commands against ``endpoint``; returns their combined output (also written to ``out``)."""
    transcript = []
    project = json.loads((root / "appwrite.json").read_text(encoding="utf-8"))["projectId"]
    for args in commands(endpoint, key, project):
        shown = " ".join("<key>" if arg == key else arg for arg in args)
        done = run_cli(args, root=root, home=home)
        text = f"$ appwrite {shown}\n{done.stdout}{done.stderr}"
        transcript.append(text)
        if out is not None:
            out.write(text)
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
