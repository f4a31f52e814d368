"""spirl.saliency.error_map: the shipped error map equals the straightforward one, on real frames and other decoders."""

import pytest
import torch

from spirl.config import MAEArch
from spirl.mae.model import MAE
from spirl.saliency import agreement, error_map, patches, select

P = patches.NUM_PATCHES


# ------------------------------------------------------------------------------------------ neighbours


# ------------------------------------------------------------------------------------------ dynamic K


# ------------------------------------------------------------------------------------------ selections


# ------------------------------------------------------------------------------------------ error maps


def test_fast_error_map_equals_the_straightforward_one_on_real_frames(maps):
    _, fast, preds, ref = maps
    assert fast.shape == (2, P) and preds.shape == (2, P, 192) and fast.dtype == torch.float32
    assert bool((fast >= 0).all())
    torch.testing.assert_close(fast, ref, atol=1e-5, rtol=1e-5)
    for k_max in (43, P):
        k_fast, k_ref = select.dynamic_k(fast, k_max), select.dynamic_k(ref, k_max)
        assert torch.equal(k_fast, k_ref)
        sel_fast, sel_ref = select.salient_index(fast, k_fast, k_max), select.salient_index(ref, k_ref, k_max)
        assert torch.equal(sel_fast.sort(1).values, sel_ref.sort(1).values)  # same patches kept


def test_predictions_score_the_errors(mae, maps):
    imgs, fast, preds, _ = maps
    target = mae.normalized_target(imgs)
    torch.testing.assert_close(((preds - target) ** 2).mean(-1), fast)


def test_one_problem_by_hand_through_the_mae_forward(mae, maps):
    # Patch 13 of frame 0 rebuilt from its ring with the MAE's own encoder and decoder.
    imgs, fast, _, _ = maps
    ring = torch.tensor(patches.neighbours()[13])
    latent = mae.encode_visible(mae.embed_patches(imgs[:1])[:, ring])
    shuffle = torch.cat([ring, torch.tensor([i for i in range(P) if i not in ring.tolist()])])
    pred = mae.forward_decoder(latent, shuffle.argsort()[None])[0, 13]
    err = ((pred - mae.normalized_target(imgs[:1])[0, 13]) ** 2).mean()
    torch.testing.assert_close(fast[0, 13], err, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("arch", [MAEArch(decoder_depth=1), MAEArch(decoder_depth=2, decoder_embed_dim=64,
                                                                    decoder_num_heads=4)])
def test_fast_equals_reference_for_other_decoders(arch, frames):
    torch.manual_seed(1)
    model = MAE(arch).eval()
    imgs = patches.frames_to_images(frames[2:3])
    torch.testing.assert_close(error_map.error_map(model, imgs), error_map.error_map_reference(model, imgs),
                               atol=1e-5, rtol=1e-5)


def test_precomputed_first_layer_follows_weight_changes_and_sharp_attention(frames):
    torch.manual_seed(2)
    model = MAE().eval()
    imgs = patches.frames_to_images(frames[:1])
    before = error_map.error_map(model, imgs)
    with torch.no_grad():
        model.mask_token.add_(torch.randn_like(model.mask_token))
    after = error_map.error_map(model, imgs)
    assert not torch.allclose(before, after)
    torch.testing.assert_close(after, error_map.error_map_reference(model, imgs), atol=1e-5, rtol=1e-5)
    with torch.no_grad():  # attention logits x 900: the precomputed softmax sums must stay finite and exact
        model.decoder_blocks[0].attn.qkv.weight[:256] *= 30.0
    sharp = error_map.error_map(model, imgs)
    assert bool(torch.isfinite(sharp).all())
    torch.testing.assert_close(sharp, error_map.error_map_reference(model, imgs), atol=1e-5, rtol=1e-5)


# ------------------------------------------------------------------------------------------ reduced precision


def test_lowered_model_is_a_cast_copy_and_float32_is_the_model_itself(mae):
    assert error_map.lowered(mae, torch.float32) is mae
    low = error_map.lowered(mae, torch.bfloat16)
    assert low is not mae and error_map.compute_dtype(low) == torch.bfloat16
    assert all(p.dtype == torch.bfloat16 and not p.requires_grad for p in low.parameters())
    assert all(p.dtype == torch.float32 for p in mae.parameters())  # the reference is left alone


def test_reduced_precision_shapes_and_dtypes(trained_mae):
    model, frames = trained_mae
    imgs = patches.frames_to_images(frames[:2])
    low = error_map.lowered(model, torch.bfloat16)
    errors, preds = error_map.neighbour_reconstruction(low, imgs)
    ref = error_map.error_map_reference(low, imgs)
    assert errors.shape == ref.shape == (2, P) and preds.shape == (2, P, 192)
    assert errors.dtype == preds.dtype == ref.dtype == torch.float32 and bool((errors >= 0).all())
    # The shipped path and the straightforward one, both in bfloat16, differ by bfloat16 rounding only.
    torch.testing.assert_close(errors, ref, rtol=0.05, atol=0.02)


def test_bfloat16_agrees_with_float32_on_a_trained_mae(trained_mae):
    # The tolerance stated in docs/costs.md#reduced-precision for tests (the paper-MAE figures are there too).
    model, frames = trained_mae
    a = agreement.compare(model, error_map.lowered(model, torch.bfloat16), frames, 43, precision="bfloat16")
    assert a.frames == len(frames) == 8
    assert a.max_error_diff < 0.05  # relative to each frame's largest error
    assert a.same_k >= 0.75 and a.mean_abs_dk <= 1.0 and a.mean_jaccard >= 0.9
    assert a.max_feature_diff <= 0.02 * a.max_feature
    assert a.ideal_ratio == pytest.approx(a.ideal_ratio_ref, abs=0.05)
    assert sum(a.hist) == sum(a.hist_ref) == 8 and 0.0 <= a.hist_distance <= 1.0


def test_jaccard_of_padded_selections():
    a = torch.tensor([[3, 1, 2, -1], [0, 5, -1, -1], [-1, -1, -1, -1]])
    b = torch.tensor([[1, 2, 3, -1], [5, 7, 9, -1], [-1, -1, -1, -1]])
    assert agreement.jaccard(a, b).tolist() == [1.0, 0.25, 1.0]  # an empty pair counts as equal


# ------------------------------------------------------------------------------------------ bad input


