"""Everything the GPU check needs, prepared here into one folder (docs/costs.md#gpu): ``scripts/gpu_prepare.sh``.

The GPU machine has Python 3.12 and its own torch, no network, and a few minutes; so what can be
made here is made here, once, into ``.gpu/`` (git-ignored; carried to the machine):

- ``frames.npz``: real random-policy Frostbite frames (``spirl.atari.frames``), the pretraining set
  of the MAE below and the frames of the agreement;
- ``mae/model.pt``: a paper-size MAE for Frostbite. ``--mae`` copies a pretrained one; otherwise it is
  pretrained here, briefly, on the CPU (``EPOCHS`` epochs on those frames): the agreement figures
  then refer to that MAE, not to one trained on the paper's schedule (the manifest says which);
- ``reference.pt``: the CPU float32 error map of ``REFERENCE_FRAMES`` of those frames, with their K
  (under the game's cap and uncapped) and selected patches, so that the GPU only compares;
- ``whl/``: the wheels the machine lacks (``scripts/gpu_wheels.sh``), unless ``--no-wheels``;
- ``manifest.json``: the sha256 of every file (the check refuses a folder that does not match), the
  sizes and how the MAE was made.

``--tiny`` makes the CPU rehearsal's folder in seconds (a small MAE, few frames, no wheels). The command
line is ``scripts/gpu_prepare.py`` (run by ``scripts/gpu_prepare.sh``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np

from spirl.integrity import sha256_file

GAME = "Frostbite"
ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DIR = ROOT / ".gpu"
MANIFEST = "manifest.json"
FORMAT = "spirl-gpu-check-inputs/1"
# full (the GPU check) vs tiny (its CPU rehearsal)
FRAMES = {"full": 2000, "tiny": 48}
EPOCHS = {"full": 3, "tiny": 1}
REFERENCE_FRAMES = {"full": 128, "tiny": 6}
TINY_MAE = {"embed_dim": 16, "depth": 1, "num_heads": 2, "decoder_embed_dim": 16, "decoder_depth": 1,
            "decoder_num_heads": 2}
TINY_PRETRAIN = {"batch_size": 16, "epochs": 1, "warmup_epochs": 0}
# The tiny agent and MAE as --set overrides: the device check's rehearsal and `spirl bench waits --tiny`
TINY_OVERRIDES = ["agent.hidden_size=32", "agent.proj_dim=8", "agent.attention_heads=2", "agent.attention_mlp=16",
                  *(f"mae.{k}={v}" for k, v in TINY_MAE.items())]


def reference(mae_path: Path, frames: np.ndarray, n: int) -> dict[str, Any]:
    """The CPU float32 error map of ``n`` evenly spaced ``frames``: errors ``(n, P)``, K and selections.

    K and the selected patches under the game's cap (``index`` ``(n, k_max)``, -1 padded) and uncapped.
    """
    import torch

    from spirl.atari import games
    from spirl.saliency.error_map import error_map
    from spirl.saliency.patches import NUM_PATCHES, frames_to_images, load_checked_mae
    from spirl.saliency.select import dynamic_k, salient_index

    mae, _ = load_checked_mae(mae_path, game=GAME, device="cpu")
    pick = np.linspace(0, len(frames) - 1, n).round().astype(np.int64)
    errors = torch.cat([error_map(mae, frames_to_images(frames[pick[s:s + 16]])) for s in range(0, n, 16)])
    k_max = games.k_max(games.get(GAME).max_ratio)
    k, k_all = dynamic_k(errors, k_max), dynamic_k(errors, NUM_PATCHES)
    return {"frame_index": torch.from_numpy(pick), "errors": errors, "k_max": k_max, "k": k,
            "index": salient_index(errors, k, k_max), "k_uncapped": k_all}


def prepare(out: Path, *, tiny: bool = False, mae: Path | None = None, wheels: bool = True,
            threads: int | None = None, log: Any = print) -> dict[str, Any]:
    """Fill ``out`` (see the module docstring) and return its manifest."""
    import torch

    from spirl.atari.frames import collect_frames, load_frames, save_frames
    from spirl.config import MAEArch, PretrainSettings
    from spirl.mae.pretrain import pretrain
    from spirl.utils import git_commit, set_threads

    size = "tiny" if tiny else "full"
    set_threads(threads)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    frames_path = out / "frames.npz"
    if not frames_path.is_file():
        frames, meta = collect_frames(GAME, frames=FRAMES[size], seed=0, show_progress=False)
        save_frames(frames_path, frames, meta)
    frames, _ = load_frames(frames_path)
    log(f"frames: {len(frames)} Frostbite frames ({time.perf_counter() - t0:.0f} s)")
    mae_path = out / "mae" / "model.pt"
    if mae is not None:
        mae_path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(mae, mae_path)
        made = f"copied from {mae}"
    else:
        arch = MAEArch(**TINY_MAE) if tiny else MAEArch()
        settings = PretrainSettings(**TINY_PRETRAIN) if tiny else PretrainSettings(epochs=EPOCHS[size],
                                                                                    warmup_epochs=1)
        if not mae_path.is_file():
            pretrain(frames_path, mae_path, arch, settings, seed=0, device="cpu", threads=threads)
        made = (f"pretrained here on the CPU, briefly: {settings.epochs} epoch(s) on {len(frames)} frames "
                f"({'tiny' if tiny else 'paper'} architecture; the paper's schedule is 50 epochs)")
    log(f"MAE: {made} ({time.perf_counter() - t0:.0f} s)")
    ref_path = out / "reference.pt"
    torch.save(reference(mae_path, frames, REFERENCE_FRAMES[size]), ref_path)
    log(f"reference: CPU float32 error maps of {REFERENCE_FRAMES[size]} frames ({time.perf_counter() - t0:.0f} s)")
    if wheels:
        subprocess.run(["bash", str(ROOT / "scripts" / "gpu_wheels.sh"), str(out / "whl")], check=True)
    files = sorted(p for p in out.rglob("*") if p.is_file() and p.name != MANIFEST)
    manifest = {"format": FORMAT, "size": size, "game": GAME, "mae": made, "frames": len(frames),
                "reference_frames": REFERENCE_FRAMES[size], "git_commit": git_commit(),
                "made": time.strftime("%Y-%m-%d %H:%M:%S"), "torch": torch.__version__,
                "files": {str(p.relative_to(out)): {"sha256": sha256_file(p), "bytes": p.stat().st_size}
                          for p in files}}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
    log(f"prepared {out} ({sum(f['bytes'] for f in manifest['files'].values()) / 2**20:.1f} MiB, "
        f"{time.perf_counter() - t0:.0f} s)")
    return manifest


def verify(folder: Path) -> dict[str, Any]:
    """The manifest of a prepared folder whose files all match their sha256.

    Raises:
        ValueError: no manifest, a missing file or a changed one (one line naming it and the remedy).
    """
    path = folder / MANIFEST
    if not path.is_file():
        raise ValueError(f"{folder} holds no {MANIFEST}; prepare it with scripts/gpu_prepare.sh")
    manifest = json.loads(path.read_text())
    for name, want in manifest["files"].items():
        f = folder / name
        if not f.is_file() or sha256_file(f) != want["sha256"]:
            raise ValueError(f"{f} is missing or differs from {path}; prepare the folder again "
                             "(scripts/gpu_prepare.sh)")
    return manifest
