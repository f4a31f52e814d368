"""``spirl bench alloc``: batch-1 error maps with the allocator setting (``spirl.alloc``) vs glibc's defaults.

Each side runs in its own process (the thresholds are per process): the paper MAE (random weights: the cost
does not depend on them), ``--warm`` frames first, then ``--frames`` timed frames, one at a time, as a run's
training steps compute them; it reports milliseconds and minor page faults (``resource.getrusage``) per
timed frame, and the setting's speed-up (the ratio).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from spirl.bench import Options, emit


def child(warm: int, frames: int) -> None:
    """In a fresh process: configure the allocator (unless ``SPIRL_MALLOC=default``), time batch-1 error maps
    and print one JSON line ``{"configured", "ms_per_frame", "faults_per_frame"}``."""
    import resource
    import time

    import numpy as np
    import torch

    from spirl import alloc

    configured = alloc.configure()
    torch.set_num_threads(1)
    from spirl.config import MAEArch
    from spirl.mae.model import MAE
    from spirl.saliency.error_map import error_map
    from spirl.saliency.patches import frames_to_images

    torch.manual_seed(0)
    mae = MAE(MAEArch()).eval().requires_grad_(False)
    data = np.random.default_rng(0).integers(0, 256, (warm + frames, 96, 96, 3), dtype=np.uint8)
    for i in range(warm):
        error_map(mae, frames_to_images(data[i:i + 1], "cpu"))
    faults, t0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.perf_counter()
    for i in range(warm, warm + frames):
        error_map(mae, frames_to_images(data[i:i + 1], "cpu"))
    seconds = time.perf_counter() - t0
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    print(json.dumps({"configured": configured, "ms_per_frame": 1e3 * seconds / frames,
                      "faults_per_frame": faults / frames}))


def measure(setting: str | None, warm: int = 3, frames: int = 20) -> dict[str, Any]:
    """:func:`child`'s figures in a new process: ``setting`` None (the shipped setting) or ``"default"`` (glibc's)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "SPIRL_MALLOC"}
    env["OMP_NUM_THREADS"] = "1"
    if setting is not None:
        env["SPIRL_MALLOC"] = setting
    code = f"from spirl.bench.alloc import child; child({int(warm)}, {int(frames)})"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=3600)
    if out.returncode != 0:
        raise RuntimeError(f"the benchmark's child process failed: {out.stderr.strip().splitlines()[-1:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(args: Options) -> int:
    """Measure both sides and print them; the last line is the ratio (glibc's defaults / the setting)."""
    shipped, plain = measure(None, args.warm, args.frames), measure("default", args.warm, args.frames)
    for label, r in (("spirl.alloc setting", shipped), ("glibc's defaults", plain)):
        print(f"  {label}: {r['ms_per_frame']:.1f} ms and {r['faults_per_frame']:,.0f} minor page faults per "
              f"batch-1 error map (paper MAE, 1 thread, {args.frames} frames after {args.warm})")
    ratio = plain["ms_per_frame"] / shipped["ms_per_frame"]
    print(f"ratio shipped/straightforward: {ratio:.2f}x (glibc's defaults over the setting, per frame)")
    emit(args, {"shipped": shipped, "default": plain}, ratio=ratio, device="cpu")
    return 0
