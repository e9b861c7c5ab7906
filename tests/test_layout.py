"""The package's layers, read from its imports (ast, no code run): Whoosh only in index/ and search/, Flask only in
api/ and app.py, extraction and documents free of both, and no import circle (at module level or inside
functions)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "searchsvc"


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module imported anywhere in the file (top level or inside functions)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


MODULES = {_module(p): _imports(p) for p in sorted(PACKAGE.rglob("*.py"))}


def _uses(module: str, prefix: str) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for name in MODULES[module])


@pytest.mark.parametrize("module", sorted(MODULES))
def test_each_library_stays_in_its_rooms(module: str) -> None:
    in_api = module.startswith("searchsvc.api") or module == "searchsvc.app"
    if not in_api:
        assert not _uses(module, "flask") and not _uses(module, "werkzeug"), f"{module} imports Flask"
    if module.startswith(("searchsvc.api", "searchsvc.extract", "searchsvc.documents")):
        assert not _uses(module, "whoosh"), f"{module} imports Whoosh"


def test_no_import_circle() -> None:
    modules = set(MODULES)
    edges = {m: {n for n in MODULES[m] if n in modules and n != m} for m in modules}
    # `from searchsvc.x import name` also names the package `searchsvc.x`; a package's own __init__ re-exports.
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges[node]):
            if nxt.startswith(node + ".") or node.startswith(nxt + "."):
                continue  # a package and its own modules
            if state.get(nxt) == 1:
                raise AssertionError("import circle: " + " -> ".join([*path[path.index(nxt) :], nxt]))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for module in sorted(modules):
        if module not in state:
            visit(module)
