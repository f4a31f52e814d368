"""Training checkpoints on disk: ``results/.ckpt/runs/{method}/{game}/{seed}/step-XXXXXXXXX/``.

A checkpoint is a directory holding the run's state (``state.pt``: networks, optimiser,
generators, environments, stacks, counters, evaluations so far), its replay buffer
(``replay.npz``) and a completion marker (``COMPLETE``). It is written under a temporary name
and renamed when complete, so a half-written one is never loaded; it lives outside the
declared outputs, so Snakemake never deletes it before a rerun.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

STATE_FORMAT = "spirl-train-checkpoint-1"


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


def write_checkpoint(ckpt_dir: Path, step: int, state: dict[str, Any], save_replay: Callable[[Path], None]) -> Path:
    """Write ``ckpt_dir/step-XXXXXXXXX/`` atomically (temp dir + rename) with a completion marker.

    ``save_replay(path)`` writes the replay buffer to ``path``. Only the newest complete
    checkpoint is kept. Returns the checkpoint directory.
    """
    import torch  # here, so that reading the layout (spirl status) does not load torch

    name = f"step-{step:09d}"
    tmp = ckpt_dir / f".tmp-{name}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    save_replay(tmp / "replay.npz")
    torch.save(state, tmp / "state.pt")
    (tmp / "COMPLETE").write_text(f"{step}\n")
    final = ckpt_dir / name
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)
    for old in ckpt_dir.glob("step-*"):  # keep only the newest complete checkpoint
        if old != final:
            shutil.rmtree(old, ignore_errors=True)
    return final


def read_state(path: Path) -> dict[str, Any]:
    """The run state of checkpoint directory ``path``, refusing a file of another format."""
    import torch

    state = torch.load(path / "state.pt", map_location="cpu", weights_only=False)  # our own file
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise CheckpointError(f"{path} is not a training checkpoint of format {STATE_FORMAT}")
    return state


def latest_checkpoint(ckpt_dir: Path) -> Path | None:
    """The newest ``step-*`` directory with its completion marker, or None."""
    done = sorted(p for p in ckpt_dir.glob("step-*") if (p / "COMPLETE").is_file()) if ckpt_dir.is_dir() else []
    return done[-1] if done else None


def remove_unfinished(ckpt_dir: Path) -> None:
    """Delete checkpoints a kill left half-written (``.tmp-step-*``)."""
    for stale in ckpt_dir.glob(".tmp-step-*") if ckpt_dir.is_dir() else []:
        shutil.rmtree(stale, ignore_errors=True)


def remove_checkpoints(ckpt_dir: Path) -> None:
    """Delete every step checkpoint (once the run's outputs are written)."""
    for old in ckpt_dir.glob("step-*"):
        shutil.rmtree(old, ignore_errors=True)
