"""The settings sit at the bottom of the import graph: nothing they import imports them back.

Read from the source (imports inside functions included, `if TYPE_CHECKING:` blocks left out),
so an import cycle cannot hide behind a function-level import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import syncd

pytestmark = pytest.mark.unit

PACKAGE = Path(syncd.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _with_parents(name: str) -> set[str]:
    """Importing `a.b.c` runs `a`, `a.b` and `a.b.c`."""
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts) + 1)} & MODULES.keys()


def _imports(module: str) -> set[str]:
    found: set[str] = set()
    pending: list[ast.AST] = [ast.parse(MODULES[module].read_text(encoding="utf-8"))]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            pending.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                found |= _with_parents(alias.name)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= _with_parents(node.module)
            for alias in node.names:
                found |= _with_parents(f"{node.module}.{alias.name}")
        pending.extend(ast.iter_child_nodes(node))
    return found - {module}


def _reachable(start: str) -> set[str]:
    seen: set[str] = set()
    pending = [start]
    while pending:
        for name in _imports(pending.pop()):
            if name not in seen:
                seen.add(name)
                pending.append(name)
    return seen


def test_the_graph_is_read_from_every_module() -> None:
    assert {"syncd.settings", "syncd.schedule", "syncd.sync", "syncd.api.client"} <= MODULES.keys()
    assert "syncd.api.client" in _reachable("syncd.sync")  # through `from syncd.api import ...`


def test_nothing_the_settings_import_imports_them_back() -> None:
    below = _reachable("syncd.settings")
    assert "syncd.schedule" in below  # the schedule check, at load
    cycle = sorted(name for name in below if "syncd.settings" in _imports(name))
    assert not cycle, f"syncd.settings is on an import cycle through {cycle}"


@pytest.mark.parametrize("engine", ["syncd.sync", "syncd.replay", "syncd.webhooks", "syncd.scheduler"])
def test_the_engines_take_options_not_settings(engine: str) -> None:
    assert "syncd.settings" not in _reachable(engine)
