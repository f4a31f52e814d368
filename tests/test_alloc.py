"""The allocator setting: a warm batch-1 error map does not fault its temporaries in again on every frame."""

from __future__ import annotations

from spirl import alloc
from spirl.bench.alloc import measure


def test_a_warm_batch_1_error_map_does_not_page_fault_per_frame():
    # child processes (the thresholds are per process): the paper MAE's batch-1 error maps once warm
    shipped, plain = measure(None, warm=2, frames=3), measure("default", warm=2, frames=3)
    assert shipped["configured"] and not plain["configured"]
    assert shipped["faults_per_frame"] < 200  # a few stray pages per frame, not the temporaries
    assert plain["faults_per_frame"] > 20 * max(shipped["faults_per_frame"], 1)  # glibc: tens of thousands


def test_the_long_running_commands_set_it():
    assert set(alloc.COMMANDS) == {"train", "pretrain", "saliency-stats", "bench"}
