"""One table per ablation study: per-game means per variant, aggregate IQM and probability of improvement."""

from __future__ import annotations

import math

import pandas as pd

from spirl.analysis import scores as sc
from spirl.analysis import stats as st
from spirl.analysis.tables import Cell, Table, bold_best, ours_cell, summarise
from spirl.analysis.verdicts import verdict
from spirl.atari.games import paper_order
from spirl.studies import Study


def study_table(df: pd.DataFrame, study: Study, *, reps: int = st.DEFAULT_REPS, seed: int = 0) -> Table:
    """One ablation's table: per-game mean (std) per variant, aggregate IQM [95% CI] and P(variant > reference).

    Cells marked † differ from the reference on that game (Welch's t-test at 5%).
    """
    df = sc.check_scores(df)
    runs = sc.final_scores(df[df["method"].isin(study.variants.values())])
    gs = study.games or paper_order(runs["game"])
    ref_label = next(k for k, v in study.variants.items() if v == study.reference)
    t = Table(f"study-{study.name}", f"Study {study.name}: {study.question}",
              f"Per game: mean (std) over runs of the final evaluation. IQM of human-normalised scores with its "
              f"95% stratified-bootstrap CI ({reps} replicates) and the probability of improvement over the "
              f"reference '{ref_label}' ({study.reference}).",
              ["Variant", *gs, "IQM [95% CI]", f"P(> {ref_label}) [95% CI]"])
    per_game: dict[str, list[Cell]] = {g: [] for g in gs}
    for label, method in study.variants.items():
        row = [Cell(f"{label} ({method})" + (" — reference" if method == study.reference else ""))]
        for g in gs:
            s, r = summarise(runs, method, g), summarise(runs, study.reference, g)
            c = ours_cell(s)
            if s is not None and r is not None and method != study.reference:
                v, detail = verdict(s.mean, s.std if math.isfinite(s.std) else None, s.n, r.mean,
                                    r.std if math.isfinite(r.std) else None, r.n)
                c.verdict, c.detail = v, f"vs reference: {detail}"
                if v == "differs":
                    c.text += " †"
            per_game[g].append(c)
            row.append(c)
        row.append(_study_iqm(df, method, gs, reps, seed))
        row.append(_study_poi(df, method, study.reference, gs, reps, seed))
        t.rows.append(row)
    for g in gs:
        bold_best(per_game[g])
    t.notes = ["† differs from the reference on that game (Welch's t-test at 5%).",
               "Bold: best mean per game. IQM and probability of improvement: rliable's estimators over runs x games.",
               "n/a: fewer than two runs, a game without human scores, or a variant that did not run every game."]
    return t


def _study_iqm(df: pd.DataFrame, method: str, gs: list[str], reps: int, seed: int) -> Cell:
    try:
        m = sc.score_matrices(df, games=gs, methods=[method])
        a = st.aggregate_estimates(m, reps=reps, seed=seed, metrics=("IQM",)).iloc[0]
    except sc.StatsError as err:
        return Cell("n/a", detail=str(err))
    return Cell(f"{a.estimate:.3f} [{a.lower:.3f}, {a.upper:.3f}]", mean=float(a.estimate), n=int(a.runs),
                kind="reproduced")


def _study_poi(df: pd.DataFrame, method: str, reference: str, gs: list[str], reps: int, seed: int) -> Cell:
    if method == reference:
        return Cell("—")
    try:
        m = sc.score_matrices(df, games=gs, methods=[method, reference])
        est, lo, hi = st.probability_of_improvement_interval(m[method], m[reference], reps=reps, random_state=seed)
    except sc.StatsError as err:
        return Cell("n/a", detail=str(err))
    return Cell(f"{est:.2f} [{lo:.2f}, {hi:.2f}]", mean=est, kind="reproduced")
