"""spirl.checkpoints: one store for training and pretraining, its fall-back rule and its input binding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spirl.checkpoints import (
    PRETRAINING,
    TRAINING,
    CheckpointMismatchError,
    CheckpointStore,
    NoIntactCheckpointError,
    default_checkpoint_dir,
    input_differences,
    settings_differences,
)
from spirl.integrity import MANIFEST
from tests.conftest import CORRUPTIONS


def test_checkpoint_dirs_and_settings_differences():
    assert default_checkpoint_dir("results/runs/spirl/MsPacman/3") == Path("results/.ckpt/runs/spirl/MsPacman/3")
    assert default_checkpoint_dir("/x/results/runs/m/G/0") == Path("/x/results/.ckpt/runs/m/G/0")
    assert default_checkpoint_dir("elsewhere/run") == Path("elsewhere/run/.ckpt")
    model = "results/mae/paper/G/model.pt"
    assert default_checkpoint_dir(model, PRETRAINING) == Path("results/mae/paper/G/.ckpt/model")
    saved = {"learner": {"lr": 1e-4, "n_step": 20}, "budget": {"device": "cpu"}}
    now = {"learner": {"lr": 1e-4, "n_step": 10}, "budget": {"device": "cuda"}}
    assert settings_differences(saved, now) == ["learner.n_step: checkpoint 20 vs this run 10"]
    assert input_differences({"MAE": "a" * 64}, {"MAE": "b" * 64}) == [
        f"MAE sha256 {'a' * 64} in the checkpoint, {'b' * 64} given"]


def _extra(folder: Path) -> None:
    np.savez(folder / "replay.npz", priorities=np.arange(4.0))


def _store(root: Path, steps: list[int]) -> CheckpointStore:
    store = CheckpointStore(root, TRAINING, log=lambda _: None)
    for s in steps:
        store.save(s, {"step": s, "stack": np.full(3, s, np.uint8), "inputs": {"MAE": "a" * 64}}, _extra)
    return store


def test_a_state_round_trips_with_its_numpy_arrays_and_format(tmp_path):
    store = _store(tmp_path, [100])
    seen: list[dict] = []
    assert store.resume(lambda path, state: seen.append(state)) == tmp_path / "step-000000100"
    assert seen[0]["step"] == 100 and seen[0]["stack"].dtype == np.uint8 and seen[0]["format"] == TRAINING.format
    assert store.newest_written()[:2] == (tmp_path / "step-000000100", 100)


@pytest.mark.parametrize("how", CORRUPTIONS)
def test_a_corrupt_checkpoint_falls_back_to_the_previous_one(tmp_path, corrupt, how):
    lines: list[str] = []
    store = _store(tmp_path, [100, 200])
    store.log = lines.append
    corrupt(tmp_path / "step-000000200" / "state.pt", how)
    assert store.resume(lambda path, state: None) == tmp_path / "step-000000100"
    assert len(lines) == 1 and "step-000000200 is unusable" in lines[0] and "resuming from step-000000100" in lines[0]
    assert not (tmp_path / "step-000000200").exists()  # deleted once the fall-back restored


def test_any_failure_to_restore_falls_back_as_a_digest_mismatch_does(tmp_path):
    lines: list[str] = []
    store = _store(tmp_path, [100, 200])
    store.log = lines.append

    def restore(path: Path, state: dict) -> None:
        if state["step"] == 200:  # intact on disk, but it cannot be used (as a replay with NaN priorities)
            raise ValueError("replay priorities contain NaN or inf")
    assert store.resume(restore) == tmp_path / "step-000000100"
    assert "ValueError: replay priorities contain NaN or inf; deleted it, resuming from step-000000100" in lines[0]


def test_a_manifest_that_lists_too_little_is_passed_over(tmp_path):
    store = _store(tmp_path, [100, 200])
    manifest = tmp_path / "step-000000200" / MANIFEST
    manifest.write_text(manifest.read_text().splitlines()[0] + "\n")  # cut short: lists replay.npz only
    assert store.resume(lambda path, state: None) == tmp_path / "step-000000100"


def test_no_intact_checkpoint_is_refused_and_left_alone(tmp_path, corrupt):
    store = _store(tmp_path, [100, 200])
    for step in (100, 200):
        corrupt(tmp_path / f"step-000000{step}" / "state.pt", "truncate")
    with pytest.raises(NoIntactCheckpointError, match=rf"no intact training checkpoint in {tmp_path}: .*delete "
                                                      rf"{tmp_path} to start afresh"):
        store.resume(lambda path, state: None)
    assert len(list(tmp_path.glob("step-*"))) == 2
    assert CheckpointStore(tmp_path / "none", TRAINING).resume(lambda path, state: None) is None


def test_a_checkpoint_of_other_inputs_is_refused_never_passed_over_and_force_starts_over(tmp_path):
    store = _store(tmp_path, [100, 200])

    def restore(path: Path, state: dict) -> None:
        diffs = input_differences(state["inputs"], {"MAE": "b" * 64})
        if diffs:
            raise CheckpointMismatchError(f"checkpoint {path} was made with other inputs ({'; '.join(diffs)})")

    with pytest.raises(CheckpointMismatchError, match=f"MAE sha256 {'a' * 64} in the checkpoint, {'b' * 64} given"):
        store.resume(restore)
    assert len(list(tmp_path.glob("step-*"))) == 2  # a refusal removes nothing
    assert store.resume(restore, force=True) is None and not list(tmp_path.glob("step-*"))


def test_pretraining_states_use_the_same_store(tmp_path):
    store = CheckpointStore(tmp_path, PRETRAINING, log=lambda _: None)
    store.save(3, {"epoch": 3})
    assert sorted(p.name for p in (tmp_path / "epoch-0003").iterdir()) == [MANIFEST, "state.pt"]
    assert store.resume(lambda path, state: None) == tmp_path / "epoch-0003"
    assert [p.name for p in store.remove_all()] == ["epoch-0003"] and store.newest_written() is None
