"""Figures: aggregate intervals, performance profiles, probability of improvement, learning curves,
sample-efficiency curves, K histograms and study bars.

One style for every figure (``spirl.analysis.styles``): each method keeps its own colour x marker
x line style across figures; published numbers are drawn grey or hatched and labelled
"published: ...", the harness's runs "reproduced". Legends sit beside the axes, never on the data.
Aggregates are drawn over the games every method shares; a method's aggregate over its own,
different games goes to a separate figure (``aggregates_own``), labelled as not comparable.
Every plot function takes a matplotlib ``ax`` and returns it; figures are composed by
``spirl.analysis.figures`` (the ``spirl plots`` command) or the caller, saved as PNG and PDF (Agg backend).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never a window (Snakemake jobs, CI)

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from spirl.analysis import paper_numbers as paper
from spirl.analysis import scores as sc
from spirl.analysis.intervals import MIN_RUNS
from spirl.analysis.styles import (
    METRIC_LABELS,
    OKABE_ITO,
    PUBLISHED_GREYS,
    MethodStyle,
    label_of,
    legend_outside,
    style_of,
)
from spirl.atari import games as game_table
from spirl.utils import atomic_path

# ============================================================================== rliable figures


def _runs_label(runs: int, games: int | None = None) -> str:
    text = f"{runs} runs" + (f" x {games} games" if games is not None else "")
    return text + (f" (< {MIN_RUNS} runs: CI under-covers)" if 2 <= runs < MIN_RUNS else
                   " (1 run: no CI)" if runs < 2 else "")


def plot_aggregate_intervals(ax: plt.Axes, aggregates: pd.DataFrame, metric: str = "IQM",
                             styles: Mapping[str, MethodStyle] | None = None) -> plt.Axes:
    """Point estimate and 95% CI of one aggregate metric per method (rows of ``aggregates.csv``).

    Each row is labelled with its run and game counts; a row without an interval (one run) is a tick alone.
    """
    rows = aggregates[aggregates["metric"] == metric].reset_index(drop=True)
    for i, r in rows.iterrows():
        st_ = style_of(styles, r.method)
        published = sc.kind_of(r.method) == "published"
        if np.isfinite(r.lower) and np.isfinite(r.upper):
            ax.barh(i, r.upper - r.lower, left=r.lower, height=0.6, color=st_.colour, alpha=0.35 if published else 0.6,
                    hatch=st_.hatch or None, edgecolor=st_.colour)
        ax.plot([r.estimate, r.estimate], [i - 0.3, i + 0.3], color="black", lw=1.5)
    ax.set_yticks(range(len(rows)), [f"{label_of(r.method)}\n{_runs_label(int(r.runs), int(r.games))}"
                                     for r in rows.itertuples()])
    if not ax.yaxis_inverted():  # shared y axes would otherwise flip back and forth
        ax.invert_yaxis()
    ax.set_xlabel("human-normalised score")
    ax.set_title(METRIC_LABELS.get(metric, metric))
    return ax


def plot_performance_profiles(ax: plt.Axes, profiles: pd.DataFrame,
                              styles: Mapping[str, MethodStyle] | None = None) -> plt.Axes:
    """Fraction of runs with human-normalised score > tau, with 95% CI bands (rows of ``profiles.csv``)."""
    for method, rows in profiles.groupby("method", sort=False):
        st_ = style_of(styles, method)
        counts = _runs_label(int(rows["runs"].iloc[0]), int(rows["games"].iloc[0])) if "runs" in rows else ""
        ax.plot(rows["tau"], rows["fraction"], **st_.line(), ms=3, markevery=max(1, len(rows) // 8),
                label=f"{label_of(method)}, {counts}" if counts else label_of(method))
        ax.fill_between(rows["tau"], rows["lower"], rows["upper"], color=st_.colour, alpha=0.2, lw=0)
    ax.set_xlabel(r"human-normalised score $\tau$")
    ax.set_ylabel(r"fraction of runs with score $> \tau$")
    ax.set_ylim(0, 1.02)
    legend_outside(ax)
    return ax


def plot_probability_of_improvement(ax: plt.Axes, poi: pd.DataFrame,
                                    styles: Mapping[str, MethodStyle] | None = None) -> plt.Axes:
    """P(X > Y) with its 95% CI per pair (rows of ``poi.csv``); 0.5 means no difference."""
    for i, r in poi.reset_index(drop=True).iterrows():
        st_ = style_of(styles, r.x)
        if np.isfinite(r.lower) and np.isfinite(r.upper):
            ax.barh(i, r.upper - r.lower, left=r.lower, height=0.6, color=st_.colour, alpha=0.6,
                    edgecolor=st_.colour,
                    hatch="//" if sc.kind_of(r.y) == "published" or sc.kind_of(r.x) == "published" else None)
        ax.plot([r.estimate, r.estimate], [i - 0.3, i + 0.3], color="black", lw=1.5)
    ax.axvline(0.5, color="grey", ls=":", lw=1)
    ax.set_yticks(range(len(poi)), [f"P({label_of(r.x)} > {label_of(r.y)})\n{r.runs_x} vs {r.runs_y} runs"
                                    for r in poi.itertuples()])
    if not ax.yaxis_inverted():
        ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("probability of improvement")
    return ax


def plot_sample_efficiency(ax: plt.Axes, curves: pd.DataFrame,
                           styles: Mapping[str, MethodStyle] | None = None) -> plt.Axes:
    """IQM of human-normalised scores at each evaluation step with 95% CI bands (rows of ``curves.csv``)."""
    for method, rows in curves.groupby("method", sort=False):
        st_ = style_of(styles, method)
        ax.plot(rows["step"], rows["estimate"], **st_.line(), ms=3,
                label=f"{label_of(method)}, {_runs_label(int(rows['runs'].iloc[0]), int(rows['games'].iloc[0]))}")
        ax.fill_between(rows["step"], rows["lower"], rows["upper"], color=st_.colour, alpha=0.2, lw=0)
    ax.set_xlabel("env steps")
    ax.set_ylabel("IQM human-normalised score")
    legend_outside(ax)
    return ax


# ============================================================================== per-game figures


def _published_points(game: str) -> list[tuple[str, paper.PaperNumber]]:
    """Published 100K numbers drawn on a learning curve: the SPIRL paper's DE-Rainbow and DER as reported."""
    out = []
    if game in paper.TABLE11_PAPER:
        out.append(("published: DE-Rainbow (SPIRL paper, Table 11)", paper.TABLE11_PAPER[game]))
        out.append(("published: DER (reported)", paper.TABLE11_REPORTED[game]))
    return out


def plot_learning_curves(ax: plt.Axes, scores: pd.DataFrame, game: str,
                         styles: Mapping[str, MethodStyle] | None = None, methods: Sequence[str] | None = None,
                         published: bool = True) -> plt.Axes:
    """Raw score vs env steps on one game: mean over seeds with a band of ± one std over seeds.

    Each run's point is the mean over its evaluation episodes. Published 100K numbers are drawn as
    labelled grey markers at 100K when the runs reach that budget.
    """
    game = game_table.canonical(game)
    df = scores[(scores["game"] == game) & (scores["method"].map(sc.kind_of) == "reproduced")]
    if methods is not None:
        df = df[df["method"].isin(methods)]
    per_run = df.groupby(["method", "seed", "step"])["score"].mean().reset_index()
    for method, rows in per_run.groupby("method", sort=False):
        st_ = style_of(styles, method)
        by_step = rows.groupby("step")["score"]
        mean, std, n = by_step.mean(), by_step.std(ddof=1).fillna(0.0), int(rows["seed"].nunique())
        ax.plot(mean.index, mean.values, **st_.line(), ms=3, label=f"{label_of(method)}, {n} seeds")
        ax.fill_between(mean.index, mean - std, mean + std, color=st_.colour, alpha=0.2, lw=0)
    last = per_run["step"].max() if len(per_run) else 0
    if published and last >= 0.9 * 100_000:
        for i, (label, p) in enumerate(_published_points(game)):
            ax.errorbar([100_000 * (1.0 + 0.015 * (i + 1))], [p.mean], yerr=[p.std] if p.std else None,
                        fmt="s" if i == 0 else "D", color=PUBLISHED_GREYS[i], capsize=3, ms=5, label=label)
    elif published and _published_points(game):
        ax.text(0.99, 0.02, "published 100K numbers not drawn: runs end before 100K", transform=ax.transAxes,
                ha="right", va="bottom", fontsize=7, color="grey")
    ax.set_title(game)
    ax.set_xlabel("env steps")
    ax.set_ylabel("game score")
    legend_outside(ax)
    return ax


def plot_k_histogram(ax: plt.Axes, hist: pd.DataFrame, game: str) -> plt.Axes:
    """Share of frames per 5% bin of K/144 (ours), with the paper's Fig. 8 bars and its ideal / adopted ratios.

    Lines: the paper's ideal ratio (dotted), the adopted maximal ratio (dashed), ours ideal (dash-dot).
    """
    game = game_table.canonical(game)
    width = paper.FIG8_BIN_WIDTH
    total = float(hist["count"].sum())
    ax.bar(hist["bin_start"], hist["count"] / total if total else hist["count"], width=hist["bin_end"] -
           hist["bin_start"], align="edge", color=OKABE_ITO[0], alpha=0.7, label=f"reproduced ({int(total):,} frames)")
    panel = paper.FIG8.get(game)
    if panel is not None:
        counts = np.array(panel.counts, float)
        edges = np.arange(len(counts)) * width
        ax.bar(edges, counts / counts.sum(), width=width, align="edge", fill=False, edgecolor="black", hatch="//",
               lw=0.8, label=f"published: paper Fig. 8 ({panel.frames:,} frames)")
        ax.axvline(panel.ideal_ratio, color="black", ls=":", lw=1.2, label=f"paper ideal {panel.ideal_ratio:.0%}")
    adopted = game_table.get(game).max_ratio
    if adopted is not None:
        ax.axvline(adopted, color="black", ls="--", lw=1.2, label=f"adopted (Table 13) {adopted:.0%}")
    ours = float(hist["ideal_ratio"].iloc[0])
    ax.axvline(ours, color=OKABE_ITO[3], ls="-.", lw=1.2, label=f"reproduced ideal {ours:.0%}")
    ax.set_xlim(0, max(0.5, float(hist.loc[hist["count"] > 0, "bin_end"].max()) + width))
    ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))
    ax.set_xlabel("maximal ratio K/144")
    ax.set_ylabel("share of frames")
    ax.set_title(game)
    legend_outside(ax)
    return ax


def plot_study_bars(ax: plt.Axes, scores: pd.DataFrame, variants: Mapping[str, str], games: Sequence[str],
                    styles: Mapping[str, MethodStyle] | None = None, reference: str | None = None) -> plt.Axes:
    """Human-normalised final score per game and variant: mean ± std over runs as bars, each run a dot."""
    runs = sc.final_scores(sc.check_scores(scores[scores["method"].isin(list(variants.values()))]))
    runs = runs.assign(hns=sc.human_normalise(runs))
    n = len(variants)
    width = 0.8 / max(n, 1)
    for j, (label, method) in enumerate(variants.items()):
        st_ = style_of(styles, method)
        c = st_.colour
        for i, g in enumerate(games):
            cell = runs[(runs["method"] == method) & (runs["game"] == g)]["hns"].to_numpy()
            if not len(cell):
                continue
            x = i - 0.4 + width * (j + 0.5)
            std = float(np.std(cell, ddof=1)) if len(cell) > 1 else 0.0
            ax.bar(x, cell.mean(), width=width * 0.9, color=c, alpha=0.7, yerr=std, capsize=2, hatch=st_.hatch or None,
                   label=(f"{label} ({method})" + (", reference" if method == reference else "")) if i == 0 else None,
                   edgecolor="black" if method == reference else c)
            ax.plot(np.full(len(cell), x), cell, st_.marker, ms=2.5, color="black", alpha=0.7)
    ax.set_xticks(range(len(games)), list(games))
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_ylabel("human-normalised score")
    legend_outside(ax)
    return ax


# ============================================================================== composing and saving


def save_figure(fig: plt.Figure, out_dir: str | Path, name: str) -> list[Path]:
    """Save ``fig`` as ``<name>.png`` and ``<name>.pdf`` atomically, close it, return the paths."""
    paths = []
    for ext in ("png", "pdf"):
        path = Path(out_dir) / f"{name}.{ext}"
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=ext, bbox_inches="tight")
        paths.append(path)
    plt.close(fig)
    return paths
