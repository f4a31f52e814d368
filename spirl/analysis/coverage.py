"""Coverage of rliable's interval methods at few runs: how often a 95% interval holds the true value.

A *population* of per-run scores per game stands for the experiment: the published per-run data of a
method (e.g. SPR's 100 runs x 26 games, human-normalised) or a built-in skewed one. Each simulated
experiment draws ``runs`` runs per game from it with replacement, resamples them as rliable's stratified
bootstrap does, and computes the interval of every method from the same resamples
(``spirl.analysis.intervals.intervals_from_indices``, equal to rliable's). The true value is the aggregate
of the whole (finite) population, so it is exact. ``spirl bench coverage`` prints the table that
docs/statistics.md#coverage reports and that chose ``StatsSettings.interval``.

Shapes: P = population runs, G = games, n = runs per simulated experiment, R = bootstrap replicates.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from spirl.analysis.intervals import INTERVAL_METHODS, intervals_from_indices, vector_statistic
from spirl.analysis.published import load_published
from spirl.atari import games as game_table
from spirl.utils import progress


def synthetic_population(games: int = 4, runs: int = 2000, seed: int = 0) -> np.ndarray:
    """A skewed population of human-normalised scores [runs, games]: gamma-distributed, per-game shape and scale.

    Shapes 1.5-4 and means 0.1-1.0 resemble Atari 100k agents (right-skewed, a few runs far above the rest).
    """
    rng = np.random.default_rng(seed)
    shape = np.linspace(1.5, 4.0, games)
    mean = np.linspace(0.1, 1.0, games)[rng.permutation(games)]
    return rng.gamma(shape, mean / shape, size=(runs, games))


def population_from_file(path: str | Path, games: Sequence[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """Published per-run scores ``{game: [score per run]}`` as a human-normalised population [P, G].

    Games are the file's (table order) or ``games``; every game must have the same number of runs.
    """

    data = load_published(path)
    chosen = game_table.order_games(data) if games is None else [game_table.canonical(g) for g in games]
    missing = [g for g in chosen if g not in data]
    if missing:
        raise ValueError(f"{path}: no runs for {', '.join(missing)}")
    counts = {len(data[g]) for g in chosen}
    if len(counts) != 1:
        raise ValueError(f"{path}: games have different numbers of runs ({sorted(counts)}); a population needs one")
    cols = []
    for g in chosen:
        info = game_table.get(g)
        if info.human is None or info.random is None:
            raise ValueError(f"{path}: game {g} has no human and random scores to normalise by")
        cols.append((np.asarray(data[g]) - info.random) / (info.human - info.random))
    return np.stack(cols, axis=1), chosen


def coverage(population: np.ndarray, runs: int, metric: str, *, trials: int = 1000, reps: int = 1000,
             seed: int = 0, methods: Sequence[str] = INTERVAL_METHODS,
             confidence: float = 0.95) -> dict[str, float]:
    """Share of simulated experiments whose interval holds the population's ``metric``, per method.

    Args:
        population: [P, G] per-run scores; each experiment draws ``runs`` of the P rows per game.
        metric: ``mean``, ``median``, ``IQM`` or ``optimality_gap``.
        trials, reps: simulated experiments and bootstrap replicates per experiment.
    Returns:
        ``{method: coverage}``. Where ``bc`` / ``bca`` are undefined, the percentile interval stands in,
        as in the shipped statistics.
    """
    rs = np.random.RandomState(seed)
    pop_runs, games = population.shape
    truth = float(vector_statistic(population, metric))
    hits = dict.fromkeys(methods, 0)
    cols = np.arange(games)
    wanted = list(dict.fromkeys(["percentile", *methods]))
    for _ in range(trials):
        x = population[rs.randint(0, pop_runs, (runs, games)), cols]  # [n, G]
        idx = rs.randint(0, runs, (reps, runs, games))  # [R, n, G]
        found = intervals_from_indices(x, idx, metric, wanted, confidence)
        for m in methods:
            lo, hi = found.get(m, found["percentile"])
            hits[m] += lo <= truth <= hi
    return {m: hits[m] / trials for m in methods}


def coverage_table(populations: dict[str, np.ndarray], runs: Sequence[int] = (2, 3, 5, 10),
                   metrics: Sequence[str] = ("mean", "IQM"), *, trials: int = 1000, reps: int = 1000, seed: int = 0,
                   methods: Sequence[str] = INTERVAL_METHODS) -> pd.DataFrame:
    """Coverage of every method for every population, metric and run count.

    Returns:
        Tidy table ``population, games, metric, runs, method, coverage, trials, reps``. Each cell has its own
        seed, from ``seed`` and the cell's name, so a cell does not depend on which others are computed.
    """
    rows = []
    cells = [(name, metric, n) for name in populations for metric in metrics for n in runs]
    for name, metric, n in progress(cells, desc="coverage", unit="cell"):
        pop = populations[name]
        cell_seed = (seed + zlib.crc32(f"{name}/{metric}/{n}".encode())) % 2**32
        found = coverage(pop, n, metric, trials=trials, reps=reps, seed=cell_seed, methods=methods)
        rows += [{"population": name, "games": pop.shape[1], "metric": metric, "runs": n, "method": m,
                  "coverage": c, "trials": trials, "reps": reps} for m, c in found.items()]
    return pd.DataFrame(rows)
