"""spirl.analysis.paper_tables: the paper's tables from synthetic scores, and spirl tables."""

import json
import re

import pandas as pd
import pytest

from spirl import cli
from spirl.analysis import paper_tables as pt
from spirl.analysis import scores as sc
from spirl.analysis import table_model as tb
from spirl.analysis import verdicts as vd
from spirl.config import Study
from spirl.saliency.kstats import load_k_hists


def test_table11_places_ours_beside_both_published_columns(synthetic_scores):
    df = synthetic_scores()
    t = pt.table11(sc.final_scores(df))
    frame = t.to_frame()
    ours = frame[(frame["row"] == "MsPacman") & (frame["column"] == "Ours (reproduced)")].iloc[0]
    expect = sc.final_scores(df).query("method == 'de_rainbow' and game == 'MsPacman'")["score"]
    assert ours["mean"] == pytest.approx(expect.mean()) and ours["n"] == 3
    assert ours["std"] == pytest.approx(expect.std(ddof=1))
    published = frame[frame["kind"] == "published"]
    assert published["source"].str.startswith("published:").all()
    assert set(frame.loc[frame["kind"] == "verdict", "verdict"]) <= set(vd.VERDICTS)
    md = t.to_markdown()
    assert "| Frostbite |" in md and "**" in md


def bold_cells(frame):
    return sorted(zip(frame.loc[frame["bold"], "row"], frame.loc[frame["bold"], "column"]))


def test_table11_keeps_the_papers_bold_and_marks_ours_apart(synthetic_scores):
    # ours (de_rainbow, 1.3 x the base level) is above both published columns on Seaquest and BattleZone
    t = pt.table11(sc.final_scores(synthetic_scores(seeds=10)))
    frame = t.to_frame()
    assert bold_cells(frame) == sorted([("Frostbite", "Reported (published)"), ("MsPacman", "Reported (published)"),
                                        ("Seaquest", "Paper re-impl. (published)"),
                                        ("BattleZone", "Paper re-impl. (published)")])  # as the paper prints it
    ours = frame[frame["column"] == "Ours (reproduced)"].set_index("row")
    assert ours.loc["Seaquest", "text"].endswith(tb.ABOVE_MARK) and ours.loc["Seaquest", "mean"] > 396.5
    assert not ours.loc["Frostbite", "text"].endswith(tb.ABOVE_MARK)  # 442 is below the reported 866.8
    assert "**" in t.to_markdown() and tb.ABOVE_NOTE in t.notes


def test_table2_bolds_as_the_paper_does_and_puts_newer_agents_apart(synthetic_scores):
    t = pt.table2(sc.final_scores(synthetic_scores()))
    frame = t.to_frame()
    labels = [r[0].text for r in t.rows]
    assert "SPR" in labels and "SPIRL (ours: spirl)" in labels and "DE-Rainbow-P (ours: de_rainbow_p)" in labels
    # bold only among the paper's comparison (SimPLe, Transporter, PermaKey, DE-Rainbow, DE-Rainbow-P, SPIRL)
    assert bold_cells(frame) == sorted([("DE-Rainbow (SPIRL paper, re-impl.)", "Frostbite"),
                                        ("SimPLe", "MsPacman"), ("SimPLe", "Seaquest"),
                                        ("DE-Rainbow (SPIRL paper, re-impl.)", "BattleZone")])
    blocks = list(dict.fromkeys(frame["block"]))
    assert len(blocks) == 4 and blocks[0].startswith("The paper's comparison") and blocks[2].startswith("Newer")
    newer = frame[frame["block"] == blocks[2]]
    assert {"DreamerV3 (approx.)", "BBF (RR8)", "SPR", "DER (reported)"} <= set(newer["row"])
    assert not newer["bold"].any()  # DreamerV3's 3005.3 is the best Frostbite score but not the paper's agent
    compared = frame[frame["block"] == blocks[0]]
    assert set(compared["row"]) == {"SimPLe", "Transporter", "PermaKey", "DE-Rainbow (SPIRL paper, re-impl.)",
                                    "DE-Rainbow-P (SPIRL paper)", "SPIRL (SPIRL paper)"}
    ours = frame[frame["block"] == blocks[1]]
    assert not ours["bold"].any()
    kinds = {r[1].text for r in t.rows if len(r) > 1}
    assert kinds <= {"published", "published (recomputed)", "published (reported)", "published (reference)",
                     "reproduced", "verdict"}
    assert any("BBF" in n for n in t.notes)


def test_numbers_print_as_their_source_prints_them(synthetic_scores):
    df = synthetic_scores()
    tables = {t.name: t.to_frame() for t in pt.build_tables(df, reps=20)}
    texts = [str(x) for f in tables.values() for x in f["text"]]
    assert not [x for x in texts if re.search(r"\d,\d{3}", x)]  # no thousands separators
    t2 = tables["table2"].set_index(["row", "column"])["text"]
    assert t2[("Random", "BattleZone")] == "2360"  # an integer where the source gives one
    assert t2[("BBF (RR8)", "Frostbite")] == "2708.3 (1206)"
    assert t2[("DE-Rainbow (SPIRL paper, re-impl.)", "BattleZone")] == "10602.2 (2299.6)"
    t14 = tables["table14"].set_index(["row", "column"])["text"]
    assert t14[("Masked-Attention", "Paper (published)")] == "494.40 (154.8) n=5"


def test_a_single_run_gets_cells_and_verdicts_not_an_error(synthetic_scores):
    t = pt.table11(sc.final_scores(synthetic_scores(seeds=1)))
    frame = t.to_frame()
    ours = frame[frame["column"] == "Ours (reproduced)"]
    assert (ours["n"] == 1).all() and ours["std"].isna().all()
    verdicts = frame[frame["column"] == "Ours vs paper re-impl."]
    assert set(verdicts["verdict"]) <= {"differs", "too few runs"}  # judged against the paper's spread
    assert set(frame.loc[frame["column"] == "Ours vs reported", "verdict"]) == {"n/a"}  # no spread on either side


def test_table14_and_15_take_their_variants_from_tagged_studies(synthetic_scores):
    df = synthetic_scores(methods=("spirl", "spirl_pad_token", "avg50", "cls50"))
    studies = [Study("padding", "?", [], [], "spirl", {"zero": "spirl", "token": "spirl_pad_token"}, "table14"),
               Study("pool", "?", [], [], "cls50", {"avg_pool": "avg50", "cls": "cls50"}, "table15-100k")]
    tables = {t.name: t for t in pt.build_tables(df, studies=studies, reps=30)}
    t14 = tables["table14"].to_frame()
    token = t14[(t14["column"] == "Ours (reproduced)") & t14["row"].str.startswith("Trainable")].iloc[0]
    assert token["n"] == 3
    assert "not run" in t14.loc[t14["row"] == "Masked-Attention", "text"].tolist()
    t15 = tables["table15"].to_frame()
    ran = t15[(t15["column"] == "Ours (reproduced)") & (t15["text"] != "not run")]
    assert len(ran) == 8 and ran["row"].str.contains("100K").all()
    with pytest.raises(tb.TableError, match="should be one of"):
        pt.build_tables(df, studies=[Study("p", "?", [], [], "spirl", {"big": "spirl", "x": "cls50"},
                                            "table14")])


def test_table15_uses_the_per_run_median_at_400k():
    rows = [("c", "Seaquest", s, 400_000, e, v) for s in range(2) for e, v in enumerate([0.0, 10.0, 1000.0])]
    df = pd.DataFrame(rows, columns=list(sc.SCORE_COLUMNS))
    t = pt.table15(sc.final_scores(df), sc.final_scores(df, per_run="median"), {("400K", "cls"): "c"})
    cell = next(r[2] for r in t.rows if r[0].text.startswith("Seaquest 400K [cls]"))
    assert cell.mean == pytest.approx(10.0)


def test_fig8_table_compares_shares_and_ideal_ratios(tmp_path, write_khist):
    paths = [write_khist(tmp_path, "MsPacman", [0, 0, 5, 30, 40, 20, 5], 0.30),
             write_khist(tmp_path, "Seaquest", [10, 50, 30, 8, 2], 0.30)]
    t = pt.fig8_table(load_k_hists(paths)["paper"])
    frame = t.to_frame()
    verdicts = frame[frame["row"] == "verdict (ideal ratio)"].set_index("column")["text"]
    assert verdicts["MsPacman paper %"] == "consistent"  # 30% vs the paper's 35%: one bin
    assert verdicts["Seaquest paper %"] == "differs"  # 30% vs 20%
    shares = frame[(frame["row"] == "20-25%") & (frame["column"] == "MsPacman ours %")].iloc[0]
    assert shares["mean"] == pytest.approx(0.40) and shares["n"] == 40
    paper_share = frame[(frame["row"] == "20-25%") & (frame["column"] == "MsPacman paper %")].iloc[0]
    assert paper_share["mean"] == pytest.approx(29634 / 50000)


def test_tables_cli_writes_every_format(tmp_path, synthetic_scores, write_khist):
    synthetic_scores().to_csv(tmp_path / "scores.csv", index=False)
    kh = write_khist(tmp_path / "sal", "Frostbite", [0, 0, 0, 0, 1, 60, 30, 9], 0.40)
    (tmp_path / "study.json").write_text(json.dumps({"name": "pad", "question": "q?", "reference": "spirl",
                                                     "variants": {"zero": "spirl", "token": "spirl_pad_token"},
                                                     "games": ["Seaquest"]}))
    out = tmp_path / "tables"
    assert cli.main(["tables", "--scores", str(tmp_path / "scores.csv"), "--out", str(out), "--k-hist", str(kh),
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
