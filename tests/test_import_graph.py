"""Imports inside ``ragdag`` go one way: no cycles, and no module imports a later stage.

The stage order, first to last (docs/architecture.md explains it). A module may import its own
layer and the layers before it, never one after it. Module-level imports and imports inside
functions both count: a function-level import is still a dependency, it only runs later.
``if TYPE_CHECKING:`` imports count for the order (a stage does not know a later stage's types)
but not for cycles (they never run).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "include" / "ragdag"

# (layer, module prefixes). A module belongs to the layer of its longest matching prefix.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "foundation",  # settings, record shapes, stores and shared text tools
        (
            "ragdag",
            "ragdag.settings",
            "ragdag.local_ports",
            "ragdag.models",
            "ragdag.documents",
            "ragdag.assets",
            "ragdag.cli_table",
            "ragdag.stores",
            "ragdag.llm_client",
            "ragdag.text_safety",
        ),
    ),
    (
        "records",  # what every stage writes about itself: run records, audit trail, alerts, task callbacks
        (
            "ragdag.observability.run_records",
            "ragdag.observability.audit",
            "ragdag.observability.notifications",
            "ragdag.dag_wiring",
        ),
    ),
    ("crawling", ("ragdag.crawling",)),
    ("validation", ("ragdag.validation",)),
    ("features", ("ragdag.features",)),
    ("datasets", ("ragdag.datasets",)),
    ("training", ("ragdag.training",)),
    ("observability", ("ragdag.observability",)),  # views over every stage: lineage, monitoring, docs
    ("interfaces", ("ragdag.ui", "ragdag.cli", "ragdag.demo", "ragdag.settings_doc")),
)
ORDER = {name: rank for rank, (name, _) in enumerate(LAYERS)}


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def layer_of(module: str) -> str:
    best = max(
        ((prefix, name) for name, prefixes in LAYERS for prefix in prefixes if (module + ".").startswith(prefix + ".")),
        key=lambda pair: len(pair[0]),
    )
    return best[1]


def _known(name: str) -> str | None:
    """The module ``name`` is, or is defined in (``ragdag.x.Name`` -> ``ragdag.x``)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imported(module: str, node: ast.Import | ast.ImportFrom) -> set[str]:
    if isinstance(node, ast.Import):
        return {m for alias in node.names if (m := _known(alias.name))}
    base = node.module or ""
    if node.level:
        package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{base}" if base else package
    if not base.startswith("ragdag"):
        return set()
    found = set()
    for alias in node.names:
        submodule = f"{base}.{alias.name}"
        found.add(submodule if submodule in MODULES else _known(base))
    return {m for m in found if m}


def _is_type_checking(test: ast.expr) -> bool:
    return "TYPE_CHECKING" in ast.unparse(test)


def imports_of(module: str) -> list[tuple[str, int, bool]]:
    """(imported module, line, only under TYPE_CHECKING) for every ``ragdag`` import of ``module``."""
    found: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, typing_only: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                found.extend((m, child.lineno, typing_only) for m in _imported(module, child) if m != module)
            elif isinstance(child, ast.If) and _is_type_checking(child.test):
                for inner in child.body:
                    visit(ast.Module(body=[inner], type_ignores=[]), True)
                for inner in child.orelse:
                    visit(ast.Module(body=[inner], type_ignores=[]), typing_only)
            else:
                visit(child, typing_only)

    visit(ast.parse(MODULES[module].read_text(encoding="utf-8")), False)
    return found


GRAPH = {module: imports_of(module) for module in sorted(MODULES)}


def test_every_module_has_a_layer() -> None:
    assert all(layer_of(m) for m in MODULES)  # max() of no prefix raises: add the module to LAYERS


def test_no_module_imports_a_later_stage() -> None:
    against = [
        f"{MODULES[m].relative_to(PACKAGE.parent)}:{line} imports {target} "
        f"({layer_of(m)} must not import {layer_of(target)})"
        for m, imports in GRAPH.items()
        for target, line, _ in imports
        if ORDER[layer_of(target)] > ORDER[layer_of(m)]
    ]
    assert against == []


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return components


def test_no_import_cycles() -> None:
    runtime = {m: {target for target, _, typing_only in imports if not typing_only} for m, imports in GRAPH.items()}
    assert _cycles(runtime) == []


@pytest.mark.parametrize(
    ("edges", "expected"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
        ({"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"c"}}, [["a", "b"], ["c", "d"]]),
    ],
)
def test_the_cycle_finder_finds_cycles(edges: dict[str, set[str]], expected: list[list[str]]) -> None:
    assert sorted(_cycles(edges)) == expected


def test_the_graph_sees_function_level_and_relative_imports(tmp_path: Path) -> None:
    # drift's import of the run records is inside a function: it must be in the graph.
    assert "ragdag.observability.run_records" in {t for t, _, _ in GRAPH["ragdag.features.drift"]}
    assert layer_of("ragdag.observability.lineage") == "observability"
    assert layer_of("ragdag.observability.run_records") == "records"
    assert layer_of("ragdag.crawling.sources.dispatcher") == "crawling"
