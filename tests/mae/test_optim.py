"""spirl.mae.optim: the paper's learning-rate schedule and weight-decay groups."""

import itertools

import pytest

from spirl.config import MAEArch, PretrainSettings
from spirl.mae.model import MAE
from spirl.mae.optim import lr_at, param_groups, peak_lr

TINY = MAEArch(embed_dim=32, depth=1, num_heads=2, decoder_embed_dim=32, decoder_depth=1, decoder_num_heads=2)


def test_lr_schedule_paper_values():
    s = PretrainSettings()
    assert peak_lr(s) == pytest.approx(2.5e-4)
    assert lr_at(0.0, s) == 0.0  # warm-up starts at 0
    assert lr_at(2.5, s) == pytest.approx(1.25e-4)  # linear warm-up
    assert lr_at(5.0, s) == pytest.approx(2.5e-4)  # peak after 5 epochs
    assert lr_at(27.5, s) == pytest.approx(1.25e-4)  # half-way down the half-cosine
    assert lr_at(50.0, s) == pytest.approx(0.0, abs=1e-12)  # min_lr at the last epoch
    after = [lr_at(5 + 45 * t / 100, s) for t in range(101)]
    assert all(a >= b for a, b in itertools.pairwise(after))


def test_weight_decay_groups():
    model = MAE(TINY)
    decay, no_decay = param_groups(model, 0.05)
    assert decay["weight_decay"] == 0.05 and no_decay["weight_decay"] == 0.0
    names = {id(p): n for n, p in model.named_parameters()}
    decayed = {names[id(p)] for p in decay["params"]}
    plain = {names[id(p)] for p in no_decay["params"]}
    assert {"cls_token", "mask_token", "patch_embed.weight", "blocks.0.attn.qkv.weight",
            "decoder_pred.weight"} <= decayed
    assert {"patch_embed.bias", "blocks.0.norm1.weight", "blocks.0.attn.qkv.bias", "decoder_norm.bias"} <= plain
    assert all(p.ndim >= 2 for p in decay["params"]) and all(p.ndim == 1 for p in no_decay["params"])
    assert len(decayed) + len(plain) == len(names)
