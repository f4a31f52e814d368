"""Salient patch selection: neighbour sets, the K rule, selections, error maps, features, K statistics."""

import numpy as np
import pandas as pd
import pytest
import torch

from spirl import cli
from spirl.atari import games
from spirl.bench.saliency import benchmark_frames
from spirl.mae.model import MAE, save_mae
from spirl.saliency import error_map as S
from spirl.settings import MAEArch, SaliencySettings

P = S.NUM_PATCHES


@pytest.fixture(scope="module")
def frames():
    return benchmark_frames(3, "MsPacman", seed=1)  # real ALE frames, uint8 (3, 96, 96, 3)


@pytest.fixture(scope="module")
def maps(mae, frames):
    imgs = S.frames_to_images(frames[:2])
    errors, preds = S.neighbour_reconstruction(mae, imgs)
    return imgs, errors, preds, S.error_map_reference(mae, imgs)


# ------------------------------------------------------------------------------------------ neighbours


def test_neighbour_sets_have_3_5_8_members_in_row_major_order():
    rings = S.neighbours()
    assert len(rings) == P
    assert rings[0] == (1, 12, 13)
    assert rings[11] == (10, 22, 23)
    assert rings[5] == (4, 6, 16, 17, 18)
    assert rings[13] == (0, 1, 2, 12, 14, 24, 25, 26)
    sizes = {i: len(r) for i, r in enumerate(rings)}
    assert [i for i, n in sizes.items() if n == 3] == [0, 11, 132, 143]
    assert sum(n == 5 for n in sizes.values()) == 40 and sum(n == 8 for n in sizes.values()) == 100
    for i, ring in enumerate(rings):
        assert list(ring) == sorted(ring) and i not in ring
        assert all(i in rings[j] for j in ring)  # the relation is symmetric
        assert all(abs(j // 12 - i // 12) <= 1 and abs(j % 12 - i % 12) <= 1 for j in ring)


def test_groups_of_4_40_100_cover_every_patch_once():
    groups = S.neighbour_groups()
    assert [(g.targets.numel(), g.size) for g in groups] == [(4, 3), (40, 5), (100, 8)]
    covered = torch.cat([g.targets for g in groups])
    assert sorted(covered.tolist()) == list(range(P))
    rings = S.neighbours()
    for g in groups:
        for t, ring in zip(g.targets.tolist(), g.rings.tolist()):
            assert tuple(ring) == rings[t]


# ------------------------------------------------------------------------------------------ dynamic K


@pytest.mark.parametrize("k_max", [1, 28, 43, 50, 72, 143])
def test_all_errors_equal_gives_kmax(k_max):
    assert S.dynamic_k(torch.full((3, P), 0.37), k_max).tolist() == [k_max] * 3


def test_uncapped_all_equal_gives_143_because_of_the_released_wraparound():
    # At j = 0 the released code reads C[-1] (the total), so d[0] < 0 never wins: K = P - 1.
    assert S.dynamic_k(torch.full((1, P), 0.5), P).item() == P - 1
    assert S.dynamic_k(torch.zeros(2, P), 43).tolist() == [43, 43]  # all-zero map counts as all equal


def test_hand_computed_six_patch_map():
    e = torch.tensor([[6.0, 1, 4, 2, 5, 3]])  # v = (1..6)/21 sorted
    # uncapped: d = [3/21 - 1, 5/21, 7/21, 9/21, 11/21, 1]; closest to 1/6 = 3.5/21 is j = 1 -> K = 5
    assert S.dynamic_k(e, 6).item() == 5
    # Kmax 3: search from L0 = 3, d = [1, 1, 1, 9/21, 11/21, 1] -> j* = 3 -> K = 3
    assert S.dynamic_k(e, 3).item() == 3
    # xscale 2 compares with 7/21: j* = 2 -> K = 4
    assert S.dynamic_k(e, 6, xscale=2.0).item() == 4


def test_hot_patches_on_a_flat_background():
    g = torch.Generator().manual_seed(0)
    hot = torch.randperm(P, generator=g)[:12]
    graded = torch.linspace(0.001, 0.01, P)  # a low background, slightly uneven
    graded[hot] = 1.0
    flat = torch.full((P,), 0.01)
    flat[hot] = 1.0
    # The last background chord is closest to 1/P (both scales): the 12 hot patches and 2 more.
    assert S.dynamic_k(graded[None], P).item() == 14
    assert S.dynamic_k(graded[None], P, xscale=2.0).item() == 14
    assert S.dynamic_k(graded[None], 10).item() == 10  # the cap
    # A perfectly flat background ties everywhere below the hot patches: the first index wins -> Kmax.
    assert S.dynamic_k(flat[None], 43).item() == 43
    idx = S.salient_index(graded[None], S.dynamic_k(graded[None], P), P)
    assert set(hot.tolist()) <= set(idx[0, :14].tolist())


def test_uniform_errors_and_xscale_2_keeps_fewer():
    g = torch.Generator().manual_seed(0)
    e = torch.rand(500, P, generator=g)
    k1, k2 = S.dynamic_k(e, P, 1.0), S.dynamic_k(e, P, 2.0)
    assert k1.dtype == torch.int64 and k1.shape == (500,)
    # spec E.2: about 113 and 75 patches kept (half-mean vs mean crossing of U(0, 1))
    assert 100 < k1.float().mean() < 118 and 65 < k2.float().mean() < 82
    assert bool((k2 <= k1).all())
    capped = S.dynamic_k(e, 43)
    assert bool((capped == 43).all())  # every uniform map wants more than 43
    assert bool((S.dynamic_k(e, 43) == torch.minimum(k1, torch.tensor(43))).all())


def test_dynamic_k_refuses_bad_arguments():
    with pytest.raises(ValueError, match="k_max"):
        S.dynamic_k(torch.rand(1, P), 0)
    with pytest.raises(ValueError, match="k_max"):
        S.dynamic_k(torch.rand(1, P), P + 1)
    with pytest.raises(ValueError, match="shape"):
        S.dynamic_k(torch.rand(P), 43)


# ------------------------------------------------------------------------------------------ selections


def test_salient_index_keeps_the_k_largest_in_ascending_order():
    g = torch.Generator().manual_seed(3)
    e = torch.rand(4, P, generator=g)
    k = torch.tensor([1, 5, 20, 43])
    idx = S.salient_index(e, k, 43)
    assert idx.shape == (4, 43) and idx.dtype == torch.int64
    for b in range(4):
        rows = idx[b, :k[b]]
        assert bool((idx[b, k[b]:] == -1).all())
        assert set(rows.tolist()) == set(e[b].argsort()[-int(k[b]):].tolist())
        assert bool((e[b, rows].diff() >= 0).all())


def test_fixed_selection_uses_the_same_k_for_every_frame():
    e = torch.rand(3, P, generator=torch.Generator().manual_seed(4))
    idx, k = S.select_patches(e, "fixed", 43, fixed=S.fixed_k(0.1))
    assert k.tolist() == [14] * 3 and bool((idx[:, 14:] == -1).all())
    assert [S.fixed_k(1 - r) for r in (0.90, 0.85, 0.80, 0.75, 0.70, 0.65, 0.60, 0.55, 0.50)] == [
        14, 21, 28, 36, 43, 50, 57, 64, 72]
    with pytest.raises(ValueError, match="Kmax"):
        S.select_patches(e, "fixed", 10, fixed=14)


def test_random_control_draws_the_same_k_and_other_patches():
    e = torch.rand(8, P, generator=torch.Generator().manual_seed(5)) ** 4  # a few large errors
    sal, k = S.select_patches(e, "dynamic", 72)
    rnd, k_rnd = S.select_patches(e, "random", 72, generator=torch.Generator().manual_seed(0))
    assert torch.equal(k, k_rnd)
    assert not torch.equal(sal, rnd)
    for b in range(8):
        rows = rnd[b, :k[b]]
        assert len(set(rows.tolist())) == int(k[b]) and bool((rnd[b, k[b]:] == -1).all())
        assert bool((e[b, rows].diff() >= 0).all())  # random patches, still ascending-error rows
    again, _ = S.select_patches(e, "random", 72, generator=torch.Generator().manual_seed(0))
    assert torch.equal(rnd, again)  # seeded
    with pytest.raises(ValueError, match="selection"):
        S.select_patches(e, "top", 72)


# ------------------------------------------------------------------------------------------ error maps


def test_fast_error_map_equals_the_straightforward_one_on_real_frames(maps):
    _, fast, preds, ref = maps
    assert fast.shape == (2, P) and preds.shape == (2, P, 192) and fast.dtype == torch.float32
    assert bool((fast >= 0).all())
    torch.testing.assert_close(fast, ref, atol=1e-5, rtol=1e-5)
    for k_max in (43, P):
        k_fast, k_ref = S.dynamic_k(fast, k_max), S.dynamic_k(ref, k_max)
        assert torch.equal(k_fast, k_ref)
        sel_fast, sel_ref = S.salient_index(fast, k_fast, k_max), S.salient_index(ref, k_ref, k_max)
        assert torch.equal(sel_fast.sort(1).values, sel_ref.sort(1).values)  # same patches kept


def test_predictions_score_the_errors(mae, maps):
    imgs, fast, preds, _ = maps
    target = mae.normalized_target(imgs)
    torch.testing.assert_close(((preds - target) ** 2).mean(-1), fast)


def test_one_problem_by_hand_through_the_mae_forward(mae, maps):
    # Patch 13 of frame 0 rebuilt from its ring with the MAE's own encoder and decoder.
    imgs, fast, _, _ = maps
    ring = torch.tensor(S.neighbours()[13])
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
    imgs = S.frames_to_images(frames[2:3])
    torch.testing.assert_close(S.error_map(model, imgs), S.error_map_reference(model, imgs), atol=1e-5, rtol=1e-5)


def test_precomputed_first_layer_follows_weight_changes_and_sharp_attention(frames):
    torch.manual_seed(2)
    model = MAE().eval()
    imgs = S.frames_to_images(frames[:1])
    before = S.error_map(model, imgs)
    with torch.no_grad():
        model.mask_token.add_(torch.randn_like(model.mask_token))
    after = S.error_map(model, imgs)
    assert not torch.allclose(before, after)
    torch.testing.assert_close(after, S.error_map_reference(model, imgs), atol=1e-5, rtol=1e-5)
    with torch.no_grad():  # attention logits x 900: the precomputed softmax sums must stay finite and exact
        model.decoder_blocks[0].attn.qkv.weight[:256] *= 30.0
    sharp = S.error_map(model, imgs)
    assert bool(torch.isfinite(sharp).all())
    torch.testing.assert_close(sharp, S.error_map_reference(model, imgs), atol=1e-5, rtol=1e-5)


# ------------------------------------------------------------------------------------------ features


def test_features_shape_order_and_padding(mae, maps):
    imgs, errors, _, _ = maps
    k = torch.tensor([5, 43])
    index = S.salient_index(errors, k, 43)
    feats = S.selected_features(mae, imgs, index)
    assert feats.shape == (2, 43, 64) and feats.dtype == torch.float32
    assert bool((feats[0, 5:] == 0).all()) and bool((feats[0, :5].abs().sum(-1) > 0).all())
    assert bool((feats[1].abs().sum(-1) > 0).all())


def test_masked_batch_equals_each_frame_on_its_own_tokens(mae, maps):
    imgs, errors, _, _ = maps
    k = torch.tensor([7, 30])
    index = S.salient_index(errors, k, 43)
    feats = S.selected_features(mae, imgs, index)
    for b in range(2):
        sel = index[b, :k[b]]
        h = mae.encode_visible(mae.embed_patches(imgs[b:b + 1])[:, sel])[0, 1:]  # [K, D], no padding at all
        torch.testing.assert_close(feats[b, :k[b]], h + mae.pos_embed[0, sel + 1], atol=1e-5, rtol=1e-5)


def test_extractor_on_uint8_frames(mae, frames):
    ext = S.SalientPatchExtractor(mae, SaliencySettings(), k_max=43)
    out = ext(frames[:2])
    same = ext(torch.from_numpy(frames[:2]))
    assert torch.equal(out.features, same.features)
    assert out.features.shape == (2, 43, 64) and out.k.dtype == torch.int64 and out.index.shape == (2, 43)
    assert out.errors.shape == (2, P)
    assert torch.equal(out.k, S.dynamic_k(out.errors, 43))
    assert torch.equal(out.index, S.salient_index(out.errors, out.k, 43))
    assert not any(p.requires_grad for p in mae.parameters()) and not mae.training
    assert bool(((out.index >= 0).sum(1) == out.k).all())


def test_extractor_random_control_state_resumes(mae, frames):
    ext = S.SalientPatchExtractor(mae, SaliencySettings(selection="random"), k_max=43, seed=7)
    state = ext.rng_state()
    first = ext(frames[:1])
    second = ext(frames[:1])
    assert torch.equal(first.k, second.k) and not torch.equal(first.index, second.index)
    ext.set_rng_state(state)
    assert torch.equal(ext(frames[:1]).index, first.index)


def test_extractor_fixed_ratio(mae, frames):
    ext = S.SalientPatchExtractor(mae, SaliencySettings(selection="fixed", fixed_ratio=0.1), k_max=43)
    assert ext(frames[:1]).k.tolist() == [14]
    with pytest.raises(ValueError, match="Kmax"):
        S.SalientPatchExtractor(mae, SaliencySettings(selection="fixed", fixed_ratio=0.5), k_max=43)


# ------------------------------------------------------------------------------------------ K statistics


def test_histogram_bins_are_closed_on_the_right_and_ideal_needs_more_than_999_per_mille():
    k = np.array([36] * 1001 + [144])  # 36/144 = 25% exactly
    hist = S.k_histogram(k)
    assert list(hist.columns) == S.K_HIST_COLUMNS and len(hist) == 20
    assert hist.loc[4, ["bin_start", "bin_end", "count"]].tolist() == [0.2, 0.25, 1001]
    assert hist["count"].iloc[19] == 1 and hist["count"].sum() == 1002
    assert set(hist["frames"]) == {1002}
    assert set(hist["ideal_ratio"]) == {0.25}  # 1001/1002 > 99.9%
    assert S.ideal_ratio(np.array([36] * 999 + [144])) == 1.0  # 999/1000 is not more than 99.9%
    assert S.ideal_ratio(np.array([37] * 5000)) == 0.3
    assert S.ideal_ratio(np.array([1])) == 0.05


def _from_counts(counts):
    """K values whose 5% histogram is ``counts`` (one K inside each bin)."""
    return np.concatenate([np.full(c, int(np.ceil(144 * (m + 0.5) / 20))) for m, c in enumerate(counts)])


def test_ideal_ratio_of_the_paper_fig8_histograms():
    mspacman = _from_counts([0, 0, 22, 1591, 29634, 16342, 2401, 10])
    frostbite = _from_counts([0, 0, 0, 0, 1, 2794, 1989, 216])
    assert S.ideal_ratio(mspacman) == games.get("MsPacman").ideal_ratio == 0.35
    assert S.ideal_ratio(frostbite) == games.get("Frostbite").ideal_ratio == 0.40
    assert S.k_histogram(mspacman)["count"].tolist()[:8] == [0, 0, 22, 1591, 29634, 16342, 2401, 10]


def test_k_hist_csv_round_trip(tmp_path):
    path = tmp_path / "k_hist.csv"
    S.write_k_hist(path, S.k_histogram(np.array([20, 30, 30, 40])))
    assert path.read_text().splitlines()[0] == "bin_start,bin_end,count,frames,ideal_ratio"
    hist, ideal = S.read_k_hist(path)
    assert ideal == 0.3 and hist["count"].sum() == 4
    pd.DataFrame({"a": [1]}).to_csv(tmp_path / "other.csv", index=False)
    with pytest.raises(ValueError, match="not a K-statistics table"):
        S.read_k_hist(tmp_path / "other.csv")


def test_saliency_stats_command(tmp_path, mae, frames):
    from spirl.atari.frames import save_frames

    save_mae(tmp_path / "model.pt", mae, game="MsPacman")
    save_frames(tmp_path / "f.npz", frames[:2], {"game": "MsPacman", "frames": 2})
    out = tmp_path / "k_hist.csv"
    argv = ["saliency-stats", "--mae", str(tmp_path / "model.pt"), "--frames", str(tmp_path / "f.npz"),
            "--out", str(out), "--device", "cpu"]
    assert cli.main(argv) == 0
    hist, ideal = S.read_k_hist(out)
    k = S.dynamic_k(S.error_map(mae, S.frames_to_images(frames[:2])), P).numpy()
    assert hist["count"].sum() == 2 and ideal == S.ideal_ratio(k)
    assert cli.main([*argv, "--limit", "0"]) == 1  # an empty selection is refused


# ------------------------------------------------------------------------------------------ bad input


def test_checkpoint_without_decoder_is_refused(tmp_path, mae, capsys):
    save_mae(tmp_path / "enc.pt", mae, game="MsPacman", include_decoder=False)
    with pytest.raises(S.MissingDecoderError, match="decoder"):
        S.load_checked_mae(tmp_path / "enc.pt")
    from spirl.atari.frames import save_frames

    save_frames(tmp_path / "f.npz", np.zeros((1, 96, 96, 3), np.uint8), {"game": "MsPacman", "frames": 1})
    code = cli.main(["saliency-stats", "--mae", str(tmp_path / "enc.pt"), "--frames", str(tmp_path / "f.npz"),
                     "--out", str(tmp_path / "k.csv")])
    assert code == 1 and "decoder" in capsys.readouterr().err
    assert not (tmp_path / "k.csv").exists()


def test_frames_of_the_wrong_size_or_type_are_refused(mae):
    ext = S.SalientPatchExtractor(mae, SaliencySettings(), k_max=43)
    with pytest.raises(S.FrameShapeError, match="96"):
        ext(np.zeros((1, 84, 84, 3), np.uint8))
    with pytest.raises(S.FrameShapeError, match="uint8"):
        ext(np.zeros((1, 96, 96, 3), np.float32))
    with pytest.raises(S.FrameShapeError):
        S.error_map(mae, torch.zeros(1, 96, 96, 3))


@pytest.mark.parametrize("ratio", [0.0, -0.1, 1.2, float("nan")])
def test_max_ratio_outside_0_1_is_refused(ratio):
    with pytest.raises(ValueError, match="max_ratio"):
        games.k_max(ratio)


def test_kmax_outside_range_is_refused(mae):
    for k_max in (0, P + 1):
        with pytest.raises(ValueError, match="k_max"):
            S.SalientPatchExtractor(mae, SaliencySettings(), k_max=k_max)


def test_empty_dataset_is_refused(mae):
    with pytest.raises(S.EmptyDatasetError):
        S.k_statistics(mae, np.zeros((0, 96, 96, 3), np.uint8))
    with pytest.raises(S.EmptyDatasetError):
        S.k_histogram(np.array([], dtype=np.int64))
    with pytest.raises(ValueError, match="batch"):
        S.k_statistics(mae, np.zeros((1, 96, 96, 3), np.uint8), batch=0)


def test_an_encoder_only_checkpoint_is_refused_by_the_extractor(tmp_path):
    from spirl.mae.model import MAE, load_mae, save_mae
    from spirl.saliency.error_map import MissingDecoderError, SalientPatchExtractor
    from spirl.settings import MAEArch, SaliencySettings

    path = tmp_path / "enc.pt"
    save_mae(path, MAE(MAEArch(decoder_depth=1)), game="Seaquest", include_decoder=False)
    mae, meta = load_mae(path)
    assert meta["has_decoder"] is False and mae.has_decoder is False
    with pytest.raises(MissingDecoderError):
        SalientPatchExtractor(mae, SaliencySettings(), k_max=28)(np.zeros((1, 96, 96, 3), np.uint8))
