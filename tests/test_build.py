"""Every function builds and imports the way Appwrite runs it.

Appwrite packs the folder named by `path` (minus .gitignore and `ignore` matches), runs `commands` in it into a
fresh virtualenv, then imports `function.<entrypoint as a module>` with only the runtime's folder on sys.path:
the repo root is NOT importable, so `chat_core` must arrive as an installed package.
"""

from __future__ import annotations

import fnmatch
import json
import shutil
import subprocess
import venv
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONFIG = json.loads((ROOT / "appwrite.json").read_text())
FUNCTIONS = {f["$id"]: f for f in CONFIG["functions"]}
GITIGNORE = [line.strip().rstrip("/") for line in (ROOT / ".gitignore").read_text().splitlines()
             if line.strip() and not line.startswith("#")]

pytestmark = pytest.mark.build


def _ignored(relative: Path, patterns: list[str]) -> bool:
    text = relative.as_posix()
    return any(fnmatch.fnmatch(part, p) for p in patterns for part in relative.parts) or \
        any(fnmatch.fnmatch(text, p) for p in patterns)


def pack(function: dict, target: Path) -> list[str]:
    """Copy the deployment as the CLI would and return the shipped file list."""
    source = (ROOT / function["path"]).resolve()
    patterns = GITIGNORE + function.get("ignore", [])
    shipped = []
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if path.is_dir() or _ignored(relative, patterns):
            continue
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target / relative)
        shipped.append(relative.as_posix())
    return shipped


def build(function: dict, workdir: Path) -> dict:
    server = workdir / "server"
    code = server / "function"
    shipped = pack(function, code)
    env_dir = workdir / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    env = {"PATH": f"{env_dir / 'bin'}:/usr/bin:/bin", "HOME": str(workdir), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    built = subprocess.run(function["commands"], shell=True, cwd=code, env=env, capture_output=True, text=True)
    module = "function." + function["entrypoint"].removesuffix(".py").replace("/", ".")
    probe = ("import sys, importlib; sys.path[0] = sys.argv[1]; "
             "m = importlib.import_module(sys.argv[2]); assert callable(m.main); "
             "import chat_core; print(chat_core.__file__)")
    imported = subprocess.run([str(env_dir / "bin" / "python"), "-I", "-c", probe, str(server), module],
                              cwd=workdir, env=env, capture_output=True, text=True)
    return {"shipped": shipped, "build": built, "import": imported}


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    base = tmp_path_factory.mktemp("builds")
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {fid: pool.submit(build, f, base / fid) for fid, f in FUNCTIONS.items()}
        return {fid: future.result() for fid, future in futures.items()}


@pytest.mark.parametrize("function_id", sorted(FUNCTIONS))
def test_function_builds_and_imports_like_appwrite(builds, function_id):
    result = builds[function_id]
    assert result["build"].returncode == 0, result["build"].stderr[-2000:]
    assert result["import"].returncode == 0, result["import"].stderr[-2000:]
    assert "site-packages" in result["import"].stdout  # installed, not picked up from the checkout


@pytest.mark.parametrize("function_id", sorted(FUNCTIONS))
def test_deployment_ships_no_tests_secrets_or_dev_tools(builds, function_id):
    shipped = builds[function_id]["shipped"]
    assert f"functions/{function_id}/src/main.py" in shipped
    assert "shared/pyproject.toml" in shipped
    forbidden = ("tests/", ".venv/", ".local/", "devstack/", ".env", ".git/", "__pycache__")
    assert not [p for p in shipped if p.startswith(forbidden) or "/__pycache__/" in p]


def test_every_function_declares_what_appwrite_needs():
    for fid, function in FUNCTIONS.items():
        assert function["runtime"] == "python-3.12"
        assert (ROOT / function["path"] / function["entrypoint"]).is_file(), fid
        for key in ("execute", "scopes", "events", "schedule", "timeout", "commands", "ignore"):
            assert key in function, (fid, key)
    assert FUNCTIONS["escalate"]["events"] and FUNCTIONS["close-session"]["schedule"]
    assert FUNCTIONS["list-sessions"]["schedule"] == "* * * * *"  # the fold
    assert {t["$id"] for t in CONFIG["tables"]} == {"sessions", "messages", "counters", "jobs"}
    assert all(t["$permissions"] == [] and not t["rowSecurity"] for t in CONFIG["tables"])
    assert "databases" not in CONFIG and "collections" not in CONFIG  # never mix with tablesDB
