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
