"""The figure set of a report: each figure composed from the plot functions of ``spirl.analysis.plot_axes``
and the tables ``spirl stats`` wrote, captions beside them; ``make_figures`` and the ``spirl plots`` command.

Aggregates are drawn over the games every method shares; a method's aggregate over its own, different
games goes to a separate figure (``aggregates_own``), labelled as not comparable.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; never a window (Snakemake jobs, CI)

import matplotlib.pyplot as plt
import pandas as pd

from spirl.analysis import rliable_stats as st
from spirl.analysis import scores as sc
from spirl.analysis.intervals import MIN_RUNS
from spirl.analysis.plot_axes import (
    plot_aggregate_intervals,
    plot_k_histogram,
    plot_learning_curves,
    plot_performance_profiles,
    plot_probability_of_improvement,
    plot_sample_efficiency,
    plot_study_bars,
    save_figure,
)
from spirl.analysis.styles import STYLE, MethodStyle, method_styles
from spirl.atari.games import paper_order
from spirl.saliency.kstats import load_k_hists
from spirl.utils import atomic_write_text


def _grid(n: int, cols: int = 2, size: tuple[float, float] = (5.0, 3.6)) -> tuple[plt.Figure, list[plt.Axes]]:
    cols = min(cols, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(size[0] * cols, size[1] * rows), squeeze=False,
                             layout="constrained")
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def _read_stats(stats_dir: str | Path) -> dict[str, pd.DataFrame]:
    """The four tables ``spirl stats`` writes: aggregates, profiles, poi, curves."""
    tables = {}
    for name in ("aggregates", "profiles", "poi", "curves"):
        path = Path(stats_dir) / f"{name}.csv"
        if not path.is_file():
            raise FileNotFoundError(f"no {name}.csv in {stats_dir} (run 'spirl stats' first)")
        tables[name] = pd.read_csv(path)
    return tables


def _aggregate_figure(out: Path, name: str, agg: pd.DataFrame, styles: Mapping[str, MethodStyle],
                      title: str) -> None:
    metrics = [m for m in st.METRICS if m in set(agg["metric"])]
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics), 0.55 * agg["method"].nunique() + 1.7),
                             sharey=True, squeeze=False, layout="constrained")
    for ax, metric in zip(axes[0], metrics):
        plot_aggregate_intervals(ax, agg, metric, styles)
    fig.suptitle(title, fontsize=9)
    save_figure(fig, out, name)


def _in_set(table: pd.DataFrame, game_set: str) -> pd.DataFrame:
    """Rows of one ``game_set`` (tables written before game sets existed count as "shared")."""
    sets = table["game_set"] if "game_set" in table else pd.Series("shared", index=table.index)
    return table[sets == game_set]


def _stats_figures(out: Path, tables: dict[str, pd.DataFrame], styles: Mapping[str, MethodStyle]) -> dict[str, str]:
    """Aggregates (shared games; own games apart), performance profiles, probability of improvement, curves."""
    captions: dict[str, str] = {}
    agg = tables["aggregates"]
    shared, own = _in_set(agg, "shared"), _in_set(agg, "own")
    note = ("95% stratified-bootstrap CIs; each row gives its runs x games; hatched: published per-run data; "
            f"fewer than {MIN_RUNS} runs per game under-cover (docs/statistics.md#coverage).")
    if len(shared):
        games = str(shared["game_list"].iloc[0]).split(";") if "game_list" in shared else []
        where = (f"over the {len(games)} game{'s' if len(games) != 1 else ''} every method has" if games
                 else "over the games every method has")
        _aggregate_figure(out, "aggregates", shared, styles, f"Aggregates {where}")
        captions["aggregates"] = (f"Aggregate human-normalised scores {where} ({', '.join(games[:8])}"
                                  f"{', ...' if len(games) > 8 else ''}; final evaluation, runs as the unit), " + note)
    if len(own):
        name = "aggregates_own" if len(shared) else "aggregates"
        _aggregate_figure(out, name, own, styles, "Each method over its own games: not comparable across methods")
        captions[name] = ("Aggregates of each method over its own games, drawn apart from the shared-games "
                          "comparison because the game sets differ (not comparable across methods); " + note)
    profiles = _in_set(tables["profiles"], "shared")
    profiles = profiles if len(profiles) else tables["profiles"]
    if len(profiles):
        fig, ax = plt.subplots(figsize=(7.5, 3.8), layout="constrained")
        plot_performance_profiles(ax, profiles, styles)
        save_figure(fig, out, "profiles")
        captions["profiles"] = ("Performance profiles over the games every method has: fraction of runs above each "
                                "human-normalised score, 95% CIs.")
    poi = tables["poi"]
    if len(poi):
        fig, ax = plt.subplots(figsize=(6.5, 0.6 * len(poi) + 1.2), layout="constrained")
        plot_probability_of_improvement(ax, poi, styles)
        save_figure(fig, out, "poi")
        captions["poi"] = ("Probability of improvement P(X > Y) averaged over the games both have, with 95% "
                           "stratified-bootstrap CIs and each side's run count.")
    if len(tables["curves"]):
        fig, ax = plt.subplots(figsize=(7.5, 3.8), layout="constrained")
        plot_sample_efficiency(ax, tables["curves"], styles)
        save_figure(fig, out, "sample_efficiency")
        captions["sample_efficiency"] = ("Sample efficiency: IQM of human-normalised scores at each evaluation over "
                                         "the games our methods share, 95% CIs.")
    return captions


def _learning_curve_figure(out: Path, scores: pd.DataFrame, styles: Mapping[str, MethodStyle]) -> dict[str, str]:
    """One panel per game of our runs' learning curves, published 100K numbers beside them."""

    ours = scores[scores["method"].map(sc.kind_of) == "reproduced"]
    gs = paper_order(ours["game"].unique())
    if not gs:
        return {}
    fig, axes = _grid(len(gs), size=(6.5, 3.6))
    for ax, g in zip(axes, gs):
        plot_learning_curves(ax, ours, g, styles)
    save_figure(fig, out, "learning_curves")
    return {"learning_curves": "Learning curves: evaluation score vs env steps, mean over seeds with a ± one std "
                               "band; grey markers: published 100K numbers (labelled)."}


def _study_figures(out: Path, scores: pd.DataFrame, studies: Sequence[Any],
                   styles: Mapping[str, MethodStyle]) -> dict[str, str]:
    """One bar figure per study of which at least one variant ran."""

    captions: dict[str, str] = {}
    for study in studies:
        present = [m for m in study.variants.values() if m in set(scores["method"])]
        if not present:
            continue
        gs = study.games or paper_order(scores[scores["method"].isin(present)]["game"].unique())
        fig, ax = plt.subplots(figsize=(1.6 * len(gs) + 5, 3.6), layout="constrained")
        plot_study_bars(ax, scores, study.variants, gs, styles, reference=study.reference)
        ax.set_title(f"{study.name}: {study.question}")
        save_figure(fig, out, f"study-{study.name}")
        captions[f"study-{study.name}"] = (f"Study {study.name} ({study.question}): human-normalised final score "
                                           f"per variant, mean ± std over runs, dots = runs.")
    return captions


def _k_hist_figures(out: Path, khist: Sequence[str | Path]) -> dict[str, str]:
    """One Fig. 8 analogue per MAE variant, a panel per game."""

    captions: dict[str, str] = {}
    for mae, hists in load_k_hists(khist).items():
        gs = paper_order(list(hists))
        fig, axes = _grid(len(gs), size=(7.0, 3.6))
        for ax, g in zip(axes, gs):
            plot_k_histogram(ax, hists[g], g)
        save_figure(fig, out, f"k_hist-{mae}")
        captions[f"k_hist-{mae}"] = (f"Fig. 8 analogue (MAE {mae}): share of pre-training frames per 5% bin of the "
                                     f"uncapped dynamic K/144; hatched bars: the paper's Fig. 8 (published).")
    return captions


def make_figures(out_dir: str | Path, *, scores: pd.DataFrame | None = None, stats_dir: str | Path | None = None,
                 khist: Sequence[str | Path] = (), studies: Sequence[Any] = ()) -> dict[str, str]:
    """Compose every figure the inputs allow; return ``{figure name: caption}`` (also written to captions.json)."""
    plt.rcParams.update(STYLE)
    out = Path(out_dir)
    if scores is not None:
        scores = sc.check_scores(scores)
    tables = _read_stats(stats_dir) if stats_dir is not None else {}
    methods = (list(dict.fromkeys(scores["method"])) if scores is not None else []) + (
        list(tables["aggregates"]["method"]) if tables else [])
    styles = method_styles(methods)  # one distinct style per method across every figure
    captions: dict[str, str] = {}
    if tables:
        captions |= _stats_figures(out, tables, styles)
    if scores is not None:
        captions |= _learning_curve_figure(out, scores, styles)
        captions |= _study_figures(out, scores, studies, styles)
    captions |= _k_hist_figures(out, khist)
    atomic_write_text(out / "captions.json", json.dumps(captions, indent=2) + "\n")
    return captions
