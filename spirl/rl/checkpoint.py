"""Training checkpoints on disk: ``results/.ckpt/runs/{method}/{game}/{seed}/step-XXXXXXXXX/``.

A checkpoint is a directory holding the run's state (``state.pt``: networks, optimiser,
generators, environments, stacks, counters, evaluations so far), its replay buffer
(``replay.npz``) and a ``MANIFEST`` with the sha256 of both (``spirl.integrity``). It is written
under a temporary name, verified on disk after the rename, and the two newest are kept, so a
checkpoint found corrupt on resume is deleted and the run falls back to the previous one (one
line says so). ``state.pt`` holds only tensors and plain values, so it is read with
``weights_only=True``. It lives outside the declared outputs, so Snakemake never deletes it.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from spirl.integrity import (
    MANIFEST,
    complete_checkpoints,
    latest_verified,
    load_torch,
    remove_stale,
    write_checkpoint_dir,
)

STATE_FORMAT = "spirl-train-checkpoint-2"
PREFIX = "step-"
_ARRAY, _SCALAR = "__numpy_array__", "__numpy_scalar__"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message names the file."""


def default_checkpoint_dir(out: str | Path) -> Path:
    """``results/runs/M/G/S`` -> ``results/.ckpt/runs/M/G/S`` (outside the declared outputs); else ``OUT/.ckpt``."""
    parts = Path(out).parts
    for i in range(len(parts) - 1):
        if parts[i] == "results" and parts[i + 1] == "runs":
            return Path(*parts[:i], "results", ".ckpt", "runs", *parts[i + 2:])
    return Path(out) / ".ckpt"


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in d.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def settings_differences(saved: dict[str, Any], current: dict[str, Any],
                         ignore: tuple[str, ...] = ("budget.device",)) -> list[str]:
    """``key: saved vs current`` for every flattened setting that differs (``ignore``d keys skipped)."""
    a, b = _flatten(saved), _flatten(current)
    keys = sorted((a.keys() | b.keys()) - set(ignore))
    return [f"{k}: checkpoint {a.get(k)!r} vs this run {b.get(k)!r}" for k in keys if a.get(k) != b.get(k)]


def _pack(obj: Any) -> Any:
    """Numpy arrays and scalars as tensors and plain values, so ``torch.load(weights_only=True)`` reads them back."""
    import torch  # here, so that reading the layout (spirl status) does not load torch

    if isinstance(obj, np.ndarray):
        return {_ARRAY: torch.from_numpy(np.ascontiguousarray(obj).copy())}
    if isinstance(obj, np.generic):
        return {_SCALAR: obj.dtype.str, "value": obj.item()}
    if isinstance(obj, dict):
        return {k: _pack(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_pack(v) for v in obj)
    return obj


def _unpack(obj: Any) -> Any:
    if isinstance(obj, dict):
        if _ARRAY in obj and len(obj) == 1:
            return obj[_ARRAY].numpy()
        if _SCALAR in obj and len(obj) == 2:
            return np.dtype(obj[_SCALAR]).type(obj["value"])
        return {k: _unpack(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_unpack(v) for v in obj)
    return obj


def write_checkpoint(ckpt_dir: Path, step: int, state: dict[str, Any], save_replay: Callable[[Path], None]) -> Path:
    """Write ``ckpt_dir/step-XXXXXXXXX/`` (``state.pt``, ``replay.npz``, ``MANIFEST``), verified on disk.

    ``save_replay(path)`` writes the replay buffer to ``path``. The two newest checkpoints are kept.
    Returns the checkpoint directory.
    """
    def write(folder: Path) -> None:
        save_replay(folder / "replay.npz")
        import torch

        torch.save(_pack(state), folder / "state.pt")

    return write_checkpoint_dir(ckpt_dir, f"{PREFIX}{step:09d}", write, keep=2, prefix=PREFIX)


def read_state(path: Path) -> dict[str, Any]:
    """The run state of a verified checkpoint directory ``path`` (tensors and plain values only).

    Raises:
        CheckpointError: the file is not a training checkpoint of this format.
    """
    file = path / "state.pt"
    # the manifest was verified by latest_checkpoint; the sha256 covers state.pt and replay.npz together
    state = load_torch(file, what="training checkpoint", verify=False, error=CheckpointError,
                       remedy=f"delete {path.parent} to start the run afresh")
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(f"{file} is a checkpoint of format {found!r}, not {STATE_FORMAT!r}; delete "
                              f"{path.parent} to start the run afresh")
    return _unpack(state)


def _note(msg: str) -> None:
    print(f"spirl train: {msg}", file=sys.stderr, flush=True)


def latest_checkpoint(ckpt_dir: Path, log: Callable[[str], None] = _note) -> Path | None:
    """The newest checkpoint whose files match their manifest, or None when there is none.

    A corrupt one is deleted and the previous one used, with one line through ``log``.

    Raises:
        spirl.integrity.IntegrityError: checkpoints exist but none is intact (the line names the remedy).
    """
    return latest_verified(ckpt_dir, PREFIX, what="training checkpoint", log=log)


def remove_unfinished(ckpt_dir: Path) -> None:
    """Delete what a kill left half-written: ``.tmp-step-*`` directories and ``*.tmp`` files."""
    remove_stale(ckpt_dir)


def remove_checkpoints(ckpt_dir: Path) -> None:
    """Delete every step checkpoint (once the run's outputs are written)."""
    for old in ckpt_dir.glob(f"{PREFIX}*"):
        shutil.rmtree(old, ignore_errors=True)


def newest_written(ckpt_dir: Path) -> tuple[Path, int, float] | None:
    """The newest checkpoint that has its manifest: ``(directory, env step, time written)``, else None.

    Not verified, and nothing is deleted: for reading a run's progress (``spirl status``) cheaply
    while the run goes on. A run resuming uses :func:`latest_checkpoint`, which verifies.
    """
    for path in complete_checkpoints(ckpt_dir, PREFIX):
        try:
            return path, int(path.name[len(PREFIX):]), (path / MANIFEST).stat().st_mtime
        except (OSError, ValueError):  # replaced by the next checkpoint while we looked
            continue
    return None
