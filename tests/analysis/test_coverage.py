"""spirl.analysis.coverage: the coverage simulation behind the default interval method (small, fixed seeds).

The full study is ``spirl bench coverage`` (docs/statistics.md#coverage); here a few hundred simulated
experiments check what the documentation claims of the chosen method: near 95% at 10 runs per game,
well below it at 3 (which is why fewer than five runs carry a warning).
"""

import numpy as np
import pytest

from spirl.analysis import coverage as cv
from spirl.analysis.intervals import DEFAULT_INTERVAL, MIN_RUNS
from spirl.analysis.published import load_published, published_frame
from spirl.analysis.scores import human_normalise

POPULATION = cv.synthetic_population(4, seed=0)


@pytest.mark.parametrize("metric", ["mean", "IQM"])
def test_the_default_method_covers_near_95_percent_at_ten_runs_and_less_at_three(metric):
    at_ten = cv.coverage(POPULATION, 10, metric, trials=300, reps=300, seed=1, methods=[DEFAULT_INTERVAL])
    at_three = cv.coverage(POPULATION, 3, metric, trials=300, reps=300, seed=2, methods=[DEFAULT_INTERVAL])
    assert at_ten[DEFAULT_INTERVAL] >= 0.87, at_ten
    assert at_three[DEFAULT_INTERVAL] <= 0.88, at_three
    assert 3 < MIN_RUNS <= 10


def test_coverage_counts_intervals_that_hold_the_population_value():
    constant = np.full((50, 3), 0.5)  # every interval is [0.5, 0.5] and holds the truth 0.5
    assert cv.coverage(constant, 3, "mean", trials=20, reps=20) == dict.fromkeys(
        ("percentile", "basic", "bc", "bca"), 1.0)
    table = cv.coverage_table({"c": constant}, runs=[2, 3], metrics=["IQM"], trials=5, reps=10)
    assert list(table.columns) == ["population", "games", "metric", "runs", "method", "coverage", "trials", "reps"]
    assert len(table) == 8 and (table["coverage"] == 1.0).all()


def test_a_published_file_is_a_human_normalised_population(reference_file):
    path = reference_file("SimPLe.json")
    pop, games = cv.population_from_file(path, ["Seaquest", "Pong"])
    assert pop.shape == (5, 2) and games == ["Seaquest", "Pong"]
    frame = published_frame(load_published(path), "SimPLe")
    expected = human_normalise(frame[frame["game"] == "Seaquest"]).to_numpy()
    np.testing.assert_allclose(np.sort(pop[:, 0]), np.sort(expected))
