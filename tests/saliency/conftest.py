"""Fixtures of the saliency tests: real ALE frames and their error maps under the shared frozen MAE."""

import pytest

from spirl.bench.saliency import benchmark_frames
from spirl.saliency.error_map import error_map_reference, neighbour_reconstruction
from spirl.saliency.patches import frames_to_images


@pytest.fixture(scope="module")
def frames():
    return benchmark_frames(3, "MsPacman", seed=1)  # real ALE frames, uint8 (3, 96, 96, 3)


@pytest.fixture(scope="module")
def maps(mae, frames):
    imgs = frames_to_images(frames[:2])
    errors, preds = neighbour_reconstruction(mae, imgs)
    return imgs, errors, preds, error_map_reference(mae, imgs)
