"""K statistics (paper Fig. 8): the histogram of uncapped dynamic K and the ideal maximal ratio.

``results/saliency/{mae}/{game}/k_hist.csv`` has one row per 5% bin of K/144, columns
``bin_start, bin_end, count, frames, ideal_ratio``. This module owns that file: it writes it
(``spirl saliency-stats``) and is its one reader, for the runs (``max_ratio: auto``) and for the
analysis (Fig. 8 table and figure). It does not import torch; the command loads the MAE lazily.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from spirl import preempt
from spirl.atari import games
from spirl.settings import Precision, allowed
from spirl.utils import atomic_path

NUM_PATCHES = games.NUM_PATCHES


K_HIST_COLUMNS = ["bin_start", "bin_end", "count", "frames", "ideal_ratio"]


K_BINS = 20  # 5% bins of K/P


IDEAL_COVERAGE = 0.999  # "more than 99.9% of frames keep every salient patch" (appendix, Fig. 8)


class EmptyDatasetError(ValueError):
    """K statistics were asked of a dataset with no frames."""


def _ratio_steps(num_patches: int) -> np.ndarray:
    """For every K in 0..P, the 5%-step bin holding K/P, bins closed on the right: ``(0.05 m, 0.05 (m+1)]``."""
    k = np.arange(num_patches + 1)
    return np.maximum((K_BINS * k + num_patches - 1) // num_patches - 1, 0)


def ideal_ratio(k: np.ndarray, num_patches: int = NUM_PATCHES, coverage: float = IDEAL_COVERAGE) -> float:
    """The smallest ratio in {5%, 10%, ..., 100%} such that more than ``coverage`` of frames have K/P <= it.

    ``k`` int ``(N,)``, the uncapped K of every frame (appendix "Guidance", Fig. 8).
    """
    k = _check_k(k, num_patches)
    for m in range(1, K_BINS + 1):
        kept = int(np.count_nonzero(K_BINS * k <= m * num_patches))  # K/P <= m/20 in integers
        if kept > coverage * len(k):
            return round(m / K_BINS, 2)
    return 1.0


def _check_k(k: np.ndarray, num_patches: int) -> np.ndarray:
    k = np.asarray(k, dtype=np.int64).reshape(-1)
    if k.size == 0:
        raise EmptyDatasetError("no K values: K statistics need at least one frame")
    if k.min() < 1 or k.max() > num_patches:
        raise ValueError(f"K values must be in [1, {num_patches}], got {k.min()}..{k.max()}")
    return k


def k_histogram(k: np.ndarray, num_patches: int = NUM_PATCHES) -> pd.DataFrame:
    """Histogram of K/P in 5% bins plus the ideal maximal ratio, one row per bin.

    Columns ``bin_start, bin_end, count, frames, ideal_ratio``: a bin holds the frames with
    ``bin_start < K/P <= bin_end`` (closed on the right, so that ``bin_end`` is the ratio that
    keeps them); ``frames`` is the dataset size and ``ideal_ratio`` the ratio of :func:`ideal_ratio`,
    both repeated on every row. Counts sum to ``frames``.
    """
    k = _check_k(k, num_patches)
    counts = np.bincount(_ratio_steps(num_patches)[k], minlength=K_BINS)
    m = np.arange(K_BINS)
    return pd.DataFrame({
        "bin_start": np.round(m / K_BINS, 2), "bin_end": np.round((m + 1) / K_BINS, 2), "count": counts,
        "frames": len(k), "ideal_ratio": ideal_ratio(k, num_patches),
    })[K_HIST_COLUMNS]


def write_k_hist(path: str | Path, hist: pd.DataFrame) -> None:
    """Write a :func:`k_histogram` table as CSV, atomically."""
    with atomic_path(path) as tmp:
        hist.to_csv(tmp, index=False)


class KHistError(ValueError):
    """A K-statistics file that cannot be used; the message names the file."""


def read_k_hist(path: str | Path) -> tuple[pd.DataFrame, float]:
    """Read a K-statistics CSV: the histogram (sorted by bin) and the ideal maximal ratio.

    The one reader of ``k_hist.csv``, for ``max_ratio: auto`` and for the analysis.

    Raises:
        FileNotFoundError: no file at ``path``.
        KHistError: not a table of :func:`k_histogram` (columns, counts, one ideal ratio in (0, 1]).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no K histogram at {path} (written by 'spirl saliency-stats')")
    try:
        hist = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise KHistError(f"{path} is not a K-statistics table (spirl saliency-stats): {err}") from None
    missing = [c for c in K_HIST_COLUMNS if c not in hist.columns]
    if missing or hist.empty:
        raise KHistError(f"{path} is not a K-statistics table (spirl saliency-stats): "
                         + (f"missing columns {', '.join(missing)}" if missing else "no rows"))
    counts = pd.to_numeric(hist["count"], errors="coerce")
    if counts.isna().any() or (counts < 0).any():
        raise KHistError(f"{path}: counts must be non-negative numbers")
    edges = hist[["bin_start", "bin_end"]].apply(pd.to_numeric, errors="coerce")
    if edges.isna().any().any() or (edges < 0).any().any() or (edges > 1 + 1e-9).any().any():
        raise KHistError(f"{path}: bin edges must be fractions of the {NUM_PATCHES} patches, in [0, 1]")
    ideal = hist["ideal_ratio"].unique()
    if len(ideal) != 1 or not 0.0 < float(ideal[0]) <= 1.0:
        raise KHistError(f"{path}: ideal_ratio must be one value in (0, 1] repeated on every row")
    return hist.sort_values("bin_start").reset_index(drop=True), float(ideal[0])


def k_hist_identity(path: str | Path) -> tuple[str, str]:
    """(MAE variant, canonical game) of ``.../{mae}/{game}/k_hist.csv``."""
    parts = Path(path).parts
    if len(parts) < 3:
        raise KHistError(f"{path}: expected .../{{mae}}/{{game}}/k_hist.csv")
    return parts[-3], games.canonical(parts[-2])


def load_k_hists(paths: Sequence[str | Path]) -> dict[str, dict[str, pd.DataFrame]]:
    """``{mae variant: {game: histogram}}`` from ``k_hist.csv`` paths."""
    out: dict[str, dict[str, pd.DataFrame]] = {}
    for p in paths:
        mae, game = k_hist_identity(p)
        out.setdefault(mae, {})[game] = read_k_hist(p)[0]
    return out


def _identity(args: argparse.Namespace, n_frames: int) -> str:
    """What decides the K of a frame: the MAE and frame files (sha256), the frames, the Lorenz scale and
    the number format; a partial count of other inputs is not resumed."""
    from spirl.integrity import sha256_file

    return (f"mae={sha256_file(args.mae)} frames={sha256_file(args.frames)} n={n_frames} xscale={args.xscale!r} "
            f"precision={args.precision}")


def _read_partial(path: Path, identity: str) -> np.ndarray | None:
    """K of the frames a warned ``spirl saliency-stats`` counted with the same inputs, or None."""
    if not path.is_file():
        return None
    try:
        with np.load(path) as z:
            if str(z["identity"]) != identity:
                return None
            return np.asarray(z["k"], dtype=np.int64)
    except (OSError, ValueError, KeyError):  # unreadable: count again from the first frame
        return None


def _run_saliency_stats(args: argparse.Namespace) -> int:
    from spirl.atari.frames import load_frames
    from spirl.cliargs import refuse_existing
    from spirl.saliency.patches import load_checked_mae
    from spirl.saliency.select import k_statistics
    from spirl.utils import choose_device, set_threads

    refuse_existing([args.out], force=args.force)
    preempt.install()  # SIGTERM / SIGUSR1: save K counted so far, say so, exit 75
    set_threads(args.threads)
    device = choose_device(args.device)
    frames, meta = load_frames(args.frames)
    if args.limit is not None:
        frames = frames[:args.limit]
    if len(frames) == 0:
        raise EmptyDatasetError(f"{args.frames} holds no frames; K statistics need at least one")
    mae, _ = load_checked_mae(args.mae, game=meta.get("game"), device=device)
    partial = Path(f"{args.out}.partial.npz")  # K counted before a warning signal (spirl.preempt)
    identity = _identity(args, len(frames))
    done = _read_partial(partial, identity)
    if done is not None:
        print(f"spirl saliency-stats: resuming after {len(done):,} frames counted before ({partial})", file=sys.stderr)

    def stop(k_so_far: np.ndarray) -> None:
        if preempt.requested() is not None:
            with atomic_path(partial) as tmp, open(tmp, "wb") as f:
                np.savez(f, k=k_so_far, identity=np.array(identity))
            preempt.check(f"K of {len(k_so_far):,} of {len(frames):,} frames saved in {partial}; the same command "
                          "resumes after them")

    try:
        k = k_statistics(mae, frames, xscale=args.xscale, batch=args.batch, device=device,
                         precision=args.precision, error_cache=args.error_cache, done=done, stop=stop)
    except preempt.PreemptionError as err:
        return preempt.report("saliency-stats", err)
    hist = k_histogram(k)
    write_k_hist(args.out, hist)
    partial.unlink(missing_ok=True)
    ideal = float(hist["ideal_ratio"].iloc[0])
    print(f"K statistics of {len(k)} frames: median K {int(np.median(k))} ({np.median(k) / NUM_PATCHES:.0%}), "
          f"ideal maximal ratio {ideal:.2f} (Kmax {games.k_max(ideal)}) -> {args.out}")
    return 0


def configure_saliency_stats(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``spirl saliency-stats``."""
    from spirl.cliargs import add_force, device, number

    parser.add_argument("--mae", required=True, help="MAE checkpoint (model.pt) saved with its decoder")
    parser.add_argument("--frames", required=True, help="frame dataset (.npz from 'spirl collect')")
    parser.add_argument("--out", required=True, help="output CSV (k_hist.csv)")
    parser.add_argument("--xscale", type=number("saliency.xscale", float), default=1.0,
                        help="Lorenz-rule scale: 1 as released, 2 = 45-degree")
    parser.add_argument("--batch", type=number("run.batch"), default=64, help="frames per error-map batch")
    parser.add_argument("--limit", type=number("run.limit"), default=None, help="use only the first N frames")
    parser.add_argument("--device", type=device, default="auto", help="auto | cpu | cuda")
    parser.add_argument("--threads", type=number("preset.threads"), default=None, help="torch threads")
    parser.add_argument("--precision", default="float32", choices=allowed(Precision),
                        help="error-map number format (float32 exact; docs/costs.md#reduced-precision)")
    parser.add_argument("--error-cache", action=argparse.BooleanOptionalAction, default=True,
                        help="reuse errors of neighbourhoods seen before (exact; docs/costs.md#the-error-cache)")
    add_force(parser, "--out")
    parser.set_defaults(func=_run_saliency_stats)
