"""``spirl bench stats``: vectorised probability of improvement vs rliable's, same data, same process.

Workload (issue 6): 4 methods x 5 runs x 26 games, every pair of methods (6), 2,000 stratified
bootstrap replicates. rliable computes the statistic with one ``scipy.stats.mannwhitneyu`` call per
game per replicate; ``spirl.analysis.poi.probability_of_improvement_interval`` ranks all replicates and
games at once. Both draw the same resamples from the same seed, so the bench also checks that the
point estimates and intervals agree.

rliable takes minutes at full size on a 2-core machine, so by default it runs ``--rliable-reps``
replicates (200) and its time is scaled linearly to the full count (the work per replicate is
constant); ``--full`` runs it at full size. The last line is the speed-up.
"""

from __future__ import annotations

import itertools
import time

import numpy as np

from spirl.analysis import poi
from spirl.analysis.intervals import seeded_global_rng
from spirl.bench import Options, emit


def _rliable_poi(x: np.ndarray, y: np.ndarray, reps: int, seed: int) -> tuple[float, float, float]:
    from rliable import library, metrics

    with seeded_global_rng(seed):
        point, interval = library.get_interval_estimates({"pair": [x, y]}, metrics.probability_of_improvement,
                                                         reps=reps)
    return float(point["pair"]), float(interval["pair"][0, 0]), float(interval["pair"][1, 0])


def run(args: Options) -> int:
    """Time both implementations and print the figures, the agreement check and, last, the ratio."""
    reps = 200 if args.quick else args.reps
    rl_reps = reps if args.full else min(20 if args.quick else args.rliable_reps, reps)
    rng = np.random.default_rng(args.seed)
    # Scores shaped like human-normalised Atari results: per-method offsets, per-game spread, a few ties.
    scores = {f"m{i}": np.round(rng.gamma(2.0, 0.2 + 0.05 * i, size=(args.runs, args.games)), 2)
              for i in range(args.methods)}
    pairs = list(itertools.combinations(scores, 2))
    # Warm up both paths (imports, first-call overheads) so that neither timing includes them.
    first = scores[pairs[0][0]], scores[pairs[0][1]]
    poi.probability_of_improvement_interval(*first, reps=2)
    _rliable_poi(*first, reps=2, seed=args.seed)
    print(f"workload: {args.methods} methods x {args.runs} runs x {args.games} games, {len(pairs)} pairs, "
          f"{reps} replicates (rliable: {rl_reps}{'' if rl_reps == reps else ', time scaled'})")

    t0 = time.perf_counter()
    ours = {p: poi.probability_of_improvement_interval(scores[p[0]], scores[p[1]], reps=reps, random_state=args.seed)
            for p in pairs}
    t_ours = time.perf_counter() - t0

    t0 = time.perf_counter()
    theirs = {p: _rliable_poi(scores[p[0]], scores[p[1]], rl_reps, args.seed) for p in pairs}
    t_theirs = (time.perf_counter() - t0) * reps / rl_reps

    # Agreement at rliable's replicate count: same seed, same resamples.
    same = {p: poi.probability_of_improvement_interval(scores[p[0]], scores[p[1]], reps=rl_reps,
                                                      random_state=args.seed) for p in pairs}
    worst = max(abs(a - b) for p in pairs for a, b in zip(same[p], theirs[p]))
    print(f"vectorised (spirl.analysis.rliable_stats): {t_ours:8.2f} s for {len(pairs)} pairs x {reps} replicates")
    scaled = "" if rl_reps == reps else f" (measured at {rl_reps} replicates, scaled to {reps})"
    print(f"rliable (scipy per game):  {t_theirs:8.2f} s{scaled}")
    print(f"largest difference in estimate/CI at {rl_reps} replicates: {worst:.2e}")
    for p in pairs[:2]:
        e, lo, hi = ours[p]
        print(f"  P({p[0]} > {p[1]}) = {e:.3f} [{lo:.3f}, {hi:.3f}]")
    print(f"ratio shipped/straightforward: {t_theirs / t_ours:.1f}x")
    figures = {"methods": args.methods, "runs": args.runs, "games": args.games, "pairs": len(pairs), "reps": reps,
               "rliable_reps": rl_reps, "shipped_s": t_ours, "rliable_s": t_theirs,
               "rliable_time_scaled": rl_reps != reps, "max_difference": worst}
    emit(args, figures, ratio=t_theirs / t_ours, device="cpu")
    return 0 if worst < 1e-12 else 1
