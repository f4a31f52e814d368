"""spirl.rl.trainer: a new frame's SPIRL slab waits on the device for the next update (the run loop is tested
end to end in tests/rl/test_train.py, the encoders in tests/rl/test_observations.py)."""

from __future__ import annotations

import numpy as np
import torch

from spirl.bench.waits import build_trainer


def test_a_slab_brought_back_with_the_update_is_the_one_stacked_at_once(tmp_path):
    """The new frame's slab waits on the device for the next update's copy (one wait for both): the stacks, the
    replay and the networks end as when each slab is copied to the host at once."""
    deferred = build_trainer("spirl", "MsPacman", 8, "cpu", True, tmp_path / "a", 20)
    eager = build_trainer("spirl", "MsPacman", 8, "cpu", True, tmp_path / "b", 20)

    def push_at_once(frame, terminal):
        slab, k = eager.obs.encode(frame[None])
        eager.obs.put(slab[0], k[0], terminal)

    eager.obs.push = push_at_once
    for tr in (deferred, eager):
        tr.start()
        for _ in range(30):
            tr._env_step()
            tr._learn()
    assert deferred.obs.pending is None  # the last update brought the last slab back
    assert deferred.learner.updates == eager.learner.updates > 10
    for tr in (deferred, eager):
        tr._env_step()  # no update after it: the slab waits, and is fetched on its own
    assert deferred.obs.pending is not None
    deferred.obs.flush()
    np.testing.assert_array_equal(deferred.obs.stack.array, eager.obs.stack.array)
    np.testing.assert_array_equal(deferred.obs.k_stack.array, eager.obs.k_stack.array)
    a, b = deferred.replay.sample(8, 0.4), eager.replay.sample(8, 0.4)
    np.testing.assert_array_equal(a.obs, b.obs)
    np.testing.assert_array_equal(a.k, b.k)
    for p, q in zip(deferred.learner.online.parameters(), eager.learner.online.parameters()):
        assert torch.equal(p, q)
