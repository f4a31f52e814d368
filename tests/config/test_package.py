"""spirl.config (the package): every name it gives is found, and no import cycle runs through it."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import spirl.config as config

SPIRL = Path(__file__).resolve().parents[2] / "spirl"


def test_every_exported_name_is_its_modules():
    for name, module in config._WHERE.items():
        assert getattr(config, name) is getattr(importlib.import_module(f"spirl.config.{module}"), name), name


def test_a_settings_type_does_not_load_the_preset_reader():
    code = ("import sys; from spirl.config import Precision; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'spirl'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['spirl', 'spirl.config', 'spirl.config.settings']"


def _graph() -> dict[str, set[str]]:
    """module -> the spirl modules it imports, at module level or inside functions."""
    paths = {".".join(p.relative_to(SPIRL.parent).with_suffix("").parts).removesuffix(".__init__"): p
             for p in SPIRL.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("spirl"):
                found |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in paths else node.module
                          for a in node.names}
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name in paths}
        graph[name] = found & set(paths)
    return graph


def test_no_import_cycle_runs_through_the_config_package():
    graph = _graph()
    for start in (m for m in graph if m.startswith("spirl.config")):
        seen, todo = set(), list(graph[start])
        while todo:
            module = todo.pop()
            if module not in seen:
                seen.add(module)
                todo += graph[module]
        assert start not in seen, f"{start} imports itself back through {sorted(seen)}"
