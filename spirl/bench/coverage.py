"""``spirl bench coverage``: how often rliable's 95% intervals (percentile, basic, bc, bca) hold the truth.

Not a speed benchmark: a simulation that measures the coverage of each interval method at 2-10 runs
per game (``spirl.analysis.coverage``), the table behind docs/statistics.md#coverage and the default
``StatsSettings.interval``. Populations: a built-in skewed one on 4 games and, with ``--population
FILE`` (published per-run scores ``{game: [score per run]}``, e.g. SPR's 100 runs), that file on the
paper's four games and on all its games. Each cell's Monte Carlo error is about
sqrt(0.95 * 0.05 / trials) (0.5% at 2,000 trials). The last line compares the default with rliable's own
default, percentile: their mean coverage over 3-10 runs.
"""

from __future__ import annotations

import time

import numpy as np

from spirl.analysis import coverage as cv
from spirl.analysis.intervals import DEFAULT_INTERVAL, INTERVAL_METHODS
from spirl.atari.games import PAPER_GAMES
from spirl.bench import Options


def run(args: Options) -> int:
    """Simulate, print the coverage table and, last, the default against percentile."""
    trials, reps = (100, 200) if args.quick else (args.trials, args.reps)
    populations = {"gamma-4": cv.synthetic_population(4, seed=args.seed)}
    if args.population:
        four, _ = cv.population_from_file(args.population, PAPER_GAMES)
        populations["file-4"] = four
        every, games = cv.population_from_file(args.population)
        if len(games) != 4:
            populations[f"file-{len(games)}"] = every
    start = time.perf_counter()
    table = cv.coverage_table(populations, args.runs, args.metrics, trials=trials, reps=reps, seed=args.seed)
    print(f"coverage of 95% stratified-bootstrap intervals: {trials} experiments x {reps} replicates per cell "
          f"(Monte Carlo error ~{np.sqrt(0.95 * 0.05 / trials):.3f}), {time.perf_counter() - start:.0f} s")
    wide = table.pivot_table(index=["population", "games", "metric", "runs"], columns="method", values="coverage")
    print(wide[list(INTERVAL_METHODS)].round(3).to_string())
    mid = table[(table["runs"] >= 3) & (table["runs"] <= 10)].groupby("method")["coverage"].mean()
    best = mid.idxmax()
    print("mean coverage over 3-10 runs: " + ", ".join(f"{m} {mid[m]:.3f}" for m in INTERVAL_METHODS)
          + f"; best: {best}")
    print(f"default {DEFAULT_INTERVAL}: {mid[DEFAULT_INTERVAL]:.3f} vs percentile {mid['percentile']:.3f} "
          f"(difference {mid[DEFAULT_INTERVAL] - mid['percentile']:+.3f})")
    return 0
