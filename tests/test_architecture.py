"""The import graph keeps the layers honest: data flows one way, and nothing imports upward.

inbound (handlers, web) -> services -> store / outbox -> Slack; renderers are pure; domain types
and integrations sit at the bottom. The graph is read from the source with `ast`, so a lazy
import inside a function counts for the layer rules as much as one at the top of a module.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("makersbot", "handlers", "integrations")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue  # alembic scripts load the models on purpose
            found[_module_name(path)] = path
    return found


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The project module an imported name refers to (a module, or the module defining it)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> Iterator[str]:
    """Names a module imports, lazily inside functions too (a lazy cycle is still a cycle)."""
    nodes: list[ast.AST] = [tree]
    while nodes:
        node = nodes.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                yield from (alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                yield child.module
                yield from (f"{child.module}.{alias.name}" for alias in child.names)
            elif isinstance(child, ast.If) and _is_type_checking(child):
                continue  # annotations only: never executed, cannot form a cycle
            else:
                nodes.append(child)


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        targets = {_resolve(imported) for imported in _imports(tree)}
        graph[name] = {t for t in targets if t is not None and t != name}
        # A package's submodule importing its own package __init__ is not a dependency.
        graph[name] -= {t for t in graph[name] if name.startswith(t + ".")}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, if there is any (depth-first search with colours)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)) is not None:
            return found
    return None


def test_the_graph_sees_the_whole_project() -> None:
    graph = _graph()
    assert "makersbot.app" in graph and "handlers.commands" in graph
    assert "makersbot.domain.messages" in graph["makersbot.outbox"]


def test_no_import_cycles() -> None:
    assert _cycle(_graph()) is None


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


# (layer, prefixes it may never import)
HIGHER = (
    "makersbot.services",
    "handlers",
    "makersbot.render",
    "makersbot.app",
    "makersbot.loops",
    "makersbot.web",
    "makersbot.cli",
    "makersbot.console",
    "makersbot.catalogue",
)
RULES = [
    ("integrations", ("makersbot", "handlers")),
    ("makersbot.domain", ("makersbot.store", "makersbot.outbox", "makersbot.db", *HIGHER)),
    ("makersbot.store", HIGHER),
    ("makersbot.render", ("makersbot.store", "makersbot.services", "handlers", "makersbot.db")),
    ("handlers", ("makersbot.store", "makersbot.db", "integrations")),
    ("makersbot.services", ("handlers", "makersbot.app", "makersbot.web", "makersbot.cli")),
]


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".") or module.startswith(prefix + "_")


@pytest.mark.parametrize(("layer", "forbidden"), RULES, ids=[r[0] for r in RULES])
def test_no_import_reaches_a_higher_layer(layer: str, forbidden: tuple[str, ...]) -> None:
    graph = _graph()
    members = [m for m in graph if _under(m, layer)]
    assert members, f"no module in layer {layer}"
    wrong = sorted(
        f"{module} imports {target}"
        for module in members
        for target in graph[module]
        if any(_under(target, prefix) for prefix in forbidden) and not _under(target, layer)
    )
    assert wrong == []
