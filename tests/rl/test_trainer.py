"""spirl.rl.trainer: the encoders of training and evaluation on a real extractor (the run loop is tested end to
end in tests/rl/test_train.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spirl.bench.waits import build_trainer


@pytest.fixture(scope="module")
def spirl_trainer(tmp_path_factory):
    return build_trainer("spirl", "MsPacman", 8, "cpu", True, tmp_path_factory.mktemp("trainer"), 20)


def test_device_path_gives_the_host_paths_features_and_k(spirl_trainer):
    """The evaluation's GPU path (encode_on_device) and the replay's host path (encode, one packed copy) agree."""
    tr = spirl_trainer
    env = tr.env
    frames = [env.reset()]
    for a in range(5):
        frames.append(env.step(a % tr.n_actions).frame)
    frames = np.stack(frames)  # real ALE frames (6, 96, 96, 3)
    tr.extractor.reset_cache()
    slabs, k = tr.encode(frames)
    tr.extractor.reset_cache()
    feats, k_dev = tr.encode_on_device(frames)
    assert isinstance(feats, torch.Tensor) and slabs.dtype == np.float32 and k.dtype == np.int64
    assert slabs.shape == (6, tr.plan.k_max, tr.settings.mae.embed_dim) == tuple(feats.shape)
    np.testing.assert_array_equal(slabs, feats.numpy())
    np.testing.assert_array_equal(k, k_dev.numpy())
    assert k.min() >= 1 and k.max() <= tr.plan.k_max


def test_evaluation_uses_the_device_path_off_the_cpu(spirl_trainer):
    tr = spirl_trainer
    assert tr.eval_encoder() == tr.encode
    device = tr.device
    try:
        tr.device = "cuda:1"  # only the choice is checked: nothing runs
        assert tr.eval_encoder() == tr.encode_on_device
    finally:
        tr.device = device


def test_a_slab_brought_back_with_the_update_is_the_one_stacked_at_once(tmp_path):
    """The new frame's slab waits on the device for the next update's copy (one wait for both): the stacks, the
    replay and the networks end as when each slab is copied to the host at once."""
    deferred = build_trainer("spirl", "MsPacman", 8, "cpu", True, tmp_path / "a", 20)
    eager = build_trainer("spirl", "MsPacman", 8, "cpu", True, tmp_path / "b", 20)

    def push_at_once(frame, terminal):
        slab, k = eager.encode(frame[None])
        eager._stack(slab[0], k[0], terminal)

    eager._push = push_at_once
    for tr in (deferred, eager):
        tr.start()
        for _ in range(30):
            tr._env_step()
            tr._learn()
    assert deferred._pending is None  # the last update brought the last slab back
    assert deferred.learner.updates == eager.learner.updates > 10
    for tr in (deferred, eager):
        tr._env_step()  # no update after it: the slab waits, and is fetched on its own
    assert deferred._pending is not None
    deferred._flush()
    np.testing.assert_array_equal(deferred.stack.array, eager.stack.array)
    np.testing.assert_array_equal(deferred.k_stack.array, eager.k_stack.array)
    a, b = deferred.replay.sample(8, 0.4), eager.replay.sample(8, 0.4)
    np.testing.assert_array_equal(a.obs, b.obs)
    np.testing.assert_array_equal(a.k, b.k)
    for p, q in zip(deferred.learner.online.parameters(), eager.learner.online.parameters()):
        assert torch.equal(p, q)
