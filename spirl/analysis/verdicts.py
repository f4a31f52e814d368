"""Verdicts: is our number consistent with the paper's, given the uncertainty on both sides?

The rule (docs/statistics.md#verdict). The null hypothesis is that our runs and the paper's
runs come from one distribution. The difference of the two means is divided by its standard
error with one **pooled** run-to-run standard deviation:

* both standard deviations known: ``sd² = ((n₁-1) s₁² + (n₂-1) s₂²) / (n₁ + n₂ - 2)``, ``n₁ + n₂ - 2``
  degrees of freedom (a single run of ours adds its mean, not its spread);
* only the paper's mean and run count known (its spread unpublished): ``sd = s₁``, ``n₁ - 1`` degrees
  of freedom. The paper's mean still has the error ``sd / √n₂``: under the null its runs spread as ours;
* ``t = (m₁ - m₂) / (sd √(1/n₁ + 1/n₂))``, two-sided at ``ALPHA``: exact for normal scores at any run
  count, which is what keeps the false-alarm rate at 5% (``tests/analysis/test_verdicts.py`` simulates it).

Then a verdict is one of:

* ``differs``: p < ``ALPHA``;
* ``too few runs``: no significant difference, but the test would find a gap of ``EFFECT_SD`` run-to-run
  standard deviations less than ``MIN_POWER`` of the time, so "consistent" would promise too much;
* ``consistent``: no significant difference, and the test had the power to find such a gap;
* ``n/a``: a side is missing, a number is not finite, the paper's run count is unknown, or neither side
  has any spread to judge by.

Every verdict also states ``detectable``: the difference, in the table's units, that the test finds
half the time (50% power at level ``ALPHA``, from the noncentral t distribution).

``verdict_arrays`` is the rule on NumPy arrays (the simulations call it); ``judge`` and ``verdict``
apply it to one pair of summaries; ``verdict_cell`` makes a table cell of it.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from spirl.analysis import paper_numbers as paper
from spirl.analysis.table_model import Cell, Summary

ALPHA = 0.05  # two-sided level of the test
EFFECT_SD = 1.0  # the gap, in run-to-run standard deviations, that a "consistent" must be able to find ...
MIN_POWER = 0.5  # ... at least this often; below it the verdict says "too few runs"
VERDICTS = ("consistent", "differs", "too few runs", "n/a")
CODE = {word: i for i, word in enumerate(VERDICTS)}


def _two_sided_power(crit: float | np.ndarray, df: float | np.ndarray, ncp: float | np.ndarray) -> np.ndarray:
    """P(|T| > crit) for T noncentral t(df, ncp); scipy's far lower tail can be NaN where it is ~0."""
    from scipy import stats as sps

    return sps.nct.sf(crit, df, ncp) + np.nan_to_num(sps.nct.cdf(-crit, df, ncp), nan=0.0)


@functools.lru_cache(maxsize=4096)
def _ncp_for_power(df: float, alpha: float, power: float) -> float:
    """The noncentrality at which the two-sided t-test with ``df`` degrees of freedom rejects with ``power``."""
    from scipy import optimize
    from scipy import stats as sps

    crit = float(sps.t.ppf(1.0 - alpha / 2, df))

    def gap(ncp: float) -> float:
        return _two_sided_power(crit, df, ncp) - power

    return float(optimize.brentq(gap, 0.0, 2.0 * crit + 5.0, xtol=1e-10))  # power(0) = alpha; power(2 crit + 5) ~ 1


def verdict_arrays(ours_mean: np.ndarray, ours_std: np.ndarray, ours_n: np.ndarray, ref_mean: np.ndarray,
                   ref_std: np.ndarray, ref_n: np.ndarray, ref_std_known: bool | np.ndarray = True,
                   alpha: float = ALPHA) -> dict[str, np.ndarray]:
    """The verdict rule on arrays (any broadcastable shape S), e.g. one entry per simulated experiment.

    Args:
        ours_mean, ours_std, ours_n: our mean, sample std (ddof 1; ignored for one run) and run count, each S.
        ref_mean, ref_std, ref_n: the paper's mean, std and run count, each S (``ref_std`` ignored where
            ``ref_std_known`` is False).
        ref_std_known: whether the paper published its spread, bool or bool S.
    Returns:
        ``code`` (int S, an index into ``VERDICTS``), and float S arrays ``t``, ``df``, ``p``, ``sd`` (the pooled
        run-to-run std), ``se`` (standard error of the difference), ``power`` (against a gap of
        ``EFFECT_SD`` sd) and ``detectable`` (the gap found half the time, in the inputs' units); NaN where
        the verdict is n/a.
    """
    from scipy import stats as sps

    m1, s1, n1, m2, s2, n2, known = np.broadcast_arrays(
        *(np.asarray(a, dtype=float) for a in (ours_mean, ours_std, ours_n, ref_mean, ref_std, ref_n)),
        np.asarray(ref_std_known, dtype=bool))
    with np.errstate(invalid="ignore", divide="ignore"):
        own = np.where(n1 > 1, (n1 - 1) * s1**2, 0.0)  # one run of ours has no spread to add
        other = np.where(known & (n2 > 1), (n2 - 1) * s2**2, 0.0)
        df = np.where(known, n1 + n2 - 2, n1 - 1)
        sd = np.sqrt((own + other) / df)
        se = sd * np.sqrt(1.0 / n1 + 1.0 / n2)
        t = (m1 - m2) / se
    ok = (np.isfinite(m1) & np.isfinite(m2) & np.isfinite(n1) & np.isfinite(n2) & (n1 >= 1) & (n2 >= 1)
          & (df >= 1) & np.isfinite(se) & (se > 0) & np.isfinite(t)
          & ((n1 < 2) | np.isfinite(s1)) & (~known | (n2 < 2) | np.isfinite(s2)))
    nan = np.full(m1.shape, np.nan)
    df_ok = np.where(ok, df, 1.0)
    p = np.where(ok, 2.0 * sps.t.sf(np.abs(np.where(ok, t, 0.0)), df_ok), nan)
    crit = sps.t.ppf(1.0 - alpha / 2, df_ok)
    ncp = EFFECT_SD / np.sqrt(1.0 / np.where(ok, n1, 1.0) + 1.0 / np.where(ok, n2, 1.0))
    power = np.where(ok, _two_sided_power(crit, df_ok, ncp), nan)
    half = np.vectorize(lambda d: _ncp_for_power(float(d), alpha, 0.5), otypes=[float])(df_ok)
    detectable = np.where(ok, half * np.where(ok, se, 0.0), nan)
    code = np.where(~ok, CODE["n/a"], np.where(p < alpha, CODE["differs"],
                                               np.where(power < MIN_POWER, CODE["too few runs"],
                                                        CODE["consistent"])))
    return {"code": code.astype(int), "t": np.where(ok, t, nan), "df": np.where(ok, df, nan), "p": p,
            "sd": np.where(ok, sd, nan), "se": np.where(ok, se, nan), "power": power, "detectable": detectable}


@dataclass(frozen=True)
class Judgement:
    """One verdict with the numbers behind it (None where it is n/a)."""

    word: str  # one of VERDICTS
    detail: str  # the test and its numbers, or why there is none
    p: float | None = None
    power: float | None = None  # against a gap of EFFECT_SD run-to-run standard deviations
    detectable: float | None = None  # the difference found half the time, in the table's units


def _finite(x: float | None) -> bool:
    return x is not None and math.isfinite(float(x))


def judge(ours_mean: float | None, ours_std: float | None, ours_n: int | None, ref_mean: float | None,
          ref_std: float | None = None, ref_n: int | None = None, alpha: float = ALPHA) -> Judgement:
    """The verdict of our summary against a reference (the paper's number, or a reference variant).

    ``ref_std`` None means the reference did not publish its spread; ``ours_std`` may be None for one run.
    A NaN or infinite input gives "n/a", never a verdict.
    """
    if ours_mean is None or ref_mean is None or ours_n is None:
        return Judgement("n/a", "a side is missing")
    if ref_n is None:
        return Judgement("n/a", "the paper's run count is unknown: its mean's error cannot be judged")
    values = [ours_mean, ref_mean] + ([ours_std] if ours_n > 1 else []) + ([ref_std] if ref_std is not None else [])
    if not all(_finite(v) for v in values) or (ours_n > 1 and ours_std is None):
        return Judgement("n/a", "a number is missing or not finite")
    known = ref_std is not None
    r = verdict_arrays(ours_mean, ours_std if ours_std is not None else np.nan, ours_n, ref_mean,
                       ref_std if known else np.nan, ref_n, known, alpha)
    word = VERDICTS[int(r["code"])]
    if word == "n/a":
        if ours_n < 2 and not known:
            return Judgement(word, f"{ours_n} run of ours and no published spread: nothing to judge the gap by")
        return Judgement(word, "no run-to-run spread on either side: a test cannot judge the gap")
    p, power, detectable = float(r["p"]), float(r["power"]), float(r["detectable"])
    spread = (f"sd ours {ours_std:.1f}, paper {ref_std:.1f}" if known and ours_std is not None else
              "the paper's sd" if known else "our sd; the paper's is unpublished")
    detail = (f"pooled t={float(r['t']):.2f}, df={float(r['df']):.0f}, p={p:.3f} ({spread}); "
              f"finds a gap of {detectable:.1f} half the time; power {power:.2f} against a "
              f"{EFFECT_SD:g}-sd gap ({float(r['sd']) * EFFECT_SD:.1f})")
    return Judgement(word, detail, p, power, detectable)


def verdict(ours_mean: float | None, ours_std: float | None, ours_n: int | None, ref_mean: float | None,
            ref_std: float | None = None, ref_n: int | None = None, alpha: float = ALPHA) -> tuple[str, str]:
    """``(verdict, detail)`` of ``judge``."""
    j = judge(ours_mean, ours_std, ours_n, ref_mean, ref_std, ref_n, alpha)
    return j.word, j.detail


def verdict_text(j: Judgement) -> str:
    """A verdict cell's text: the word and, where there is a test, the gap it finds half the time (±X)."""
    return j.word if j.detectable is None else f"{j.word} (±{j.detectable:.1f})"


def verdict_cell(ours: Summary | None, ref: paper.PaperNumber | None, budget: int) -> Cell:
    """Verdict of our summary against a published number at the paper's ``budget`` env steps."""
    if ours is None or ref is None:
        return Cell("n/a", kind="verdict", verdict="n/a", detail="not run" if ours is None else "no paper number")
    if ours.step != budget:
        return Cell("n/a", kind="verdict", verdict="n/a",
                    detail=f"ours at {ours.step:,} env steps, the paper's at {budget:,}")
    std = ours.std if math.isfinite(ours.std) else None
    j = judge(ours.mean, std, ours.n, ref.mean, ref.std, ref.n)
    return Cell(verdict_text(j), kind="verdict", verdict=j.word, detail=j.detail)


def verdict_notes() -> list[str]:
    """The notes every table with verdicts carries (docs/statistics.md#verdict)."""
    return [f"Verdict: a two-sided t-test at {100 * ALPHA:.0f}% of the hypothesis that our runs and the paper's "
            "come from one distribution, with one pooled run-to-run std (ours alone where the paper's is "
            "unpublished), so the paper's mean counts with its own error. 'differs': p < 5%; 'too few runs': "
            f"not significant, but a gap of {EFFECT_SD:g} run-to-run std would be found less than "
            f"{100 * MIN_POWER:.0f}% of the time; 'consistent': not significant although such a gap would have "
            "been found (it means no detected difference, not equality); n/a: a side missing, another budget, or "
            "no spread to judge by. (±X): the difference the test finds half the time, in the table's units. "
            "docs/statistics.md#verdict",
            "Our std is the sample std (ddof 1) over runs; the paper's convention is not stated."]
