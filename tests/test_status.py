"""spirl status: a results folder with done, running, stalled, failed and missing runs, as a table and as JSON."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from spirl import costs
from spirl.checkpoints import TRAINING, CheckpointStore, default_checkpoint_dir
from spirl.cli import main
from spirl.config import for_game, load_preset, resolve_method
from spirl.progress import ProgressRecorder
from spirl.projection import Rates
from spirl.rl.evaluate import EvalResult, format_rows
from spirl.status import DEFAULT_PRESET, LOG_FILE, RUN_DIR, STALLED_AFTER_S, campaign_status
from spirl.utils import write_json

ROOT = Path(__file__).resolve().parents[1]
TOTAL = 400
PRESET = {"games": ["Seaquest"], "seeds": [0, 1, 2, 3, 4], "comparison": {"de_rainbow": {}},
          "budget": {"env_steps": TOTAL, "eval_points": 2, "eval_episodes": 2, "checkpoint_every": 100}}


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def write_log(path: Path, steps: int, rate: float, tail: str = "") -> None:
    """A job log as the train rule writes it: training records (the real writer), an evaluation's, then ``tail``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    clock = Clock()
    with path.open("w") as f:
        f.write("spirl train: resuming de_rainbow/Seaquest/seed 1 from somewhere\n")
        bar = ProgressRecorder(total=TOTAL, desc="de_rainbow Seaquest seed x", unit="step", stream=f, clock=clock)
        for step in range(1, steps + 1):
            clock.t = step / rate
            if step == 200:
                ev = ProgressRecorder(total=2, desc="evaluation at step 200", unit="episode", stream=f, clock=clock)
                ev.update(2)
                ev.close()
                bar.set_postfix(eval_mean="35.0", loss="0.0123")
            bar.update(1)
        ev = ProgressRecorder(total=2, desc=f"evaluation at step {steps}", unit="episode", stream=f, clock=clock)
        f.write(tail)


def checkpoint(results: Path, seed: int, step: int) -> Path:
    ckpt = default_checkpoint_dir(results / RUN_DIR.format(method="de_rainbow", game="Seaquest", seed=seed))
    return CheckpointStore(ckpt, TRAINING).save(step, {}, lambda p: (p / "replay.npz").write_bytes(b"replay"))


def age(paths: list[Path], seconds: float) -> None:
    old = time.time() - seconds
    for p in paths:
        os.utime(p, (old, old))


@pytest.fixture
def campaign(tmp_path) -> tuple[Path, Path]:
    """results/ of a five-run preset: seed 0 done, 1 running, 2 stalled, 3 failed, 4 not started."""
    preset = tmp_path / "preset.yaml"
    preset.write_text(yaml.safe_dump(PRESET))
    results = tmp_path / "results"
    log = {s: results / LOG_FILE.format(method="de_rainbow", game="Seaquest", seed=s) for s in range(5)}
    done = results / RUN_DIR.format(method="de_rainbow", game="Seaquest", seed=0)
    done.mkdir(parents=True)
    rows = [EvalResult(s, np.array([10.0 * s / 200, 20.0]), np.array([5, 5])).row() for s in (200, 400)]
    (done / "eval.csv").write_text(format_rows(rows))
    write_json(done / "run.json", {"wall_time_s": 80.0, "steps_per_s": 5.0, "plan": {"total_env_steps": TOTAL}})
    write_log(log[0], TOTAL, 5.0)

    checkpoint(results, 1, 200)
    write_log(log[1], 240, 10.0)  # 10 steps/s: 160 steps left, 16 s

    stalled = checkpoint(results, 2, 100)
    write_log(log[2], 120, 4.0)
    age([log[2], stalled / "MANIFEST"], STALLED_AFTER_S + 60)

    checkpoint(results, 3, 300)
    write_log(log[3], 312, 8.0, tail="Traceback (most recent call last):\n  File \"x.py\", line 1, in <module>\n"
                                     "RuntimeError: the ALE lost its ROM\n")
    (results / RUN_DIR.format(method="old_method", game="Seaquest", seed=0)).mkdir(parents=True)  # another preset's
    return results, preset


def test_every_state_from_the_files(campaign):
    results, preset = campaign
    c = campaign_status(results, load_preset(preset))
    by_seed = {st.seed: st for st in c.runs}
    assert [by_seed[s].state for s in range(5)] == ["done", "running", "stalled", "failed", "not started"]
    done, running, stalled, failed, missing = (by_seed[s] for s in range(5))
    assert done.score == 20.0 and done.wall_time_s == 80.0 and done.step == TOTAL
    assert (running.step, running.total, running.rate, running.checkpoint_step) == (240, TOTAL, 10.0, 200)
    assert running.eta_s == pytest.approx(16.0, abs=3)  # the record's 16 s, less the seconds since it was written
    assert running.fields == {"eval_mean": "35.0", "loss": "0.0123"}  # the training record, not the evaluation's
    assert running.checkpoint_age_s < 60 and running.idle_s < 60
    assert stalled.step == 120 and stalled.idle_s >= STALLED_AFTER_S and stalled.eta_s is None
    assert failed.error == "RuntimeError: the ALE lost its ROM" and failed.checkpoint_step == 300
    assert missing.step is None and missing.total == TOTAL and missing.log is None
    assert c.counts == {"done": 1, "running": 1, "stalled": 1, "failed": 1, "not started": 1}
    assert c.not_in_preset == 1
    # the unfinished runs at the method's measured rates (done 5/s, running 10/s: 7.5/s), one run moving now
    expected = running.eta_s + (TOTAL - 120) / 7.5 + (TOTAL - 312) / 7.5 + TOTAL / 7.5
    assert c.parallel == 1 and c.remaining_run_s == pytest.approx(expected) and c.eta_s == pytest.approx(expected)
    assert c.other_rates == 0


def test_a_method_not_measured_yet_is_projected_by_the_cost_model(campaign):
    """Not another method's rate (a DE-Rainbow step is no SPIRL step): spirl.costs's projection of its plan."""
    results, preset = campaign
    raw = yaml.safe_load(preset.read_text())
    raw["comparison"]["spirl"] = {"seeds": [0, 1]}  # no SPIRL run has started
    preset.write_text(yaml.safe_dump(raw))
    p = load_preset(preset)
    c = campaign_status(results, p)
    assert c.counts["not started"] == 3 and c.other_rates == 2
    spirl = [st for st in c.runs if st.method == "spirl"]
    assert all(st.total == TOTAL for st in spirl)
    plan = for_game(resolve_method(p, "spirl"), "Seaquest", ideal_ratio=0.95)
    projected = costs.run_seconds(plan, p.threads, {})
    assert c.remaining_run_s == pytest.approx(c.runs[1].eta_s + (280 + 88 + TOTAL) / 7.5 + 2 * projected)
    # measured rates of this kind of machine (spirl bench run --save) change the projection, not the measured runs
    fast = Rates(**{**costs.BUILTIN["spirl"].__dict__, "encode_1": 0.0, "encode_batch": 0.0})
    costs.save_rates(results / costs.RATES_IN_RESULTS, costs.rates_key(plan, p.threads), "Seaquest", fast, [100],
                     {})
    quicker = campaign_status(results, p)
    assert quicker.remaining_run_s < c.remaining_run_s


def test_a_log_with_an_error_line_and_a_quiet_start(tmp_path):
    preset = tmp_path / "preset.yaml"
    preset.write_text(yaml.safe_dump(PRESET))
    results = tmp_path / "results"
    log = results / LOG_FILE.format(method="de_rainbow", game="Seaquest", seed=0)
    log.parent.mkdir(parents=True)
    log.write_text("spirl train: error: the MAE at x is of another game\n")
    quiet = results / LOG_FILE.format(method="de_rainbow", game="Seaquest", seed=1)
    quiet.write_text("")  # a job that has only just started: running, nothing measured yet
    c = campaign_status(results, load_preset(preset))
    assert c.runs[0].state == "failed" and c.runs[0].error == "spirl train: error: the MAE at x is of another game"
    assert c.runs[1].state == "running" and c.runs[1].step is None
    # no rate measured anywhere: every unfinished run is projected by the cost model (spirl.costs)
    p = load_preset(preset)
    projected = costs.run_seconds(for_game(resolve_method(p, "de_rainbow"), "Seaquest"), p.threads, {})
    assert projected > 0 and c.other_rates == 5
    assert c.remaining_run_s == pytest.approx(5 * projected) and c.eta_s == pytest.approx(5 * projected)


def test_the_command_prints_a_table_and_json(campaign, capsys):
    results, preset = campaign
    assert main(["status", str(results), "--config", str(preset)]) == 0
    table = capsys.readouterr().out
    lines = table.splitlines()
    assert "5 runs" in lines[0] and "1 done, 1 running, 1 stalled, 1 failed, 1 not started" in lines[0]
    assert lines[1].split()[:4] == ["method", "game", "seed", "state"]
    assert "score 20.0" in lines[2] and "240/400 (60%)" in lines[3] and "eval_mean=35.0" in lines[3]
    assert "log ends without an error" in lines[4] and "RuntimeError: the ALE lost its ROM" in lines[5]
    assert lines[6].split()[3:5] == ["not", "started"]
    assert any(line.startswith("campaign: 4 runs left") and "ETA" in line for line in lines)
    assert any("0:10:00" in line and line.startswith("stalled") for line in lines)
    assert any("not in" in line for line in lines)

    assert main(["status", str(results), "--config", str(preset), "--json", "--stalled-after", "1000"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["state"] for r in data["runs"]] == ["done", "running", "running", "failed", "not started"]
    assert data["stalled_after_s"] == 60000.0 and data["counts"]["running"] == 2 and data["parallel"] == 2
    assert data["runs"][1]["fields"]["loss"] == "0.0123"


def test_the_paths_are_the_train_rules():
    rule = (ROOT / "workflow" / "rules" / "train.smk").read_text()
    assert f'"results/{LOG_FILE}"' in rule and f'"results/{RUN_DIR}/eval.csv"' in rule
    assert (ROOT / DEFAULT_PRESET).is_file()
