"""The request examples in the docs, executed in order against the local stack, so the docs cannot drift.

A checked example is a fenced block of requests: `METHOD function path`, header lines, a JSON body, then `→ STATUS`
and the answer. The status must match, an error's `"code"` must match, and every `"key": scalar` the example shows
(a string without an ellipsis, a number, true, false or null) must be in the answer. `{name}` placeholders are
filled from earlier answers and from the test's secrets and signed-in agent.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from stack_support import disable_functions, function_variables, sign_in

from devstack.server import Stack

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "docs" / "api.md"]
SECRETS = {"ADMIN_SECRET": "docs-admin-secret", "BOT_SECRET": "docs-bot-secret"}
REQUEST = re.compile(r"^(GET|POST|PUT|PATCH|DELETE) ([a-z][a-z-]*) (/\S*)$")
HEADER = re.compile(r"^([A-Za-z0-9-]+): (.*)$")
SCALAR = re.compile(r'"(\w+)": ("(?:[^"\\…]|\\.)*"|-?\d+(?:\.\d+)?|true|false|null)(?=[,}\s])')
KEY_GATED = ("list-sessions", "assign-agent")  # execute: label:agent / label:admin


def fenced_blocks(text: str) -> list[str]:
    """The bodies of the ``` blocks that carry no language tag."""
    blocks, current, language = [], None, ""
    for line in text.splitlines():
        if line.startswith("```"):
            if current is None:
                current, language = [], line[3:].strip()
            else:
                if not language:
                    blocks.append("\n".join(current))
                current = None
        elif current is not None:
            current.append(line)
    return blocks


def examples(path: Path) -> list[dict]:
    found = []
    for block in fenced_blocks(path.read_text(encoding="utf-8")):
        for chunk in block.split("\n\n"):
            lines = chunk.strip().splitlines()
            if not lines or not REQUEST.match(lines[0]) or not any(x.startswith("→") for x in lines):
                continue
            method, function_id, target = REQUEST.match(lines[0]).groups()
            arrow = next(i for i, x in enumerate(lines) if x.startswith("→"))
            headers, body = {}, []
            for line in lines[1:arrow]:
                header = HEADER.match(line)
                if header and not body:
                    headers[header.group(1)] = header.group(2)
                else:
                    body.append(line)
            expected = " ".join(x.strip() for x in lines[arrow:])[1:].strip()
            status, _, shown = expected.partition(" ")
            found.append({"method": method, "function": function_id, "path": target, "headers": headers,
                          "body": "\n".join(body), "status": int(status), "shown": shown, "doc": path.name,
                          "line": lines[0]})
    return found


def contains(value: object, key: str, wanted: object) -> bool:
    if isinstance(value, dict):
        return (key in value and value[key] == wanted) or any(contains(v, key, wanted) for v in value.values())
    if isinstance(value, list):
        return any(contains(v, key, wanted) for v in value)
    return False


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with function_variables(SECRETS), \
            Stack(data_dir=tmp_path_factory.mktemp("docs"), port=0, run_scheduler=False) as running:
        disable_functions(running, "bot")  # the story plays its own AI bot
        yield running


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_the_request_examples_run_as_documented(stack, doc):
    from appwrite.client import Client
    from appwrite.services.functions import Functions

    found = examples(doc)
    assert len(found) >= 10, f"{doc.name}: no checked examples found"
    values = {**SECRETS, "agentJwt": sign_in(stack, "agent-alice")}

    def fill(text: str) -> str:
        return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), m.group(0)), text)

    for example in found:
        headers = {name: fill(value) for name, value in example["headers"].items()}
        client = Client().set_endpoint(stack.endpoint).set_project(stack.project_id)
        if "X-Chat-JWT" in headers:
            client.set_jwt(headers["X-Chat-JWT"])  # Appwrite runs it as the signed-in agent
        elif example["function"] in KEY_GATED:
            client.set_key(stack.api_key)  # a server holding the admin secret
        execution = Functions(client).create_execution(
            example["function"], body=fill(example["body"]), path=fill(example["path"]), method=example["method"],
            headers={"content-type": "application/json", **headers})
        assert stack.wait_idle(10)
        answer = json.loads(execution.responsebody)
        where = f"{example['doc']}: {example['line']}"
        assert execution.responsestatuscode == example["status"], (where, answer)
        if code := re.search(r'"code": "(\w+)"', example["shown"]):
            assert answer["error"]["code"] == code.group(1), (where, answer)
        for key, literal in SCALAR.findall(example["shown"]):
            assert contains(answer, key, json.loads(literal)), (where, key, literal, answer)
        if example["function"] == "create-session" and execution.responsestatuscode == 201:
            values.update(sessionId=answer["sessionId"], token=answer["token"])
        if isinstance(answer.get("message"), dict) and "messageId" in answer["message"]:
            values["messageId"] = answer["message"]["messageId"]
        if answer.get("nextCursor"):
            values["nextCursor"] = answer["nextCursor"]
