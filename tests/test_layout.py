"""The layout the README draws: imports point one way, and no module imports itself back.

    pipeline ──► subscribers ──► emails

Read from the source with ``ast``, every import counts, inside functions too (a lazy import
is still a dependency); only imports under ``if TYPE_CHECKING:`` are left out of the circle
check, since they never run.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("pipeline", "subscribers", "emails")
# Who may import whom: the lower a package, the less it knows.
ALLOWED = {
    "emails": {"emails"},
    "subscribers": {"subscribers", "emails"},
    "pipeline": {"pipeline", "subscribers", "emails"},
}


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


MODULES = modules()


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(path: Path, *, at_run_time: bool) -> Iterator[str]:
    """Our modules that ``path`` imports (``at_run_time``: not those for type checkers)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped: set[int] = set()
    if at_run_time:
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and _type_checking(node):
                skipped |= {id(n) for child in node.body for n in ast.walk(child)}
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if _ours(alias.name))
        elif isinstance(node, ast.ImportFrom) and node.module and _ours(node.module):
            # ``from pkg import module`` names a module; ``from module import name`` does not.
            named = [f"{node.module}.{alias.name}" for alias in node.names]
            submodules = [name for name in named if name in MODULES]
            yield from submodules or [node.module]


def _ours(name: str) -> bool:
    return name.split(".")[0] in PACKAGES


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_one_way(module: str) -> None:
    package = module.split(".")[0]
    wrong = sorted(
        target
        for target in imports(MODULES[module], at_run_time=False)
        if target.split(".")[0] not in ALLOWED[package]
    )
    assert not wrong, f"{module} ({package}) must not import {wrong}"


def test_no_module_imports_itself_back() -> None:
    graph = {
        name: set(imports(path, at_run_time=True)) & set(MODULES) for name, path in MODULES.items()
    }
    assert on_circles(graph) == []


def test_a_circle_is_found() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert on_circles(graph) == ["a", "b", "c"]


def on_circles(graph: dict[str, set[str]]) -> list[str]:
    """The modules from which an import path leads back to themselves."""
    return sorted(module for module in graph if module in _reachable(graph, module))


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = list(graph[start])
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(graph.get(node, ()))
    return seen


def readme_map() -> set[str]:
    """Every file and folder the README's map names, as a path from the repository root."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("### The map", 1)[1].split("```", 2)[1]
    named: set[str] = set()
    parent = ""
    for line in block.splitlines():
        indent = len(line) - len(line.lstrip())
        # Names come first on a line, before a gap of two spaces and the description.
        words = line.strip().split("  ")[0].split()
        names = [w for w in words if w.endswith(("/", ".py"))]
        if indent == 0 and names:
            parent = names[0]
            named.add(parent)
        elif indent == 2:
            named |= {parent + name for name in names}
    return named


def test_the_readme_map_names_every_room_and_nothing_else() -> None:
    named = readme_map()
    rooms = {
        str(init.parent.relative_to(ROOT)) + "/"
        for package in PACKAGES
        for init in (ROOT / package).rglob("__init__.py")
    }
    rooms |= {
        str(path.relative_to(ROOT))
        for package in PACKAGES
        for path in (ROOT / package).glob("*.py")
        if path.name != "__init__.py"
    }
    assert rooms - named == set(), "rooms missing from the README's map"
    gone = sorted(path for path in named if not (ROOT / path).exists())
    assert gone == [], "the README's map names paths that do not exist"
