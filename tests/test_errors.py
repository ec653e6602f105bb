"""One catalog of errors: every code the functions can answer is named once, with one status, and documented.

The source is read, not run: a code raised on a path no other test reaches is still checked.
"""

from __future__ import annotations

import ast
import re

import pytest
from chat_core import errors
from chat_core.errors import CATALOG, ChatError
from chat_core.infra import gateway  # noqa: F401  (the gateway's modules: their ChatError subclasses join the family list)
from conftest import ADMIN_SECRET, ROOT, Widget, execute

SOURCES = sorted([*(ROOT / "shared" / "chat_core").rglob("*.py"), *(ROOT / "functions").glob("*/src/*.py")])


def _families() -> dict[str, type[ChatError]]:
    found, todo = {}, [ChatError]
    while todo:
        cls = todo.pop()
        found[cls.__name__] = cls
        todo.extend(cls.__subclasses__())
    return found


def raised_codes() -> list[tuple[str, str, int]]:
    """(where, code, family status) for every error built in the source, and every literal {"code": ...}."""
    families, found = _families(), []
    for path in SOURCES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.Call):
                name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
                if name not in families:
                    continue
                family = families[name]
                code = next((kw.value for kw in node.keywords if kw.arg == "code"), None)
                if code is None:
                    found.append((where, family.code, family.status))
                else:
                    assert isinstance(code, ast.Constant), f"{where}: name the code literally, so it can be checked"
                    found.append((where, code.value, family.status))
            elif isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values, strict=True):
                    if isinstance(key, ast.Constant) and key.value == "code" and isinstance(value, ast.Constant):
                        found.append((where, value.value, CATALOG.get(value.value, errors.Kind(0, "")).status))
    return found


def test_every_code_raised_is_catalogued_with_its_familys_status():
    found = raised_codes()
    assert len(found) > 40  # the scan sees the raise sites
    wrong = [(where, code, status) for where, code, status in found
             if code not in CATALOG or CATALOG[code].status != status]
    assert wrong == [], "add these to chat_core/errors.py CATALOG, or raise them from the family of their status"


def test_the_catalog_holds_nothing_stale():
    used = {code for _, code, _ in raised_codes()}
    assert sorted(set(CATALOG) - used) == []


def test_a_code_means_one_thing():
    meanings = [kind.meaning for kind in CATALOG.values()]
    assert len(set(meanings)) == len(meanings)
    statuses_by_code: dict[str, set[int]] = {}
    for _, code, status in raised_codes():
        statuses_by_code.setdefault(code, set()).add(status)
    assert {code: s for code, s in statuses_by_code.items() if len(s) > 1} == {}


def readme_table() -> dict[str, tuple[int, str]]:
    """The error table of docs/api.md (the README links there)."""
    section = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (\d{3}) \| `([a-z_]+)` \| (.+) \|$", section, flags=re.MULTILINE)
    assert rows, "docs/api.md has no error table"
    table = {code: (int(status), meaning) for status, code, meaning in rows}
    assert len(table) == len(rows), "a code is listed twice"
    return table


def test_the_readme_error_table_is_the_catalog():
    expected = {code: (kind.status, kind.meaning) for code, kind in CATALOG.items()}
    assert readme_table() == expected, "docs/api.md table, from the catalog:\n" + "\n".join(
        f"| {kind.status} | `{code}` | {kind.meaning} |" for code, kind in CATALOG.items())


def test_every_error_answer_uses_the_catalogs_status():
    for code, kind in CATALOG.items():
        assert errors.BadRequest("x", code=code).status == kind.status  # the catalog decides


# --- the codes that meant two things -------------------------------------------------------------

@pytest.fixture
def waiting(appwrite):
    w = Widget()
    execute("escalate", {"sessionId": w.session_id}, token=w.token)
    return w


def test_claim_with_the_admin_secret_never_says_not_an_admin(waiting):
    for body in ({"sessionId": waiting.session_id, "agentId": "agent-bob"}, {"sessionId": waiting.session_id}):
        answer = execute("assign-agent", body, path="/claim", secret=ADMIN_SECRET)
        assert answer.status == 400 and answer.error in ("claim_for_other", "no_agent"), answer
    by_agent = execute("assign-agent", {"sessionId": waiting.session_id, "agentId": "agent-bob"}, path="/claim",
                       user="agent-alice")
    assert (by_agent.status, by_agent.error) == (400, "claim_for_other")
    mine = execute("assign-agent", {"sessionId": waiting.session_id, "agentId": "agent-alice"}, path="/claim",
                   user="agent-alice")
    assert mine.status == 200


def test_not_an_agent_is_only_about_the_caller(waiting):
    caller = execute("assign-agent", {"sessionId": waiting.session_id}, path="/claim", user="visitor-vic")
    assert (caller.status, caller.error) == (403, "not_an_agent")
    target = execute("assign-agent", {"sessionId": waiting.session_id, "agentId": "visitor-vic"}, path="/assign",
                     secret=ADMIN_SECRET)
    assert (target.status, target.error) == (400, "invalid_agent")
