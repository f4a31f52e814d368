"""spirl.analysis.tables: the verdict rule on constructed cases, and every table rendering from synthetic scores."""

import json

import numpy as np
import pandas as pd
import pytest

from spirl import cli
from spirl.analysis import paper_numbers as paper
from spirl.analysis import stats as st
from spirl.analysis import tables as tb

GAMES = ("Frostbite", "MsPacman", "Seaquest", "BattleZone")
BASE = {"Frostbite": 340.0, "MsPacman": 1015.0, "Seaquest": 400.0, "BattleZone": 10600.0}


def synthetic_scores(methods=("spirl", "de_rainbow", "de_rainbow_p", "spirl_pad_token"), seeds=3,
                     steps=(50_000, 100_000), episodes=3, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for i, m in enumerate(methods):
        for g in GAMES:
            for s in range(seeds):
                for step in steps:
                    for e in range(episodes):
                        level = BASE[g] * (1 + 0.3 * i) * step / steps[-1]
                        rows.append((m, g, s, step, e, float(level + rng.normal(0, 0.1 * BASE[g]))))
    return pd.DataFrame(rows, columns=list(st.SCORE_COLUMNS))


def write_khist(root, game, counts, ideal):
    d = root / "paper" / game
    d.mkdir(parents=True)
    n = len(counts)
    pd.DataFrame({"bin_start": np.arange(n) * 0.05, "bin_end": np.arange(1, n + 1) * 0.05, "count": counts,
                  "frames": sum(counts), "ideal_ratio": ideal}).to_csv(d / "k_hist.csv", index=False)
    return d / "k_hist.csv"


# ------------------------------------------------------------------------------------------ the verdict rule


def test_welch_verdict_on_clearly_same_and_clearly_different_cases():
    assert tb.verdict(100.0, 10.0, 5, 101.0, 10.0, 5)[0] == "consistent"
    assert tb.verdict(100.0, 1.0, 10, 200.0, 1.0, 10)[0] == "differs"
    v, detail = tb.verdict(341.4, 277.8, 10, 341.4, 277.8, 10)
    assert v == "consistent" and "Welch" in detail and "p=1.000" in detail


def test_mean_only_verdict_uses_our_confidence_interval():
    # n = 5, std 10 -> half-width t(0.975, 4) * 10 / sqrt(5) = 12.4
    assert tb.verdict(100.0, 10.0, 5, 110.0)[0] == "consistent"
    assert tb.verdict(100.0, 10.0, 5, 115.0)[0] == "differs"
    assert "inside" in tb.verdict(100.0, 10.0, 5, 110.0)[1]
    # the paper's std without a run count: still the mean-only rule
    assert tb.verdict(100.0, 10.0, 5, 115.0, ref_std=50.0)[0] == "differs"


def test_verdict_is_not_computable_without_two_runs_or_a_paper_number():
    assert tb.verdict(100.0, None, 1, 100.0, 1.0, 5)[0] == "n/a"
    assert tb.verdict(100.0, 0.0, 1, 100.0)[0] == "n/a"
    assert tb.verdict(None, None, None, 100.0)[0] == "n/a"
    assert tb.verdict(100.0, 1.0, 3, None)[0] == "n/a"
    assert tb.verdict(5.0, 0.0, 3, 5.0, 0.0, 3)[0] == "consistent"
    assert tb.verdict(5.0, 0.0, 3, 6.0, 0.0, 3)[0] == "differs"


def test_verdict_cells_refuse_other_budgets():
    s = tb.Summary(341.0, 270.0, 5, 2_000)
    cell = tb.verdict_cell(s, paper.TABLE11_PAPER["Frostbite"], 100_000)
    assert cell.text == "n/a" and "2,000" in cell.detail
    ok = tb.verdict_cell(tb.Summary(341.0, 270.0, 5, 100_000), paper.TABLE11_PAPER["Frostbite"], 100_000)
    assert ok.text == "consistent"


# ------------------------------------------------------------------------------------------ tables


def test_table11_places_ours_beside_both_published_columns():
    df = synthetic_scores()
    t = tb.table11(st.final_scores(df))
    frame = t.to_frame()
    ours = frame[(frame["row"] == "MsPacman") & (frame["column"] == "Ours (reproduced)")].iloc[0]
    expect = st.final_scores(df).query("method == 'de_rainbow' and game == 'MsPacman'")["score"]
    assert ours["mean"] == pytest.approx(expect.mean()) and ours["n"] == 3
    assert ours["std"] == pytest.approx(expect.std(ddof=1))
    published = frame[frame["kind"] == "published"]
    assert published["source"].str.startswith("published:").all()
    assert set(frame.loc[frame["kind"] == "verdict", "verdict"]) <= {"consistent", "differs", "n/a"}
    md = t.to_markdown()
    assert "| Frostbite |" in md and "**" in md


def test_table2_bolds_the_best_agent_and_labels_every_row():
    t = tb.table2(st.final_scores(synthetic_scores()))
    labels = [r[0].text for r in t.rows]
    assert "SPR" in labels and "SPIRL (ours: spirl)" in labels and "DE-Rainbow-P (ours: de_rainbow_p)" in labels
    col = t.columns.index("Frostbite")
    bold = [r[0].text for r in t.rows if r[col].bold]
    assert bold == ["DreamerV3 (approx.)"]  # 3,005.3 is the best published Frostbite score
    kinds = {r[1].text for r in t.rows}
    assert kinds <= {"published (recomputed)", "published (reported)", "published (reference)", "reproduced",
                     "verdict"}
    assert any("BBF" in n for n in t.notes)


def test_table14_and_15_take_their_variants_from_tagged_studies():
    df = synthetic_scores(methods=("spirl", "spirl_pad_token", "avg50", "cls50"))
    studies = [tb.StudySpec("padding", "?", "spirl", {"zero": "spirl", "token": "spirl_pad_token"}, [], "table14"),
               tb.StudySpec("pool", "?", "cls50", {"avg_pool": "avg50", "cls": "cls50"}, [], "table15-100k")]
    tables = {t.name: t for t in tb.build_tables(df, studies=studies, reps=30)}
    t14 = tables["table14"].to_frame()
    token = t14[(t14["column"] == "Ours (reproduced)") & t14["row"].str.startswith("Trainable")].iloc[0]
    assert token["n"] == 3
    assert "not run" in t14.loc[t14["row"] == "Masked-Attention", "text"].tolist()
    t15 = tables["table15"].to_frame()
    ran = t15[(t15["column"] == "Ours (reproduced)") & (t15["text"] != "not run")]
    assert len(ran) == 8 and ran["row"].str.contains("100K").all()
    with pytest.raises(tb.TableError, match="should be one of"):
        tb.build_tables(df, studies=[tb.StudySpec("p", "?", "spirl", {"big": "spirl", "x": "cls50"}, [],
                                                  "table14")])


def test_table15_uses_the_per_run_median_at_400k():
    rows = [("c", "Seaquest", s, 400_000, e, v) for s in range(2) for e, v in enumerate([0.0, 10.0, 1000.0])]
    df = pd.DataFrame(rows, columns=list(st.SCORE_COLUMNS))
    t = tb.table15(st.final_scores(df), st.final_scores(df, per_run="median"), {("400K", "cls"): "c"})
    cell = next(r[2] for r in t.rows if r[0].text.startswith("Seaquest 400K [cls]"))
    assert cell.mean == pytest.approx(10.0)


def test_fig8_table_compares_shares_and_ideal_ratios(tmp_path):
    paths = [write_khist(tmp_path, "MsPacman", [0, 0, 5, 30, 40, 20, 5], 0.30),
             write_khist(tmp_path, "Seaquest", [10, 50, 30, 8, 2], 0.30)]
    t = tb.fig8_table(tb.load_khists(paths)["paper"])
    frame = t.to_frame()
    verdicts = frame[frame["row"] == "verdict (ideal ratio)"].set_index("column")["text"]
    assert verdicts["MsPacman paper %"] == "consistent"  # 30% vs the paper's 35%: one bin
    assert verdicts["Seaquest paper %"] == "differs"  # 30% vs 20%
    shares = frame[(frame["row"] == "20-25%") & (frame["column"] == "MsPacman ours %")].iloc[0]
    assert shares["mean"] == pytest.approx(0.40) and shares["n"] == 40
    paper_share = frame[(frame["row"] == "20-25%") & (frame["column"] == "MsPacman paper %")].iloc[0]
    assert paper_share["mean"] == pytest.approx(29634 / 50000)


def test_study_table_has_iqm_and_probability_of_improvement(tmp_path):
    df = synthetic_scores(methods=("spirl", "spirl_pad_token"))
    study_file = tmp_path / "study.yaml"
    study_file.write_text("studies:\n  padding:\n    question: does padding matter?\n    reference: zero\n"
                          "    variants: {zero: spirl, token: spirl_pad_token}\n    games: [Seaquest, MsPacman]\n")
    [study] = tb.load_studies(study_file)
    assert study.reference == "spirl" and study.games == ["Seaquest", "MsPacman"]
    t = tb.study_table(df, study, reps=40)
    assert t.columns == ["Variant", "Seaquest", "MsPacman", "IQM [95% CI]", "P(> zero) [95% CI]"]
    token = t.rows[1]
    assert token[-1].mean == pytest.approx(1.0)  # token scores 30% higher on every run
    assert token[1].text.endswith("†")  # differs from the reference on Seaquest
    assert t.rows[0][-1].text == "—"


def test_tables_cli_writes_every_format(tmp_path):
    synthetic_scores().to_csv(tmp_path / "scores.csv", index=False)
    kh = write_khist(tmp_path / "sal", "Frostbite", [0, 0, 0, 0, 1, 60, 30, 9], 0.40)
    (tmp_path / "study.json").write_text(json.dumps({"name": "pad", "question": "q?", "reference": "spirl",
                                                     "variants": {"zero": "spirl", "token": "spirl_pad_token"},
                                                     "games": ["Seaquest"]}))
    out = tmp_path / "tables"
    assert cli.main(["tables", "--scores", str(tmp_path / "scores.csv"), "--out", str(out), "--khist", str(kh),
                     "--study", str(tmp_path / "study.json"), "--reps", "30"]) == 0
    index = json.loads((out / "index.json").read_text())
    names = [e["name"] for e in index]
    assert names == ["table11", "table2", "table14", "table15", "fig8-paper", "study-pad"]
    for name in names:
        for ext in ("md", "tex", "csv", "html"):
            assert (out / f"{name}.{ext}").stat().st_size > 100, (name, ext)
    tex = (out / "table2.tex").read_text()
    assert "\\begin{tabular}" in tex and "DrQ($\\varepsilon$)" in tex and "\\textbf{" in tex
    csv = pd.read_csv(out / "table11.csv")
    assert {"verdict", "source", "n", "std"} <= set(csv.columns)


def test_latex_escape():
    assert tb.latex_escape("a_b & 5% #1 {x}") == r"a\_b \& 5\% \#1 \{x\}"


def test_studies_load_from_a_preset_with_inline_variants_and_free_text_tables(tmp_path):
    preset = tmp_path / "preset.yaml"
    preset.write_text(
        "games: [Seaquest]\nstudies:\n"
        "  pooling_400k:\n    question: cls or avg?\n    table: Table 15 (400K columns; per-trial medians)\n"
        "    reference: cls\n    variants:\n      cls: {base: spirl, saliency: {max_ratio: 0.5}}\n"
        "      avg: {base: spirl, agent: {pooling: avg}}\n"
        "  padding:\n    table: Table 14\n    reference: zero\n    variants: {zero: spirl, token: {base: spirl}}\n"
        "  fixed_k:\n    table: Fig. 8\n    variants: {dynamic: spirl, fixed: {base: spirl}}\n")
    pooling, padding, fixed = tb.load_studies(preset)
    assert pooling.variants == {"cls": "pooling_400k-cls", "avg": "pooling_400k-avg"}  # spirl.config's names
    assert pooling.reference == "pooling_400k-cls" and pooling.table == "table15-400k"
    assert padding.table == "table14" and padding.variants["token"] == "padding-token"
    assert fixed.table is None and fixed.reference == "spirl"
    assert tb.paper_table_tag("Table 15 (100K columns)") == "table15-100k"
