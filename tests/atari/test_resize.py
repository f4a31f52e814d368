"""spirl.atari.resize: the bilinear resize against torch's reference and on real frames."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spirl.atari.envs import make_env
from spirl.atari.resize import BilinearResize, bilinear_resize


@pytest.mark.parametrize("in_shape, out_shape, channels", [((210, 160), (96, 96), 3), ((210, 160), (84, 84), 1),
                                                            ((210, 160), (97, 101), 3), ((30, 20), (64, 50), 2)])
def test_bilinear_resize_matches_torch_reference(in_shape, out_shape, channels):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (*in_shape, channels), dtype=np.uint8)
    ours = BilinearResize(in_shape, out_shape, channels)(image)
    ref = torch.nn.functional.interpolate(
        torch.from_numpy(image).permute(2, 0, 1)[None].double(), size=out_shape, mode="bilinear",
        align_corners=False, antialias=False)[0].permute(1, 2, 0).numpy()
    assert ours.shape == (*out_shape, channels) and ours.dtype == np.uint8
    assert np.abs(ours - ref).max() <= 0.5 + 1e-3  # exact up to rounding to the nearest integer


def test_bilinear_resize_on_a_real_frame_and_2d_input():
    env = make_env("Seaquest", "eval", seed=0)
    env.reset()
    screen = env.ale.getScreenRGB()
    ours = bilinear_resize(screen, (96, 96))
    ref = torch.nn.functional.interpolate(torch.from_numpy(screen).permute(2, 0, 1)[None].double(),
                                          size=(96, 96), mode="bilinear", align_corners=False)[0]
    assert np.abs(ours - ref.permute(1, 2, 0).numpy()).max() <= 0.5 + 1e-3
    # The environment's reset frame is exactly this resize of the screen (no crop, no max-pool at reset).
    env2 = make_env("Seaquest", "eval", seed=0)
    np.testing.assert_array_equal(env2.reset(), ours)
    assert bilinear_resize(screen[..., 0], (96, 96)).shape == (96, 96)
