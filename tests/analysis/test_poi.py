"""spirl.analysis.poi: known answers, rliable parity (random and published data) and the one-run refusal."""

import numpy as np
import pandas as pd
import pytest
from rliable import library, metrics

from spirl.analysis import poi
from spirl.analysis import scores as sc
from spirl.analysis.intervals import seeded_global_rng
from spirl.analysis.published import load_published, published_frame


def rliable_poi(x, y, reps, seed):
    with seeded_global_rng(seed):
        point, ci = library.get_interval_estimates({"k": [x, y]}, metrics.probability_of_improvement, reps=reps)
    return float(point["k"]), float(ci["k"][0, 0]), float(ci["k"][1, 0])


@pytest.mark.parametrize("runs_x, runs_y, ties", [(5, 5, False), (3, 7, True), (4, 4, True)])
def test_vectorised_probability_of_improvement_equals_rliable(runs_x, runs_y, ties):
    rng = np.random.default_rng(runs_x * 10 + runs_y)
    x = rng.normal(0.5, 0.3, size=(runs_x, 6))
    y = rng.normal(0.4, 0.3, size=(runs_y, 6))
    if ties:  # coarse scores give ties within and across methods
        x, y = np.round(x, 1), np.round(y, 1)
    assert poi.probability_of_improvement(x, y) == metrics.probability_of_improvement(x, y)
    ours = poi.probability_of_improvement_interval(x, y, reps=60, random_state=7)
    assert ours == rliable_poi(x, y, reps=60, seed=7)


def test_probability_of_improvement_known_answers():
    x = np.array([[2.0, 1.0], [3.0, 1.0]])
    y = np.array([[1.0, 1.0], [0.0, 1.0]])
    # game 0: X always better -> 1; game 1: all tied -> 0.5
    assert poi.probability_of_improvement(x, y) == pytest.approx(0.75)
    assert poi.probability_of_improvement(y, x) == pytest.approx(0.25)
    assert poi.probability_of_improvement(x, x) == pytest.approx(0.5)


def test_vectorised_probability_of_improvement_equals_rliable_on_published_data(reference_file):
    df = pd.concat([published_frame(load_published(reference_file(f"{n}.json")), n) for n in ("SPR", "DrQ_eps")])
    m = sc.score_matrices(df)
    x, y = m["published:SPR"], m["published:DrQ_eps"]
    assert poi.probability_of_improvement_interval(x, y, reps=15, random_state=0) == rliable_poi(x, y, 15, 0)


def test_the_interval_needs_two_runs_on_each_side():
    with pytest.raises(sc.StatsError, match="at least two runs"):
        poi.probability_of_improvement_interval(np.ones((1, 3)), np.ones((4, 3)), reps=10)
    with pytest.raises(sc.StatsError, match="same games"):
        poi.probability_of_improvement(np.ones((2, 3)), np.ones((2, 4)))
