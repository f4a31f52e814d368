"""spirl.mae.pretrain_state: a corrupt pretraining state is never trusted; the previous epoch is used instead."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from spirl import cli
from spirl.mae.checkpoint import load_mae
from spirl.mae.pretrain import pretrain
from tests.conftest import CORRUPTIONS
from tests.mae.test_pretrain import TINY, TINY_SET, tiny_settings, write_dataset

SETTINGS = tiny_settings(epochs=3, warmup_epochs=0)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """An uninterrupted 3-epoch pretraining, and the states of one stopped after epoch 2 (epochs 1 and 2 kept)."""
    root = tmp_path_factory.mktemp("pretrain_state")
    data = write_dataset(root / "frames.npz", 32)
    pretrain(data, root / "full" / "model.pt", TINY, SETTINGS, seed=0, device="cpu")
    assert pretrain(data, root / "stopped" / "model.pt", TINY, SETTINGS, seed=0, device="cpu",
                    ckpt_dir=root / "states", stop_after_epochs=2) is None
    assert sorted(p.name for p in (root / "states").iterdir()) == ["epoch-0001", "epoch-0002"]
    return {"data": data, "full": root / "full" / "model.pt", "states": root / "states"}


@pytest.mark.parametrize("how", CORRUPTIONS)
def test_a_corrupt_state_resumes_from_the_epoch_before_and_ends_identical(runs, tmp_path, corrupt, how, capsys):
    states = tmp_path / "states"
    shutil.copytree(runs["states"], states)
    corrupt(states / "epoch-0002" / "state.pt", how)
    out = tmp_path / "model.pt"
    capsys.readouterr()
    pretrain(runs["data"], out, TINY, SETTINGS, seed=0, device="cpu", ckpt_dir=states)
    err = capsys.readouterr().err
    assert "epoch-0002/state.pt does not match its sha256" in err and "resuming from epoch-0001" in err
    assert "resuming MsPacman from epoch 1/3" in err  # not a wrong diagnosis such as a NaN loss
    a, _ = load_mae(runs["full"])
    b, _ = load_mae(out)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_no_intact_state_is_refused_with_one_line_and_nothing_written(runs, tmp_path, corrupt, capsys):
    states = tmp_path / "states"
    shutil.copytree(runs["states"], states)
    for name in ("epoch-0001", "epoch-0002"):
        corrupt(states / name / "state.pt", "garbage")
    out = tmp_path / "model.pt"
    args = ["pretrain", "--frames", str(runs["data"]), "--out", str(out), "--ckpt-dir", str(states),
            "--device", "cpu", "--set", "pretrain.epochs=3", "--set", "pretrain.batch_size=16",
            "--set", "pretrain.warmup_epochs=0", "--set", "pretrain.blr=1e-2",
            *(a for pair in TINY_SET for a in ("--set", pair))]
    capsys.readouterr()
    assert cli.main(args) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if "note:" not in line]
    assert len(err) == 1 and f"no intact pretraining state in {states}" in err[0], err
    assert f"delete {states} to start afresh" in err[0]
    assert not out.exists() and not (tmp_path / "pretrain.csv").exists()
