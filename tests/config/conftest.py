"""Shared by the config tests: a small preset with two games, a comparison and two studies."""

import copy

import pytest

SMALL = {
    "games": ["mspacman", "Seaquest"],
    "seeds": 2,
    "budget": {"env_steps": 2000, "eval_points": 2, "eval_episodes": 2},
    "mae_variants": {"paper": {}, "small_dec": {"decoder_depth": 1}},
    "methods": {"spirl_dec1": {"base": "spirl", "mae_variant": "small_dec"}},
    "comparison": {"spirl": {}, "de_rainbow": {"seeds": 3}},
    "studies": {
        "padding": {
            "question": "How to pad?",
            "games": ["Seaquest"],
            "reference": "zero",
            "variants": {"zero": "spirl", "mask": {"base": "spirl", "agent": {"padding": "mask"}}},
        },
        "decoder": {"games": ["MsPacman"], "seeds": [7, 8], "variants": {"paper": "spirl", "small": "spirl_dec1"}},
    },
}


@pytest.fixture
def small() -> dict:
    """A fresh copy of ``SMALL``."""
    return copy.deepcopy(SMALL)
