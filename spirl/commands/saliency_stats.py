"""``spirl saliency-stats``: the uncapped dynamic-K histogram of a frame dataset (spirl.saliency.kstats)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from spirl import preempt
from spirl.atari import games
from spirl.atari.frames import load_frames
from spirl.commands.args import add_device, add_force, add_threads, number
from spirl.config import MAEArch, Precision, allowed
from spirl.guards import pretrain_memory_parts, refuse_beyond_memory, refuse_output_in_inputs, refuse_unwritable
from spirl.integrity import sha256_file
from spirl.outputs import refuse_existing
from spirl.saliency.kstats import (
    NUM_PATCHES,
    EmptyDatasetError,
    k_histogram,
    partial_identity,
    read_partial,
    write_k_hist,
    write_partial,
)
from spirl.saliency.patches import load_checked_mae
from spirl.saliency.select import k_statistics
from spirl.utils import choose_device, set_threads


def run(args: argparse.Namespace) -> int:
    """``spirl saliency-stats`` with the parsed arguments; 0 when done, 75 when stopped by a warning signal with
    the K counted so far kept (an error raises, see spirl.cli)."""
    refuse_output_in_inputs({"--out": args.out}, {"--mae": args.mae, "--frames": args.frames})
    refuse_existing([args.out], force=args.force)
    refuse_unwritable(args.out)
    refuse_beyond_memory(pretrain_memory_parts(MAEArch(), args.batch), f"an error-map batch of {args.batch:,} frames",
                         "lower --batch")
    set_threads(args.threads)
    device = choose_device(args.device)
    frames, meta = load_frames(args.frames)
    if args.limit is not None:
        frames = frames[:args.limit]
    if len(frames) == 0:
        raise EmptyDatasetError(f"{args.frames} holds no frames; K statistics need at least one")
    mae, mae_meta = load_checked_mae(args.mae, game=meta.get("game"), device=device)
    partial = Path(f"{args.out}.partial.npz")  # K counted before a warning signal (spirl.preempt)
    mae_sha256 = sha256_file(args.mae)  # bound to k_hist.csv and to a partial count

    def identity() -> str:  # hashes the frame file: only where a partial count is read or written
        return partial_identity(mae_sha256, args.frames, len(frames), args.xscale, args.precision)

    done = read_partial(partial, identity()) if partial.is_file() else None
    if done is not None:
        print(f"spirl saliency-stats: resuming after {len(done):,} frames counted before ({partial})", file=sys.stderr)

    def stop(k_so_far: np.ndarray) -> None:
        if preempt.requested() is not None:
            write_partial(partial, k_so_far, identity())
            preempt.check(f"K of {len(k_so_far):,} of {len(frames):,} frames saved in {partial}; the same command "
                          "resumes after them")

    # a warning signal saves the K counted so far and exits 75 (spirl.preempt, installed by spirl.cli)
    k = k_statistics(mae, frames, xscale=args.xscale, batch=args.batch, device=device,
                     precision=args.precision, error_cache=args.error_cache, done=done, stop=stop)
    hist = k_histogram(k)
    write_k_hist(args.out, hist, game=mae_meta["game"], mae_sha256=mae_sha256)
    partial.unlink(missing_ok=True)
    ideal = float(hist["ideal_ratio"].iloc[0])
    print(f"K statistics of {len(k)} frames: median K {int(np.median(k))} ({np.median(k) / NUM_PATCHES:.0%}), "
          f"ideal maximal ratio {ideal:.2f} (Kmax {games.k_max(ideal)}) -> {args.out}")
    return 0


def configure_saliency_stats(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``spirl saliency-stats``."""
    parser.add_argument("--mae", required=True, help="MAE checkpoint (model.pt) saved with its decoder")
    parser.add_argument("--frames", required=True, help="frame dataset (.npz from 'spirl collect')")
    parser.add_argument("--out", required=True, help="output CSV (k_hist.csv)")
    parser.add_argument("--xscale", type=number("saliency.xscale", float), default=1.0,
                        help="Lorenz-rule scale: 1 as released, 2 = 45-degree")
    parser.add_argument("--batch", type=number("run.batch"), default=64, help="frames per error-map batch")
    parser.add_argument("--limit", type=number("run.limit"), default=None, help="use only the first N frames")
    add_device(parser)
    add_threads(parser)
    parser.add_argument("--precision", default="float32", choices=allowed(Precision),
                        help="error-map number format (float32 exact; docs/costs.md#reduced-precision)")
    parser.add_argument("--error-cache", action=argparse.BooleanOptionalAction, default=True,
                        help="reuse errors of neighbourhoods seen before (exact; docs/costs.md#the-error-cache)")
    add_force(parser, "--out")
    parser.set_defaults(func=run)
