"""spirl.analysis.rliable_stats: known answers, the published-data regression, rliable parity, refusals and the CLIs."""


import numpy as np
import pandas as pd
import pytest
from rliable import library, metrics

from spirl import cli
from spirl.analysis import rliable_stats as st
from spirl.analysis import scores as sc
from spirl.analysis.published import load_published, published_frame


def tidy(rows):
    return pd.DataFrame(rows, columns=list(sc.SCORE_COLUMNS))


# ------------------------------------------------------------------------------------------ known answers


def test_aggregates_of_a_tiny_matrix_known_by_hand():
    m = np.array([[0.0, 10.0, 2.0, 3.0], [4.0, 5.0, 6.0, 100.0]])
    agg = st.aggregate_estimates({"a": m}, reps=50).set_index("metric")["estimate"]
    # sorted: 0 2 3 4 5 6 10 100 -> middle half 3 4 5 6
    assert agg["IQM"] == pytest.approx(4.5)
    # per-game means 2, 7.5, 4, 51.5
    assert agg["median"] == pytest.approx(5.75)
    assert agg["mean"] == pytest.approx(16.25)
    # min(x, 1): one zero and seven ones
    assert agg["optimality_gap"] == pytest.approx(0.125)


def test_intervals_contain_the_estimate_and_are_deterministic():
    rng = np.random.default_rng(1)
    m = {"a": rng.normal(1.0, 0.3, size=(5, 6))}
    state = np.random.get_state()
    a1 = st.aggregate_estimates(m, reps=100, seed=3)
    a2 = st.aggregate_estimates(m, reps=100, seed=3)
    a3 = st.aggregate_estimates(m, reps=100, seed=4)
    pd.testing.assert_frame_equal(a1, a2)
    assert not np.allclose(a1["lower"], a3["lower"])
    assert ((a1["lower"] <= a1["estimate"]) & (a1["estimate"] <= a1["upper"])).all()
    # the global generator rliable draws from is restored afterwards
    assert all(np.array_equal(x, y) for x, y in zip(state[1:2], np.random.get_state()[1:2]))


def test_performance_profile_counts_runs_above_tau():
    m = {"a": np.array([[0.0, 0.5], [1.0, 1.5]])}
    prof = st.performance_profiles(m, taus=np.array([-1.0, 0.25, 0.75, 1.25, 2.0]), reps=20)
    np.testing.assert_allclose(prof["fraction"], [1.0, 0.75, 0.5, 0.25, 0.0])


def test_sample_efficiency_curve_is_the_iqm_at_each_step():
    rng = np.random.default_rng(0)
    rows = []
    for g in ("Pong", "Boxing", "Freeway"):
        for seed in range(4):
            for step in (10, 20):
                rows.append(("a", g, seed, step, 0, float(rng.uniform(0, 30))))
    df = tidy(rows)
    curves = st.sample_efficiency_curves(df, reps=30)
    for step in (10, 20):
        expect = metrics.aggregate_iqm(sc.score_matrices(df, step=step)["a"])
        assert curves.loc[curves["step"] == step, "estimate"].item() == pytest.approx(expect)


# ------------------------------------------------------------------------------------------ published data


@pytest.mark.parametrize("name, expected", [
    ("SPR", {"IQM": 0.337, "median": 0.396, "mean": 0.616, "optimality_gap": 0.577}),
    ("DrQ_eps", {"IQM": 0.280, "median": 0.313, "mean": 0.465, "optimality_gap": 0.631}),
    ("SimPLe", {"IQM": 0.130, "median": 0.134, "mean": 0.332, "optimality_gap": 0.729}),
])
def test_published_aggregates_are_reproduced(name, expected, reference_file):
    df = published_frame(load_published(reference_file(f"{name}.json")), name)
    m = sc.score_matrices(df)
    assert len(m.games) == 26
    agg = st.aggregate_estimates(m, reps=50).set_index("metric")
    for metric, value in expected.items():
        assert round(agg.loc[metric, "estimate"], 3) == value, metric
        assert agg.loc[metric, "lower"] <= agg.loc[metric, "estimate"] <= agg.loc[metric, "upper"]


# ------------------------------------------------------------------------------------------ refusals


def test_one_run_gives_point_estimates_without_intervals():
    agg = st.aggregate_estimates({"a": np.array([[0.2, 0.4, 0.9]])}, reps=10).set_index("metric")
    assert agg.loc["mean", "estimate"] == pytest.approx(0.5)
    assert agg["lower"].isna().all() and agg["upper"].isna().all() and (agg["interval"] == "none").all()
    assert agg["note"].str.contains("point estimate only").all()
    prof = st.performance_profiles({"a": np.array([[0.2, 0.4]])}, taus=np.array([0.3]), reps=10)
    assert prof["fraction"].item() == 0.5 and np.isnan(prof["lower"].item())


def test_a_single_run_method_does_not_stop_the_others(tmp_path, capsys):
    rng = np.random.default_rng(0)
    rows = [(m, g, s, 10, 0, float(rng.uniform(0, 30))) for m, seeds in (("one", 1), ("many", 5))
            for g in ("Pong", "Boxing") for s in range(seeds)]
    tidy(rows).to_csv(tmp_path / "scores.csv", index=False)
    assert cli.main(["stats", "--scores", str(tmp_path / "scores.csv"), "--out", str(tmp_path / "s"),
                     "--reps", "30"]) == 0
    agg = pd.read_csv(tmp_path / "s" / "aggregates.csv")
    one, many = agg[agg["method"] == "one"], agg[agg["method"] == "many"]
    assert len(one) == len(many) == 4
    assert one["lower"].isna().all() and many["lower"].notna().all() and (many["interval"] == "bca").all()
    poi = pd.read_csv(tmp_path / "s" / "poi.csv")
    assert len(poi) == 1 and np.isfinite(poi["estimate"].item()) and np.isnan(poi["lower"].item())
    out, err = capsys.readouterr()
    assert "(no interval)" in out and "one: 1 run per game" in err


def test_aggregates_are_compared_over_the_shared_games_and_apart_over_their_own(tmp_path, reference_file):
    rng = np.random.default_rng(0)
    ours = tidy([("spirl", g, s, 100_000, 0, float(rng.uniform(0, 30))) for g in ("Pong", "Boxing")
                 for s in range(3)])
    spr = published_frame(load_published(reference_file("SPR.json")), "SPR")
    tables = st.run_stats(pd.concat([ours, spr]), tmp_path, reps=20, interval="percentile")
    agg = tables["aggregates"]
    shared = agg[agg["game_set"] == "shared"]
    assert set(shared["method"]) == {"spirl", "published:SPR"} and (shared["games"] == 2).all()
    assert set(shared["game_list"]) == {"Boxing;Pong"} or set(shared["game_list"]) == {"Pong;Boxing"}
    own = agg[agg["game_set"] == "own"]
    assert set(own["method"]) == {"published:SPR"} and (own["games"] == 26).all()
    assert round(own.set_index("metric").loc["IQM", "estimate"], 3) == 0.337  # SPR's 26-game IQM, apart
    assert (shared.loc[shared["method"] == "spirl", "note"].str.contains("3 runs per game")).all()
    assert set(tables["profiles"]["game_set"]) == {"shared", "own"}


def test_the_interval_method_is_passed_to_rliable():
    m = {"a": np.random.default_rng(2).normal(1.0, 0.3, size=(5, 3))}
    for method in ("percentile", "basic", "bc", "bca"):
        agg = st.aggregate_estimates(m, reps=60, seed=4, metrics=("mean",), interval=method)
        with st.seeded_global_rng(4):
            _, ci = library.get_interval_estimates(m, lambda x: np.array([metrics.aggregate_mean(x)]), reps=60,
                                                   method=method)
        assert (agg["lower"].item(), agg["upper"].item()) == (ci["a"][0, 0], ci["a"][1, 0])
        assert agg["interval"].item() == method
    with pytest.raises(ValueError, match="interval method"):
        st.aggregate_estimates(m, reps=10, interval="norm")


def test_pairs_parse_method_names_with_colons():
    methods = ["spirl", "published:SPR", "de_rainbow"]
    assert st.parse_pairs(["spirl:published:SPR"], methods) == [("spirl", "published:SPR")]
    assert st.parse_pairs(None, methods[:2]) == [("spirl", "published:SPR")]
    with pytest.raises(sc.StatsError, match="not 'X:Y'"):
        st.parse_pairs(["spirl:nope"], methods)


# ------------------------------------------------------------------------------------------ aggregate and stats CLIs


def test_stats_cli_writes_four_tidy_tables(tmp_path):
    rng = np.random.default_rng(0)
    rows = [(m, g, s, step, e, float(rng.normal(100 * (i + 1) * step / 2, 20)))
            for i, m in enumerate(["spirl", "de_rainbow"]) for g in ("Pong", "Boxing")
            for s in range(3) for step in (1, 2) for e in range(2)]
    tidy(rows).to_csv(tmp_path / "scores.csv", index=False)
    out = tmp_path / "stats"
    code = cli.main(["stats", "--scores", str(tmp_path / "scores.csv"), "--out", str(out), "--reps", "30",
                     "--pairs", "de_rainbow:spirl"])
    assert code == 0
    agg = pd.read_csv(out / "aggregates.csv")
    assert set(agg["metric"]) == set(st.METRICS) and set(agg["method"]) == {"spirl", "de_rainbow"}
    poi = pd.read_csv(out / "poi.csv")
    assert poi[["x", "y"]].values.tolist() == [["de_rainbow", "spirl"]]
    assert 0.0 <= poi["estimate"].item() <= 1.0
    curves = pd.read_csv(out / "curves.csv")
    assert sorted(curves["step"].unique()) == [1, 2]
    prof = pd.read_csv(out / "profiles.csv")
    assert prof["tau"].min() == 0.0 and prof["tau"].max() == 2.0


