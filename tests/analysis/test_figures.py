"""spirl.analysis.figures: the figure set and captions, the plots command and its refusals."""

import json

import numpy as np
import pandas as pd

from spirl import cli
from spirl.analysis import figures as fg
from spirl.analysis import rliable_stats as st
from spirl.analysis import scores as sc
from spirl.analysis.published import published_frame


def scores(methods=("spirl", "de_rainbow"), games=("MsPacman", "Seaquest"), seeds=3, steps=(50_000, 100_000)):
    rng = np.random.default_rng(0)
    rows = [(m, g, s, step, e, float(rng.normal(300 * (i + 1) * step / steps[-1], 30)))
            for i, m in enumerate(methods) for g in games for s in range(seeds) for step in steps for e in range(2)]
    return pd.DataFrame(rows, columns=list(sc.SCORE_COLUMNS))


def test_plots_cli_writes_png_and_pdf_with_captions(tmp_path, write_khist):
    df = scores()
    df.to_csv(tmp_path / "scores.csv", index=False)
    st.run_stats(df, tmp_path / "stats", reps=20)
    (tmp_path / "study.json").write_text(json.dumps({"name": "pad", "question": "q?", "reference": "spirl",
                                                     "variants": {"zero": "spirl", "other": "de_rainbow"}}))
    out = tmp_path / "figures"
    hist = write_khist(tmp_path, "MsPacman", [0, 0, 5, 30, 40, 20, 5], 0.35)
    assert cli.main(["plots", "--scores", str(tmp_path / "scores.csv"), "--stats", str(tmp_path / "stats"),
                     "--k-hist", str(hist), "--study", str(tmp_path / "study.json"),
                     "--out", str(out)]) == 0
    captions = json.loads((out / "captions.json").read_text())
    expected = {"aggregates", "profiles", "poi", "sample_efficiency", "learning_curves", "study-pad", "k_hist-paper"}
    assert set(captions) == expected
    for name in expected:
        assert (out / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (out / f"{name}.pdf").read_bytes()[:5] == b"%PDF-"
    assert not list(out.glob("*.tmp"))


def test_aggregates_over_other_games_are_drawn_apart_and_labelled(tmp_path):
    df = pd.concat([scores(games=("MsPacman",)),
                    published_frame({"MsPacman": [1000.0, 1200.0], "Seaquest": [300.0, 500.0]}, "X")])
    st.run_stats(df, tmp_path / "stats", reps=20)
    captions = fg.make_figures(tmp_path / "fig", stats_dir=tmp_path / "stats")
    assert "over the 1 game every method has" in captions["aggregates"]
    assert "not comparable" in captions["aggregates_own"]
    assert (tmp_path / "fig" / "aggregates_own.png").is_file()
