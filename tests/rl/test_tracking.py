"""spirl.rl.tracking: W&B (offline, no network) and TensorBoard outputs of a real tiny run, read back."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from spirl.cli import main
from spirl.config import TrackSettings
from spirl.rl.train import train

GAME = "Pong"
OVERRIDES = ["learner.warmup_steps=100", "learner.batch_size=8", "agent.hidden_size=32",
             "protocol.max_episode_steps=60", "learner.target_update_period=50", "learner.lr=0.00025"]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def preset(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("track") / "preset.yaml"
    path.write_text(yaml.safe_dump({"games": [GAME], "budget": {"env_steps": 300, "eval_points": 2,
                                                                  "eval_episodes": 2, "checkpoint_every": 100}}))
    return path


@pytest.fixture(scope="module")
def offline(tmp_path_factory):
    """W&B in offline mode (writes the run locally, never the network), its own config dir."""
    mp = pytest.MonkeyPatch()
    mp.setenv("WANDB_MODE", "offline")
    mp.setenv("WANDB_SILENT", "true")
    mp.setenv("WANDB_CONFIG_DIR", str(tmp_path_factory.mktemp("wandb_config")))
    yield
    mp.undo()


@pytest.fixture(scope="module")
def tracked(preset, offline, tmp_path_factory) -> tuple[Path, Path]:
    """One tiny DE-Rainbow run with W&B and TensorBoard on: (outputs, checkpoint directory)."""
    root = tmp_path_factory.mktemp("run")
    out, ckpt = root / "out", root / "ckpt"
    train(preset, "de_rainbow", GAME, 0, out, overrides=OVERRIDES, ckpt_dir=ckpt, quiet=True,
          track=TrackSettings(wandb=True, project="spirl-test"))
    return out, ckpt


def wandb_records(run_dir: Path) -> list:
    """The records of an offline W&B run (``run-<id>.wandb``: a LevelDB-style log of protobuf records)."""
    from wandb.proto import wandb_internal_pb2 as pb

    data = next(run_dir.glob("run-*.wandb")).read_bytes()
    assert data[:4] == b":W&B"
    block, pos, chunk, out = 32768, 7, b"", []
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a header is padding
            pos += block - pos % block
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        chunk += data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # FULL or LAST: a whole record
            record = pb.Record()
            record.ParseFromString(chunk)
            out.append(record)
            chunk = b""
        elif kind == 0 and length == 0:
            pos += (block - pos % block) % block
    return out


def history(records: list) -> list[dict]:
    return [{item.nested_key[0] if item.nested_key else item.key: json.loads(item.value_json)
             for item in r.history.item} for r in records if r.WhichOneof("record_type") == "history"]


def test_wandb_offline_run_holds_settings_curves_and_files(tracked):
    out, ckpt = tracked
    (run_dir,) = (ckpt / "wandb").glob("offline-run-*")
    records = wandb_records(run_dir)
    run = next(r.run for r in records if r.WhichOneof("record_type") == "run")
    assert run.project == "spirl-test" and run.display_name == f"de_rainbow/{GAME}/0"
    assert run.run_id == (ckpt / "wandb_id.txt").read_text().strip()
    config = {u.key: json.loads(u.value_json) for u in run.config.update}
    assert config["settings"]["learner"]["lr"] == 0.00025 and config["game"] == GAME
    assert config["plan"]["total_env_steps"] == 300
    rows = history(records)
    ev = pd.read_csv(out / "eval.csv")
    evals = [(r["env_step"], r["eval/mean"]) for r in rows if "eval/mean" in r]
    assert evals == list(zip(ev["step"], ev["mean"]))
    log = pd.read_csv(out / "train_log.csv")
    losses = [(r["env_step"], r["train/loss"]) for r in rows if "train/loss" in r]
    assert losses and losses == [(s, pytest.approx(v)) for s, v in log.dropna(subset=["loss"])[["step", "loss"]]
                                 .itertuples(index=False)]
    saved = {f.path for r in records if r.WhichOneof("record_type") == "files" for f in r.files.files}
    assert {"eval.csv", "run.json", "train_log.csv"} <= saved
    assert (run_dir / "files" / "eval.csv").read_text() == (out / "eval.csv").read_text()
    summary = {u.key: json.loads(u.value_json) for r in records if r.WhichOneof("record_type") == "summary"
               for u in r.summary.update if u.key}
    assert summary["final/mean"] == ev["mean"].iloc[-1]


def test_tensorboard_scalars_equal_the_csv_logs(tracked):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out, ckpt = tracked
    acc = EventAccumulator(str(ckpt / "tb"))
    acc.Reload()
    ev = pd.read_csv(out / "eval.csv")
    assert [(e.step, e.value) for e in acc.Scalars("eval/mean")] == [
        (s, pytest.approx(m)) for s, m in zip(ev["step"], ev["mean"])]
    log = pd.read_csv(out / "train_log.csv").dropna(subset=["episode_return"])
    assert [e.value for e in acc.Scalars("train/episode_return")] == pytest.approx(log["episode_return"].tolist())
    assert {"train/loss", "train/beta", "eval/median", "eval/max"} <= set(acc.Tags()["scalars"])


def test_a_resumed_run_continues_the_same_wandb_run_and_purges_tensorboard(preset, offline, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out, ckpt = tmp_path / "out", tmp_path / "ckpt"
    kwargs = dict(overrides=OVERRIDES, ckpt_dir=ckpt, quiet=True, track=TrackSettings(wandb=True))
    assert train(preset, "de_rainbow", GAME, 0, out, stop_after_steps=250, **kwargs) is None  # killed at 250
    run_id = (ckpt / "wandb_id.txt").read_text().strip()
    train(preset, "de_rainbow", GAME, 0, out, **kwargs)  # resumes from the checkpoint at step 200
    runs = sorted((ckpt / "wandb").glob("offline-run-*"))
    assert len(runs) == 2 and all(p.name.endswith(run_id) for p in runs)
    acc = EventAccumulator(str(ckpt / "tb"))
    acc.Reload()
    steps = [e.step for e in acc.Scalars("eval/mean")]
    assert steps == [150, 300]  # the resumed session's points once, none doubled


def test_train_track_cli_and_a_missing_wandb_is_refused_in_one_line(preset, offline, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "wandb", None)  # as if wandb were not installed
    args = ["train", "--config", str(preset), "--method", "de_rainbow", "--game", GAME, "--seed", "0",
            "--out", str(tmp_path / "out"), "--track", *[a for o in OVERRIDES for a in ("--set", o)]]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert "needs the wandb package" in err and "\n" not in err
    assert not (tmp_path / "out").exists()


def test_a_run_without_tracking_does_not_import_wandb_or_tensorboard(preset, tmp_path):
    code = (f"import sys; from spirl.rl.train import train; from spirl.config import TrackSettings; "
            f"train({str(preset)!r}, 'de_rainbow', {GAME!r}, 0, {str(tmp_path / 'out')!r}, "
            f"overrides={[*OVERRIDES, 'budget.env_steps=120']!r}, quiet=True, "
            f"track=TrackSettings(tensorboard=False)); "
            f"print(sorted(m for m in ('wandb', 'tensorboard') if m in sys.modules))")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "[]"
    assert not (tmp_path / "out" / ".ckpt" / "tb").exists()
