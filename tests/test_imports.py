"""The packages import one another only as the README's layout table says, and never in a cycle.

Imports are read from the source (every ``import`` statement, a function's own included), so a
lazy import counts as much as one at the top of a file: a cycle through a lazy import still ties
two modules together.
"""
from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

PACKAGES = ["kb", "embedding", "ingest", "runner", "search", "book", "nbhelpers"]
# What each package may import of ours (README, "Layout"); (package, module) pairs are exceptions
# for one module only.
ALLOWED = {
    "kb": set(),
    "embedding": {"kb"},
    "ingest": {"kb"},
    "runner": {"kb", "ingest"},
    "search": {"kb", "embedding", "ingest"},
    "book": {"kb", "ingest", "runner"},
    "nbhelpers": set(),
}
ONLY_IN = {
    ("ingest", "embedding"): {"ingest.cli"},  # the command line wires the model into ingest
    ("nbhelpers", "ingest"): {"nbhelpers.data"},  # the LM notebooks' corpus: the articles' feed text
}


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py")
            if "_ext" not in p.parts}


def imports_of(path: Path, name: str, known: set[str]) -> set[str]:
    """Our modules that ``path`` imports (``from pkg import mod`` resolves to ``pkg.mod`` when it is one)."""
    out = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        out |= {t for t in targets if t.split(".")[0] in PACKAGES and t in known}
    return out


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imports_of(path, name, set(mods)) - {name} for name, path in mods.items()}


def test_packages_import_only_what_the_layout_allows():
    wrong = []
    for mod, deps in graph().items():
        pkg = mod.split(".")[0]
        for dep in deps:
            other = dep.split(".")[0]
            if other == pkg:
                continue
            allowed = other in ALLOWED[pkg] or mod in ONLY_IN.get((pkg, other), set())
            if not allowed:
                wrong.append(f"{mod} imports {dep}")
    assert not wrong, wrong


def test_no_module_imports_a_private_name_of_another_package():
    wrong = []
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in PACKAGES \
                    and node.module.split(".")[0] != name.split(".")[0]:
                wrong += [f"{name}: from {node.module} import {a.name}" for a in node.names if a.name.startswith("_")]
    assert not wrong, wrong


def test_there_is_no_import_cycle():
    g = graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles = []

    def visit(mod: str, path: list[str]) -> None:
        state[mod] = 1
        for dep in sorted(g.get(mod, ())):
            if state.get(dep) == 1:
                cycles.append(" -> ".join(path[path.index(dep):] + [dep]))
            elif dep not in state:
                visit(dep, path + [dep])
        state[mod] = 2

    for mod in sorted(g):
        if mod not in state:
            visit(mod, [mod])
    assert not cycles, cycles
