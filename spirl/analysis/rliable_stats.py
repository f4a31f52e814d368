"""rliable aggregates with stratified-bootstrap CIs, performance profiles, probability of improvement, curves.

Aggregates (IQM, median, mean, optimality gap), performance profiles and probability of
improvement come with 95% stratified-bootstrap confidence intervals: each bootstrap sample
redraws the runs of every game with replacement, games are never resampled. Inputs follow
rliable's contract, ``{method: array[runs, games]}`` (``spirl.analysis.scores.score_matrices``);
outputs are tidy tables, written by ``spirl stats`` to ``reports/stats/``: ``aggregates.csv``,
``profiles.csv``, ``poi.csv``, ``curves.csv``.

Aggregates and curves use the interval method ``StatsSettings.interval`` (rliable's ``bca`` by default,
the best-covering one at 3-10 runs, docs/statistics.md#coverage); profiles and the probability of
improvement use rliable's percentile intervals. Every row carries its run count and, below
``intervals.MIN_RUNS`` runs per game, a note that the interval under-covers; a method with one run
per game gets its point estimates without intervals, and the others go on. Methods are compared over
the games they all share (``game_set`` "shared"); a method's aggregate over its own, different games
is a separate row (``game_set`` "own") that figures draw apart.

rliable 1.2 draws its bootstrap indices from NumPy's *global* generator
(``np.random.choice`` in ``StratifiedBootstrap.update_indices``), not from the
``random_state`` it is handed, so a fixed seed has to be set on the global generator;
``intervals.seeded_global_rng`` does that and restores the previous state afterwards. The probability
of improvement is computed here, vectorised over replicates, with the same resamples and
the same estimate as rliable's (``spirl bench stats``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from spirl.analysis.intervals import (
    DEFAULT_INTERVAL,
    check_method,
    few_runs_note,
    interval_estimates,
    seeded_global_rng,
)
from spirl.analysis.poi import (
    DEFAULT_CONFIDENCE,
    probability_of_improvement,
    probability_of_improvement_interval,
)
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
from spirl.config import StatsSettings
from spirl.utils import progress

DEFAULT_REPS = StatsSettings.reps  # bootstrap replicates everywhere (rliable's recommendation)
METRICS = ("IQM", "median", "mean", "optimality_gap")
AGGREGATE_COLUMNS = ("method", "kind", "metric", "estimate", "lower", "upper", "runs", "games", "reps", "interval",
                     "note", "game_set", "game_list")
POI_COLUMNS = ("x", "y", "estimate", "lower", "upper", "runs_x", "runs_y", "games", "reps", "note")
CURVE_COLUMNS = ("method", "kind", "step", "metric", "estimate", "lower", "upper", "runs", "games", "note")
DEFAULT_TAUS = np.linspace(0.0, 2.0, 81)  # performance-profile thresholds, human-normalised


def _check_matrix(method: str, matrix: np.ndarray) -> None:
    """A usable score matrix: [runs >= 1, games >= 1, ...], finite. One run is allowed (no interval then)."""
    if matrix.ndim < 2 or matrix.shape[0] == 0 or matrix.shape[1] == 0:
        raise StatsError(f"method {method}: expected an array [runs, games], got shape {matrix.shape}")
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
                        confidence: float = DEFAULT_CONFIDENCE, metrics: Sequence[str] = METRICS,
                        interval: str = DEFAULT_INTERVAL) -> pd.DataFrame:
    """IQM, median, mean and optimality gap of each method with stratified-bootstrap CIs (rliable).

    Each method is bootstrapped with the global generator seeded by ``seed``, so its interval
    does not depend on which other methods are in the table. One run per game gives the point
    estimates with NaN bounds; the ``note`` column says so, or that fewer than five runs under-cover.

    Returns:
        Tidy table ``method, kind, metric, estimate, lower, upper, runs, games, reps, interval, note``.
    """
    funcs = metric_functions()
    unknown = [m for m in metrics if m not in funcs]
    if unknown:
        raise StatsError(f"unknown metric(s) {', '.join(unknown)}; choose from {', '.join(funcs)}")
    check_method(interval)

    def all_metrics(scores: np.ndarray) -> np.ndarray:
        return np.array([funcs[m](scores) for m in metrics])

    rows = []
    for method, matrix in matrices.items():
        _check_matrix(method, matrix)
        point, lower, upper, used, notes = interval_estimates(matrix, all_metrics, reps=reps, seed=seed,
                                                              confidence=confidence, method=interval)
        for i, metric in enumerate(metrics):
            rows.append({
                "method": method, "kind": kind_of(method), "metric": metric, "estimate": float(point[i]),
                "lower": float(lower[i]), "upper": float(upper[i]), "runs": matrix.shape[0],
                "games": matrix.shape[1], "reps": reps, "interval": used[i], "note": notes[i],
            })
    return pd.DataFrame(rows)


def _score_distribution(scores: np.ndarray, taus: np.ndarray) -> np.ndarray:
    """Fraction of runs x games with score > tau, for every tau at once: [taus]."""
    return np.mean(scores[..., None] > taus, axis=(0, 1))


def performance_profiles(matrices: dict[str, np.ndarray], *, taus: np.ndarray | None = None, reps: int = DEFAULT_REPS,
                         seed: int = 0, confidence: float = DEFAULT_CONFIDENCE) -> pd.DataFrame:
    """Run-score performance profiles (fraction of runs above tau) with stratified-bootstrap CIs.

    Returns:
        Tidy table ``method, kind, tau, fraction, lower, upper, runs, games`` (NaN bounds for one run).
    """
    from rliable import library

    taus = DEFAULT_TAUS if taus is None else np.asarray(taus, dtype=float)
    rows = []
    for method, matrix in matrices.items():
        _check_matrix(method, matrix)
        if matrix.shape[0] < 2:  # one run: the profile itself, no interval
            fraction = _score_distribution(matrix, taus)
            profile, ci = {method: fraction}, {method: np.full((2, len(taus)), np.nan)}
        else:
            with seeded_global_rng(seed):
                profile, ci = library.create_performance_profile(
                    {method: matrix}, taus, custom_profile_func=_score_distribution, reps=reps,
                    confidence_interval_size=confidence)
        for j, tau in enumerate(taus):
            rows.append({"method": method, "kind": kind_of(method), "tau": float(tau),
                         "fraction": float(profile[method][j]), "lower": float(ci[method][0, j]),
                         "upper": float(ci[method][1, j]), "runs": matrix.shape[0], "games": matrix.shape[1]})
    return pd.DataFrame(rows)


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
        fewest = min(m[a].shape[0], m[b].shape[0])
        if fewest < 2:  # the estimate stands; its interval cannot be bootstrapped
            est, lo, hi = probability_of_improvement(m[a], m[b]), float("nan"), float("nan")
        else:
            est, lo, hi = probability_of_improvement_interval(m[a], m[b], reps=reps, random_state=seed,
                                                              confidence=confidence)
        rows.append({"x": a, "y": b, "estimate": est, "lower": lo, "upper": hi, "runs_x": m[a].shape[0],
                     "runs_y": m[b].shape[0], "games": ";".join(games), "reps": reps, "note": few_runs_note(fewest)})
    return pd.DataFrame(rows)


# ============================================================================== sample-efficiency curves


def sample_efficiency_curves(df: pd.DataFrame, *, reps: int = DEFAULT_REPS, seed: int = 0,
                             confidence: float = DEFAULT_CONFIDENCE, methods: Sequence[str] | None = None,
                             interval: str = DEFAULT_INTERVAL) -> pd.DataFrame:
    """IQM of human-normalised scores at each evaluation step, with stratified-bootstrap CIs.

    Returns:
        Tidy table ``method, kind, step, metric, estimate, lower, upper, runs, games, note`` (NaN bounds for
        one run per game).
    """
    from rliable import metrics

    cubes, steps_of, _ = curve_matrices(df, methods=methods)
    rows = []
    for method, cube in cubes.items():
        _check_matrix(method, cube)

        def iqm_per_step(scores: np.ndarray) -> np.ndarray:
            return np.array([metrics.aggregate_iqm(scores[..., j]) for j in range(scores.shape[-1])])

        point, lower, upper, _, notes = interval_estimates(cube, iqm_per_step, reps=reps, seed=seed,
                                                           confidence=confidence, method=interval)
        for j, step in enumerate(steps_of[method]):
            rows.append({"method": method, "kind": kind_of(method), "step": step, "metric": "IQM",
                         "estimate": float(point[j]), "lower": float(lower[j]), "upper": float(upper[j]),
                         "runs": cube.shape[0], "games": cube.shape[1], "note": notes[j]})
    return pd.DataFrame(rows, columns=list(CURVE_COLUMNS))


def game_sets(df: pd.DataFrame) -> tuple[list[str], dict[str, list[str]]]:
    """The games every method has (table order) and each method's own games, from a checked scores table."""
    runs = final_scores(df)
    own = {m: game_table.order_games(runs.loc[runs["method"] == m, "game"]) for m in dict.fromkeys(df["method"])}
    shared = set.intersection(*(set(g) for g in own.values())) if own else set()
    return game_table.order_games(shared), own


# ============================================================================== CLI


def run_stats(df: pd.DataFrame, out: str | Path, *, reps: int = DEFAULT_REPS, seed: int = 0,
              pairs: Sequence[str] | None = None, confidence: float = DEFAULT_CONFIDENCE,
              interval: str = DEFAULT_INTERVAL) -> dict[str, pd.DataFrame]:
    """Write ``aggregates.csv``, ``profiles.csv``, ``poi.csv`` and ``curves.csv`` under ``out``.

    Aggregates and profiles are computed over the games every method has (``game_set`` "shared"),
    and, for a method with other games, over its own games too (``game_set`` "own", not comparable
    across methods). Curves cover our methods on the games they share. A method with one run per game
    gets point estimates only; its ``note`` says why.
    """
    out = Path(out)
    df = check_scores(df)
    methods = list(dict.fromkeys(df["method"]))
    shared, own = game_sets(df)
    groups = [(m, "shared", shared) for m in methods if shared]
    groups += [(m, "own", own[m]) for m in methods if own[m] != shared]
    aggregates, profiles = [], []
    for method, game_set, games in progress(groups, desc="bootstrap aggregates and profiles", unit="method"):
        m = score_matrices(df, games=games, methods=[method])
        agg = aggregate_estimates(m, reps=reps, seed=seed, confidence=confidence, interval=interval)
        agg["game_set"], agg["game_list"] = game_set, ";".join(m.games)
        aggregates.append(agg)
        prof = performance_profiles(m, reps=reps, seed=seed, confidence=confidence)
        prof["game_set"] = game_set
        profiles.append(prof)
    ours = [m for m in methods if kind_of(m) == "reproduced"]
    ours_shared = game_table.order_games(set.intersection(*(set(own[m]) for m in ours))) if ours else []
    curve_df = df[df["game"].isin(ours_shared)] if ours_shared else df
    curves = (sample_efficiency_curves(curve_df, reps=reps, seed=seed, confidence=confidence, methods=ours,
                                       interval=interval) if ours else pd.DataFrame(columns=list(CURVE_COLUMNS)))
    tables = {
        "aggregates": pd.concat(aggregates, ignore_index=True).reindex(columns=list(AGGREGATE_COLUMNS)),
        "profiles": pd.concat(profiles, ignore_index=True),
        "poi": improvement_table(df, parse_pairs(pairs, methods), reps=reps, seed=seed, confidence=confidence),
        "curves": curves,
    }
    for name, table in tables.items():
        write_csv(table, out / f"{name}.csv")
    return tables
