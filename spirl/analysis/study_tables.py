"""One table per ablation study: per-game means per variant, aggregate IQM and probability of improvement."""

from __future__ import annotations

import math

import pandas as pd

from spirl.analysis import rliable_stats as st
from spirl.analysis import scores as sc
from spirl.analysis.intervals import DEFAULT_INTERVAL, MIN_RUNS, few_runs_note
from spirl.analysis.table_model import Cell, Table, bold_best, ours_cell, summarise
from spirl.analysis.verdicts import judge
from spirl.atari.games import paper_order
from spirl.config import Study


def study_table(df: pd.DataFrame, study: Study, *, reps: int = st.DEFAULT_REPS, seed: int = 0,
                interval: str = DEFAULT_INTERVAL) -> Table:
    """One ablation's table: per-game mean (std) per variant, aggregate IQM [95% CI] and P(variant > reference).

    Cells marked † differ from the reference on that game (the verdict rule of ``spirl.analysis.verdicts``);
    every interval shows its run count (n = runs per game).
    """
    df = sc.check_scores(df)
    runs = sc.final_scores(df[df["method"].isin(study.variants.values())])
    gs = study.games or paper_order(runs["game"])
    ref_label = next(k for k, v in study.variants.items() if v == study.reference)
    t = Table(f"study-{study.name}", f"Study {study.name}: {study.question}",
              f"Per game: mean (std) over runs of the final evaluation. IQM of human-normalised scores with its "
              f"95% stratified-bootstrap CI ({interval}, {reps} replicates) and the probability of improvement "
              f"over the reference '{ref_label}' ({study.reference}); n: runs per game.",
              ["Variant", *gs, "IQM [95% CI]", f"P(> {ref_label}) [95% CI]"])
    per_game: dict[str, list[Cell]] = {g: [] for g in gs}
    for label, method in study.variants.items():
        row = [Cell(f"{label} ({method})" + (" — reference" if method == study.reference else ""))]
        for g in gs:
            s, r = summarise(runs, method, g), summarise(runs, study.reference, g)
            c = ours_cell(s)
            if s is not None and r is not None and method != study.reference:
                j = judge(s.mean, s.std if math.isfinite(s.std) else None, s.n, r.mean,
                          r.std if math.isfinite(r.std) else None, r.n)
                c.verdict, c.detail = j.word, f"vs reference: {j.detail}"
                if j.word == "differs":
                    c.text += " †"
            per_game[g].append(c)
            row.append(c)
        row.append(_study_iqm(df, method, gs, reps, seed, interval))
        row.append(_study_poi(df, method, study.reference, gs, reps, seed))
        t.rows.append(row)
    for g in gs:
        bold_best(per_game[g])
    t.notes = ["† differs from the reference on that game (two-sided pooled t-test at 5%, docs/statistics.md#verdict); "
               "'too few runs' in a cell's detail: not significant, with little power.",
               "Bold: best mean per game. IQM and probability of improvement: rliable's estimators over runs x games.",
               "n/a: a game without human scores, or a variant that did not run every game; one run per game gives "
               "the estimate without an interval."]
    fewest = min((c.n for row in t.rows for c in row[-2:] if c.n), default=MIN_RUNS)
    if fewest < MIN_RUNS:
        t.notes.append(f"Warning: {few_runs_note(fewest)}.")
    return t


def _interval_text(estimate: float, lower: float, upper: float, runs: int, digits: int) -> str:
    bounds = f" [{lower:.{digits}f}, {upper:.{digits}f}]" if math.isfinite(lower) else " (no interval)"
    return f"{estimate:.{digits}f}{bounds} n={runs}"


def _study_iqm(df: pd.DataFrame, method: str, gs: list[str], reps: int, seed: int, interval: str) -> Cell:
    try:
        m = sc.score_matrices(df, games=gs, methods=[method])
        a = st.aggregate_estimates(m, reps=reps, seed=seed, metrics=("IQM",), interval=interval).iloc[0]
    except sc.StatsError as err:
        return Cell("n/a", detail=str(err))
    return Cell(_interval_text(a.estimate, a.lower, a.upper, int(a.runs), 3), mean=float(a.estimate),
                n=int(a.runs), kind="reproduced", detail=a.note)


def _study_poi(df: pd.DataFrame, method: str, reference: str, gs: list[str], reps: int, seed: int) -> Cell:
    if method == reference:
        return Cell("—")
    try:
        m = sc.score_matrices(df, games=gs, methods=[method, reference])
        fewest = min(m[method].shape[0], m[reference].shape[0])
        if fewest < 2:
            est, lo, hi = st.probability_of_improvement(m[method], m[reference]), math.nan, math.nan
        else:
            est, lo, hi = st.probability_of_improvement_interval(m[method], m[reference], reps=reps,
                                                                 random_state=seed)
    except sc.StatsError as err:
        return Cell("n/a", detail=str(err))
    return Cell(_interval_text(est, lo, hi, fewest, 2), mean=est, n=fewest, kind="reproduced",
                detail=few_runs_note(fewest))
