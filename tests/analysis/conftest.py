"""Fixtures of the analysis tests: synthetic score tables and K-histogram files."""

import numpy as np
import pandas as pd
import pytest

from spirl.analysis import scores as sc

GAMES = ("Frostbite", "MsPacman", "Seaquest", "BattleZone")
BASE = {"Frostbite": 340.0, "MsPacman": 1015.0, "Seaquest": 400.0, "BattleZone": 10600.0}


def _synthetic_scores(methods=("spirl", "de_rainbow", "de_rainbow_p", "spirl_pad_token"), seeds=3,
                      steps=(50_000, 100_000), episodes=3, seed=0):
    """A tidy scores table of the four paper games: method i scores (1 + 0.3 i) x a base level, plus noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for i, m in enumerate(methods):
        for g in GAMES:
            for s in range(seeds):
                for step in steps:
                    for e in range(episodes):
                        level = BASE[g] * (1 + 0.3 * i) * step / steps[-1]
                        rows.append((m, g, s, step, e, float(level + rng.normal(0, 0.1 * BASE[g]))))
    return pd.DataFrame(rows, columns=list(sc.SCORE_COLUMNS))


def _write_khist(root, game, counts, ideal):
    """``root/paper/<game>/k_hist.csv`` with the given 5% bin counts and ideal ratio."""
    d = root / "paper" / game
    d.mkdir(parents=True)
    n = len(counts)
    pd.DataFrame({"bin_start": np.arange(n) * 0.05, "bin_end": np.arange(1, n + 1) * 0.05, "count": counts,
                  "frames": sum(counts), "ideal_ratio": ideal}).to_csv(d / "k_hist.csv", index=False)
    return d / "k_hist.csv"


@pytest.fixture
def synthetic_scores():
    """``synthetic_scores(methods=..., seeds=3, steps=(50_000, 100_000), episodes=3, seed=0)`` -> scores table."""
    return _synthetic_scores


@pytest.fixture
def write_khist():
    """``write_khist(root, game, counts, ideal)`` -> path of a k_hist.csv."""
    return _write_khist
