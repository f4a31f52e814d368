"""spirl.analysis.protocols: sticky-action scores are never set beside published numbers made without them."""

import pandas as pd
import pytest
import yaml

from spirl import cli
from spirl.analysis import paper_tables as pt
from spirl.analysis import rliable_stats as st
from spirl.analysis import scores as sc
from spirl.analysis.protocols import STICKY_CELL, comparable_pairs, sticky_methods
from spirl.analysis.published import published_frame
from spirl.config import Study

PRESET = {"games": ["Seaquest"], "methods": {"spirl_sticky": {"base": "spirl",
                                                              "protocol": {"repeat_action_probability": 0.25}}}}


@pytest.fixture
def method_files(tmp_path):
    """Resolved method files of spirl (no sticky actions), spirl_sticky (0.25) and de_rainbow, as the workflow's."""
    preset = tmp_path / "preset.yaml"
    preset.write_text(yaml.safe_dump(PRESET))
    files = []
    for method in ("spirl", "spirl_sticky", "de_rainbow"):
        out = tmp_path / "methods" / f"{method}.yaml"
        assert cli.main(["resolve-method", "--config", str(preset), "--method", method, "--out", str(out)]) == 0
        files.append(out)
    return files


def _cells(table, label_start):
    return [row for row in table.rows if row[0].text.startswith(label_start)]


def test_sticky_methods_are_read_from_the_resolved_settings(method_files):
    assert sticky_methods(method_files) == {"spirl_sticky"}
    assert sticky_methods([]) == frozenset()


def test_the_paper_tables_never_compare_a_sticky_method_with_published_numbers(method_files, synthetic_scores):
    df = synthetic_scores(methods=("spirl_sticky", "de_rainbow", "spirl"), seeds=3)
    sticky = sticky_methods(method_files)
    tables = {t.name: t for t in pt.build_tables(df, methods={"spirl": "spirl_sticky"}, sticky=sticky,
                                                 studies=[Study("sticky_actions", "?", ["Seaquest"], [0, 1, 2],
                                                                "spirl", {"no_sticky": "spirl",
                                                                          "sticky": "spirl_sticky"})])}
    (ours,) = _cells(tables["table2"], "SPIRL (ours: spirl_sticky)")
    assert [c.text for c in ours[2:6]] == [STICKY_CELL] * 4
    (verdicts,) = _cells(tables["table2"], "  verdict vs the SPIRL paper (SPIRL)")
    assert {c.text for c in verdicts[2:6]} == {"n/a"}
    assert any("spirl_sticky: sticky actions" in note for note in tables["table2"].notes)
    (der,) = _cells(tables["table2"], "DE-Rainbow (ours: de_rainbow)")
    assert STICKY_CELL not in {c.text for c in der[2:6]} and "not run" not in {c.text for c in der[2:6]}
    zero = _cells(tables["table14"], "Zero")  # the paper configuration's row is the sticky one here
    assert zero and zero[0][2].text == STICKY_CELL
    # the study compares the sticky variant with our own no-sticky runs: that comparison stays
    study = tables["study-sticky_actions"]
    assert all(STICKY_CELL not in c.text for row in study.rows for c in row)
    # without the method files, nothing is marked: the same table shows the numbers
    plain = {t.name: t for t in pt.build_tables(df, methods={"spirl": "spirl_sticky"})}
    assert _cells(plain["table2"], "SPIRL (ours: spirl_sticky)")[0][2].text != STICKY_CELL


def test_stats_leaves_out_and_refuses_sticky_pairs_with_published_data(method_files, synthetic_scores, tmp_path,
                                                                     reference_file, capsys):
    from spirl.analysis.published import load_published

    df = synthetic_scores(methods=("spirl_sticky", "spirl"), seeds=3)
    spr = published_frame(load_published(reference_file("SPR.json")), "SPR")
    both = pd.concat([df, spr[spr["game"].isin(set(df["game"]))]], ignore_index=True)
    tables = st.run_stats(both, tmp_path / "stats", reps=50, sticky={"spirl_sticky"})
    pairs = set(zip(tables["poi"]["x"], tables["poi"]["y"]))
    assert ("spirl", "published:SPR") in pairs and ("spirl_sticky", "spirl") in pairs
    assert not {p for p in pairs if "spirl_sticky" in p and "published:SPR" in p}
    with pytest.raises(sc.StatsError, match="sticky actions"):
        comparable_pairs([("spirl_sticky", "published:SPR")], {"spirl_sticky"}, chosen=True)
    scores = tmp_path / "scores.csv"
    sc.write_scores(df, scores)
    args = ["stats", "--scores", str(scores), "--published", str(reference_file("SPR.json")), "--out",
            str(tmp_path / "out"), "--reps", "20", "--pairs", "spirl_sticky:published:SPR",
            "--methods", *map(str, method_files)]
    capsys.readouterr()
    assert cli.main(args) == 2
    err = capsys.readouterr().err.strip()
    assert "sticky actions" in err and "\n" not in err


def test_the_learning_curves_leave_a_sticky_method_out_of_the_published_comparison(synthetic_scores, tmp_path):
    from spirl.analysis.figures import make_figures

    df = synthetic_scores(methods=("spirl_sticky", "spirl"), seeds=2)
    caption = make_figures(tmp_path / "a", scores=df, sticky={"spirl_sticky"})["learning_curves"]
    assert "Left out, run with sticky actions: spirl_sticky" in caption
    only = make_figures(tmp_path / "b", scores=df[df["method"] == "spirl_sticky"], sticky={"spirl_sticky"})
    assert "no published markers" in only["learning_curves"]
    assert (tmp_path / "b" / "learning_curves.png").is_file()
    assert "sticky" not in make_figures(tmp_path / "c", scores=df)["learning_curves"]
