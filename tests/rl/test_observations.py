"""spirl.rl.observations: the encoders of training and evaluation on a real extractor and real ALE frames, and
the stacks' checkpoint round trip."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spirl.bench.waits import build_trainer
from spirl.rl.observations import Observations


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
    slabs, k = tr.obs.encode(frames)
    tr.extractor.reset_cache()
    feats, k_dev = tr.obs.encode_on_device(frames)
    assert isinstance(feats, torch.Tensor) and slabs.dtype == np.float32 and k.dtype == np.int64
    assert slabs.shape == (6, tr.plan.k_max, tr.settings.mae.embed_dim) == tuple(feats.shape)
    np.testing.assert_array_equal(slabs, feats.numpy())
    np.testing.assert_array_equal(k, k_dev.numpy())
    assert k.min() >= 1 and k.max() <= tr.plan.k_max


def test_evaluation_uses_the_device_path_off_the_cpu(spirl_trainer):
    tr = spirl_trainer
    assert tr.obs.eval_encoder() == tr.obs.encode
    device = tr.obs.device
    try:
        tr.obs.device = "cuda:1"  # only the choice is checked: nothing runs
        assert tr.obs.eval_encoder() == tr.obs.encode_on_device
    finally:
        tr.obs.device = device


def test_pixel_stacks_zero_on_a_terminal_frame_and_round_trip_through_state():
    obs = Observations(None, (2, 2, 1), np.uint8, 3, "cpu")
    assert obs.k_array() is None and obs.pending_slab() is None
    for v in (1, 2, 3):
        obs.push(np.full((2, 2, 1), v, np.uint8), terminal=False)
    assert obs.stack.array[:, 0, 0, 0].tolist() == [1, 2, 3]
    saved = obs.state()
    obs.push(np.full((2, 2, 1), 9, np.uint8), terminal=True)  # a new learning episode: older slots zeroed
    assert obs.stack.array[:, 0, 0, 0].tolist() == [0, 0, 9]
    obs.load(saved)
    assert obs.stack.array[:, 0, 0, 0].tolist() == [1, 2, 3] and obs.stack.array is not saved["stack"]


def test_a_pending_slab_is_stacked_before_its_state_is_taken(spirl_trainer):
    tr = spirl_trainer
    obs = Observations(tr.extractor, tr.obs.frame_shape, np.float32, 4, "cpu")
    obs.push(tr.env.reset(), terminal=True)
    assert obs.pending is not None and obs.k_array()[-1] == 0  # computed, not stacked yet
    state = obs.state()
    assert obs.pending is None and state["k_stack"][-1] >= 1 and state["k_stack"][:-1].tolist() == [0, 0, 0]
