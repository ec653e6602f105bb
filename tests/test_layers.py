"""The shared package's layers, as docs/architecture.md draws them: each folder imports only those below it, no
module imports another that imports it back (directly or around a circle, deferred imports included), and no
module grows past what one reader holds in mind."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "shared" / "chat_core"
# Lower numbers are lower layers: a module may import its own layer and any lower one.
RANK = {"config": 0, "errors": 0, "jsonio": 0, "domain": 1, "infra": 2, "core": 3, "ops": 4, "bot": 5, "edge": 6}
MAX_LINES = 350


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Every chat_core module `name` imports, at any depth of its code (a deferred import counts too)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            for alias in node.names:
                target = f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                if target in known and target != name:
                    found.add(target)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name in known and alias.name != name}
    return found


def layer(name: str) -> int:
    return RANK[name.split(".")[1]] if "." in name else -1


def test_no_module_imports_a_higher_layer():
    known = modules()
    upward = sorted(f"{name} -> {target}" for name, path in known.items() for target in imports(name, path, known)
                    if layer(target) > layer(name))
    assert upward == []


def test_there_is_no_import_circle():
    known = modules()
    graph = {name: imports(name, path, known) for name, path in known.items()}
    circles = []

    def visit(name: str, trail: list[str], done: set[str]) -> None:
        for target in sorted(graph[name]):
            if target in trail:
                circles.append(" -> ".join([*trail[trail.index(target):], target]))
            elif target not in done:
                visit(target, [*trail, target], done)
        done.add(name)

    finished: set[str] = set()
    for name in sorted(graph):
        if name not in finished:
            visit(name, [name], finished)
    assert circles == []


def test_every_module_fits_in_one_reading():
    too_long = {name: n for name, path in modules().items()
                if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert too_long == {}


def test_the_layer_check_sees_an_upward_import(tmp_path):
    """The check itself: a domain module importing the edge is caught."""
    fake = tmp_path / "chat_core" / "domain"
    fake.mkdir(parents=True)
    (fake / "rules.py").write_text("from chat_core.edge import views\n")
    known = {"chat_core.domain.rules": fake / "rules.py", "chat_core.edge.views": Path("views.py")}
    targets = imports("chat_core.domain.rules", known["chat_core.domain.rules"], known)
    assert [t for t in targets if layer(t) > layer("chat_core.domain.rules")] == ["chat_core.edge.views"]
