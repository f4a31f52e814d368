"""``spirl bench saliency``: error-map frames/s, shipped path vs the straightforward computation.

Both paths run in this process on the same real ALE frames (random-policy frames collected
with ``spirl.atari.frames.collect_frames``, or a dataset given with ``--frames``) at batch 1 and batch 50.
Before any figure is trusted the two must agree: error maps within 1e-4, and identical K and
selected patch sets under the game's cap and uncapped (the ascending-error row order may flip
where two errors are within float rounding of each other; that is reported, not hidden). The
MAE is randomly initialised (seeded): the cost does not depend on the weights, and equality is
checked on whatever weights are used.
The last line printed is the ratio shipped/straightforward (the smaller of the two batch sizes).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch

from spirl.atari import games
from spirl.saliency.error_map import error_map, error_map_reference
from spirl.saliency.patches import NUM_PATCHES, frames_to_images
from spirl.saliency.select import dynamic_k, salient_index
from spirl.utils import set_threads

TOLERANCE = 1e-4  # largest allowed |shipped - straightforward| of an error-map entry


def benchmark_frames(n: int, game: str = "MsPacman", seed: int = 0) -> np.ndarray:
    """``n`` real random-policy frames of ``game``: uint8 ``(n, 96, 96, 3)``.

    Every 3rd frame of a longer collection is kept, so that consecutive benchmark frames differ.
    """
    from spirl.atari.frames import collect_frames

    frames, _ = collect_frames(game, frames=3 * n, seed=seed, show_progress=False)
    return frames[::3][:n]


def _race(paths: dict[str, Callable[[torch.Tensor], torch.Tensor]], imgs: torch.Tensor, batch: int,
          repeats: int) -> dict[str, tuple[float, float, torch.Tensor]]:
    """Frames/s of every path over ``imgs`` in batches of ``batch``: wall clock, CPU time, and its output ``(N, P)``.

    The paths take turns on every batch, so that a load change on a shared machine hits them
    alike; each path's figure is its best total over ``repeats`` passes. The CPU-time figure
    (this process's CPU seconds) is the steadier one when other jobs share the cores.
    """
    wall = {name: [0.0] * repeats for name in paths}
    cpu = {name: [0.0] * repeats for name in paths}
    outs: dict[str, list[torch.Tensor]] = {name: [] for name in paths}
    for r in range(repeats):
        for s in range(0, len(imgs), batch):
            for name, fn in paths.items():
                w0, c0 = time.perf_counter(), time.process_time()
                out = fn(imgs[s:s + batch])
                wall[name][r] += time.perf_counter() - w0
                cpu[name][r] += time.process_time() - c0
                if r == 0:
                    outs[name].append(out)
    return {name: (len(imgs) / min(wall[name]), len(imgs) / min(cpu[name]), torch.cat(outs[name])) for name in paths}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``spirl bench saliency``."""
    parser.add_argument("--quick", action="store_true", help="seconds-long smoke run (batch 1 and 4, few frames)")
    parser.add_argument("--frames", default=None, help="frame dataset (.npz) to take the frames from; "
                                                       "default: collect random-policy frames of --game")
    parser.add_argument("--game", default="MsPacman", help="game whose frames are collected and whose cap is used")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the MAE initialisation and the collection")


def run(args: argparse.Namespace) -> int:
    """Run the benchmark; returns 1 if the two paths disagree."""
    threads = set_threads(args.threads)
    game = games.get(args.game)
    batches = (1, 4) if args.quick else (1, 50)
    n_single = 2 if args.quick else 10  # frames timed one at a time
    n_frames = max(batches[1], n_single)
    if args.frames:
        from spirl.atari.frames import load_frames

        frames, meta = load_frames(args.frames)
        source = f"{args.frames} ({meta.get('game', '?')})"
        if len(frames) < n_frames:
            raise ValueError(f"{args.frames} holds {len(frames)} frames; the benchmark needs {n_frames}")
        frames = frames[:n_frames]
    else:
        frames = benchmark_frames(n_frames, game.id, args.seed)
        source = f"{n_frames} random-policy {game.id} frames (spirl.atari.frames.collect_frames, seed {args.seed})"
    from spirl.mae.model import MAE

    torch.manual_seed(args.seed)
    mae = MAE().eval().requires_grad_(False)
    imgs = frames_to_images(frames)
    print(f"frames: {source}; MAE: randomly initialised paper architecture (seed {args.seed}); "
          f"CPU, {threads} thread(s)")
    error_map(mae, imgs[:1])  # builds the per-model cache, as a long-running extractor would once

    rows, ok = [], True
    for batch in batches:
        subset = imgs[:n_single] if batch == 1 else imgs[:batch]
        repeats = 1 if args.quick else 2
        paths = {"shipped": lambda x: error_map(mae, x), "straightforward": lambda x: error_map_reference(mae, x)}
        raced = _race(paths, subset, batch, repeats)
        (fast, fast_cpu, e_fast), (ref, ref_cpu, e_ref) = raced["shipped"], raced["straightforward"]
        diff = (e_fast - e_ref).abs().max().item()
        same, reordered = diff <= TOLERANCE, 0
        for k_max in (games.k_max(game.max_ratio or 1.0), NUM_PATCHES):
            k_fast, k_ref = dynamic_k(e_fast, k_max), dynamic_k(e_ref, k_max)
            i_fast, i_ref = salient_index(e_fast, k_fast, k_max), salient_index(e_ref, k_ref, k_max)
            # The selected sets must match; their ascending-error row order may flip where two errors
            # lie within float rounding of each other (rows carry their own position, so order is cosmetic).
            same = same and torch.equal(k_fast, k_ref) and torch.equal(i_fast.sort(1).values, i_ref.sort(1).values)
            reordered = max(reordered, int((i_fast != i_ref).any(1).sum()))
        ok = ok and same
        rows.append((batch, fast, ref, fast / ref))
        print(f"batch {batch:>3}: shipped {fast:6.2f} frames/s, straightforward {ref:6.2f} frames/s, "
              f"ratio {fast / ref:.2f}x (by CPU time: {fast_cpu:.2f} vs {ref_cpu:.2f} frames/s, "
              f"{fast_cpu / ref_cpu:.2f}x)")
        print(f"           max |error difference| {diff:.1e} over {len(subset)} frames; "
              f"K and selected patches {'identical' if same else 'DIFFER'}"
              + (f" (row order flipped by float-rounding ties in {reordered} frame(s))" if reordered else ""))
    if not ok:
        print("FAIL: the shipped error map does not match the straightforward one")
    ratio = min(r[3] for r in rows)
    detail = ", ".join(f"batch {b}: {r:.2f}x" for b, _, _, r in rows)
    print(f"ratio shipped/straightforward: {ratio:.2f}x ({detail})")
    return 0 if ok else 1
