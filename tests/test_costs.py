"""The one cost model: requests from projected runs, the rates file, and the workflow's resources use it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from spirl import costs
from spirl.config import for_game, load_preset, parse_preset, resolve_method
from spirl.projection import Rates, project

ROOT = Path(__file__).resolve().parents[1]


def plan_of(method: str = "spirl", game: str = "Frostbite", **budget):
    return for_game(resolve_method(parse_preset({"games": [game], "budget": budget}), method), game)


def test_a_request_is_the_projection_with_the_margin():
    plan = plan_of()
    rates, (mean, longest), source = costs.rates_for(plan, 1, {})
    assert source == "built-in" and rates == costs.BUILTIN["spirl"]
    seconds = project(rates, costs.workload(plan, mean, longest))["total_s"]
    assert costs.run_seconds(plan, 1, {}) == seconds
    assert costs.train_minutes(plan, 1, {}) == max(costs.MIN_MINUTES, -(-costs.MARGIN * seconds // 60))
    # evaluation is most of a SPIRL run at the paper's protocol: a request without it would be far too short
    assert costs.train_minutes(plan, 1, {}) > 20 * 60
    assert costs.train_minutes(plan_of(env_steps=400, eval_points=1, eval_episodes=2), 1, {}) == costs.MIN_MINUTES


def test_the_tables_schedule_costs_less_and_keeps_the_last_evaluation():
    paper, tables = plan_of(), plan_of(eval_schedule="tables")
    assert (tables.eval_episodes, tables.final_eval_episodes) == (10, 50)
    assert (paper.eval_episodes, paper.final_eval_episodes) == (50, 50)
    assert costs.run_seconds(tables, 1, {}) < 0.65 * costs.run_seconds(paper, 1, {})


def test_measured_rates_come_from_the_rates_file(tmp_path):
    path = tmp_path / "rates.json"
    plan = plan_of("de_rainbow", "Seaquest")
    assert costs.read_rates(path) == {}
    fast = Rates(**{**costs.BUILTIN["pixels"].__dict__, "update": 0.001})
    costs.save_rates(path, costs.rates_key(plan, 1), "Seaquest", fast, [100, 300], {"device": "cpu"})
    entries = costs.read_rates(path)
    assert costs.rates_for(plan, 1, entries) == (fast, (200.0, 300.0), "measured")
    # another game: the measured rates, that game's built-in episode lengths
    other = plan_of("de_rainbow", "Frostbite")
    assert costs.rates_for(other, 1, entries) == (fast, costs.BUILTIN_LENGTHS["Frostbite"], "measured on Seaquest")
    # other threads or another encoder: built-in
    assert costs.rates_for(plan, 2, entries)[2] == "built-in"
    assert costs.rates_for(plan_of("spirl", "Seaquest"), 1, entries)[2] == "built-in"
    assert costs.train_minutes(plan, 1, entries) < costs.train_minutes(plan, 1, {})
    path.write_text('{"format": "other"}')
    with pytest.raises(ValueError, match="not a rates file"):
        costs.read_rates(path)


def test_the_workflow_asks_for_the_projection(tmp_path):
    """A SPIRL job's requested runtime (paper1game.yaml, a dry run) is spirl.costs's projection with its margin."""
    preset = ROOT / "workflow" / "config" / "paper1game.yaml"
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory",
                           str(tmp_path), "--dry-run", "--configfile", str(preset), "--cores", "2",
                           "results/runs/spirl/Frostbite/0/eval.csv"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    asked = re.search(r"rule train:.*?runtime=(\d+).*?mem_mb=(\d+)", proc.stdout, re.S)
    p = load_preset(preset)
    plan = for_game(resolve_method(p, "spirl"), "Frostbite", pretrain_frames=p.pretrain_frames("Frostbite"))
    assert asked is not None and int(asked[1]) == costs.train_minutes(plan, p.threads, {})
    assert int(asked[2]) == costs.train_mem_mb(plan)


def test_the_workflow_holds_no_cost_figures():
    """Every resource function of the workflow is a get_* wrapper over spirl.costs: no constants of its own."""
    assert "runtime" not in (ROOT / "workflow" / "rules" / "common.smk").read_text()
    text = (ROOT / "workflow" / "rules" / "resources.smk").read_text()
    bodies = re.findall(r"def (get_\w+)\(wildcards\) -> int:\n((?:    .*\n)+)", text)
    assert {name for name, _ in bodies} >= {"get_train_runtime", "get_train_mem_mb", "get_pretrain_runtime",
                                            "get_kstats_runtime", "get_collect_runtime", "get_frames_mem_mb"}
    for name, body in bodies:
        code = [line for line in body.splitlines() if not line.strip().startswith(('"""', "#"))]
        assert len(code) == 1 and "spirl_costs." in code[0], name
        assert not re.search(r"\d", code[0]), name
    assert "100_000" not in text and "import math" not in text
    for rule in ("train", "pretrain", "saliency", "data", "panels"):
        rules = (ROOT / "workflow" / "rules" / f"{rule}.smk").read_text()
        assert not re.search(r"(runtime|mem_mb)=lambda", rules), rule
