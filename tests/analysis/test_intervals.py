"""spirl.analysis.intervals: rliable's interval methods, their vectorised replicas, and the few-runs fallbacks."""

import numpy as np
import pytest
from rliable import metrics

from spirl.analysis import intervals as iv
from spirl.analysis import poi
from spirl.config import StatsSettings

FUNCS = {"mean": metrics.aggregate_mean, "median": metrics.aggregate_median, "IQM": metrics.aggregate_iqm,
         "optimality_gap": metrics.aggregate_optimality_gap}


@pytest.mark.parametrize("metric", list(FUNCS))
def test_vectorised_intervals_equal_rliables_for_every_method(metric):
    rng = np.random.default_rng(3)
    m = rng.gamma(2.0, 0.3, size=(5, 4))
    idx = poi.stratified_indices(np.random.RandomState(11), [5], 4, 300)[0]  # rliable's resamples for seed 11
    assert float(iv.vector_statistic(m, metric)) == pytest.approx(FUNCS[metric](m), abs=1e-12)
    mine = iv.intervals_from_indices(m, idx, metric)
    assert set(mine) == set(iv.INTERVAL_METHODS)
    for method in iv.INTERVAL_METHODS:
        _, lo, hi, used, notes = iv.interval_estimates(m, lambda x, f=FUNCS[metric]: np.array([f(x)]), reps=300,
                                                       seed=11, method=method)
        assert used == [method] and notes == [""]
        np.testing.assert_allclose([lo[0], hi[0]], mine[method], rtol=0, atol=1e-12)


def test_the_default_is_a_setting_and_one_of_rliables_methods():
    assert iv.DEFAULT_INTERVAL == StatsSettings.interval in iv.INTERVAL_METHODS == ("percentile", "basic", "bc", "bca")
    with pytest.raises(ValueError, match="choose one of percentile, basic, bc, bca"):
        iv.check_method("studentized")


def test_one_run_gives_the_estimate_without_an_interval():
    m = np.array([[0.5, 1.0, 2.0]])
    point, lo, hi, used, notes = iv.interval_estimates(m, lambda x: np.array([x.mean()]), reps=50, seed=0)
    assert point[0] == pytest.approx(3.5 / 3) and np.isnan(lo[0]) and np.isnan(hi[0])
    assert used == ["none"] and "point estimate only" in notes[0]


def test_undefined_bias_correction_falls_back_to_percentile_for_that_parameter_only():
    # optimality gap of scores all above 1 is 0 in every resample: bc/bca are undefined for it, not for the mean
    m = np.array([[1.5, 2.0], [1.2, 3.0], [1.1, 2.5]])

    def two(x):
        return np.array([metrics.aggregate_mean(x), metrics.aggregate_optimality_gap(x)])

    point, lo, hi, used, notes = iv.interval_estimates(m, two, reps=200, seed=0, method="bca")
    assert used == ["bca", "percentile"]
    assert "percentile interval" in notes[1] and "bca undefined" in notes[1] and "less often" in notes[0]
    assert lo[1] == hi[1] == 0.0 and lo[0] < point[0] < hi[0]


def test_few_runs_carry_a_warning():
    assert iv.few_runs_note(1) == iv.NO_INTERVAL
    assert "docs/statistics.md#coverage" in iv.few_runs_note(iv.MIN_RUNS - 1)
    assert iv.few_runs_note(iv.MIN_RUNS) == ""
