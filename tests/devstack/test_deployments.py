"""Deployments on the stack, pushed by the real CLI from a tiny project: build, logs, activation, chunks, failure.

Two functions, two builds (each a fresh virtualenv): `echo` builds and answers from its build; `broken` ships a
6 MB incompressible file (so the CLI uploads it in two 5 MB chunks) and a build command that fails.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from appwrite.client import Client
from appwrite.exception import AppwriteException
from appwrite.services.functions import Functions

from devstack.server import Stack
from tools.deploy import deploy

pytestmark = pytest.mark.build

ECHO = '''import os
import sys

VERSION = "built"


def main(context):
    print("a line on stdout")
    print("a line on stderr", file=sys.stderr)
    return context.res.json({"version": VERSION, "prefix": sys.prefix, "greeting": os.environ.get("GREETING"),
                             "function": os.environ.get("APPWRITE_FUNCTION_ID")})
'''


def _project(root: Path) -> None:
    function = {"runtime": "python-3.12", "execute": ["any"], "events": [], "scopes": [], "schedule": "",
                "timeout": 15, "enabled": True, "logging": True}
    config = {"projectId": "tiny", "projectName": "Tiny", "functions": [
        {**function, "$id": "echo", "name": "Echo", "entrypoint": "src/main.py", "path": ".",
         "commands": "echo building echo && python -c 'import sys; print(sys.prefix)'",
         "ignore": ["/broken/", "*.tar.gz"]},
        {**function, "$id": "broken", "name": "Broken", "entrypoint": "main.py", "path": "broken",
         "commands": "echo about to fail && exit 3", "ignore": ["*.tar.gz"]}]}
    (root / "appwrite.json").write_text(json.dumps(config))
    (root / "src").mkdir()
    (root / "src" / "main.py").write_text(ECHO)
    (root / "broken").mkdir()
    (root / "broken" / "main.py").write_text("def main(context):\n    return context.res.empty()\n")
    (root / "broken" / "big.bin").write_bytes(os.urandom(6_000_000))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root, data = tmp_path_factory.mktemp("tiny"), tmp_path_factory.mktemp("tiny-data")
    _project(root)
    with Stack(root, data_dir=data, port=0, run_scheduler=False, blank=True) as stack:
        transcript = deploy(stack.endpoint, stack.api_key, root=root, home=data / "cli-home")
        assert stack.deployments.wait_builds(300)
        yield stack, transcript


def _functions(stack: Stack) -> Functions:
    return Functions(Client().set_endpoint(stack.endpoint).set_project(stack.project_id).set_key(stack.api_key))


def _active(stack: Stack, function_id: str) -> dict:
    function = _functions(stack).get(function_id)
    return stack.project.get("deployments", function.deploymentid or function.latestdeploymentid)


def test_executions_run_the_build_not_the_working_tree(tiny):
    stack, _ = tiny
    deployment = _active(stack, "echo")
    assert deployment["status"] == "ready" and "building echo" in deployment["buildLogs"]
    (Path(stack.root) / "src" / "main.py").write_text(ECHO.replace('"built"', '"edited in the working tree"'))
    run = _functions(stack).create_execution("echo")
    answer = json.loads(run.responsebody)
    assert answer["version"] == "built" and answer["function"] == "echo"
    assert answer["prefix"] == str(Path(stack.data_dir) / "builds" / deployment["$id"] / "src" / "function" /
                                   "runtime-env")  # the build's own virtualenv
    assert run.deploymentid == deployment["$id"]


def test_what_the_function_prints_lands_in_its_logs(tiny):
    stack, _ = tiny
    run = _functions(stack).create_execution("echo")
    assert "Native logs detected" in run.logs and "a line on stderr" in run.logs and "a line on stdout" in run.logs


def test_variables_reach_the_next_execution(tiny):
    stack, _ = tiny
    functions = _functions(stack)
    assert json.loads(functions.create_execution("echo").responsebody)["greeting"] is None
    functions.create_variable("echo", "unique()", "GREETING", "hello")
    assert json.loads(functions.create_execution("echo").responsebody)["greeting"] == "hello"


def test_a_variable_needs_its_id_as_on_1_9(tiny):
    """appwrite 1.9.6 src/Appwrite/Platform/Modules/Functions/Http/Variables/Create.php: `variableId` is required."""
    stack, _ = tiny
    request = urllib.request.Request(
        f"{stack.endpoint}/functions/echo/variables", data=json.dumps({"key": "OTHER", "value": "x"}).encode(),
        headers={"x-appwrite-project": stack.project_id, "x-appwrite-key": stack.api_key,
                 "content-type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request)
    assert refused.value.code == 400 and "variableId" in json.loads(refused.value.read())["message"]


def test_a_failing_build_fails_with_its_log_and_the_stack_goes_on(tiny):
    stack, transcript = tiny
    function = _functions(stack).get("broken")
    deployment = stack.project.get("deployments", function.latestdeploymentid)
    assert function.deploymentid == "" and function.latestdeploymentstatus == "failed"
    assert deployment["status"] == "failed"
    assert "about to fail" in deployment["buildLogs"] and "exit code 3" in deployment["buildLogs"]
    with pytest.raises(AppwriteException) as refused:
        _functions(stack).create_execution("broken")
    assert (refused.value.code, refused.value.type) == (404, "deployment_not_found")
    assert json.loads(_functions(stack).create_execution("echo").responsebody)["version"] == "built"


def test_a_large_archive_arrives_in_chunks_and_whole(tiny):
    stack, _ = tiny
    deployment = stack.project.get("deployments", _functions(stack).get("broken").latestdeploymentid)
    assert deployment["_chunksTotal"] == 2 and deployment["sourceSize"] > 5 * 1024 * 1024
    request = urllib.request.Request(
        f"{stack.endpoint}/functions/broken/deployments/{deployment['$id']}/download",
        headers={"x-appwrite-project": stack.project_id, "x-appwrite-key": stack.api_key})
    with urllib.request.urlopen(request) as answer, tarfile.open(fileobj=io.BytesIO(answer.read())) as tar:
        shipped = tar.extractfile("big.bin").read()
    assert hashlib.sha256(shipped).digest() == hashlib.sha256((Path(stack.root) / "broken" / "big.bin")
                                                              .read_bytes()).digest()


def test_the_management_routes_need_the_right_scopes(tiny):
    stack, _ = tiny
    stack.keys.add("functions-reader", {"functions.read"})
    for method, path in (("GET", "/functions/echo"), ("POST", "/functions/echo/variables")):
        request = urllib.request.Request(stack.endpoint + path, method=method, data=b"{}" if method == "POST" else None,
                                         headers={"x-appwrite-project": stack.project_id,
                                                  "x-appwrite-key": "functions-reader",
                                                  "content-type": "application/json"})
        try:
            with urllib.request.urlopen(request) as answer:
                status = answer.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        assert status == (200 if method == "GET" else 401)
