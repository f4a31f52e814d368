"""Which spirl modules a module imports, read from the source (nothing is imported).

The workflow's analysis rules name the source files their outputs depend on with
:func:`source_files` (the module's file, every spirl file it imports transitively and the
``__init__.py`` of each package on the way), so a change in any of them reruns the rule;
tests/test_layout.py checks with :func:`import_graph` and :func:`cycles` that dependencies
point one way. Imports inside functions count as much as those at the top of a file.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

PACKAGE = "spirl"


def module_file(module: str, root: Path) -> Path | None:
    """The file of ``module`` (``spirl.a.b``) under ``root`` (the folder that holds ``spirl/``), or None."""
    base = root.joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def module_name(path: Path, root: Path) -> str:
    """``spirl/a/b.py`` -> ``spirl.a.b``; ``spirl/a/__init__.py`` -> ``spirl.a``."""
    parts = path.resolve().relative_to(root.resolve()).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, root: Path) -> set[str]:
    """The spirl modules that ``path`` imports, at its top or inside functions.

    ``from spirl.a import b`` counts as ``spirl.a.b`` when that is a module, else as ``spirl.a``.
    """
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == PACKAGE}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
                and node.module.split(".")[0] == PACKAGE:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                out.add(sub if module_file(sub, root) else node.module)
    return {m for m in out if module_file(m, root)}


def import_graph(root: Path) -> dict[str, set[str]]:
    """Every module of the package under ``root`` -> the spirl modules it imports (itself excluded)."""
    graph = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        name = module_name(path, root)
        graph[name] = imported_modules(path, root) - {name}
    return graph


def cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The import cycles of ``graph``: each strongly connected group of two or more modules, sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's algorithm; the graph is a few hundred modules deep at most
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def _packages(module: str) -> list[str]:
    """The packages whose ``__init__.py`` runs before ``module``: ``spirl.a.b`` -> ``spirl``, ``spirl.a``."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def source_files(module: str, root: Path) -> list[str]:
    """The files (relative to ``root``, sorted) that importing ``module`` reads: its own, every spirl
    module it imports transitively, and the ``__init__.py`` of each package on the way.

    Raises:
        ValueError: ``module`` is not a module of the package under ``root``.
    """
    if module_file(module, root) is None:
        raise ValueError(f"{module} is not a module under {root}")
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = module_file(name, root)
        assert path is not None
        todo += [m for m in (*imported_modules(path, root), *_packages(name)) if m not in seen]
    files = {module_file(m, root) for m in seen}
    return sorted(str(p.relative_to(root)) for p in files if p is not None)


__all__ = ["cycles", "import_graph", "imported_modules", "module_file", "module_name", "source_files"]
