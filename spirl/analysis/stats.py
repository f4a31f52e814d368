"""rliable aggregates with stratified-bootstrap CIs, performance profiles, probability of improvement, curves.

Aggregates (IQM, median, mean, optimality gap), performance profiles and probability of
improvement come with 95% stratified-bootstrap confidence intervals: each bootstrap sample
redraws the runs of every game with replacement, games are never resampled. Inputs follow
rliable's contract, ``{method: array[runs, games]}`` (``spirl.analysis.scores.score_matrices``);
outputs are tidy tables, written by ``spirl stats`` to ``reports/stats/``: ``aggregates.csv``,
``profiles.csv``, ``poi.csv``, ``curves.csv``.

rliable 1.2 draws its bootstrap indices from NumPy's *global* generator
(``np.random.choice`` in ``StratifiedBootstrap.update_indices``), not from the
``random_state`` it is handed, so a fixed seed has to be set on the global generator;
``seeded_global_rng`` does that and restores the previous state afterwards. The probability
of improvement is computed here, vectorised over replicates, with the same resamples and
the same estimate as rliable's (``spirl bench stats``).
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from spirl.analysis.published import scores_with_published
from spirl.analysis.scores import (
    StatsError,
    check_scores,
    curve_matrices,
    final_scores,
    kind_of,
    score_matrices,
    write_csv,
)
from spirl.atari import games as game_table
from spirl.settings import StatsSettings
from spirl.utils import progress

DEFAULT_REPS = StatsSettings.reps  # bootstrap replicates everywhere (rliable's recommendation)
DEFAULT_CONFIDENCE = 0.95
METRICS = ("IQM", "median", "mean", "optimality_gap")
POI_COLUMNS = ("x", "y", "estimate", "lower", "upper", "runs_x", "runs_y", "games", "reps")
CURVE_COLUMNS = ("method", "kind", "step", "metric", "estimate", "lower", "upper", "runs", "games")
DEFAULT_TAUS = np.linspace(0.0, 2.0, 81)  # performance-profile thresholds, human-normalised


@contextlib.contextmanager
def seeded_global_rng(seed: int) -> Iterator[None]:
    """Seed NumPy's global generator for the block (rliable draws its resamples from it), then restore it."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def _check_for_ci(method: str, matrix: np.ndarray) -> None:
    if matrix.ndim < 2 or matrix.shape[1] == 0:
        raise StatsError(f"method {method}: expected an array [runs, games], got shape {matrix.shape}")
    if matrix.shape[0] < 2:
        raise StatsError(f"method {method} has {matrix.shape[0]} run per game; a bootstrap confidence interval "
                         f"needs at least two runs")
    if not np.all(np.isfinite(matrix)):
        raise StatsError(f"method {method}: the score matrix contains NaN or infinity")


def metric_functions() -> dict[str, Callable[[np.ndarray], float]]:
    """rliable's aggregate estimators by name (IQM = 25% trimmed mean over all runs x games)."""
    from rliable import metrics

    return {
        "IQM": metrics.aggregate_iqm,
        "median": metrics.aggregate_median,
        "mean": metrics.aggregate_mean,
        "optimality_gap": metrics.aggregate_optimality_gap,
    }


def aggregate_estimates(matrices: dict[str, np.ndarray], *, reps: int = DEFAULT_REPS, seed: int = 0,
                        confidence: float = DEFAULT_CONFIDENCE, metrics: Sequence[str] = METRICS) -> pd.DataFrame:
    """IQM, median, mean and optimality gap of each method with stratified-bootstrap CIs (rliable).

    Each method is bootstrapped with the global generator seeded by ``seed``, so its interval
    does not depend on which other methods are in the table.

    Returns:
        Tidy table ``method, kind, metric, estimate, lower, upper, runs, games, reps``.
    """
    from rliable import library

    funcs = metric_functions()
    unknown = [m for m in metrics if m not in funcs]
    if unknown:
        raise StatsError(f"unknown metric(s) {', '.join(unknown)}; choose from {', '.join(funcs)}")

    def all_metrics(scores: np.ndarray) -> np.ndarray:
        return np.array([funcs[m](scores) for m in metrics])

    rows = []
    for method, matrix in matrices.items():
        _check_for_ci(method, matrix)
        with seeded_global_rng(seed):
            point, interval = library.get_interval_estimates(
                {method: matrix}, all_metrics, reps=reps, confidence_interval_size=confidence)
        for i, metric in enumerate(metrics):
            rows.append({
                "method": method, "kind": kind_of(method), "metric": metric, "estimate": float(point[method][i]),
                "lower": float(interval[method][0, i]), "upper": float(interval[method][1, i]),
                "runs": matrix.shape[0], "games": matrix.shape[1], "reps": reps,
            })
    return pd.DataFrame(rows)


def _score_distribution(scores: np.ndarray, taus: np.ndarray) -> np.ndarray:
    """Fraction of runs x games with score > tau, for every tau at once: [taus]."""
    return np.mean(scores[..., None] > taus, axis=(0, 1))


def performance_profiles(matrices: dict[str, np.ndarray], *, taus: np.ndarray | None = None, reps: int = DEFAULT_REPS,
                         seed: int = 0, confidence: float = DEFAULT_CONFIDENCE) -> pd.DataFrame:
    """Run-score performance profiles (fraction of runs above tau) with stratified-bootstrap CIs.

    Returns:
        Tidy table ``method, kind, tau, fraction, lower, upper``.
    """
    from rliable import library

    taus = DEFAULT_TAUS if taus is None else np.asarray(taus, dtype=float)
    rows = []
    for method, matrix in matrices.items():
        _check_for_ci(method, matrix)
        with seeded_global_rng(seed):
            profile, ci = library.create_performance_profile(
                {method: matrix}, taus, custom_profile_func=_score_distribution, reps=reps,
                confidence_interval_size=confidence)
        for j, tau in enumerate(taus):
            rows.append({"method": method, "kind": kind_of(method), "tau": float(tau),
                         "fraction": float(profile[method][j]), "lower": float(ci[method][0, j]),
                         "upper": float(ci[method][1, j])})
    return pd.DataFrame(rows)


# ============================================================================== probability of improvement


def _improvement_per_game(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """P(X > Y) + 0.5 P(X = Y) per game from the Mann-Whitney U statistic of X.

    Args:
        x: [..., runs_x, games]; y: [..., runs_y, games] (leading axes broadcast, e.g. bootstrap samples).
    Returns:
        [..., games]: U_x / (runs_x * runs_y), with U_x from average ranks as scipy computes it, so the
        values are exact multiples of 1 / (2 runs_x runs_y).
    """
    from scipy.stats import rankdata

    n_x, n_y = x.shape[-2], y.shape[-2]
    lead = np.broadcast_shapes(x.shape[:-2], y.shape[:-2])
    xy = np.concatenate([np.broadcast_to(x, (*lead, *x.shape[-2:])),
                         np.broadcast_to(y, (*lead, *y.shape[-2:]))], axis=-2)  # [..., runs_x + runs_y, games]
    ranks = rankdata(xy, method="average", axis=-2)
    u_x = ranks[..., :n_x, :].sum(axis=-2) - n_x * (n_x + 1) / 2  # [..., games]
    return u_x / (n_x * n_y)


def probability_of_improvement(scores_x: np.ndarray, scores_y: np.ndarray) -> float:
    """Average over games of P(X_m > Y_m) (ties count half): rliable's statistic, vectorised.

    Args:
        scores_x: [runs_x, games]; scores_y: [runs_y, games], same games in the same order.
    """
    _check_pair(scores_x, scores_y)
    per_game = _improvement_per_game(np.asarray(scores_x, float), np.asarray(scores_y, float))
    return float(np.mean(per_game))


def _check_pair(x: np.ndarray, y: np.ndarray) -> None:
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise StatsError(f"probability of improvement needs [runs, games] arrays over the same games, "
                         f"got shapes {x.shape} and {y.shape}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise StatsError("probability of improvement: the scores contain NaN or infinity")


def stratified_indices(random_state: np.random.RandomState, runs: Sequence[int], games: int,
                       reps: int) -> list[np.ndarray]:
    """Bootstrap row indices for several score matrices, drawn in rliable's order.

    rliable's ``StratifiedIndependentBootstrap`` draws, for every replicate, one
    ``choice(runs_i, (runs_i, games))`` per matrix in turn; drawing the same calls from
    ``random_state`` gives the same resamples as rliable under ``np.random.seed``.

    Returns:
        One array [reps, runs_i, games] per matrix.
    """
    out = [np.empty((reps, n, games), dtype=np.int64) for n in runs]
    for r in range(reps):
        for i, n in enumerate(runs):
            out[i][r] = random_state.choice(n, (n, games), replace=True)
    return out


def percentile_interval(samples: np.ndarray, confidence: float = DEFAULT_CONFIDENCE) -> tuple[float, float]:
    """Percentile bootstrap interval of 1-D ``samples``, with arch's percentile levels (as rliable uses them)."""
    alpha = (1.0 - confidence) / 2
    lower, upper = np.percentile(samples, [100 * alpha, 100 * (1.0 - alpha)])
    return float(lower), float(upper)


def probability_of_improvement_interval(scores_x: np.ndarray, scores_y: np.ndarray, *, reps: int = DEFAULT_REPS,
                                        random_state: np.random.RandomState | int = 0,
                                        confidence: float = DEFAULT_CONFIDENCE,
                                        chunk: int = 256) -> tuple[float, float, float]:
    """Probability of improvement of X over Y with its stratified-bootstrap CI, vectorised.

    The same statistic and resamples as ``rliable.library.get_interval_estimates({k: [x, y]},
    metrics.probability_of_improvement, reps=reps)`` run after ``np.random.seed(random_state)``,
    computed for all replicates and games at once (rliable runs one scipy test per game per replicate).

    Args:
        scores_x: [runs_x, games]; scores_y: [runs_y, games].
        random_state: a ``RandomState`` (consumed) or an int seed.
        chunk: replicates evaluated per vectorised step (bounds memory).
    Returns:
        (estimate, lower, upper).
    """
    x, y = np.asarray(scores_x, float), np.asarray(scores_y, float)
    _check_pair(x, y)
    for name, m in (("X", x), ("Y", y)):
        if m.shape[0] < 2:
            raise StatsError(f"probability of improvement: {name} has {m.shape[0]} run per game; a bootstrap "
                             f"confidence interval needs at least two runs")
    rs = random_state if isinstance(random_state, np.random.RandomState) else np.random.RandomState(random_state)
    games = x.shape[1]
    idx_x, idx_y = stratified_indices(rs, [x.shape[0], y.shape[0]], games, reps)
    samples = np.empty(reps)
    for start in range(0, reps, chunk):
        sl = slice(start, start + chunk)
        xb = np.take_along_axis(x[None], idx_x[sl], axis=1)  # [chunk, runs_x, games]
        yb = np.take_along_axis(y[None], idx_y[sl], axis=1)  # [chunk, runs_y, games]
        # Rows are contiguous over games, so the mean sums in the order np.mean of a list would.
        samples[sl] = np.mean(np.ascontiguousarray(_improvement_per_game(xb, yb)), axis=1)
    lower, upper = percentile_interval(samples, confidence)
    return probability_of_improvement(x, y), lower, upper


def parse_pairs(pairs: Sequence[str] | None, methods: Sequence[str]) -> list[tuple[str, str]]:
    """Parse ``a:b`` pairs (method names may contain ``:``, as ``published:SPR`` does); default every pair in order."""
    methods = list(methods)
    if not pairs:
        return [(a, b) for i, a in enumerate(methods) for b in methods[i + 1:]]
    out = []
    for text in pairs:
        cuts = [(text[:i], text[i + 1:]) for i, ch in enumerate(text) if ch == ":"]
        match = [(a, b) for a, b in cuts if a in methods and b in methods]
        if len(match) != 1:
            raise StatsError(f"pair {text!r} is not 'X:Y' with two of the methods {', '.join(methods)}")
        out.append(match[0])
    return out


def improvement_table(df: pd.DataFrame, pairs: Sequence[tuple[str, str]], *, reps: int = DEFAULT_REPS, seed: int = 0,
                      confidence: float = DEFAULT_CONFIDENCE) -> pd.DataFrame:
    """Probability of improvement of X over Y for each pair, on the games both have (human-normalised).

    Returns:
        Tidy table ``x, y, estimate, lower, upper, runs_x, runs_y, games, reps``.
    """
    rows = []
    if not pairs:
        return pd.DataFrame(columns=list(POI_COLUMNS))
    per_method = final_scores(check_scores(df))
    for a, b in progress(pairs, desc="probability of improvement", unit="pair"):
        common = set(per_method.loc[per_method["method"] == a, "game"]) & set(
            per_method.loc[per_method["method"] == b, "game"])
        if not common:
            raise StatsError(f"methods {a} and {b} share no game")
        games = game_table.order_games(common)
        m = score_matrices(df, games=games, methods=[a, b])
        est, lo, hi = probability_of_improvement_interval(m[a], m[b], reps=reps, random_state=seed,
                                                          confidence=confidence)
        rows.append({"x": a, "y": b, "estimate": est, "lower": lo, "upper": hi, "runs_x": m[a].shape[0],
                     "runs_y": m[b].shape[0], "games": ";".join(games), "reps": reps})
    return pd.DataFrame(rows)


# ============================================================================== sample-efficiency curves


def sample_efficiency_curves(df: pd.DataFrame, *, reps: int = DEFAULT_REPS, seed: int = 0,
                             confidence: float = DEFAULT_CONFIDENCE,
                             methods: Sequence[str] | None = None) -> pd.DataFrame:
    """IQM of human-normalised scores at each evaluation step, with stratified-bootstrap CIs.

    Returns:
        Tidy table ``method, kind, step, metric, estimate, lower, upper, runs, games``.
    """
    from rliable import library, metrics

    cubes, steps_of, _ = curve_matrices(df, methods=methods)
    rows = []
    for method, cube in cubes.items():
        _check_for_ci(method, cube)

        def iqm_per_step(scores: np.ndarray) -> np.ndarray:
            return np.array([metrics.aggregate_iqm(scores[..., j]) for j in range(scores.shape[-1])])

        with seeded_global_rng(seed):
            point, ci = library.get_interval_estimates({method: cube}, iqm_per_step, reps=reps,
                                                       confidence_interval_size=confidence)
        for j, step in enumerate(steps_of[method]):
            rows.append({"method": method, "kind": kind_of(method), "step": step, "metric": "IQM",
                         "estimate": float(point[method][j]), "lower": float(ci[method][0, j]),
                         "upper": float(ci[method][1, j]), "runs": cube.shape[0], "games": cube.shape[1]})
    return pd.DataFrame(rows)


# ============================================================================== CLI


def run_stats(df: pd.DataFrame, out: str | Path, *, reps: int = DEFAULT_REPS, seed: int = 0,
              pairs: Sequence[str] | None = None, confidence: float = DEFAULT_CONFIDENCE) -> dict[str, pd.DataFrame]:
    """Write ``aggregates.csv``, ``profiles.csv``, ``poi.csv`` and ``curves.csv`` under ``out``.

    Each method is aggregated over its own games (the ``games`` column says how many).
    """
    out = Path(out)
    df = check_scores(df)
    methods = list(dict.fromkeys(df["method"]))
    aggregates, profiles = [], []
    for method in progress(methods, desc="bootstrap aggregates and profiles", unit="method"):
        m = score_matrices(df, methods=[method])
        agg = aggregate_estimates(m, reps=reps, seed=seed, confidence=confidence)
        agg["game_list"] = ";".join(m.games)
        aggregates.append(agg)
        profiles.append(performance_profiles(m, reps=reps, seed=seed, confidence=confidence))
    ours = [m for m in methods if kind_of(m) == "reproduced"]
    curves = (sample_efficiency_curves(df, reps=reps, seed=seed, confidence=confidence, methods=ours) if ours
              else pd.DataFrame(columns=list(CURVE_COLUMNS)))
    tables = {
        "aggregates": pd.concat(aggregates, ignore_index=True),
        "profiles": pd.concat(profiles, ignore_index=True),
        "poi": improvement_table(df, parse_pairs(pairs, methods), reps=reps, seed=seed, confidence=confidence),
        "curves": curves,
    }
    for name, table in tables.items():
        write_csv(table, out / f"{name}.csv")
    return tables


def _stats_cmd(args: argparse.Namespace) -> int:
    from spirl.cliargs import outputs_in, refuse_existing

    names = [f"{name}.csv" for name in ("aggregates", "profiles", "poi", "curves")]
    refuse_existing(outputs_in(args.out, names), force=args.force, dirs=[args.out])
    df = scores_with_published(args.scores, args.published or [])
    tables = run_stats(df, args.out, reps=args.reps, seed=args.seed, pairs=args.pairs)
    iqm = tables["aggregates"].query("metric == 'IQM'")
    for row in iqm.itertuples():
        print(f"{row.method:<28} IQM {row.estimate:.3f} [{row.lower:.3f}, {row.upper:.3f}]  "
              f"({row.runs} runs x {row.games} games)")
    print(f"spirl stats: wrote aggregates.csv, profiles.csv, poi.csv, curves.csv to {args.out}")
    return 0


def configure_stats(parser: argparse.ArgumentParser) -> None:
    """``spirl stats --scores results/scores.csv --out reports/stats/ [--reps N] [--pairs a:b ...]``."""
    from spirl.cliargs import number

    parser.add_argument("--scores", help="tidy scores CSV from 'spirl aggregate'")
    parser.add_argument("--published", nargs="*", metavar="[NAME=]PATH",
                        help="published per-run JSON files ({game: [score per run]}), added as published:NAME")
    parser.add_argument("--out", required=True, help="directory for aggregates/profiles/poi/curves CSVs")
    parser.add_argument("--reps", type=number("stats.reps"), default=DEFAULT_REPS,
                        help=f"bootstrap replicates (default {DEFAULT_REPS})")
    parser.add_argument("--seed", type=number("stats.seed"), default=0,
                        help="random state of the bootstrap (default 0)")
    parser.add_argument("--pairs", nargs="*", metavar="X:Y",
                        help="probability of improvement of X over Y (default: every pair of methods)")
    parser.add_argument("--force", action="store_true", help="overwrite the four CSVs in --out if they exist")
    parser.set_defaults(func=_stats_cmd)
