"""spirl.analysis.plot_axes: every plot function draws on the ax it is given; the command writes PNG + PDF."""


import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from spirl.analysis import plot_axes as pl
from spirl.analysis import rliable_stats as st
from spirl.analysis import scores as sc
from spirl.analysis import styles
from spirl.analysis.published import published_frame
from spirl.saliency.kstats import read_k_hist


def scores(methods=("spirl", "de_rainbow"), games=("MsPacman", "Seaquest"), seeds=3, steps=(50_000, 100_000)):
    rng = np.random.default_rng(0)
    rows = [(m, g, s, step, e, float(rng.normal(300 * (i + 1) * step / steps[-1], 30)))
            for i, m in enumerate(methods) for g in games for s in range(seeds) for step in steps for e in range(2)]
    return pd.DataFrame(rows, columns=list(sc.SCORE_COLUMNS))


def khist(tmp_path, game="MsPacman"):
    d = tmp_path / "paper" / game
    d.mkdir(parents=True)
    counts = [0, 0, 5, 30, 40, 20, 5]
    pd.DataFrame({"bin_start": np.arange(7) * 0.05, "bin_end": np.arange(1, 8) * 0.05, "count": counts,
                  "frames": 100, "ideal_ratio": 0.35}).to_csv(d / "k_hist.csv", index=False)
    return d / "k_hist.csv"


def legend_texts(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_styles_are_okabe_ito_for_ours_and_grey_for_published():
    st_ = styles.method_styles(["spirl", "published:SPR", "de_rainbow"])
    assert st_["spirl"].colour == styles.OKABE_ITO[0] and st_["de_rainbow"].colour == styles.OKABE_ITO[1]
    assert st_["published:SPR"].colour in styles.PUBLISHED_GREYS and st_["published:SPR"].hatch == "//"
    assert styles.method_colours(["spirl"]) == {"spirl": styles.OKABE_ITO[0]}
    assert styles.label_of("published:SPR") == "published: SPR"
    assert styles.label_of("spirl") == "spirl (reproduced)"


def test_fifteen_methods_render_with_fifteen_distinct_styles_and_the_legend_off_the_data():
    methods = [f"m{i}" for i in range(15)]  # paper100k's count of methods
    st_ = styles.method_styles(methods)
    assert len({(s.colour, s.marker, s.linestyle) for s in st_.values()}) == 15
    assert "#000000" not in {s.colour for s in st_.values()}  # black is the estimate ticks' colour
    df = scores(methods=tuple(methods), games=("Seaquest",), seeds=2)
    fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
    pl.plot_learning_curves(ax, df, "Seaquest", st_)
    lines = [line for line in ax.get_lines() if line.get_label().startswith("m")]
    assert len({(line.get_color(), line.get_marker(), line.get_linestyle()) for line in lines}) == 15
    fig.canvas.draw()
    legend = ax.get_legend().get_window_extent()
    assert legend.x0 >= ax.get_window_extent().x1  # beside the axes, not over the curves
    plt.close(fig)


def test_plot_functions_return_the_ax_they_draw_on(tmp_path):
    df = scores()
    df = pd.concat([df, published_frame({"MsPacman": [1000.0, 1200.0], "Seaquest": [300.0, 500.0]}, "X")])
    tables = st.run_stats(df, tmp_path / "stats", reps=20)
    fig, axes = plt.subplots(2, 4)
    axes = axes.ravel()
    assert pl.plot_aggregate_intervals(axes[0], tables["aggregates"], "IQM") is axes[0]
    assert [t.get_text().split("\n")[0] for t in axes[0].get_yticklabels()] == [
        "spirl (reproduced)", "de_rainbow (reproduced)", "published: X"]
    assert pl.plot_performance_profiles(axes[1], tables["profiles"]) is axes[1]
    assert any(t.startswith("published: X, 2 runs x 2 games") for t in legend_texts(axes[1]))
    assert pl.plot_probability_of_improvement(axes[2], tables["poi"]) is axes[2]
    assert pl.plot_sample_efficiency(axes[3], tables["curves"]) is axes[3]
    assert pl.plot_learning_curves(axes[4], df, "MsPacman") is axes[4]
    labels = legend_texts(axes[4])
    assert "spirl (reproduced), 3 seeds" in labels
    assert "published: DE-Rainbow (SPIRL paper, Table 11)" in labels  # runs reach 100K: published drawn
    hist, _ = read_k_hist(khist(tmp_path))
    assert pl.plot_k_histogram(axes[5], hist, "MsPacman") is axes[5]
    assert any(t.startswith("published: paper Fig. 8") for t in legend_texts(axes[5]))
    assert {round(line.get_xdata()[0], 2) for line in axes[5].get_lines()} == {0.35, 0.30}
    assert pl.plot_study_bars(axes[6], df, {"a": "spirl", "b": "de_rainbow"}, ["MsPacman"], reference="spirl") \
        is axes[6]
    plt.close(fig)


def test_published_numbers_are_not_drawn_on_short_runs():
    fig, ax = plt.subplots()
    pl.plot_learning_curves(ax, scores(steps=(1000, 2000)), "Seaquest")
    assert not any(t.startswith("published") for t in legend_texts(ax))
    assert any("not drawn" in t.get_text() for t in ax.texts)
    plt.close(fig)
