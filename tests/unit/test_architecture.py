"""The package's layout is its architecture: each layer imports only the layers below it.

parity's subpackages follow the data path, bottom to top: support, configuration, machine,
facts, comparison, environments, reports; the pytest face and the CLI are the modules at the
top of `parity/`. An import from a lower layer into a higher one (at module level or inside a
function) fails here, and so does a cycle between modules, naming the module and the line.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import parity

PACKAGE = Path(parity.__file__).parent
LAYERS = ("support", "configuration", "machine", "facts", "comparison", "environments", "reports")
"""The subpackages, bottom to top; each may import the ones before it."""
TOP = frozenset({"__init__", "__main__", "plugin", "fixtures", "markers", "runner", "distribute",
                 "handoff", "progress", "cli", "commands"})
"""The modules at the top of `parity/`: the pytest face and the CLI, which may import anything."""


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def rank(module: str) -> int:
    """The layer of a module of parity: its index in LAYERS, or len(LAYERS) for the top."""
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in LAYERS:
        return LAYERS.index(parts[1])
    return len(LAYERS)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imports(module: str, path: Path) -> Iterator[tuple[str, int]]:
    """The parity modules `module` imports (at any depth of its code), with the line."""
    known = modules()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                       for alias in node.names]
        else:
            continue
        for target in targets:
            if target == "parity" or target.startswith("parity."):
                yield target, node.lineno


def upward_imports(tree: dict[str, Path]) -> list[str]:
    found = []
    for module, path in tree.items():
        for target, line in imports(module, path):
            if rank(target) > rank(module):
                found.append(f"{module}:{line} imports {target}")
    return found


def cycles(tree: dict[str, Path]) -> list[list[str]]:
    """Cycles between modules (strongly connected components of more than one module)."""
    graph = {module: {target for target, _ in imports(module, path) if target in tree and target != module}
             for module, path in tree.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_every_module_belongs_to_a_layer() -> None:
    stray = [module for module in modules()
             if module != "parity" and module.split(".")[1] not in (*LAYERS, *TOP)]
    assert stray == [], "a module outside the layers: put it in a subpackage, or add it to TOP"


def test_no_layer_imports_a_higher_one() -> None:
    assert upward_imports(modules()) == []


def test_no_import_cycle_between_modules() -> None:
    assert cycles(modules()) == []


def test_the_check_catches_an_upward_import(tmp_path: Path) -> None:
    """The check itself on a planted upward import: a support module importing a report."""
    planted = PACKAGE / "support" / "errors.py"
    tree = modules()
    copy = tmp_path / "errors.py"
    copy.write_text(planted.read_text(encoding="utf-8") + "\nfrom parity.reports import summary\n",
                    encoding="utf-8")
    tree["parity.support.errors"] = copy
    found = [line for line in upward_imports(tree) if line.startswith("parity.support.errors:")]
    assert found and found[0].endswith(" imports parity.reports.summary")


@pytest.mark.parametrize("layer", LAYERS)
def test_each_layer_says_its_job(layer: str) -> None:
    doc = ast.get_docstring(ast.parse((PACKAGE / layer / "__init__.py").read_text(encoding="utf-8")))
    assert doc, f"parity/{layer}/__init__.py needs a docstring: its job and what it may import"
    below = LAYERS[: LAYERS.index(layer)]
    if below:
        assert all(f"parity.{lower}" in doc or lower in doc for lower in below), doc
