"""K statistics (paper Fig. 8): the histogram of uncapped dynamic K and the ideal maximal ratio.

``results/saliency/{mae}/{game}/k_hist.csv`` has one row per 5% bin of K/144, columns
``bin_start, bin_end, count, frames, ideal_ratio`` and the ``game`` and ``mae_sha256`` (the MAE
it was measured with) on every row, and its own sha256 beside it (``k_hist.csv.sha256``). This
module owns that file: it writes it (``spirl saliency-stats``) and is its one reader, for the runs
(``max_ratio: auto``: the digest, the game and the MAE's digest are all checked) and for the
analysis (Fig. 8 table and figure). It does not import torch; the command loads the MAE lazily.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from spirl.atari import games
from spirl.integrity import sha256_file, verify_file, write_with_digest
from spirl.utils import atomic_path

NUM_PATCHES = games.NUM_PATCHES


K_HIST_COLUMNS = ["bin_start", "bin_end", "count", "frames", "ideal_ratio"]
BINDING_COLUMNS = ["game", "mae_sha256"]  # what the statistics were measured on, repeated on every row


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


def write_k_hist(path: str | Path, hist: pd.DataFrame, *, game: str, mae_sha256: str) -> None:
    """Write a :func:`k_histogram` table as CSV with its ``game`` and MAE digest, atomically, with its sha256."""
    table = hist.assign(game=games.canonical(game), mae_sha256=mae_sha256)
    write_with_digest(path, lambda tmp: table.to_csv(tmp, index=False))


class KHistError(ValueError):
    """A K-statistics file that cannot be used; the message names the file."""


def read_k_hist(path: str | Path, *, game: str | None = None,
                mae_sha256: str | None = None) -> tuple[pd.DataFrame, float]:
    """Read a K-statistics CSV: the histogram (sorted by bin) and the ideal maximal ratio.

    The one reader of ``k_hist.csv``, for ``max_ratio: auto`` and for the analysis. Its sidecar digest
    is checked when it has one; a run's read (``game`` and/or ``mae_sha256`` given) requires the digest
    and checks the game and the MAE the statistics were measured with against the run's.

    Raises:
        FileNotFoundError: no file at ``path``.
        spirl.integrity.IntegrityError: the file differs from its sha256 (edited, corrupt).
        KHistError: not a table of :func:`k_histogram` (columns, counts, one ideal ratio in (0, 1]), or of
            another game or MAE than asked, or without its digest where one is required.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no K histogram at {path} (written by 'spirl saliency-stats')")
    verified = verify_file(path, what="K-statistics table")
    if (game is not None or mae_sha256 is not None) and not verified:
        raise KHistError(f"{path} has no {path.name}.sha256 beside it, so it cannot be bound to this run; "
                         "write it again with 'spirl saliency-stats'")
    try:
        hist = pd.read_csv(path, dtype={c: str for c in BINDING_COLUMNS})  # digits stay text
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
    _check_binding(path, hist, game, mae_sha256)
    return hist.sort_values("bin_start").reset_index(drop=True), float(ideal[0])


def _check_binding(path: Path, hist: pd.DataFrame, game: str | None, mae_sha256: str | None) -> None:
    """Refuse statistics of another game or MAE than the run's (each column one value on every row)."""
    for column, want in (("game", None if game is None else games.canonical(game)), ("mae_sha256", mae_sha256)):
        if want is None:
            continue
        have = hist[column].astype(str).unique().tolist() if column in hist.columns else []
        if have != [want]:
            found = have[0] if len(have) == 1 else ("none" if not have else "several")
            what = "game" if column == "game" else "MAE sha256"
            raise KHistError(f"{path} holds K statistics of {what} {found}, not of this run's {want}; use the "
                             f"k_hist.csv measured with this run's game and MAE")


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


def partial_identity(mae_sha256: str, frames: str | Path, n_frames: int, xscale: float, precision: str) -> str:
    """What decides the K of a frame: the MAE (its sha256) and frame file (hashed here), the frames used, the
    Lorenz scale and the number format; a partial count (:func:`write_partial`) of other inputs is not resumed."""
    return f"mae={mae_sha256} frames={sha256_file(frames)} n={n_frames} xscale={xscale!r} precision={precision}"


def write_partial(path: Path, k: np.ndarray, identity: str) -> None:
    """Keep the K of the frames counted so far (a warned ``spirl saliency-stats``, ``spirl.preempt``)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, k=k, identity=np.array(identity))


def read_partial(path: Path, identity: str) -> np.ndarray | None:
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
