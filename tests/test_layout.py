"""The house rules: which part of the code may import which.

Read from the source with `ast`, so a rule broken anywhere fails here before it confuses a
reader. The layers are the ones CONTRIBUTING.md draws; arrows point down only.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Lowest first. A module may import its own layer's other parts only when they are in the
# same package, and anything in a lower layer.
LAYERS: list[set[str]] = [
    {"subscribers"},
    {"alerts.errors"},
    {"alerts.config"},
    {"alerts.translations"},
    {"alerts.logs"},
    {"alerts.models", "alerts.charts"},
    {"alerts.db", "alerts.audit"},
    {"alerts.ledger", "alerts.access", "alerts.feeds"},
    {"alerts.results"},
    {"alerts.editions"},
    {"alerts.digests"},
    {"alerts.mail"},
    {"alerts.delivery", "alerts.feedback"},
    {"alerts.runtime"},
    {"alerts.desk", "alerts.jobs"},
    {"alerts.tasks"},
    {"alerts.ops"},
    {"alerts.demo"},
    {"alerts.web", "alerts.cli"},
]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    files = [*ROOT.glob("alerts/**/*.py"), *ROOT.glob("subscribers/**/*.py")]
    return {_module_name(path): path for path in files}


MODULES = _modules()
OURS = {"alerts", "subscribers"}


def _imports(name: str, path: Path) -> Iterator[str]:
    """Every module of ours that `name` imports, at any depth of its code."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                for alias in node.names
            ]
        else:
            continue
        yield from (target for target in targets if target.split(".")[0] in OURS)


# `newsalerts web` serves the web app: the one place where one adapter starts the other.
ADAPTER_STARTS = {"alerts.cli.processes -> alerts.web.app"}


GRAPH = {name: set(_imports(name, path)) for name, path in MODULES.items()}


def _part(module: str) -> str:
    """The layered part a module belongs to: its package below alerts, or the module."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "alerts" else parts[0]


def _layer(module: str) -> int:
    part = _part(module)
    for index, layer in enumerate(LAYERS):
        if part in layer:
            return index
    raise AssertionError(f"{module} is in no layer: add {part} to LAYERS and CONTRIBUTING.md")


def test_every_part_of_alerts_has_a_layer() -> None:
    for module in MODULES:
        if module.startswith("alerts."):
            _layer(module)


def test_arrows_point_down() -> None:
    upward = sorted(
        f"{module} -> {target}"
        for module, targets in GRAPH.items()
        if module.startswith("alerts.")
        for target in targets
        if target != "alerts"
        and _part(target) != _part(module)
        and _layer(target) >= _layer(module)
        and f"{module} -> {target}" not in ADAPTER_STARTS
    )
    assert upward == []


def test_subscribers_never_imports_alerts() -> None:
    assert [
        f"{module} -> {target}"
        for module, targets in GRAPH.items()
        if module.startswith("subscribers")
        for target in targets
        if target.startswith("alerts")
    ] == []


@pytest.mark.parametrize("adapter", ["alerts.web", "alerts.cli"])
def test_only_an_adapter_imports_itself(adapter: str) -> None:
    assert [
        f"{module} -> {target}"
        for module, targets in GRAPH.items()
        if not module.startswith(adapter)
        for target in targets
        if target == adapter or target.startswith(adapter + ".")
        if f"{module} -> {target}" not in ADAPTER_STARTS
    ] == []


def test_no_import_cycles_between_modules() -> None:
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the path, 2: done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(GRAPH.get(module, ())):
            if target not in GRAPH or target == module:
                continue
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])
    # A package's __init__ importing its own modules is how it exports them, not a cycle.
    real = [cycle for cycle in cycles if not _is_own_package_export(cycle)]
    assert real == []


def _is_own_package_export(cycle: list[str]) -> bool:
    return any(
        GRAPH.get(a) is not None and b.startswith(a + ".") for a, b in itertools.pairwise(cycle)
    )


def test_every_module_says_what_it_is_for() -> None:
    silent = [
        name
        for name, path in MODULES.items()
        if not ast.get_docstring(ast.parse(path.read_text())) and path.name != "__main__.py"
    ]
    assert silent == []
