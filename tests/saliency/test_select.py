"""spirl.saliency.select: the K rule, salient/fixed/random selections, features and the extractor."""

import numpy as np
import pytest
import torch

from spirl.atari import games
from spirl.config import MAEArch, SaliencySettings
from spirl.mae.checkpoint import save_mae
from spirl.mae.model import MAE
from spirl.saliency import kstats, patches, select

P = patches.NUM_PATCHES


@pytest.mark.parametrize("k_max", [1, 28, 43, 50, 72, 143])
def test_all_errors_equal_gives_kmax(k_max):
    assert select.dynamic_k(torch.full((3, P), 0.37), k_max).tolist() == [k_max] * 3


def test_uncapped_all_equal_gives_143_because_of_the_released_wraparound():
    # At j = 0 the released code reads C[-1] (the total), so d[0] < 0 never wins: K = P - 1.
    assert select.dynamic_k(torch.full((1, P), 0.5), P).item() == P - 1
    assert select.dynamic_k(torch.zeros(2, P), 43).tolist() == [43, 43]  # all-zero map counts as all equal


def test_hand_computed_six_patch_map():
    e = torch.tensor([[6.0, 1, 4, 2, 5, 3]])  # v = (1..6)/21 sorted
    # uncapped: d = [3/21 - 1, 5/21, 7/21, 9/21, 11/21, 1]; closest to 1/6 = 3.5/21 is j = 1 -> K = 5
    assert select.dynamic_k(e, 6).item() == 5
    # Kmax 3: search from L0 = 3, d = [1, 1, 1, 9/21, 11/21, 1] -> j* = 3 -> K = 3
    assert select.dynamic_k(e, 3).item() == 3
    # xscale 2 compares with 7/21: j* = 2 -> K = 4
    assert select.dynamic_k(e, 6, xscale=2.0).item() == 4


def test_hot_patches_on_a_flat_background():
    g = torch.Generator().manual_seed(0)
    hot = torch.randperm(P, generator=g)[:12]
    graded = torch.linspace(0.001, 0.01, P)  # a low background, slightly uneven
    graded[hot] = 1.0
    flat = torch.full((P,), 0.01)
    flat[hot] = 1.0
    # The last background chord is closest to 1/P (both scales): the 12 hot patches and 2 more.
    assert select.dynamic_k(graded[None], P).item() == 14
    assert select.dynamic_k(graded[None], P, xscale=2.0).item() == 14
    assert select.dynamic_k(graded[None], 10).item() == 10  # the cap
    # A perfectly flat background ties everywhere below the hot patches: the first index wins -> Kmax.
    assert select.dynamic_k(flat[None], 43).item() == 43
    idx = select.salient_index(graded[None], select.dynamic_k(graded[None], P), P)
    assert set(hot.tolist()) <= set(idx[0, :14].tolist())


def test_uniform_errors_and_xscale_2_keeps_fewer():
    g = torch.Generator().manual_seed(0)
    e = torch.rand(500, P, generator=g)
    k1, k2 = select.dynamic_k(e, P, 1.0), select.dynamic_k(e, P, 2.0)
    assert k1.dtype == torch.int64 and k1.shape == (500,)
    # docs/method.md#step-dynamic-k: about 113 and 75 patches kept (half-mean vs mean crossing of U(0, 1))
    assert 100 < k1.float().mean() < 118 and 65 < k2.float().mean() < 82
    assert bool((k2 <= k1).all())
    capped = select.dynamic_k(e, 43)
    assert bool((capped == 43).all())  # every uniform map wants more than 43
    assert bool((select.dynamic_k(e, 43) == torch.minimum(k1, torch.tensor(43))).all())


def test_dynamic_k_refuses_bad_arguments():
    with pytest.raises(ValueError, match="k_max"):
        select.dynamic_k(torch.rand(1, P), 0)
    with pytest.raises(ValueError, match="k_max"):
        select.dynamic_k(torch.rand(1, P), P + 1)
    with pytest.raises(ValueError, match="shape"):
        select.dynamic_k(torch.rand(P), 43)


def test_salient_index_keeps_the_k_largest_in_ascending_order():
    g = torch.Generator().manual_seed(3)
    e = torch.rand(4, P, generator=g)
    k = torch.tensor([1, 5, 20, 43])
    idx = select.salient_index(e, k, 43)
    assert idx.shape == (4, 43) and idx.dtype == torch.int64
    for b in range(4):
        rows = idx[b, :k[b]]
        assert bool((idx[b, k[b]:] == -1).all())
        assert set(rows.tolist()) == set(e[b].argsort()[-int(k[b]):].tolist())
        assert bool((e[b, rows].diff() >= 0).all())


def test_fixed_selection_uses_the_same_k_for_every_frame():
    e = torch.rand(3, P, generator=torch.Generator().manual_seed(4))
    idx, k = select.select_patches(e, "fixed", 43, fixed=select.fixed_k(0.1))
    assert k.tolist() == [14] * 3 and bool((idx[:, 14:] == -1).all())
    assert [select.fixed_k(1 - r) for r in (0.90, 0.85, 0.80, 0.75, 0.70, 0.65, 0.60, 0.55, 0.50)] == [
        14, 21, 28, 36, 43, 50, 57, 64, 72]
    with pytest.raises(ValueError, match="Kmax"):
        select.select_patches(e, "fixed", 10, fixed=14)


def test_random_control_draws_the_same_k_and_other_patches():
    e = torch.rand(8, P, generator=torch.Generator().manual_seed(5)) ** 4  # a few large errors
    sal, k = select.select_patches(e, "dynamic", 72)
    rnd, k_rnd = select.select_patches(e, "random", 72, generator=torch.Generator().manual_seed(0))
    assert torch.equal(k, k_rnd)
    assert not torch.equal(sal, rnd)
    for b in range(8):
        rows = rnd[b, :k[b]]
        assert len(set(rows.tolist())) == int(k[b]) and bool((rnd[b, k[b]:] == -1).all())
        assert bool((e[b, rows].diff() >= 0).all())  # random patches, still ascending-error rows
    again, _ = select.select_patches(e, "random", 72, generator=torch.Generator().manual_seed(0))
    assert torch.equal(rnd, again)  # seeded
    with pytest.raises(ValueError, match="selection"):
        select.select_patches(e, "top", 72)


def test_features_shape_order_and_padding(mae, maps):
    imgs, errors, _, _ = maps
    k = torch.tensor([5, 43])
    index = select.salient_index(errors, k, 43)
    feats = select.selected_features(mae, imgs, index)
    assert feats.shape == (2, 43, 64) and feats.dtype == torch.float32
    assert bool((feats[0, 5:] == 0).all()) and bool((feats[0, :5].abs().sum(-1) > 0).all())
    assert bool((feats[1].abs().sum(-1) > 0).all())


def test_masked_batch_equals_each_frame_on_its_own_tokens(mae, maps):
    imgs, errors, _, _ = maps
    k = torch.tensor([7, 30])
    index = select.salient_index(errors, k, 43)
    feats = select.selected_features(mae, imgs, index)
    for b in range(2):
        sel = index[b, :k[b]]
        h = mae.encode_visible(mae.embed_patches(imgs[b:b + 1])[:, sel])[0, 1:]  # [K, D], no padding at all
        torch.testing.assert_close(feats[b, :k[b]], h + mae.pos_embed[0, sel + 1], atol=1e-5, rtol=1e-5)


def test_extractor_on_uint8_frames(mae, frames):
    ext = select.SalientPatchExtractor(mae, SaliencySettings(), k_max=43)
    out = ext(frames[:2])
    same = ext(torch.from_numpy(frames[:2]))
    assert torch.equal(out.features, same.features)
    assert out.features.shape == (2, 43, 64) and out.k.dtype == torch.int64 and out.index.shape == (2, 43)
    assert out.errors.shape == (2, P)
    assert torch.equal(out.k, select.dynamic_k(out.errors, 43))
    assert torch.equal(out.index, select.salient_index(out.errors, out.k, 43))
    assert not any(p.requires_grad for p in mae.parameters()) and not mae.training
    assert bool(((out.index >= 0).sum(1) == out.k).all())


def test_extractor_refuses_a_format_the_device_would_run_slowly(mae, monkeypatch):
    from spirl import devices

    monkeypatch.setattr(devices, "probe", lambda: devices.Hardware("AVX2", frozenset({"avx2"})))
    with pytest.raises(devices.PrecisionError, match=r"saliency\.precision: bfloat16 on this AVX2 CPU"):
        select.SalientPatchExtractor(mae, SaliencySettings(precision="bfloat16"), k_max=43)
    with pytest.raises(devices.PrecisionError, match="float16 runs on CUDA only"):
        select.SalientPatchExtractor(mae, SaliencySettings(precision="float16"), k_max=43)
    with pytest.raises(devices.PrecisionError, match="float16 runs on CUDA only"):
        select.k_statistics(mae, np.zeros((1, 96, 96, 3), np.uint8), precision="float16")


def test_bfloat16_extractor_hands_float32_features_close_to_the_reference(trained_mae):
    model, frames = trained_mae
    ref = select.SalientPatchExtractor(model, SaliencySettings(), k_max=43)(frames[:2])
    ext = select.SalientPatchExtractor(model, SaliencySettings(precision="bfloat16"), k_max=43, allow_slow=True)
    assert ext.compute is not ext.mae and ext.dtype == torch.bfloat16
    out = ext(frames[:2])
    assert out.features.dtype == torch.float32 and out.features.shape == ref.features.shape == (2, 43, 64)
    assert out.errors.dtype == torch.float32 and out.k.dtype == torch.int64
    assert bool(((out.index >= 0).sum(1) == out.k).all())
    # On the reference's own selection (rows in its order), the bfloat16 encoder's features are close.
    low = select.selected_features(ext.compute, patches.frames_to_images(frames[:2]), ref.index)
    assert low.dtype == torch.float32
    assert float((low - ref.features).abs().max()) <= 0.02 * float(ref.features.abs().max())
    assert bool((low[ref.index < 0] == 0).all())


def test_extractor_random_control_state_resumes(mae, frames):
    ext = select.SalientPatchExtractor(mae, SaliencySettings(selection="random"), k_max=43, seed=7)
    state = ext.rng_state()
    first = ext(frames[:1])
    second = ext(frames[:1])
    assert torch.equal(first.k, second.k) and not torch.equal(first.index, second.index)
    ext.set_rng_state(state)
    assert torch.equal(ext(frames[:1]).index, first.index)


def test_extractor_fixed_ratio(mae, frames):
    ext = select.SalientPatchExtractor(mae, SaliencySettings(selection="fixed", fixed_ratio=0.1), k_max=43)
    assert ext(frames[:1]).k.tolist() == [14]
    with pytest.raises(ValueError, match="Kmax"):
        select.SalientPatchExtractor(mae, SaliencySettings(selection="fixed", fixed_ratio=0.5), k_max=43)


@pytest.mark.parametrize("ratio", [0.0, -0.1, 1.2, float("nan")])
def test_max_ratio_outside_0_1_is_refused(ratio):
    with pytest.raises(ValueError, match="max_ratio"):
        games.k_max(ratio)


def test_kmax_outside_range_is_refused(mae):
    for k_max in (0, P + 1):
        with pytest.raises(ValueError, match="k_max"):
            select.SalientPatchExtractor(mae, SaliencySettings(), k_max=k_max)


def test_empty_dataset_is_refused(mae):
    with pytest.raises(kstats.EmptyDatasetError):
        select.k_statistics(mae, np.zeros((0, 96, 96, 3), np.uint8))
    with pytest.raises(kstats.EmptyDatasetError):
        kstats.k_histogram(np.array([], dtype=np.int64))
    with pytest.raises(ValueError, match="batch"):
        select.k_statistics(mae, np.zeros((1, 96, 96, 3), np.uint8), batch=0)


def test_an_encoder_only_checkpoint_is_refused_by_the_extractor(tmp_path):
    from spirl.config import SaliencySettings
    from spirl.mae.checkpoint import load_mae
    from spirl.saliency.patches import MissingDecoderError
    from spirl.saliency.select import SalientPatchExtractor

    path = tmp_path / "enc.pt"
    save_mae(path, MAE(MAEArch(decoder_depth=1)), game="Seaquest", include_decoder=False)
    mae, meta = load_mae(path)
    assert meta["has_decoder"] is False and mae.has_decoder is False
    with pytest.raises(MissingDecoderError):
        SalientPatchExtractor(mae, SaliencySettings(), k_max=28)(np.zeros((1, 96, 96, 3), np.uint8))
