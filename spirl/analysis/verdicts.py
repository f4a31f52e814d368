"""Verdicts: is our number consistent with the paper's, given the uncertainty on both sides?"""

from __future__ import annotations

import math

from spirl.analysis import paper_numbers as paper
from spirl.analysis.tables import Cell, Summary

ALPHA = 0.05


def verdict(ours_mean: float | None, ours_std: float | None, ours_n: int | None, ref_mean: float | None,
            ref_std: float | None = None, ref_n: int | None = None, alpha: float = ALPHA) -> tuple[str, str]:
    """Is our mean consistent with the paper's, given both sides' spread and run counts?

    * both standard deviations and run counts known: Welch's two-sided t-test at level ``alpha``;
      "differs" when p < alpha;
    * only the paper's mean known (or its spread without a run count): "consistent" when it lies
      inside our (1 - alpha) t-interval for the mean;
    * "n/a" when either side is missing or we have fewer than two runs.

    Our standard deviation is the sample one (ddof 1); the paper's convention is unknown
    (docs/method.md#step-evaluation).

    Returns:
        (verdict, detail) where detail names the test and its numbers.
    """
    from scipy import stats as sps

    if ours_mean is None or ref_mean is None or ours_n is None or ours_std is None:
        return "n/a", "a side is missing"
    if ours_n < 2:
        return "n/a", f"{ours_n} run of ours: no spread to compare with"
    if ref_std is not None and ref_n is not None and ref_n >= 2:
        se2 = ours_std**2 / ours_n + ref_std**2 / ref_n
        if se2 == 0.0:
            same = ours_mean == ref_mean
            return ("consistent" if same else "differs"), "both sides without spread"
        t = (ours_mean - ref_mean) / math.sqrt(se2)
        dof = se2**2 / ((ours_std**2 / ours_n) ** 2 / (ours_n - 1) + (ref_std**2 / ref_n) ** 2 / (ref_n - 1))
        p = 2.0 * float(sps.t.sf(abs(t), dof))
        return ("differs" if p < alpha else "consistent"), f"Welch t={t:.2f}, df={dof:.1f}, p={p:.3f}"
    half = float(sps.t.ppf(1.0 - alpha / 2, ours_n - 1)) * ours_std / math.sqrt(ours_n)
    lo, hi = ours_mean - half, ours_mean + half
    inside = lo <= ref_mean <= hi
    where = "inside" if inside else "outside"
    return ("consistent" if inside else "differs"), (
        f"paper's mean {ref_mean:g} {where} our {100 * (1 - alpha):.0f}% CI [{lo:.1f}, {hi:.1f}]")


def verdict_cell(ours: Summary | None, ref: paper.PaperNumber | None, budget: int) -> Cell:
    """Verdict of our summary against a published number at the paper's ``budget`` env steps."""
    if ours is None or ref is None:
        return Cell("n/a", kind="verdict", verdict="n/a", detail="not run" if ours is None else "no paper number")
    if ours.step != budget:
        return Cell("n/a", kind="verdict", verdict="n/a",
                    detail=f"ours at {ours.step:,} env steps, the paper's at {budget:,}")
    std = ours.std if math.isfinite(ours.std) else None
    v, detail = verdict(ours.mean, std, ours.n, ref.mean, ref.std, ref.n)
    return Cell(v, kind="verdict", verdict=v, detail=detail)


def verdict_notes() -> list[str]:
    return ["Verdict: Welch's t-test at 5% when both sides' std and run count are known; otherwise whether the "
            "paper's mean lies in our 95% t-interval; n/a when ours has fewer than two runs, was not run, or ran "
            "at another budget than the paper's. 'consistent' means no significant difference, not equality.",
            "Our std is the sample std (ddof 1) over runs; the paper's convention is not stated."]
