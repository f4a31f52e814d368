"""spirl.saliency.error_cache: neighbourhood keys, errors equal to the error map's, what is computed, capacity."""

import numpy as np
import pytest
import torch

from spirl.config import SaliencySettings
from spirl.saliency.error_cache import ErrorCache, neighbourhood_keys
from spirl.saliency.error_map import error_map, neighbour_reconstruction
from spirl.saliency.patches import NUM_PATCHES, frames_to_images
from spirl.saliency.select import SalientPatchExtractor, dynamic_k, k_statistics


def _grid(keys, frame=0):
    return np.array(keys[frame * NUM_PATCHES:(frame + 1) * NUM_PATCHES], dtype=object).reshape(12, 12)


def test_a_pixel_changes_the_keys_of_exactly_the_patches_whose_neighbourhood_holds_it(frames):
    a = frames[:1].copy()
    b = a.copy()
    b[0, 40, 20, 1] ^= 1  # pixel in patch row 5, column 2
    ka, kb = _grid(neighbourhood_keys(a)), _grid(neighbourhood_keys(b))
    changed = ka != kb
    expected = np.zeros((12, 12), bool)
    expected[4:7, 1:4] = True
    assert (changed == expected).all()
    corner = a.copy()
    corner[0, 0, 0, 0] ^= 1  # a border pixel: the clipped neighbourhoods of 4 patches
    assert (_grid(neighbourhood_keys(corner)) != ka).sum() == 4
    assert len(set(neighbourhood_keys(np.zeros((1, 96, 96, 3), np.uint8)))) == NUM_PATCHES  # the index is in the key


def test_keys_refuse_frames_that_are_not_uint8_96x96():
    with pytest.raises(ValueError, match="uint8 frames"):
        neighbourhood_keys(np.zeros((1, 96, 96, 3), np.float32))
    with pytest.raises(ValueError, match="uint8 frames"):
        neighbourhood_keys(np.zeros((1, 84, 84, 3), np.uint8))


def test_errors_of_a_subset_equal_those_of_the_whole_map(mae, maps):
    imgs, errors, preds, _ = maps
    need = torch.zeros(len(imgs), NUM_PATCHES, dtype=torch.bool)  # a tensor is accepted too (copied to the host)
    need[0, [0, 5, 77, 143]] = True
    need[1, 13] = True
    sub, sub_preds = neighbour_reconstruction(mae, imgs, need=need)
    torch.testing.assert_close(sub[need], errors[need], rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(sub_preds[need], preds[need], rtol=1e-5, atol=1e-6)
    assert (sub[~need] == 0).all()
    assert (error_map(mae, imgs, need=torch.zeros_like(need)) == 0).all()  # nothing needed: nothing computed


def test_cached_errors_equal_the_error_map_and_only_new_neighbourhoods_are_computed(trained_mae):
    mae, frames = trained_mae
    stream = np.concatenate([frames[:3], frames[:3], frames[3:5]])  # frames seen again, then new ones
    cache, asked = ErrorCache(), []

    def compute(need, imgs):
        asked.append(int(need.sum()))
        return error_map(mae, imgs, need=need)

    got = []
    for s in range(0, len(stream), 2):
        part = stream[s:s + 2]
        imgs = frames_to_images(part)
        got.append(cache.errors(part, lambda need, imgs=imgs: compute(need, imgs)))
    ref = error_map(mae, frames_to_images(stream))
    out = torch.cat(got)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-7)
    assert (dynamic_k(out, NUM_PATCHES) == dynamic_k(ref, NUM_PATCHES)).all()
    distinct = len(set(neighbourhood_keys(stream)))
    assert sum(asked) == distinct == len(cache) and cache.lookups == len(stream) * NUM_PATCHES
    assert cache.hits == cache.lookups - distinct and 0 < cache.hit_rate < 1
    assert len(asked) < len(stream) // 2 + 1  # a batch of frames seen before computes nothing


def test_a_full_table_is_emptied_and_the_errors_stay_right(trained_mae):
    mae, frames = trained_mae
    cache = ErrorCache(capacity=2 * NUM_PATCHES)
    for i in range(4):
        imgs = frames_to_images(frames[i:i + 1])
        e = cache.errors(frames[i:i + 1], lambda need, imgs=imgs: error_map(mae, imgs, need=need))
        torch.testing.assert_close(e, error_map(mae, imgs), rtol=1e-5, atol=1e-7)
        assert len(cache) <= 2 * NUM_PATCHES
    with pytest.raises(ValueError, match="room for one frame"):
        ErrorCache(capacity=10)


def test_the_extractor_gives_the_same_features_with_and_without_the_cache(trained_mae):
    mae, frames = trained_mae
    stream = np.concatenate([frames[:4], frames[2:6]])
    out = {}
    for on in (True, False):
        ext = SalientPatchExtractor(mae, SaliencySettings(error_cache=on), 43)
        feats = [ext(stream[s:s + 4]) for s in range(0, len(stream), 4)]
        out[on] = feats
        assert (ext.cache is not None) == on
    for a, b in zip(out[True], out[False]):
        assert torch.equal(a.k, b.k) and torch.equal(a.index, b.index)
        torch.testing.assert_close(a.features, b.features, rtol=1e-5, atol=1e-6)
    ext = SalientPatchExtractor(mae, SaliencySettings(), 43)
    ext(stream[:2])
    ext.reset_cache()
    assert len(ext.cache) == 0


def test_k_statistics_with_and_without_the_cache_agree(trained_mae):
    mae, frames = trained_mae
    stream = np.concatenate([frames, frames[:4]])
    assert (k_statistics(mae, stream, batch=3) == k_statistics(mae, stream, batch=3, error_cache=False)).all()
