"""spirl.analysis.scores: eval.csv -> the tidy scores table -> per-run matrices, and their refusals."""


import numpy as np
import pandas as pd
import pytest

from spirl.analysis import rliable_stats as st
from spirl.analysis import scores as sc
from spirl.analysis.published import load_published
from spirl.atari import games as game_table


def tidy(rows):
    return pd.DataFrame(rows, columns=list(sc.SCORE_COLUMNS))


def test_score_matrices_use_the_final_evaluation_mean_per_run_and_normalise():
    rows = []
    for seed, finals in enumerate([(14.6, 14.6), (-20.7, -3.05)]):
        rows += [("a", "pong", seed, 500, 0, 0.0), ("a", "pong", seed, 500, 1, 0.0)]
        rows += [("a", "pong", seed, 1000, e, s) for e, s in enumerate(finals)]
        rows += [("a", "Boxing", seed, 500, 0, 0.0), ("a", "Boxing", seed, 1000, 0, 12.1 * seed)]
    m = sc.score_matrices(tidy(rows))
    assert m.games == ("Boxing", "Pong")
    assert m["a"].shape == (2, 2)  # [runs, games]
    pong = game_table.get("Pong")
    np.testing.assert_allclose(m["a"][:, 1], [1.0, pong.normalise(-11.875)])
    np.testing.assert_allclose(m["a"][:, 0], [game_table.get("Boxing").normalise(0.0),
                                              game_table.get("Boxing").normalise(12.1)])
    raw = sc.score_matrices(tidy(rows), step=500, normalised=False)
    np.testing.assert_allclose(raw["a"], 0.0)
    med = sc.score_matrices(tidy(rows), normalised=False, per_run="median")
    np.testing.assert_allclose(med["a"][:, 1], [14.6, -11.875])


def test_game_table_normalisation_matches_the_published_human_and_random_files(reference_file):
    human, random = load_published(reference_file("HUMAN.json")), load_published(reference_file("RANDOM.json"))
    for g, (h,) in human.items():
        assert game_table.get(g).normalise(h) == pytest.approx(1.0)
        assert game_table.get(g).normalise(random[g][0]) == pytest.approx(0.0)


def test_nan_scores_are_refused():
    with pytest.raises(sc.StatsError, match="NaN"):
        sc.check_scores(tidy([("a", "Pong", 0, 1, 0, float("nan"))]))
    with pytest.raises(sc.StatsError, match="NaN"):
        st.aggregate_estimates({"a": np.array([[1.0, np.nan], [1.0, 2.0]])}, reps=10)


def test_games_without_human_scores_are_refused(monkeypatch):
    pong = game_table.GAMES["Pong"]
    monkeypatch.setitem(game_table.GAMES, "Pong", game_table.Game(pong.id, pong.rom, pong.random, pong.random))
    df = tidy([("a", "Pong", s, 1, 0, 1.0) for s in range(2)])
    with pytest.raises(sc.StatsError, match="Pong has no usable human"):
        sc.score_matrices(df)
    assert sc.score_matrices(df, normalised=False)["a"].shape == (2, 1)


def test_unequal_runs_missing_games_and_unfinished_runs_are_refused():
    df = tidy([("a", "Pong", 0, 1, 0, 1.0), ("a", "Pong", 1, 1, 0, 1.0), ("a", "Boxing", 0, 1, 0, 1.0)])
    with pytest.raises(sc.StatsError, match="different numbers of runs"):
        sc.score_matrices(df)
    df2 = tidy([("a", "Pong", 0, 1, 0, 1.0), ("b", "Boxing", 0, 1, 0, 1.0)])
    with pytest.raises(sc.StatsError, match="method a has no runs on Boxing"):
        sc.score_matrices(df2)
    df3 = tidy([("a", "Pong", 0, 2, 0, 1.0), ("a", "Pong", 1, 1, 0, 1.0)])
    with pytest.raises(sc.StatsError, match="end at different steps"):
        sc.final_scores(df3)
    with pytest.raises(game_table.UnknownGameError, match="unknown game"):
        sc.check_scores(tidy([("a", "NotAGame", 0, 1, 0, 1.0)]))


def test_duplicated_episodes_are_refused():
    with pytest.raises(sc.StatsError, match="duplicated episode"):
        sc.check_scores(tidy([("a", "Pong", 0, 1, 0, 1.0), ("a", "pong", 0, 1, 0, 2.0)]))
