"""``spirl bench run --compare``: a run's phases beside the projection of its plan."""

from __future__ import annotations

import json

import pytest

from spirl.bench import compare
from spirl.projection import Rates, Workload, project

RATES = Rates(warm_step=0.001, step=0.002, update=0.01, encode_1=0.05, encode_batch=0.5, eval_batch=10,
              eval_env_step=0.001, policy_1=0.002, policy_batch=0.01, checkpoint_fixed=0.1, write_bytes_per_s=1e8,
              replay_bytes_per_step=1000)
W = Workload(total_steps=1000, warmup_steps=100, random_warmup=True, updates=900, eval_points=2, eval_episodes=10,
             final_eval_episodes=10, checkpoint_every=500, mean_length=100.0, max_length=200.0)


def run_info(eval_frames: int) -> dict:
    return {"method": "spirl", "game": "Seaquest", "seed": 0, "threads": 1, "sessions": 1,
            "plan": {"eval_steps": [500, 1000], "eval_episodes": 10, "final_eval_episodes": 10,
                     "total_env_steps": 1000},
            "phases": {"training": {"seconds": 70.0, "steps": 1000, "cache_hit_rate": 0.8},
                       "evaluation": {"seconds": 30.0, "frames": eval_frames, "cache_hit_rate": 0.9},
                       "checkpoints": {"seconds": 1.0, "checkpoints": 1}}}


def test_the_projection_at_the_runs_own_lengths_separates_rates_from_lengths():
    info = run_info(eval_frames=1000)  # 20 episodes of 50 frames: half the assumed 100
    rows = {r[0]: r[1:] for r in compare.rows(RATES, W, info)}
    assumed = project(RATES, W)
    own = project(RATES, compare.at_measured_lengths(W, info))
    assert compare.at_measured_lengths(W, info).mean_length == 50.0
    assert rows["evaluation"] == (30.0, sum(own["evaluation"].values()), sum(assumed["evaluation"].values()))
    assert rows["training"][1] == rows["training"][2] == sum(assumed["training"].values())
    assert rows["total"][0] == 101.0 and rows["total"][2] == assumed["total_s"]
    assert rows["evaluation"][1] < rows["evaluation"][2]


def test_read_run_needs_the_phases(tmp_path, capsys):
    (tmp_path / "run.json").write_text(json.dumps({"method": "spirl"}))
    with pytest.raises(ValueError, match="no 'phases'"):
        compare.read_run(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"no run\.json"):
        compare.read_run(tmp_path / "missing")
    info = run_info(1000)
    (tmp_path / "run.json").write_text(json.dumps(info))
    bench = {"hit_rate_1": 0.6, "hit_rate_batch": 0.7, "long_hit_rate_1": 0.8, "long_hit_rate_batch": 0.9}
    figures = compare.report(RATES, W, compare.read_run(tmp_path), bench)
    out = capsys.readouterr().out
    assert "training 80% in the run, 60% projected" in out and "evaluation 90% in the run, 70% projected" in out
    assert [r["phase"] for r in figures["compare"]] == ["training", "evaluation", "checkpoints", "total"]
