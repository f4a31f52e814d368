"""The resumable state of MAE pretraining, kept by the one checkpoint store (``spirl.checkpoints``).

After every epoch, ``<ckpt dir>/epoch-XXXX/state.pt`` (kind ``PRETRAINING``) holds the weights, the
optimiser, the epoch, the sampler's and the masks' generators and the loss log, plus what binds it
to its job: the sha256 of the frame dataset (``inputs``) and the settings a resumed run must share
(architecture, pretraining settings, seed, game). A state of other frames or settings is refused
naming both (``--force`` starts over); a damaged one falls back to the epoch before. It lives
outside the declared outputs and is removed once ``model.pt`` is written.
"""

from __future__ import annotations

import csv
import io
import sys
from dataclasses import asdict
from typing import Any

from spirl.config import MAEArch, PretrainSettings

CSV_COLUMNS = ("epoch", "loss", "lr", "wall_time_s", "samples_per_s")


def bound_settings(arch: MAEArch, settings: PretrainSettings, seed: int, game: str) -> dict[str, Any]:
    """What a resumed pretraining must share with the interrupted one besides its frames (device and threads
    may differ)."""
    return {"mae": asdict(arch), "pretrain": asdict(settings), "seed": int(seed), "game": game}


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
