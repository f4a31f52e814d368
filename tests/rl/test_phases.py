"""Seconds per phase and error-cache hit rates of a run, as run.json reports them."""

from __future__ import annotations

import numpy as np
import torch

from spirl.rl.phases import PhaseClock
from spirl.saliency.error_cache import ErrorCache


def test_phases_count_seconds_units_and_the_caches_hits_per_phase():
    clock, cache = PhaseClock(), ErrorCache()
    frame = np.zeros((1, 96, 96, 3), dtype=np.uint8)
    with clock.timed("training", cache):
        cache.errors(frame, lambda need: torch.zeros(need.shape))
    with clock.timed("evaluation", cache, count=0):
        cache.errors(np.concatenate([frame, frame]), lambda need: None)
    clock.add_count("evaluation", 2)
    with clock.timed("checkpoints"):
        pass
    s = clock.summary()
    assert s["training"]["steps"] == 1 and s["evaluation"]["frames"] == 2 and s["checkpoints"]["checkpoints"] == 1
    # a blank frame: 144 new (patch index, neighbourhood) keys; then the same frame twice: 288 lookups, all hits
    assert s["training"]["cache_hit_rate"] == 0.0 and s["evaluation"]["cache_hit_rate"] == 1.0
    assert s["training"]["s_per_step"] == round(clock.seconds["training"], 6)
    resumed = PhaseClock()
    resumed.load(clock.state())
    assert resumed.summary() == s
    resumed.load(None)  # a checkpoint written before phases existed
    assert resumed.summary() == s
