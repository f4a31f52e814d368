"""Random-policy frame datasets (docs/method.md#step-frames): determinism, first-life trajectories, refusals, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from spirl.atari.envs import make_env
from spirl.atari.frames import DatasetError, collect_frames, default_frames, load_frames, policy_rng, save_frames
from spirl.integrity import IntegrityError
from tests.conftest import CORRUPTIONS

N = 200


@pytest.fixture(scope="module")
def breakout():
    """200 Breakout frames, seed 0 (random play loses a life every few dozen steps)."""
    return collect_frames("Breakout", N, seed=0, show_progress=False)


@pytest.fixture()
def dataset(tmp_path, breakout):
    frames, meta = breakout
    return save_frames(tmp_path / "frames.npz", frames, meta)


def test_collect_is_deterministic_for_a_seed(breakout):
    frames, meta = breakout
    assert frames.shape == (N, 96, 96, 3) and frames.dtype == np.uint8
    again, meta2 = collect_frames("Breakout", N, seed=0, show_progress=False)
    np.testing.assert_array_equal(frames, again)
    assert meta["trajectory_lengths"] == meta2["trajectory_lengths"]
    other, _ = collect_frames("Breakout", N, seed=1, show_progress=False)
    assert not np.array_equal(frames, other)


def test_trajectories_cover_the_first_life_only(breakout):
    """Replay the collection: each trajectory starts at a hard reset (full lives) and ends at the first lost life."""
    frames, meta = breakout
    lengths = meta["trajectory_lengths"]
    assert sum(lengths) == N and len(lengths) == meta["trajectories"] >= 2
    env = make_env("Breakout", "train", seed=0)
    rng = policy_rng(0)
    i = 0
    for t, length in enumerate(lengths):
        first = env.reset()
        full_lives = env.lives
        assert not np.array_equal(first, frames[i])  # the reset frame itself is not stored
        for k in range(length):
            s = env.step(int(rng.integers(env.n_actions)))
            np.testing.assert_array_equal(s.frame, frames[i])
            i += 1
            if k < length - 1:
                assert env.lives == full_lives and not s.terminal
        if t < len(lengths) - 1:  # the last trajectory is cut by the frame budget
            assert s.life_lost and s.terminal and env.lives == full_lives - 1


def test_round_trip_and_metadata(dataset, breakout):
    frames, meta = load_frames(dataset)
    np.testing.assert_array_equal(frames, breakout[0])
    assert meta["game"] == "Breakout" and meta["seed"] == 0 and meta["frames"] == N
    assert meta["protocol"]["frame_size"] == 96 and meta["protocol"]["episodic_life"] is True
    assert "gymnasium" in meta["versions"] and "ale-py" in meta["versions"]


def test_default_sizes_follow_table_6():
    assert default_frames("Frostbite") == 5_000
    assert default_frames("ms_pacman") == 50_000


def test_missing_and_corrupt_files_are_refused(tmp_path, dataset):
    with pytest.raises(DatasetError, match="does not exist"):
        load_frames(tmp_path / "nope.npz")
    data = dataset.read_bytes()
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError, match="truncated or corrupt"):
        load_frames(truncated)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"this is not a zip archive at all" * 10)
    with pytest.raises(DatasetError):
        load_frames(garbage)
    flipped = bytearray(data)
    middle = len(flipped) // 2
    flipped[middle:middle + 64] = bytes(255 - b for b in flipped[middle:middle + 64])
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(bytes(flipped))
    with pytest.raises(DatasetError, match="truncated or corrupt"):
        load_frames(corrupt)
    bare = tmp_path / "bare.npy"
    np.save(bare, np.zeros((2, 96, 96, 3), np.uint8))
    with pytest.raises(DatasetError, match="bare"):
        load_frames(bare)


def _write(path, frames, meta=None, **extra):
    arrays = dict(frames=frames, **extra)
    if meta is not None:
        arrays["meta"] = np.array(json.dumps(meta))
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)
    return path


@pytest.mark.parametrize("frames, meta_frames, message", [
    (np.zeros((4, 84, 84, 3), np.uint8), 4, "expected"),
    (np.zeros((4, 96, 96, 3), np.float32), 4, "uint8"),
    (np.zeros((4, 96, 96), np.uint8), 4, "shape"),
    (np.zeros((4, 96, 96, 3), np.uint8), 5, "metadata says 5"),
])
def test_wrong_shapes_and_counts_are_refused(tmp_path, frames, meta_frames, message):
    path = _write(tmp_path / "bad.npz", frames, {"frames": meta_frames})
    with pytest.raises(DatasetError, match=message):
        load_frames(path)


def test_missing_arrays_are_refused(tmp_path):
    path = _write(tmp_path / "nometa.npz", np.zeros((4, 96, 96, 3), np.uint8))
    with pytest.raises(DatasetError, match="meta"):
        load_frames(path)


def test_save_refuses_to_overwrite_without_force(tmp_path, breakout):
    path = save_frames(tmp_path / "a.npz", *breakout)
    with pytest.raises(FileExistsError):
        save_frames(path, *breakout)
    save_frames(path, *breakout, force=True)


@pytest.mark.parametrize("how", CORRUPTIONS)
def test_a_corrupt_dataset_is_refused_by_its_digest(tmp_path, breakout, corrupt, how):
    path = save_frames(tmp_path / "a.npz", *breakout)
    corrupt(path, how)
    with pytest.raises(IntegrityError, match=r"frame dataset .*a\.npz does not match its sha256"):
        load_frames(path)


def test_a_text_file_renamed_npz_is_not_called_a_pickle(tmp_path):
    path = tmp_path / "frames.npz"
    path.write_text("some notes\n")
    with pytest.raises(DatasetError) as err:
        load_frames(path)
    assert "not a frame dataset" in str(err.value) and "pickle" not in str(err.value)
