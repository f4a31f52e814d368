"""``spirl bench verdicts``: false-alarm rate and power of the verdict rule, by simulation.

Not a speed benchmark: it simulates experiments where our runs and the paper's come from one normal
distribution (false alarms) or ours sit one standard deviation higher (power), at the run counts the
presets and the paper use, and applies the shipped rule (``spirl.analysis.verdicts.verdict_arrays``)
and, for comparison, the straightforward rules it replaced: Welch's t-test where both spreads are
known, and "the paper's mean inside our 95% t-interval" where the paper's spread is unpublished.
``--skewed`` draws gamma(2) scores instead (Atari scores are right-skewed); ``--ratio R`` gives our
runs R times the paper's standard deviation (the null of one distribution is then false, the means
still equal). The table is docs/statistics.md#verdict's; the last line compares the false-alarm rates.
"""

from __future__ import annotations

import numpy as np
from scipy import stats as sps

from spirl.analysis import verdicts as vd
from spirl.bench import Options

PAIRS = [(2, 5), (2, 10), (5, 5), (5, 10), (10, 5), (10, 10)]  # (ours, paper's) run counts


def _welch_differs(m1: np.ndarray, s1: np.ndarray, n1: int, m2: np.ndarray, s2: np.ndarray, n2: int) -> np.ndarray:
    """The replaced rule with both spreads known: Welch's two-sided t-test at 5%."""
    a, b = s1**2 / n1, s2**2 / n2
    df = (a + b) ** 2 / (a**2 / (n1 - 1) + b**2 / (n2 - 1))
    return 2 * sps.t.sf(np.abs(m1 - m2) / np.sqrt(a + b), df) < 0.05


def _interval_differs(m1: np.ndarray, s1: np.ndarray, n1: int, m2: np.ndarray) -> np.ndarray:
    """The replaced rule without the paper's spread: its mean outside our 95% t-interval (its error ignored)."""
    return np.abs(m1 - m2) > sps.t.ppf(0.975, n1 - 1) * s1 / np.sqrt(n1)


def run(args: Options) -> int:
    """Simulate every pair, print the table and, last, the false-alarm rates of the new and the old rule."""
    trials = 2_000 if args.quick else args.trials
    rng = np.random.default_rng(args.seed)

    def draw(n: int, shift: float, scale: float) -> np.ndarray:
        x = rng.gamma(2.0, 1.0 / np.sqrt(2.0), size=(trials, n)) - np.sqrt(2.0) if args.skewed else rng.normal(
            size=(trials, n))  # mean 0, std 1 either way
        return shift + scale * x

    print(f"verdicts on {trials:,} simulated experiments per cell ({'gamma(2)' if args.skewed else 'normal'} scores, "
          f"our std = {args.ratio:g} x the paper's); nominal level {vd.ALPHA:.0%}")
    print(f"{'ours':>4} {'paper':>5} {'paper std':>9} | {'false alarm':>11} {'old rule':>8} | {'power 1 sd':>10} "
          f"{'stated':>6} {'old rule':>8} | {'gap found half the time (sd)':>28}")
    new_fa, old_fa = [], []
    for known in (True, False):
        for n1, n2 in PAIRS:
            results = {}
            for gap in (0.0, vd.EFFECT_SD):
                ours, ref = draw(n1, gap, args.ratio), draw(n2, 0.0, 1.0)
                m1, s1, m2, s2 = ours.mean(1), ours.std(1, ddof=1), ref.mean(1), ref.std(1, ddof=1)
                r = vd.verdict_arrays(m1, s1, n1, m2, s2, n2, known)
                old = _welch_differs(m1, s1, n1, m2, s2, n2) if known else _interval_differs(m1, s1, n1, m2)
                results[gap] = (float(np.mean(r["code"] == vd.CODE["differs"])), float(np.mean(old)), r)
            (fa, fa_old, r0), (pw, pw_old, _) = results[0.0], results[vd.EFFECT_SD]
            new_fa.append(fa)
            old_fa.append(fa_old)
            half = float(np.median(r0["detectable"] / r0["sd"]))
            print(f"{n1:>4} {n2:>5} {'known' if known else 'unpubl.':>9} | {fa:>11.3f} {fa_old:>8.3f} | {pw:>10.3f} "
                  f"{float(r0['power'][0]):>6.3f} {pw_old:>8.3f} | {half:>28.2f}")
    worst_new = max(new_fa, key=lambda x: abs(x - vd.ALPHA))
    worst_old = max(old_fa, key=lambda x: abs(x - vd.ALPHA))
    ratio = abs(worst_old - vd.ALPHA) / max(abs(worst_new - vd.ALPHA), 1e-9)
    print(f"false alarms at a nominal {vd.ALPHA:.0%}: this rule {min(new_fa):.3f}-{max(new_fa):.3f} "
          f"(furthest {worst_new:.3f}), the replaced rules {min(old_fa):.3f}-{max(old_fa):.3f} "
          f"(furthest {worst_old:.3f}); ratio of the furthest distances from {vd.ALPHA:.0%}: {ratio:.1f}x")
    return 0
