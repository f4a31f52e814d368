"""The house rules of spirl/: dependencies point one way, and nothing reaches outside the repository."""

import ast
import re
from pathlib import Path

import pytest

from spirl.imports import cycles, import_graph

SPIRL = Path(__file__).resolve().parents[1] / "spirl"
GROUND = {"config", "utils", "integrity", "checkpoints", "guards", "outputs", "imports", "progress", "devices",
          "workflow_plan", "workflow_lock", "projection", "costs", "preempt", "alloc"}
# Bottom to top: what each room may import (besides itself and the ground). The game table is a leaf
# data module that the ground's validation reads for game names; the analysis reads files only, through
# their owners' readers (the K histogram's is spirl.saliency.kstats).
ALLOWED = {
    "ground": {"atari.games"},
    "config": {"atari.games"},  # the configuration package: settings, presets, studies, plans
    "atari": set(),
    "mae": {"atari"},
    "saliency": {"atari", "mae"},
    "rl": {"atari", "mae", "saliency"},
    "analysis": {"atari.games", "saliency.kstats"},
    # spirl export / import: packs an MAE's or a run's files, reading them through their owners' readers
    "archive": {"atari.games", "mae", "rl"},
}


def _room(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 2 and parts[1] in GROUND:
        return "ground"
    return parts[1] if len(parts) > 2 else parts[-1]


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every spirl module imported by ``path``, at module level or inside functions."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "spirl":
            out += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "spirl"]
    return out


def _allowed(room: str, target: str) -> bool:
    parts = target.split(".")
    if len(parts) < 2 or parts[1] in GROUND or parts[1] == room:
        return True
    rules = ALLOWED[room]
    return parts[1] in rules or ".".join(parts[1:3]) in rules


MODULES = sorted(p for p in SPIRL.rglob("*.py") if p.parent.name in {*ALLOWED, "spirl"} and p.name != "__main__.py")


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SPIRL.parent)))
def test_dependencies_point_one_way(path):
    module = ".".join(path.relative_to(SPIRL.parent).with_suffix("").parts)
    if module in ("spirl.cli", "spirl.status", "spirl.__init__"):
        return  # the top: the command table names every command's module; status reads every room's files
    room = _room(module if not module.endswith("__init__") else module.rsplit(".", 1)[0] + ".x")
    bad = [f"{path.name}:{line} imports {target}" for line, target in _imports(path) if not _allowed(room, target)]
    assert not bad, f"{room} may import only the ground and {sorted(ALLOWED[room])}: {bad}"


# The sibling folder of the developers' checkout that a user's clone does not have, spelled so that this
# file does not itself contain the path it looks for.
OUTSIDE = "/".join(("..", "shared"))


def test_nothing_imports_snakemake_or_reads_outside_the_repository():
    for path in SPIRL.rglob("*.py"):
        text = path.read_text()
        tree = ast.parse(text)
        names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        names += [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module]
        assert not any(n.split(".")[0] == "snakemake" for n in names), path
        assert OUTSIDE not in text and not re.search(r'/\s*"shared"\s*/', text), path


# Where a command line is read: the command modules and the dispatcher. Everything else is the science
# and its ground, called with plain values.
COMMAND_LINE = {SPIRL / "cli.py", *(SPIRL / "commands").glob("*.py")}


@pytest.mark.parametrize("path", sorted(set(SPIRL.rglob("*.py")) - COMMAND_LINE),
                         ids=lambda p: str(p.relative_to(SPIRL.parent)))
def test_no_domain_module_reads_a_command_line(path):
    tree = ast.parse(path.read_text())
    names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    names += [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module]
    assert "argparse" not in names, f"{path.name} imports argparse: its command belongs in spirl/commands/"
    assert not any(n.startswith("spirl.commands") for n in names), f"{path.name} imports a command module"


def test_no_import_cycle():
    assert cycles(import_graph(SPIRL.parent)) == []
