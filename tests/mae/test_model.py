"""The MAE: parameter counts, patch order, targets, masks, loss and the checkpoint format."""

import pytest
import torch

from spirl.config import MAEArch
from spirl.mae.model import MAE, Attention, count_parameters, sincos_pos_embed_2d

SMALL = MAEArch(embed_dim=16, depth=1, num_heads=2, decoder_embed_dim=16, decoder_depth=1, decoder_num_heads=2)


@pytest.fixture(scope="module")
def paper_mae():
    torch.manual_seed(0)
    return MAE(MAEArch()).eval()


def test_paper_parameter_counts(paper_mae):
    assert count_parameters(paper_mae) == {"encoder": 162_432, "decoder": 628_160, "total": 790_784}
    # The fixed position embeddings are buffers, never trained nor counted.
    names = {n for n, _ in paper_mae.named_parameters()}
    assert "pos_embed" not in names and "decoder_pos_embed" not in names
    assert paper_mae.pos_embed.shape == (1, 145, 64) and paper_mae.decoder_pos_embed.shape == (1, 145, 128)


def test_decoder_size_settings_change_the_count():
    one_block = count_parameters(MAE(MAEArch(decoder_depth=1)))
    assert one_block["encoder"] == 162_432
    assert one_block["decoder"] == 628_160 - 2 * 198_272  # one decoder block is 198,272 parameters
    narrow = count_parameters(MAE(MAEArch(decoder_embed_dim=64, decoder_num_heads=4)))
    # decoder_embed 64*64+64, 3 blocks of 49,984 (as the encoder's), LN 128, pred 64*192+192
    assert narrow["decoder"] == 4_160 + 3 * 49_984 + 128 + 12_480
    assert narrow["total"] == 162_432 + narrow["decoder"] + 64 + 64


def test_bad_architecture_is_refused():
    with pytest.raises(ValueError, match="num_heads"):
        MAE(MAEArch(embed_dim=64, num_heads=5))
    with pytest.raises(ValueError, match="patch_size"):
        MAE(MAEArch(patch_size=7))


def test_sincos_pos_embed_layout():
    emb = sincos_pos_embed_2d(64, 12)  # (145, 64)
    assert emb.shape == (145, 64) and torch.all(emb[0] == 0)
    grid = emb[1:].reshape(12, 12, 64)  # (row, col, channel)
    # First half encodes the column only, second half the row only.
    assert torch.allclose(grid[0, :, :32], grid[7, :, :32]) and not torch.allclose(grid[:, 0, :32], grid[:, 5, :32])
    assert torch.allclose(grid[:, 0, 32:], grid[:, 9, 32:]) and not torch.allclose(grid[0, :, 32:], grid[4, :, 32:])
    # Column 1, k = 0: sin(1) then, at offset dim/4, cos(1).
    assert grid[0, 1, 0].item() == pytest.approx(torch.sin(torch.tensor(1.0)).item(), abs=1e-6)
    assert grid[0, 1, 16].item() == pytest.approx(torch.cos(torch.tensor(1.0)).item(), abs=1e-6)


def test_patchify_order_and_round_trip(paper_mae):
    imgs = torch.rand(2, 3, 96, 96)
    patches = paper_mae.patchify(imgs)
    assert patches.shape == (2, 144, 192)
    assert torch.equal(paper_mae.unpatchify(patches), imgs)
    # A frame whose patch (r, c) is filled with the constant r * 12 + c lands in row r * 12 + c.
    const = torch.arange(144, dtype=torch.float32).reshape(12, 12)
    frame = const.repeat_interleave(8, 0).repeat_interleave(8, 1).expand(3, 96, 96)[None]
    assert torch.equal(paper_mae.patchify(frame)[0], torch.arange(144.0)[:, None].expand(144, 192))
    # Inside a patch, values are ordered (p_row, p_col, channel).
    r, c, pr, pc, ch = 5, 7, 2, 6, 1
    assert patches[1, r * 12 + c, (pr * 8 + pc) * 3 + ch] == imgs[1, ch, r * 8 + pr, c * 8 + pc]


def test_normalized_target_statistics(paper_mae):
    imgs = torch.rand(2, 3, 96, 96)
    imgs[0, :, :8, :8] = 0.3  # patch 0 of frame 0 is uniform
    target = paper_mae.normalized_target(imgs)  # (2, 144, 192)
    assert torch.all(target[0, 0] == 0)
    rest = target[1]
    assert torch.allclose(rest.mean(-1), torch.zeros(144), atol=1e-5)
    assert torch.allclose(rest.std(-1), torch.ones(144), atol=1e-3)  # unbiased std, up to the 1e-6 eps
    raw = MAE(MAEArch(norm_pix_loss=False)).normalized_target(imgs)
    assert torch.equal(raw, paper_mae.patchify(imgs))


def test_mask_semantics(paper_mae):
    B, P, D = 3, 144, 64
    x = torch.arange(P, dtype=torch.float32)[None, :, None].expand(B, P, D)  # token i carries value i
    state = torch.random.get_rng_state()
    kept, mask, ids_restore = paper_mae.random_masking(x, 0.75, torch.Generator().manual_seed(1))
    assert torch.equal(torch.random.get_rng_state(), state)  # the global RNG is never touched
    assert kept.shape == (B, 36, D) and mask.shape == (B, P)
    assert set(mask.unique().tolist()) == {0.0, 1.0}
    assert torch.all(mask.sum(1) == 108)  # 1 = hidden
    for b in range(B):
        visible = torch.nonzero(mask[b] == 0).flatten()
        assert sorted(kept[b, :, 0].long().tolist()) == visible.tolist()
    assert not torch.equal(mask[0], mask[1])  # each sample gets its own mask
    # ids_restore puts [kept, hidden...] back in patch order.
    hidden = torch.full((B, P - 36, D), -1.0)
    restored = torch.gather(torch.cat([kept, hidden], 1), 1, ids_restore[..., None].expand(-1, -1, D))
    assert torch.equal(restored[..., 0] >= 0, mask == 0)
    # Same generator seed, same masks; another seed, other masks.
    _, again, _ = paper_mae.random_masking(x, 0.75, torch.Generator().manual_seed(1))
    _, other, _ = paper_mae.random_masking(x, 0.75, torch.Generator().manual_seed(2))
    assert torch.equal(mask, again) and not torch.equal(mask, other)
    with pytest.raises(ValueError, match="Generator"):
        paper_mae.random_masking(x, 0.75, None)


def test_forward_shapes_and_determinism(paper_mae):
    imgs = torch.rand(2, 3, 96, 96)
    with torch.no_grad():
        latent, mask, ids_restore = paper_mae.forward_encoder(imgs, 0.75, torch.Generator().manual_seed(3))
        assert latent.shape == (2, 37, 64) and mask.sum().item() == 2 * 108
        pred = paper_mae.forward_decoder(latent, ids_restore)
        assert pred.shape == (2, 144, 192)
        loss_a, pred_a, _ = paper_mae(imgs, 0.75, torch.Generator().manual_seed(3))
        loss_b, _, _ = paper_mae(imgs, 0.75, torch.Generator().manual_seed(3))
    assert torch.equal(pred, pred_a) and loss_a.item() == loss_b.item()


def test_loss_all_versus_masked_only(paper_mae):
    imgs = torch.rand(2, 3, 96, 96)
    target = paper_mae.normalized_target(imgs)
    mask = torch.zeros(2, 144)
    mask[:, :108] = 1
    pred = target.clone()
    pred[:, 108:] += 2.0  # wrong only on the visible patches: squared error 4 there
    assert paper_mae.forward_loss(imgs, pred, mask, loss_all=False).item() == pytest.approx(0.0, abs=1e-6)
    assert paper_mae.forward_loss(imgs, pred, mask, loss_all=True).item() == pytest.approx(4.0 * 36 / 144, rel=1e-5)
    pred = target.clone()
    pred[:, :108] += 1.0  # wrong only on the hidden patches
    assert paper_mae.forward_loss(imgs, pred, mask, loss_all=False).item() == pytest.approx(1.0, rel=1e-5)
    assert paper_mae.forward_loss(imgs, pred, mask, loss_all=True).item() == pytest.approx(0.75, rel=1e-5)


def test_attention_matches_explicit_softmax_and_honours_a_mask():
    torch.manual_seed(0)
    attn = Attention(32, 4)
    x = torch.randn(2, 7, 32)
    q, k, v = attn.split_heads(x)
    weights = torch.softmax(q @ k.transpose(-2, -1) / 8**0.5, dim=-1)  # head dim 8
    explicit = attn.proj((weights @ v).transpose(1, 2).reshape(2, 7, 32))
    assert torch.allclose(attn(x), explicit, atol=1e-5)
    # Masking keys 4..6 out gives what attention over the first four tokens alone gives.
    allowed = torch.zeros(7, 7, dtype=torch.bool)
    allowed[:, :4] = True
    assert torch.allclose(attn(x, allowed)[:, :4], attn(x[:, :4]), atol=1e-5)


