"""The resumable state of MAE pretraining: ``<ckpt dir>/state.pt``, written after every epoch.

It holds the weights, the optimiser, the epoch, the sampler's and the masks' generators and the
loss log, plus a *fingerprint* of what a resumed run must share with the interrupted one
(architecture, settings, seed, game, frames). It lives outside the declared outputs and is
removed once ``model.pt`` is written.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spirl.settings import MAEArch, PretrainSettings

STATE_FORMAT = "spirl-pretrain-state/1"
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


def save_state(path: Path, payload: dict[str, Any]) -> None:
    """Write the state atomically, tagged with its format and a completion flag."""
    from spirl.utils import atomic_path

    # The rename makes the file appear only once complete; ``complete`` guards against any other writer.
    with atomic_path(path) as tmp:
        torch.save({**payload, "format": STATE_FORMAT, "complete": True}, tmp)


def load_state(path: Path, fingerprint: str, device: str) -> dict[str, Any] | None:
    """The saved state if it is complete and belongs to this very run, else None (with a note why)."""
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as err:  # an unreadable state is ignored, never half-used
        log(f"ignoring unreadable pretraining state {path} ({err}); starting afresh")
        return None
    if not (isinstance(state, dict) and state.get("format") == STATE_FORMAT and state.get("complete") is True):
        log(f"ignoring incomplete pretraining state {path}; starting afresh")
        return None
    if state.get("fingerprint") != fingerprint:
        log(f"pretraining state {path} belongs to other settings, seed or frames; starting afresh")
        return None
    return state


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
