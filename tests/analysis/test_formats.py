"""spirl.analysis.formats: our scores as rliable JSON and long CSV, read back as published data."""

import json

import numpy as np
import pandas as pd
import pytest

from spirl.analysis import formats as fm
from spirl.analysis import scores as sc
from spirl.analysis.published import load_published, published_frame


def tidy(rows):
    return pd.DataFrame(rows, columns=list(sc.SCORE_COLUMNS))


def test_rliable_json_holds_each_runs_final_mean_raw_in_seed_order():
    rows = [("a", "Pong", 1, 10, 0, 0.0), ("a", "Pong", 1, 20, 0, 3.0), ("a", "Pong", 1, 20, 1, 5.0),
            ("a", "Pong", 0, 10, 0, 9.0), ("a", "Pong", 0, 20, 0, -1.0), ("a", "Boxing", 0, 20, 0, 2.5),
            ("a", "Boxing", 1, 20, 0, 7.0), ("b", "Pong", 0, 20, 0, 100.0)]
    got = fm.rliable_scores(tidy(rows), "a")
    assert got == {"Boxing": [2.5, 7.0], "Pong": [-1.0, 4.0]}  # raw means of the final evaluation, seed 0 then 1
    assert list(got) == ["Boxing", "Pong"]
    curves = fm.curves(tidy(rows))
    assert list(curves.columns) == ["method", "game", "seed", "step", "score"]
    assert curves.query("method == 'a' and game == 'Pong' and seed == 1 and step == 20")["score"].item() == 4.0
    assert len(curves) == 7


def test_our_files_read_back_as_published_data_give_the_same_statistics(tmp_path, synthetic_scores):
    ours = synthetic_scores(methods=("spirl", "de_rainbow"), seeds=3)
    paths = fm.write_rliable(ours, tmp_path / "rliable")
    assert [p.name for p in paths] == ["spirl.json", "de_rainbow.json"]
    fm.write_curves(ours, tmp_path / "curves.csv")
    back = fm.scores_with_published(None, [str(tmp_path / "rliable" / "spirl.json"), f"DER={tmp_path / 'rliable'}"
                                              f"/de_rainbow.json"])
    assert set(back["method"]) == {"published:spirl", "published:DER"}
    mine = sc.score_matrices(ours, methods=["spirl", "de_rainbow"])
    json_back = sc.score_matrices(fm.read_published(tmp_path / "rliable" / "spirl.json"))
    np.testing.assert_allclose(json_back["published:spirl"], mine["spirl"])
    csv_back = fm.read_published(tmp_path / "curves.csv")
    np.testing.assert_allclose(sc.score_matrices(csv_back)["published:de_rainbow"], mine["de_rainbow"])
    (cube, steps, games), (cube_back, steps_back, games_back) = (
        sc.curve_matrices(ours, methods=["spirl"]), sc.curve_matrices(csv_back, methods=["published:spirl"]))
    np.testing.assert_allclose(cube_back["published:spirl"], cube["spirl"])
    assert steps_back["published:spirl"] == steps["spirl"] and games_back == games
    assert isinstance(json.loads((tmp_path / "rliable" / "spirl.json").read_text())["Frostbite"], list)


def test_a_published_file_survives_our_writer_unchanged(reference_file):
    """rliable's own Atari 100k file (SPR, via IRIS) -> our tables -> our writer: the same {game: [runs]}."""
    spr = load_published(reference_file("SPR.json"))
    table = published_frame(spr, "SPR")
    assert fm.rliable_scores(table, "published:SPR") == {g: spr[g] for g in fm.rliable_scores(table, "published:SPR")}
    assert set(fm.rliable_scores(table, "published:SPR")) == set(spr)


def test_other_peoples_long_csv_is_published_data_and_bad_ones_are_refused(tmp_path):
    theirs = tmp_path / "theirs.csv"
    theirs.write_text("method,game,seed,step,score,extra\nBBF,Pong,0,100000,20.5,x\nBBF,Pong,1,100000,19.0,y\n")
    df = fm.read_published(theirs)
    assert df["method"].unique().tolist() == ["published:BBF"]
    assert fm.read_published(theirs, "mine")["method"].unique().tolist() == ["published:mine"]
    two = tmp_path / "two.csv"
    two.write_text("method,game,seed,step,score\nA,Pong,0,1,1\nB,Pong,0,1,2\n")
    with pytest.raises(sc.StatsError, match="holds 2 methods"):
        fm.read_published(two, "x")
    bad = tmp_path / "bad.csv"
    bad.write_text("method,game,step,score\nA,Pong,1,1\n")
    with pytest.raises(sc.StatsError, match="missing column"):
        fm.read_published(bad)
    with pytest.raises(sc.StatsError, match="given twice"):
        fm.scores_with_published(None, [str(theirs), f"BBF={theirs}"])
