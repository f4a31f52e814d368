"""Networks: noisy layers, the dueling C51 head, the DE CNN, the SPIRL attention encoder (docs/method.md#step-agent)."""

from __future__ import annotations

import math

import pytest
import torch

from spirl.config import AgentSettings
from spirl.rl.networks import (
    DataEfficientCNN,
    DuelingC51Head,
    NoisyLinear,
    SpirlAttentionEncoder,
    build_network,
    count_parameters,
)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_noisy_linear_init_follows_the_released_code():
    torch.manual_seed(0)
    layer = NoisyLinear(64, 16, sigma0=0.5)
    bound = 1 / math.sqrt(64)
    assert layer.weight_mu.abs().max() <= bound and layer.bias_mu.abs().max() <= bound
    assert torch.allclose(layer.weight_sigma, torch.full((16, 64), 0.5 / math.sqrt(64)))
    # the quirk: the bias sigma divides by the OUTPUT width
    assert torch.allclose(layer.bias_sigma, torch.full((16,), 0.5 / math.sqrt(16)))
    assert NoisyLinear(64, 16, sigma0=0.1).weight_sigma[0, 0].item() == pytest.approx(0.1 / 8)


def test_noisy_linear_noise_is_factorised_and_off_means_mean_weights():
    torch.manual_seed(0)
    layer = NoisyLinear(5, 3)
    x = torch.randn(4, 5)
    mean = layer(x, noise=False)
    assert torch.equal(mean, x @ layer.weight_mu.T + layer.bias_mu)
    layer.sample_noise(_gen(1))
    # factorised: rank one, built from f(eps) = sign(eps) sqrt|eps|
    assert torch.linalg.matrix_rank(layer.weight_epsilon) == 1
    eps = layer.weight_epsilon
    assert torch.allclose(eps[:, 0] / eps[0, 0], layer.bias_epsilon / layer.bias_epsilon[0])
    noisy = layer(x)
    assert not torch.allclose(noisy, mean)
    assert torch.equal(layer(x, noise=False), mean)
    layer.sample_noise(_gen(1))
    assert torch.equal(layer(x), noisy)  # same generator state, same noise


@pytest.mark.parametrize(("n_actions", "expected"), [(9, 394_287), (18, 630_213)])
def test_dueling_head_parameter_count_matches_spec(n_actions, expected):
    assert count_parameters(DuelingC51Head(128, n_actions, hidden=256, num_atoms=51)) == expected


def test_dueling_head_combines_streams_and_scales_the_encoder_gradient():
    torch.manual_seed(0)
    head = DuelingC51Head(6, 3, hidden=8, num_atoms=5)
    head.advantage_bias.data.normal_()
    feats = torch.randn(2, 6, requires_grad=True)
    logits = head(feats)
    assert logits.shape == (2, 3, 5)
    value = head.value_out(torch.relu(head.value_hidden(feats)))
    adv = head.advantage_out(torch.relu(head.advantage_hidden(feats))).view(2, 3, 5)
    expected = value.view(2, 1, 5) + adv - adv.mean(1, keepdim=True)  # the per-atom bias cancels
    assert torch.allclose(logits, expected, atol=1e-6)
    # the gradient reaching the encoder is 2^-1/2 of the unscaled one (`expected` bypasses the scaling)
    scaled = torch.autograd.grad(logits.square().sum(), feats, retain_graph=True)[0]
    unscaled = torch.autograd.grad(expected.square().sum(), feats)[0]
    assert torch.allclose(scaled, unscaled * 2**-0.5, atol=1e-6)


@pytest.mark.parametrize(("frame_shape", "channels"), [((84, 84, 1), 4), ((96, 96, 3), 12), ((84, 84), 4)])
def test_de_cnn_shapes_and_channels_last_equivalence(frame_shape, channels):
    torch.manual_seed(0)
    fast = DataEfficientCNN(frame_shape, 4, channels_last=True)
    plain = DataEfficientCNN(frame_shape, 4, channels_last=False)
    plain.load_state_dict(fast.state_dict())
    assert fast.conv1.in_channels == channels and fast.out_features == 1024
    obs = torch.randint(0, 256, (3, 4, *frame_shape), dtype=torch.uint8)
    out = fast(obs)
    assert out.shape == (3, 1024)
    assert torch.allclose(out, plain(obs), atol=1e-5)
    # the frame order matters: swapping frames changes the features
    assert not torch.allclose(out, fast(obs.flip(1)), atol=1e-5)


def test_attention_module_parameter_count():
    enc = SpirlAttentionEncoder(64, 4)
    # proj 2,080 + cls 32 + block 12,704; the released module also builds an unused final LayerNorm (64),
    # which gives docs/method.md#choice-22's 14,880.
    assert count_parameters(enc) == 14_880 - 64
    assert enc.out_features == 128
    assert count_parameters(SpirlAttentionEncoder(64, 4, padding="token")) == 14_880 - 64 + 32


def _features(B=3, F=4, Kmax=6, D=8, seed=0):
    g = _gen(seed)
    feats = torch.randn(B, F, Kmax, D, generator=g)
    k = torch.randint(1, Kmax, (B, F), generator=g)
    k[0, 0] = 0  # a zeroed stack slot
    valid = torch.arange(Kmax) < k.unsqueeze(-1)
    return feats * valid.unsqueeze(-1), k, valid


@pytest.mark.parametrize("pooling", ["cls", "avg"])
@pytest.mark.parametrize("padding", ["zero", "token", "mask"])
def test_padding_variants_mask_what_they_should(padding, pooling):
    torch.manual_seed(0)
    enc = SpirlAttentionEncoder(8, 4, proj_dim=16, num_heads=4, mlp_hidden=32, pooling=pooling, padding=padding)
    feats, k, valid = _features()
    out = enc(feats, k)
    assert out.shape == (3, 64) and torch.isfinite(out).all()
    if padding == "mask":  # masked attention keeps max(K, 1) rows, as released
        valid = torch.arange(feats.shape[2]) < k.clamp(min=1).unsqueeze(-1)
    junk = feats + torch.randn_like(feats) * (~valid).unsqueeze(-1)  # change only the padded rows
    changed = enc(junk, k)
    if padding == "zero":
        assert not torch.allclose(out, changed)  # zero padding: padded rows are real tokens
    else:
        assert torch.allclose(out, changed, atol=1e-6)  # replaced (token) or masked out (mask)
    if padding == "token":  # the pad token itself takes part in attention
        enc.pad_token.data.add_(1.0)
        assert not torch.allclose(out, enc(feats, k))
    if padding == "mask":  # with masking, Kmax does not matter: appending padded rows changes nothing
        wider = torch.cat([feats, torch.randn(3, 4, 2, 8)], dim=2)
        assert torch.allclose(out, enc(wider, k), atol=1e-5)


@pytest.mark.parametrize("pooling", ["cls", "avg"])
def test_masked_attention_keeps_one_token_of_an_empty_frame_as_released(pooling):
    torch.manual_seed(0)
    enc = SpirlAttentionEncoder(8, 4, proj_dim=16, num_heads=4, mlp_hidden=32, pooling=pooling, padding="mask")
    feats, k, _ = _features()
    assert k[0, 0] == 0 and torch.count_nonzero(feats[0, 0]) == 0  # a zeroed stack slot
    one = k.clone()
    one[0, 0] = 1  # the same frame seen with its first (zero) row as the one token
    assert torch.allclose(enc(feats, k), enc(feats, one), atol=1e-6)
    if pooling == "avg":  # the average of that token, not a zero vector
        assert torch.count_nonzero(enc(feats, k)[0, :16]) > 0


def test_frames_are_attended_separately_and_concatenated():
    torch.manual_seed(0)
    enc = SpirlAttentionEncoder(8, 4, proj_dim=16, num_heads=4, mlp_hidden=32)
    feats, k, _ = _features()
    out = enc(feats, k)
    changed = feats.clone()
    changed[:, 2] += 1.0
    out2 = enc(changed, k)
    # only frame 2's 16-d slice moves: no attention across frames
    assert torch.allclose(out[:, :32], out2[:, :32]) and torch.allclose(out[:, 48:], out2[:, 48:])
    assert not torch.allclose(out[:, 32:48], out2[:, 32:48])


def test_residual_setting_changes_the_block():
    torch.manual_seed(0)
    a = SpirlAttentionEncoder(8, 4, proj_dim=16, num_heads=4, mlp_hidden=32, residual=False)
    b = SpirlAttentionEncoder(8, 4, proj_dim=16, num_heads=4, mlp_hidden=32, residual=True)
    b.load_state_dict(a.state_dict())
    feats, k, _ = _features()
    assert not torch.allclose(a(feats, k), b(feats, k))


def test_masked_padding_needs_k_and_bad_settings_are_refused():
    enc = SpirlAttentionEncoder(8, 4, proj_dim=16, num_heads=4, padding="mask")
    with pytest.raises(ValueError, match="needs the number of patches"):
        enc(torch.zeros(1, 4, 3, 8))
    with pytest.raises(ValueError, match="pooling"):
        SpirlAttentionEncoder(8, 4, pooling="max")
    with pytest.raises(ValueError, match="divisible"):
        SpirlAttentionEncoder(8, 4, proj_dim=30, num_heads=8)


def test_build_network_for_both_encoders():
    torch.manual_seed(0)
    spirl = build_network(AgentSettings(), 9, frame_shape=(43, 64))
    assert count_parameters(spirl) == 14_880 - 64 + 394_287
    q = spirl.q_values(torch.zeros(2, 4, 43, 64))
    assert q.shape == (2, 9) and (q.abs() <= 10).all()
    de = build_network(AgentSettings(encoder="de_cnn"), 18, frame_shape=(84, 84, 1))
    assert de(torch.zeros(2, 4, 84, 84, 1, dtype=torch.uint8)).shape == (2, 18, 51)
    with pytest.raises(ValueError, match="feature frames"):
        build_network(AgentSettings(), 9, frame_shape=(84, 84, 1))


@pytest.mark.parametrize("residual", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_cls_only_last_block_equals_the_full_block(residual, masked):
    from spirl.rl.networks import AttentionBlock

    torch.manual_seed(0)
    block = AttentionBlock(16, 4, 32, residual)
    x = torch.randn(6, 9, 16)
    keep = (torch.rand(6, 1, 1, 9) > 0.4) | (torch.arange(9) == 0) if masked else None
    assert torch.allclose(block(x, keep, first_only=True), block(x, keep)[:, :1], atol=1e-6)
