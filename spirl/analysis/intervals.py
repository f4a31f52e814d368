"""Stratified-bootstrap confidence intervals as rliable computes them, and what few runs do to them.

rliable (``library.get_interval_estimates``) resamples the runs of every game with replacement
and offers four interval methods: ``percentile``, ``basic``, ``bc`` (bias-corrected) and ``bca``
(bias-corrected and accelerated, the acceleration from a leave-one-run-out jackknife). Our default
(``StatsSettings.interval``) is the one that covered best at 3-10 runs in the coverage study
(``spirl.analysis.coverage``, ``spirl bench coverage``, docs/statistics.md#coverage). Every method
under-covers below ``MIN_RUNS`` runs per game, so intervals computed from fewer carry a warning.

* ``interval_estimates``: rliable's intervals for one ``[runs, games]`` matrix, with two honest
  fallbacks: one run gives the point estimates without intervals; a parameter whose bias correction
  is undefined (all resamples on one side of the estimate) gets the percentile interval, and says so;
* ``vector_statistic`` / ``intervals_from_indices``: the same aggregates and the four interval formulas
  of arch (which rliable calls), vectorised over bootstrap replicates, for the coverage simulations;
  ``tests/analysis/test_intervals.py`` checks them equal to rliable's.

rliable 1.2 draws its resamples from NumPy's *global* generator, so ``seeded_global_rng`` seeds it for
the call and restores it afterwards.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from spirl.config import IntervalMethod, StatsSettings, allowed

INTERVAL_METHODS: tuple[str, ...] = allowed(IntervalMethod)
DEFAULT_INTERVAL: str = StatsSettings.interval
MIN_RUNS = 5  # fewer runs per game: every interval method under-covers (docs/statistics.md#coverage)
NO_INTERVAL = "1 run per game: point estimate only, a bootstrap interval needs at least two runs"


def few_runs_note(runs: int) -> str:
    """The warning an interval from ``runs`` runs per game carries ("" from ``MIN_RUNS`` runs on)."""
    if runs < 2:
        return NO_INTERVAL
    if runs < MIN_RUNS:
        return (f"{runs} runs per game (< {MIN_RUNS}): the 95% interval covers the true value less often than "
                "95% (docs/statistics.md#coverage)")
    return ""


@contextlib.contextmanager
def seeded_global_rng(seed: int) -> Iterator[None]:
    """Seed NumPy's global generator for the block (rliable draws its resamples from it), then restore it."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def check_method(method: str) -> str:
    """``method`` if it is one of rliable's interval methods, else a one-line error naming them."""
    if method not in INTERVAL_METHODS:
        raise ValueError(f"interval method {method!r}: choose one of {', '.join(INTERVAL_METHODS)}")
    return method


def interval_estimates(matrix: np.ndarray, func: Callable[[np.ndarray], np.ndarray], *, reps: int, seed: int,
                       confidence: float = 0.95, method: str = DEFAULT_INTERVAL
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str], list[str]]:
    """Point estimates and rliable's stratified-bootstrap interval of every parameter ``func`` returns.

    Args:
        matrix: scores [runs, games] (or [runs, games, steps]).
        func: [runs, games, ...] -> [P] parameters (e.g. the four aggregates).
        reps, seed, confidence: bootstrap replicates, the global generator's seed, interval size.
        method: one of ``INTERVAL_METHODS``.
    Returns:
        (estimate [P], lower [P], upper [P], method used per parameter, note per parameter). Bounds are NaN
        (method "none") for one run; a parameter where ``bc``/``bca`` is undefined gets the percentile
        interval and a note saying so.
        The same seed gives the same resamples whatever the method, so fallbacks use the same replicates.
    """
    from rliable import library

    check_method(method)
    point = np.atleast_1d(np.asarray(func(matrix), dtype=float))
    runs = matrix.shape[0]
    if runs < 2:
        nan = np.full(point.shape, np.nan)
        return point, nan, nan.copy(), ["none"] * len(point), [NO_INTERVAL] * len(point)

    def rliable_interval(f: Callable[[np.ndarray], np.ndarray], how: str) -> np.ndarray:
        with seeded_global_rng(seed):
            _, interval = library.get_interval_estimates({"m": matrix}, f, method=how, reps=reps,
                                                         confidence_interval_size=confidence)
        return np.asarray(interval["m"], dtype=float).reshape(2, -1)

    notes = [few_runs_note(runs)] * len(point)
    used = [method] * len(point)
    try:
        bounds = rliable_interval(func, method)
    except RuntimeError:  # bias correction or acceleration undefined for at least one parameter
        bounds = np.empty((2, len(point)))
        for i in range(len(point)):
            def one(x: np.ndarray, i: int = i) -> np.ndarray:
                return np.atleast_1d(np.asarray(func(x), dtype=float))[i:i + 1]
            try:
                bounds[:, i] = rliable_interval(one, method)[:, 0]
            except RuntimeError:
                bounds[:, i] = rliable_interval(one, "percentile")[:, 0]
                used[i] = "percentile"
                why = (f"{method} undefined here (every resample on one side of the estimate, or no jackknife "
                       "spread): percentile interval")
                notes[i] = "; ".join(x for x in (notes[i], why) if x)
    return point, bounds[0], bounds[1], used, notes


# ============================================================================== vectorised replicas


def vector_statistic(scores: np.ndarray, metric: str) -> np.ndarray:
    """rliable's aggregate ``metric`` over the last two axes: scores [..., runs, games] -> [...].

    ``mean``: mean of the per-game means; ``median``: median of them; ``IQM``: 25% trimmed mean of all
    runs x games (scipy's ``trim_mean``); ``optimality_gap``: 1 - mean(min(score, 1)).
    """
    if metric == "mean":
        return scores.mean(axis=-2).mean(axis=-1)
    if metric == "median":
        return np.median(scores.mean(axis=-2), axis=-1)
    if metric == "optimality_gap":
        return 1.0 - np.minimum(scores, 1.0).reshape(*scores.shape[:-2], -1).mean(axis=-1)
    if metric == "IQM":
        flat = np.sort(scores.reshape(*scores.shape[:-2], -1), axis=-1)
        cut = int(0.25 * flat.shape[-1])
        return flat[..., cut:flat.shape[-1] - cut].mean(axis=-1)
    raise ValueError(f"unknown metric {metric!r}; choose from mean, median, IQM, optimality_gap")


def intervals_from_indices(matrix: np.ndarray, indices: np.ndarray, metric: str,
                           methods: Sequence[str] = INTERVAL_METHODS,
                           confidence: float = 0.95) -> dict[str, tuple[float, float]]:
    """arch's interval formulas, as rliable applies them, for one matrix and given resample indices.

    Args:
        matrix: scores [runs, games].
        indices: [reps, runs, games] row indices of each resample (column j resamples game j's runs).
        metric: see ``vector_statistic``.
    Returns:
        ``{method: (lower, upper)}``; ``bc`` / ``bca`` are left out where they are undefined (arch raises
        there), as ``interval_estimates`` then falls back to the percentile interval.
    """
    from scipy import stats as sps

    boot = vector_statistic(np.take_along_axis(matrix[None], indices, axis=1), metric)  # [reps]
    base = float(vector_statistic(matrix, metric))
    alpha = (1.0 - confidence) / 2
    z = sps.norm.ppf([alpha, 1.0 - alpha])
    out: dict[str, tuple[float, float]] = {}
    lo, hi = np.percentile(boot, [100 * alpha, 100 * (1.0 - alpha)])
    if "percentile" in methods:
        out["percentile"] = (float(lo), float(hi))
    if "basic" in methods:
        out["basic"] = (2.0 * base - float(hi), 2.0 * base - float(lo))
    below = float(np.mean(boot < base))
    if not 0.0 < below < 1.0 or not {"bc", "bca"} & set(methods):
        return out
    b = sps.norm.ppf(below)
    if "bc" in methods:
        bc = np.percentile(boot, 100 * sps.norm.cdf(2 * b + z))
        out["bc"] = (float(bc[0]), float(bc[1]))
    if "bca" in methods:
        runs = matrix.shape[0]
        jack = np.array([vector_statistic(np.delete(matrix, i, axis=0), metric) for i in range(runs)])
        u = jack.mean() - jack
        denom = 6.0 * np.sum(u**2) ** 1.5
        if denom >= abs(np.sum(u**3)) * np.finfo(np.float64).eps and denom > 0:
            a = float(np.sum(u**3) / denom)
            bca = np.percentile(boot, 100 * sps.norm.cdf(b + (b + z) / (1.0 - a * (b + z))))
            out["bca"] = (float(bca[0]), float(bca[1]))
    return out
