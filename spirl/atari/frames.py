"""Random-policy frame datasets for MAE pretraining (docs/method.md#step-frames) and ``spirl collect``.

Collection follows the released code: the train-mode environment of
``spirl.atari.envs`` (96x96 RGB, action repeat 4 with max-pool, 1-30 no-ops, FIRE on
reset, episodic life, cap 27,000 steps); a uniform random policy over the minimal
action set; a trajectory ends at its first ``terminal`` (the first lost life, game
over or the cap), and the next one starts with a hard game reset, so **every
trajectory covers only the first life** of a game. The frame returned by ``reset()``
is not stored; every post-step frame is. Defaults: the game's ``pretrain_frames``
(5,000 for Frostbite, 50,000 for the others; appendix Table 6).

Two differences from the released loop, neither changing what is collected: its
random actions come from Python's unseeded ``random`` module (here a numpy
Generator seeded from ``--seed``, so a seed fixes the dataset), and it takes one
discarded NOOP step before the first trajectory (here omitted; it only advanced the
no-op RNG).

On disk (``.npz``, deflate-compressed): ``frames`` uint8 ``(N, 96, 96, 3)``, one row
per frame in collection order, and ``meta``, a JSON string with the game, seed,
frame count, trajectory lengths, protocol settings and package versions.
"""

from __future__ import annotations

import json
import time
import zipfile
import zlib
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from spirl.atari import games
from spirl.atari.envs import make_env
from spirl.config import ProtocolSettings
from spirl.integrity import note_unverified, verify_file, write_with_digest
from spirl.utils import progress, versions

FRAME_SHAPE = (96, 96, 3)  # the MAE's input: 96x96 RGB
FORMAT_VERSION = 1
_POLICY_STREAM = 0x5EED  # separates the policy's random stream from the environment's


class DatasetError(ValueError):
    """A frame dataset that is missing, truncated, corrupt or of the wrong shape."""


def default_frames(game: str) -> int:
    """The paper's pre-training set size for ``game`` (appendix Table 6)."""
    return games.get(game).pretrain_frames


def policy_rng(seed: int) -> np.random.Generator:
    """The uniform random policy's generator for a collection seed (independent of the env's own streams)."""
    return np.random.default_rng([seed, _POLICY_STREAM])


def collect_frames(game: str, frames: int | None = None, seed: int = 0,
                   protocol: ProtocolSettings | None = None, show_progress: bool = True) -> tuple[np.ndarray, dict]:
    """Collect ``frames`` first-life random-policy frames of ``game``.

    Returns:
        frames: uint8 ``(N, H, W, 3)``, N = ``frames`` (default: the game's ``pretrain_frames``).
        meta: a JSON-serialisable dict (game, seed, frames, trajectory_lengths, protocol, versions, ...).
    """
    game = games.canonical(game)
    n = default_frames(game) if frames is None else int(frames)
    if n < 1:
        raise ValueError(f"--n-frames must be >= 1, got {n}")
    if seed < 0:
        raise ValueError(f"--seed must be >= 0, got {seed}")
    protocol = ProtocolSettings() if protocol is None else protocol
    if protocol.grayscale:
        raise ValueError("frame datasets hold RGB frames for the MAE; collect with grayscale=False")
    env = make_env(game, "train", seed=seed, protocol=protocol)
    rng = policy_rng(seed)
    out = np.empty((n, *env.frame_shape), np.uint8)  # (N, H, W, 3)
    lengths: list[int] = []
    filled = 0
    start = time.perf_counter()
    bar = progress(total=n, desc=f"collect {game}", unit="frame") if show_progress else None
    try:
        while filled < n:
            env.reset()  # a hard game reset: the reset frame itself is not stored
            length = 0
            while filled < n:
                step = env.step(int(rng.integers(env.n_actions)))
                out[filled] = step.frame
                filled += 1
                length += 1
                if step.terminal:  # the first lost life (train mode), game over or the cap
                    break
            lengths.append(length)
            if bar is not None:
                bar.update(length)
    finally:
        if bar is not None:
            bar.close()
    meta = {
        "format_version": FORMAT_VERSION,
        "kind": "spirl random-policy frames",
        "game": game,
        "seed": int(seed),
        "frames": n,
        "frame_shape": list(env.frame_shape),
        "policy": "uniform random over the minimal action set",
        "trajectories": len(lengths),
        "trajectory_lengths": lengths,  # the last one may be cut by the frame budget
        "first_life_only": env.episodic_life,
        "protocol": asdict(protocol),
        "versions": versions(),
        "collect_seconds": round(time.perf_counter() - start, 3),
    }
    return out, meta


def save_frames(path: str | Path, frames: np.ndarray, meta: dict[str, Any], *, force: bool = False) -> Path:
    """Write a frame dataset atomically, its sha256 in ``<path>.sha256``; refuse to replace a file unless ``force``."""
    path = Path(path)
    if path.exists() and not force:
        raise FileExistsError(f"{path} already exists; pass --force to overwrite it")
    if path.is_dir():
        raise ValueError(f"{path} is a directory, not a dataset file")
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:  # a file handle, because np.savez* appends ".npz" to a name that lacks it
            np.savez_compressed(fh, frames=frames, meta=np.array(json.dumps(meta)))

    write_with_digest(path, write)  # and its sha256 in <path>.sha256 (spirl.integrity)
    return path


def load_frames(path: str | Path, frame_shape: tuple[int, ...] | None = FRAME_SHAPE) -> tuple[np.ndarray, dict]:
    """Load and check a frame dataset.

    Returns:
        frames: uint8 ``(N, 96, 96, 3)`` (``frame_shape`` per row; None accepts any ``(H, W, 3)``).
        meta: the dict written by ``spirl collect``.

    Raises:
        DatasetError: missing, not an ``.npz``, truncated or corrupt, missing arrays, wrong
            dtype or shape, or a frame count that disagrees with its metadata.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"frame dataset {path} does not exist (run 'spirl collect' first)")
    verified = verify_file(path, what="frame dataset")  # against <path>.sha256 when spirl collect wrote it
    with open(path, "rb") as fh:
        magic = fh.read(6)
    if not magic.startswith((b"PK\x03\x04", b"PK\x05\x06", b"\x93NUMPY")):
        what = "empty" if not magic else "neither a zip archive nor a numpy file"
        raise DatasetError(f"{path} is not a frame dataset (.npz from 'spirl collect'): the file is {what}")
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise DatasetError(f"{path} is a bare .npy array, not a frame dataset (.npz with frames and meta)")
        with archive:
            missing = sorted({"frames", "meta"} - set(archive.files))
            if missing:
                raise DatasetError(f"{path} lacks the array(s) {', '.join(missing)}; it is not a spirl frame dataset")
            frames = archive["frames"]
            meta_text = archive["meta"]
    except DatasetError:
        raise
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, KeyError) as err:
        raise DatasetError(f"{path} is not a readable .npz frame dataset (truncated or corrupt?): {err}") from err
    try:
        meta = json.loads(str(meta_text[()]))
    except (ValueError, IndexError) as err:
        raise DatasetError(f"{path} has unreadable metadata: {err}") from err
    if not isinstance(meta, dict):
        raise DatasetError(f"{path} has metadata that is not a JSON object")
    if frames.dtype != np.uint8:
        raise DatasetError(f"{path}: frames must be uint8, got {frames.dtype}")
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] < 1:
        raise DatasetError(f"{path}: frames must have shape (N >= 1, H, W, 3), got {frames.shape}")
    if frame_shape is not None and tuple(frames.shape[1:]) != tuple(frame_shape):
        raise DatasetError(f"{path}: frames are {tuple(frames.shape[1:])}, expected {tuple(frame_shape)} per frame")
    if meta.get("frames") != frames.shape[0]:
        raise DatasetError(f"{path}: metadata says {meta.get('frames')} frames but the array holds {frames.shape[0]}")
    if not verified:
        note_unverified(path, what="frame dataset")
    return frames, meta


