"""spirl.rl.checkpoint: where checkpoints live and how their settings are compared."""

from __future__ import annotations

from pathlib import Path

from spirl.rl.checkpoint import default_checkpoint_dir, settings_differences


def test_checkpoint_dir_and_settings_differences():
    assert default_checkpoint_dir("results/runs/spirl/MsPacman/3") == Path("results/.ckpt/runs/spirl/MsPacman/3")
    assert default_checkpoint_dir("/x/results/runs/m/G/0") == Path("/x/results/.ckpt/runs/m/G/0")
    assert default_checkpoint_dir("elsewhere/run") == Path("elsewhere/run/.ckpt")
    saved = {"learner": {"lr": 1e-4, "n_step": 20}, "budget": {"device": "cpu"}}
    now = {"learner": {"lr": 1e-4, "n_step": 10}, "budget": {"device": "cuda"}}
    assert settings_differences(saved, now) == ["learner.n_step: checkpoint 20 vs this run 10"]
