"""One table per ablation study: per-game means per variant, aggregate IQM and probability of improvement."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from spirl.analysis import scores as sc
from spirl.analysis import stats as st
from spirl.analysis.tables import Cell, Table, TableError, bold_best, ours_cell, summarise
from spirl.analysis.verdicts import verdict
from spirl.atari import games as game_table
from spirl.atari.games import paper_order
from spirl.utils import read_yaml

STUDY_TABLES = ("table14", "table15-100k", "table15-400k")


@dataclass
class StudySpec:
    """An ablation study as the workflow describes it (``spirl.config.Study`` in file form)."""

    name: str
    question: str
    reference: str  # a method name
    variants: dict[str, str]  # label -> method name
    games: list[str]
    table: str | None = None  # the paper table it mirrors: one of STUDY_TABLES, or None


def _study_from(name: str, body: dict[str, Any], where: str) -> StudySpec:
    raw = body.get("variants")
    if isinstance(raw, list):
        raw = {str(m): str(m) for m in raw}
    if not isinstance(raw, dict) or len(raw) < 2:
        raise TableError(f"{where}: variants must map at least two labels to method names")
    variants = {str(k): (v if isinstance(v, str) else f"{name}-{k}") for k, v in raw.items()}
    ref = str(body.get("reference", next(iter(variants))))
    ref = variants.get(ref, ref)
    if ref not in variants.values():
        raise TableError(f"{where}: reference {ref!r} is not one of the variants ({', '.join(variants)})")
    gs = body.get("games")
    gs = [game_table.canonical(str(g)) for g in gs] if gs else []
    return StudySpec(name, str(body.get("question", name)), ref, variants, gs, paper_table_tag(body.get("table")))


def paper_table_tag(text: Any) -> str | None:
    """Which paper table a study's free-text ``table:`` names: ``table14``, ``table15-100k``, ``table15-400k``.

    ``Table 14`` -> ``table14``; ``Table 15 (400K columns)`` -> ``table15-400k``; ``Table 15`` or
    ``Table 15 (100K columns)`` -> ``table15-100k``; anything else (another table, a figure) -> None.
    """
    if text is None:
        return None
    key = re.sub(r"[^a-z0-9]", "", str(text).lower())
    if str(text) in STUDY_TABLES:
        return str(text)
    if key.startswith("table14"):
        return "table14"
    if key.startswith("table15"):
        return "table15-400k" if "400k" in key else "table15-100k"
    return None


def load_studies(path: str | Path) -> list[StudySpec]:
    """Studies from a JSON/YAML file: one study (with ``name``), a list of them, or a preset's ``studies:``.

    Inline-settings variants are named ``<study>-<label>``, as ``spirl.config`` names them.
    """
    path = Path(path)
    raw = read_yaml(path, what="study file", error=TableError)
    if isinstance(raw, dict) and "variants" not in raw:  # a preset: its studies, if any
        studies = raw.get("studies") or {}
        if not isinstance(studies, dict):
            raise TableError(f"{path}: 'studies' must map study names to their descriptions")
        return [_study_from(str(n), b or {}, f"{path}: studies.{n}") for n, b in studies.items()]
    items = raw if isinstance(raw, list) else [raw]
    out = []
    for i, body in enumerate(items):
        if not isinstance(body, dict) or "name" not in body:
            raise TableError(f"{path}: study {i} needs a name, a question, a reference, variants and games")
        out.append(_study_from(str(body["name"]), body, f"{path}: study {body['name']}"))
    return out


def study_table(df: pd.DataFrame, study: StudySpec, *, reps: int = st.DEFAULT_REPS, seed: int = 0) -> Table:
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
