"""``spirl bench saliency``: error-map frames/s, shipped path vs the straightforward computation.

Both paths run in this process on the same real ALE frames (random-policy frames collected
with ``spirl.atari.frames.collect_frames``, or a dataset given with ``--frames``) at batch 1 and at
the evaluation batch (``--batch``, 50). Before any figure is trusted the two must agree: in float32,
error maps within 1e-4, and identical K and selected patch sets under the game's cap and uncapped
(the ascending-error row order may flip where two errors are within float rounding of each other;
that is reported, not hidden). The MAE is randomly initialised (seeded) unless ``--mae`` names a
checkpoint: the cost does not depend on the weights, and equality is checked on whatever weights are used.

``--precision bfloat16`` (or ``float16`` on CUDA) times both paths in that format and, besides, the
shipped path in float32, and measures the format's agreement with float32 (``spirl.saliency.agreement``)
on the timed frames or on ``--agreement-frames`` frames of ``--frames``: use a pretrained MAE for that.
On a CPU without bfloat16 units it warns and runs anyway (a run would refuse).
The printed ratio is shipped/straightforward (the smaller of the two batch sizes).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from spirl.atari import games
from spirl.atari.frames import collect_frames, load_frames
from spirl.bench import Options, emit, sync
from spirl.devices import check_precision
from spirl.mae.model import MAE
from spirl.saliency.agreement import compare, selection_stats
from spirl.saliency.error_cache import ErrorCache
from spirl.saliency.error_map import error_map, error_map_reference, lowered
from spirl.saliency.patches import NUM_PATCHES, frames_to_images, load_checked_mae
from spirl.saliency.select import dynamic_k, salient_index
from spirl.utils import choose_device, set_threads

TOLERANCE = 1e-4  # largest allowed |shipped - straightforward| of a float32 error-map entry


def benchmark_frames(n: int, game: str = "MsPacman", seed: int = 0) -> np.ndarray:
    """``n`` real random-policy frames of ``game``: uint8 ``(n, 96, 96, 3)``.

    Every 3rd frame of a longer collection is kept, so that consecutive benchmark frames differ.
    """

    frames, _ = collect_frames(game, frames=3 * n, seed=seed, show_progress=False)
    return frames[::3][:n]


def race(paths: dict[str, Callable[[torch.Tensor], torch.Tensor]], imgs: torch.Tensor, batch: int,
         repeats: int) -> dict[str, tuple[float, float, torch.Tensor]]:
    """Frames/s of every path over ``imgs`` in batches of ``batch``: wall clock, CPU time, and its output ``(N, P)``.

    The paths take turns on every batch, so that a load change on a shared machine hits them
    alike; each path's figure is its best total over ``repeats`` passes. The CPU-time figure
    (this process's CPU seconds) is the steadier one when other jobs share the cores; on a GPU
    the wall clock (after a synchronisation) is the figure.
    """
    wall = {name: [0.0] * repeats for name in paths}
    cpu = {name: [0.0] * repeats for name in paths}
    outs: dict[str, list[torch.Tensor]] = {name: [] for name in paths}
    for r in range(repeats):
        for s in range(0, len(imgs), batch):
            for name, fn in paths.items():
                sync(imgs.device)
                w0, c0 = time.perf_counter(), time.process_time()
                out = fn(imgs[s:s + batch])
                sync(imgs.device)
                wall[name][r] += time.perf_counter() - w0
                cpu[name][r] += time.process_time() - c0
                if r == 0:
                    outs[name].append(out)
    return {name: (len(imgs) / min(wall[name]), len(imgs) / min(cpu[name]), torch.cat(outs[name])) for name in paths}


def _frames(args: Options, n: int, game: str) -> tuple[np.ndarray, str, np.ndarray | None]:
    """The timed frames, a description, and the whole dataset when ``--frames`` gives one."""
    if args.frames:
        frames, meta = load_frames(args.frames)
        if len(frames) < n:
            raise ValueError(f"{args.frames} holds {len(frames)} frames; the benchmark needs {n}")
        return frames[:n], f"{args.frames} ({meta.get('game', '?')})", frames
    frames = benchmark_frames(n, game, args.seed)
    return frames, f"{n} random-policy {game} frames (spirl.atari.frames.collect_frames, seed {args.seed})", None


def _model(args: Options, device: str) -> tuple[torch.nn.Module, str]:
    if args.mae:
        mae, meta = load_checked_mae(args.mae, device=device)
        return mae, f"{args.mae} ({meta.get('game', '?')}, epoch {meta.get('extra', {}).get('epoch', '?')})"

    torch.manual_seed(args.seed)
    return MAE().to(device).eval().requires_grad_(False), f"randomly initialised paper architecture (seed {args.seed})"


def _same_selection(e_fast: torch.Tensor, e_ref: torch.Tensor, k_max: int) -> tuple[bool, int]:
    """Identical K and selected sets under ``k_max`` and uncapped; frames whose row order flipped."""
    same, reordered = True, 0
    for cap in (k_max, NUM_PATCHES):
        k_fast, k_ref = dynamic_k(e_fast, cap), dynamic_k(e_ref, cap)
        i_fast, i_ref = salient_index(e_fast, k_fast, cap), salient_index(e_ref, k_ref, cap)
        # The selected sets must match; their ascending-error row order may flip where two errors
        # lie within float rounding of each other (rows carry their own position, so order is cosmetic).
        same = same and torch.equal(k_fast, k_ref) and torch.equal(i_fast.sort(1).values, i_ref.sort(1).values)
        reordered = max(reordered, int((i_fast != i_ref).any(1).sum()))
    return same, reordered


def run(args: Options) -> int:
    """Run the benchmark; returns 1 if the two float32 paths disagree."""
    threads = set_threads(args.threads)
    device = choose_device(args.device)
    dtype = check_precision(args.precision, device, allow_slow=True)
    game = games.get(args.game)
    k_max = games.k_max(game.max_ratio or 1.0)
    batches = (1, 2) if args.quick else (1, args.batch)
    n_single = 1 if args.quick else 10  # frames timed one at a time
    frames, source, dataset = _frames(args, max(batches[1], n_single), game.id)
    mae, described = _model(args, device)
    low = lowered(mae, dtype)
    imgs = frames_to_images(frames, device)
    print(f"frames: {source}; MAE: {described}; {device}, {threads} thread(s), {args.precision}")
    error_map(low, imgs[:1])  # builds the per-model cache, as a long-running extractor would once
    if args.compile:
        t0 = time.perf_counter()
        error_map(low, imgs[:1], compiled=True)
        print(f"torch.compile of the decoder chunk: {time.perf_counter() - t0:.0f} s (once per process)")

    rows: list[dict[str, Any]] = []
    ok = True
    for batch in batches:
        subset = imgs[:n_single] if batch == 1 else imgs[:batch]
        paths = {"shipped": lambda x: error_map(low, x), "straightforward": lambda x: error_map_reference(low, x)}
        if dtype != torch.float32:
            paths["shipped_float32"] = lambda x: error_map(mae, x)
        if args.compile:
            paths["compiled"] = lambda x: error_map(low, x, compiled=True)
        raced = race(paths, subset, batch, 1 if args.quick else 2)
        (fast, fast_cpu, e_fast), (ref, ref_cpu, e_ref) = raced["shipped"], raced["straightforward"]
        diff = float((e_fast - e_ref).abs().max())
        row = {"batch": batch, "frames": len(subset), "shipped_fps": fast, "straightforward_fps": ref,
               "ratio": fast / ref, "shipped_cpu_fps": fast_cpu, "straightforward_cpu_fps": ref_cpu,
               "max_abs_difference": diff}
        print(f"batch {batch:>3}: shipped {fast:7.2f} frames/s, straightforward {ref:7.2f} frames/s, "
              f"ratio {fast / ref:.2f}x (by CPU time: {fast_cpu:.2f} vs {ref_cpu:.2f} frames/s, "
              f"{fast_cpu / ref_cpu:.2f}x)")
        if args.compile:
            comp, comp_cpu, e_comp = raced["compiled"]
            c_diff = float((e_comp - e_ref).abs().max())
            c_same = _same_selection(e_comp, e_ref, k_max)[0] and (dtype != torch.float32 or c_diff <= TOLERANCE)
            row.update(compiled_fps=comp, compiled_cpu_fps=comp_cpu, compiled_vs_eager=comp / fast,
                       compiled_max_abs_difference=c_diff, compiled_identical_selection=c_same)
            print(f"           compiled {comp:7.2f} frames/s: {comp / fast:.2f}x of the eager shipped path (by CPU "
                  f"time {comp_cpu / fast_cpu:.2f}x); max |difference| to straightforward {c_diff:.1e}, "
                  f"K and selected patches {'identical' if c_same else 'DIFFER'}")
        if dtype == torch.float32:
            same, reordered = _same_selection(e_fast, e_ref, k_max)
            same = same and diff <= TOLERANCE
            ok = ok and same
            row.update(identical_selection=same, reordered_frames=reordered)
            print(f"           max |error difference| {diff:.1e} over {len(subset)} frames; "
                  f"K and selected patches {'identical' if same else 'DIFFER'}"
                  + (f" (row order flipped by float-rounding ties in {reordered} frame(s))" if reordered else ""))
        else:
            f32, f32_cpu, _ = raced["shipped_float32"]
            row.update(shipped_float32_fps=f32, shipped_float32_cpu_fps=f32_cpu, speedup_vs_float32=fast / f32)
            print(f"           shipped float32 {f32:7.2f} frames/s: {args.precision} is {fast / f32:.2f}x of it "
                  f"(by CPU time {fast_cpu / f32_cpu:.2f}x); max |difference| of the two {args.precision} paths "
                  f"{diff:.1e}")
        rows.append(row)
    if not ok:
        print("FAIL: the shipped error map does not match the straightforward one")
    figures: dict[str, Any] = {"batches": rows, "game": game.id, "k_max": k_max, "mae": described, "source": source}
    if dtype != torch.float32:
        figures["agreement"] = _agreement(args, mae, low, frames, dataset, k_max, device)
    if args.cache_frames is not None:
        if dataset is None:
            raise ValueError("--cache-frames takes consecutive frames from --frames; pass a dataset")
        figures["error_cache"] = _cache(low, dataset[:args.cache_frames], k_max, args.batch, device)
    ratio = min(r["ratio"] for r in rows)
    detail = ", ".join(f"batch {r['batch']}: {r['ratio']:.2f}x" for r in rows)
    print(f"ratio shipped/straightforward: {ratio:.2f}x ({detail})")
    emit(args, figures, ratio=ratio, device=device, precision=args.precision)
    return 0 if ok else 1


def _agreement(args: Options, mae: torch.nn.Module, low: torch.nn.Module, frames: np.ndarray,
               dataset: np.ndarray | None, k_max: int, device: str) -> dict[str, Any]:
    """Agreement of ``--precision`` with float32 (``spirl.saliency.agreement.compare``), printed and returned."""

    if args.agreement_frames is not None:
        if dataset is None:
            raise ValueError("--agreement-frames takes its frames from --frames; pass a dataset")
        n = min(args.agreement_frames, len(dataset))
        frames = dataset[np.linspace(0, len(dataset) - 1, n).round().astype(np.int64)]
    t0 = time.perf_counter()
    a = compare(mae, low, frames, k_max, precision=args.precision, batch=args.batch, device=device)
    print(f"agreement with float32 over {a.frames} frames (Kmax {k_max}, {time.perf_counter() - t0:.0f} s): "
          f"identical K {a.same_k:.1%}, mean |dK| {a.mean_abs_dk:.3f}, mean Jaccard {a.mean_jaccard:.4f} "
          f"(min {a.min_jaccard:.3f}), max error difference {a.max_error_diff:.2%} of the frame's largest, "
          f"max feature difference {a.max_feature_diff:.3g} (features up to {a.max_feature:.3g})")
    print(f"           uncapped: identical K {a.uncapped_same_k:.1%}, mean |dK| {a.uncapped_mean_abs_dk:.3f}, "
          f"ideal ratio {a.ideal_ratio:.2f} vs {a.ideal_ratio_ref:.2f} in float32, K-histogram distance "
          f"{a.hist_distance:.4f}; targets (identical K >= 95%, Jaccard >= 0.97, same ideal ratio) "
          f"{'met' if a.meets_targets else 'MISSED'}")
    return a.to_dict()


def _cache(mae: torch.nn.Module, frames: np.ndarray, k_max: int, batch: int, device: str) -> dict[str, Any]:
    """Consecutive ``frames`` through the error cache (``spirl.saliency.error_cache``) and without it, in batches:
    frames/s of each, the hit rate, and the agreement of the selections (``agreement.selection_stats``)."""

    cache, plain, cached, seconds = ErrorCache(device), [], [], {"plain": 0.0, "cached": 0.0}
    for s in range(0, len(frames), batch):
        part = frames[s:s + batch]
        imgs = frames_to_images(part, device)
        t0 = time.perf_counter()
        plain.append(error_map(mae, imgs))
        sync(device)
        t1 = time.perf_counter()
        cached.append(cache.errors(part, lambda need, imgs=imgs: error_map(mae, imgs, need=need)))
        sync(device)
        seconds["plain"] += t1 - t0
        seconds["cached"] += time.perf_counter() - t1
    ref, got = torch.cat(plain), torch.cat(cached)
    rel = float(((got - ref).abs().amax(1) / ref.amax(1).clamp_min(torch.finfo(torch.float32).tiny)).max())
    out = {"frames": len(frames), "batch": batch, "hit_rate": cache.hit_rate,
           "plain_fps": len(frames) / seconds["plain"], "cached_fps": len(frames) / seconds["cached"],
           "max_error_diff": rel, **selection_stats(ref, got, k_max),
           "uncapped": selection_stats(ref, got, NUM_PATCHES)}
    print(f"error cache over {len(frames)} consecutive frames at batch {batch}: {cache.hit_rate:.0%} of the "
          f"neighbourhoods seen before; {out['cached_fps']:.2f} vs {out['plain_fps']:.2f} frames/s "
          f"({out['cached_fps'] / out['plain_fps']:.2f}x); identical K {out['same_k']:.1%} (uncapped "
          f"{out['uncapped']['same_k']:.1%}), mean Jaccard {out['mean_jaccard']:.4f}, max error difference "
          f"{rel:.1e} of the frame's largest")
    return out
