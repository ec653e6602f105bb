"""What a function's cold import loads (issue 20, item 6): nothing beyond the SDK's own modules but chat_core's;
the gateway's repositories, the SDK's services other than TablesDB, the operations and what only some routes use
load when a request first uses them, not with the function. Asserted on a fresh interpreter by module
name, never by time (the timing is `python -m bench.importtime`, docs/reliability.md "Import overhead")."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WITH_SDK = ("assign-agent", "bot", "close-session", "create-session", "escalate", "list-sessions", "touch-session")
# Loaded on first use only (`infra.gateway.REPOSITORIES`; `infra.users` imports the Users and Account services
# inside the read that needs them).
LAZY = {f"chat_core.infra.{name}" for name in ("agents", "audit", "counters", "limits", "messages", "replies",
                                               "sessions", "signals", "users")}
LAZY_SDK = {"appwrite.services.users", "appwrite.services.account", "appwrite.services.functions",
            "appwrite.services.storage"}
# Loaded by the routes that use them: the exports' formats by the export routes, the query-string parsing of
# touch-session's reads by those reads (its heartbeat and messages, nearly every execution, never use it).
LAZY_EDGE = {"chat_core.edge.transcripts"}
READS_ONLY = {"touch-session": {"chat_core.edge.queries"}}
# Everything create-session's import loads from chat_core: a new import on its path shows up here first. The
# operations (`chat_core.ops`) load with the route that uses them, at the first request.
CREATE_SESSION = {
    "chat_core", "chat_core.config", "chat_core.core", "chat_core.errors", "chat_core.jsonio",
    "chat_core.domain", "chat_core.domain.agents", "chat_core.domain.authz",
    "chat_core.domain.inputs", "chat_core.domain.model", "chat_core.domain.ratings", "chat_core.domain.replies",
    "chat_core.domain.rules", "chat_core.domain.search",
    "chat_core.infra", "chat_core.infra.client", "chat_core.infra.connection", "chat_core.infra.gateway",
    "chat_core.infra.operators",
    "chat_core.edge", "chat_core.edge.api", "chat_core.edge.api.create_session", "chat_core.edge.http",
    "chat_core.edge.validation", "chat_core.edge.views",
}


def loaded_by(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running `code`."""
    code = f"import importlib.util, json, sys; {code}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    return set(json.loads(out.stdout))


def cold_import(function_id: str) -> set[str]:
    """The modules a fresh interpreter holds after loading the function's entrypoint as the runtime does."""
    path = ROOT / "functions" / function_id / "src" / "main.py"
    return loaded_by(f"s = importlib.util.spec_from_file_location('main', {str(path)!r}); "
                     "m = importlib.util.module_from_spec(s); s.loader.exec_module(m)")


@pytest.fixture(scope="module")
def sdk_alone() -> set[str]:
    """What bench.importtime measures a function's import against: the SDK every request needs."""
    from bench.importtime import SDK_ALONE
    return loaded_by(SDK_ALONE)


@pytest.mark.parametrize("function_id", WITH_SDK)
def test_a_cold_import_leaves_the_repositories_and_other_services_for_the_request(function_id, sdk_alone):
    loaded = cold_import(function_id)
    # Beyond the SDK, only chat_core: no module of the standard library or elsewhere that the SDK does not load.
    assert sorted(name for name in loaded - sdk_alone if not name.startswith(("chat_core", "__editable__"))) == []
    assert "appwrite.services.tables_db" in loaded  # the measure's premise: these functions import the SDK
    assert sorted(loaded & (LAZY | LAZY_SDK)) == []
    assert sorted(name for name in loaded if name.startswith("chat_core.ops")) == []  # loaded by the route
    assert sorted(loaded & (LAZY_EDGE | READS_ONLY.get(function_id, set()))) == []


def test_create_session_loads_only_its_own_path():
    loaded = {name for name in cold_import("create-session") if name.startswith("chat_core")}
    assert sorted(loaded - CREATE_SESSION) == [] and sorted(CREATE_SESSION - loaded) == []
    assert not any(name.startswith(("chat_core.bot", "chat_core.edge.transcripts", "chat_core.edge.queries"))
                   for name in loaded)


def test_the_lazy_repositories_still_load_when_used():
    code = ("import sys; from chat_core.config import Settings; from chat_core.infra.gateway import Gateway; "
            "g = Gateway(Settings(endpoint='http://x.invalid/v1', project_id='p'), 'k'); "
            "before = 'chat_core.infra.sessions' in sys.modules; g.sessions; g.users; "
            "print(before, 'chat_core.infra.sessions' in sys.modules, 'chat_core.infra.users' in sys.modules, "
            "g.sessions is g.sessions)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.split() == ["False", "True", "True", "True"]
