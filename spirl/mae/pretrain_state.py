"""The resumable state of MAE pretraining: ``<ckpt dir>/epoch-XXXX/state.pt``, written after every epoch.

It holds the weights, the optimiser, the epoch, the sampler's and the masks' generators and the
loss log, plus a *fingerprint* of what a resumed run must share with the interrupted one
(architecture, settings, seed, game, frames). Each epoch's state is a checkpoint directory with
a sha256 ``MANIFEST`` (``spirl.integrity``), verified before it is read; the two newest are kept,
so a corrupt one is deleted and the previous epoch resumed instead. It lives outside the declared
outputs and is removed once ``model.pt`` is written.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spirl.config import MAEArch, PretrainSettings
from spirl.integrity import IntegrityError, latest_verified, load_torch, remove_stale, write_checkpoint_dir

STATE_FORMAT = "spirl-pretrain-state/1"
PREFIX = "epoch-"
CSV_COLUMNS = ("epoch", "loss", "lr", "wall_time_s", "samples_per_s")


def default_ckpt_dir(out_path: str | os.PathLike[str]) -> Path:
    """``<out dir>/.ckpt/<out stem>``: beside the output but not a declared output."""
    out = Path(out_path)
    return out.parent / ".ckpt" / out.stem


def fingerprint(arch: MAEArch, settings: PretrainSettings, seed: int, game: str, frames: np.ndarray,
                 meta: dict[str, Any]) -> str:
    """What a resumed run must share with the interrupted one (device and threads may differ)."""
    sample = np.ascontiguousarray(frames[:: max(1, len(frames) // 64)])  # a cheap content check
    doc = {"arch": asdict(arch), "pretrain": asdict(settings), "seed": seed, "game": game,
           "frames_shape": list(frames.shape), "frames_sample_sha256": hashlib.sha256(sample.tobytes()).hexdigest(),
           "frames_meta": meta}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def save_state(root: Path, epoch: int, payload: dict[str, Any]) -> Path:
    """Write the state after ``epoch`` as ``root/epoch-XXXX/`` (verified on disk; the two newest kept)."""
    body = {**payload, "format": STATE_FORMAT, "complete": True}
    return write_checkpoint_dir(root, f"{PREFIX}{epoch:04d}", lambda d: torch.save(body, d / "state.pt"),
                                keep=2, prefix=PREFIX)


def load_state(root: Path, fingerprint: str, device: str) -> dict[str, Any] | None:
    """The newest intact saved state if it belongs to this very run, else None (with a note why).

    A corrupt state is deleted and the one before it used (one line says so); states of other
    settings, seed or frames are deleted and the run starts afresh.

    Raises:
        spirl.integrity.IntegrityError: states exist but none is intact; the line names the remedy.
    """
    remove_stale(root)  # what a kill left: .tmp-epoch-* directories, *.tmp files
    path = latest_verified(root, PREFIX, what="pretraining state", log=log)
    if path is None:
        return None
    state = load_torch(path / "state.pt", what="pretraining state", verify=False, map_location=device,
                       remedy=f"delete {root} to start the pretraining afresh")
    if not (isinstance(state, dict) and state.get("format") == STATE_FORMAT and state.get("complete") is True):
        raise IntegrityError(f"{path / 'state.pt'} is not a pretraining state of format {STATE_FORMAT}; "
                             f"delete {root} to start the pretraining afresh")
    if state.get("fingerprint") != fingerprint:
        log(f"pretraining state {path} belongs to other settings, seed or frames; deleted it, starting afresh")
        remove_states(root)
        return None
    return state


def remove_states(root: Path) -> None:
    """Delete every saved epoch (and a state of the older single-file layout) under ``root``."""
    for old in root.glob(f"{PREFIX}*"):
        shutil.rmtree(old, ignore_errors=True)
    (root / "state.pt").unlink(missing_ok=True)


def log(msg: str) -> None:
    """One line of pretraining progress on stderr."""
    print(f"spirl pretrain: {msg}", file=sys.stderr, flush=True)


def csv_text(rows: list[dict[str, float]]) -> str:
    """``pretrain.csv``: one row per epoch (``CSV_COLUMNS``)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        writer.writerow([r["epoch"], f"{r['loss']:.6f}", f"{r['lr']:.6g}", f"{r['wall_time_s']:.3f}",
                         f"{r['samples_per_s']:.2f}"])
    return buf.getvalue()
