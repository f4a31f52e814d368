"""spirl.saliency.kstats: the Fig. 8 histogram, the ideal ratio, the k_hist.csv file and spirl saliency-stats."""

import numpy as np
import pandas as pd
import pytest

from spirl.atari import games
from spirl.saliency import kstats, patches

P = patches.NUM_PATCHES


def test_histogram_bins_are_closed_on_the_right_and_ideal_needs_more_than_999_per_mille():
    k = np.array([36] * 1001 + [144])  # 36/144 = 25% exactly
    hist = kstats.k_histogram(k)
    assert list(hist.columns) == kstats.K_HIST_COLUMNS and len(hist) == 20
    assert hist.loc[4, ["bin_start", "bin_end", "count"]].tolist() == [0.2, 0.25, 1001]
    assert hist["count"].iloc[19] == 1 and hist["count"].sum() == 1002
    assert set(hist["frames"]) == {1002}
    assert set(hist["ideal_ratio"]) == {0.25}  # 1001/1002 > 99.9%
    assert kstats.ideal_ratio(np.array([36] * 999 + [144])) == 1.0  # 999/1000 is not more than 99.9%
    assert kstats.ideal_ratio(np.array([37] * 5000)) == 0.3
    assert kstats.ideal_ratio(np.array([1])) == 0.05


def test_ideal_ratio_of_the_paper_fig8_histograms():
    mspacman = _from_counts([0, 0, 22, 1591, 29634, 16342, 2401, 10])
    frostbite = _from_counts([0, 0, 0, 0, 1, 2794, 1989, 216])
    assert kstats.ideal_ratio(mspacman) == games.get("MsPacman").ideal_ratio == 0.35
    assert kstats.ideal_ratio(frostbite) == games.get("Frostbite").ideal_ratio == 0.40
    assert kstats.k_histogram(mspacman)["count"].tolist()[:8] == [0, 0, 22, 1591, 29634, 16342, 2401, 10]


def test_k_hist_csv_round_trip(tmp_path):
    path = tmp_path / "k_hist.csv"
    kstats.write_k_hist(path, kstats.k_histogram(np.array([20, 30, 30, 40])), game="ms_pacman", mae_sha256="a" * 64)
    assert path.read_text().splitlines()[0] == "bin_start,bin_end,count,frames,ideal_ratio,game,mae_sha256"
    hist, ideal = kstats.read_k_hist(path)
    assert ideal == 0.3 and hist["count"].sum() == 4
    pd.DataFrame({"a": [1]}).to_csv(tmp_path / "other.csv", index=False)
    with pytest.raises(ValueError, match="not a K-statistics table"):
        kstats.read_k_hist(tmp_path / "other.csv")


def _from_counts(counts):
    """K values whose 5% histogram is ``counts`` (one K inside each bin)."""
    return np.concatenate([np.full(c, int(np.ceil(144 * (m + 0.5) / 20))) for m, c in enumerate(counts)])

