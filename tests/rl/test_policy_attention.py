"""spirl.rl.policy_attention: the attention read-out matches the agent's own block, and a trained run gives a strip."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from spirl import cli
from spirl.config import MAEArch
from spirl.mae.checkpoint import save_mae
from spirl.mae.model import MAE
from spirl.rl import policy_attention as at
from spirl.rl.networks import SpirlAttentionEncoder

TINY = {"embed_dim": 16, "depth": 1, "num_heads": 2, "decoder_embed_dim": 16, "decoder_depth": 1,
        "decoder_num_heads": 2}


@pytest.mark.parametrize("pooling, padding, depth", [("cls", "zero", 1), ("cls", "mask", 2), ("avg", "token", 1),
                                                     ("avg", "mask", 1)])
def test_read_out_is_the_attention_the_block_computes(pooling, padding, depth):
    torch.manual_seed(0)
    enc = SpirlAttentionEncoder(16, 1, proj_dim=8, num_heads=2, mlp_hidden=16, depth=depth, pooling=pooling,
                                padding=padding)
    feats, k = torch.randn(3, 6, 16), torch.tensor([6, 4, 1])
    weights = at.pooling_attention(enc, feats, k)  # [B, Kmax]
    assert weights.shape == (3, 6)
    # Rebuild the last block's input as the encoder does, then the block's own attention output.
    x = enc.proj(feats)
    valid = torch.arange(6) < k[:, None]
    if enc.pad_token is not None:
        x = torch.where(valid[..., None], x, enc.pad_token[0])
    x = torch.cat([enc.cls_token.expand(3, 1, 8), x], 1)
    keep = torch.cat([valid.new_ones(3, 1), valid], 1)[:, None, None, :] if padding == "mask" else None
    for block in enc.blocks[:-1]:
        x = block(x, keep)
    block = enc.blocks[-1]
    h = block.norm1(x)
    expected = block.attention(h, keep)  # [B, L, D]
    # Per head: attention weights @ values, then the output projection.
    v = block.qkv(h)[..., 16:].reshape(3, 7, 2, 4).transpose(1, 2)  # [B, H, L, hd]
    q, kk = block.qkv(h)[..., :8].reshape(3, 7, 2, 4).transpose(1, 2), block.qkv(h)[..., 8:16].reshape(
        3, 7, 2, 4).transpose(1, 2)
    scores = (q * 0.5) @ kk.transpose(-2, -1)
    if keep is not None:
        scores = scores.masked_fill(~keep, float("-inf"))
    per_head = scores.softmax(-1)
    rebuilt = block.proj((per_head @ v).transpose(1, 2).reshape(3, 7, 8))
    torch.testing.assert_close(rebuilt, expected)
    mean_heads = per_head.mean(1)
    if pooling == "cls":
        torch.testing.assert_close(weights, mean_heads[:, 0, 1:])
        if padding == "mask":
            assert torch.all(weights[~valid] == 0)  # masked slots get nothing; the rest and cls itself sum to 1
            torch.testing.assert_close(weights.sum(1) + mean_heads[:, 0, 0], torch.ones(3))
    else:
        rows = valid.float() if padding == "mask" else torch.ones(3, 6)
        torch.testing.assert_close(weights, (mean_heads[:, 1:, 1:] * rows[..., None]).sum(1) / rows.sum(1, True))


def test_shade_dims_unselected_patches_and_tints_attended_ones():
    frame = np.full((16, 16, 3), 200, np.uint8)
    out = at.shade(frame, np.array([0, 3, -1]), np.array([1.0, 0.0, 0.0]))
    assert (out[8:, :8] == 70).all()  # patch 2 not selected: dimmed to 35%
    assert (out[8:, 8:] == 200).all()  # patch 3 selected with no weight: unchanged
    np.testing.assert_allclose(out[0, 0], np.floor(0.25 * 200 + 0.75 * at.SHADE), atol=1)
    assert at.strip_steps(100, 4) == [0, 33, 66, 99] and at.strip_steps(3, 8) == [0, 1, 2]


def test_attention_cli_on_a_trained_spirl_run(tmp_path, monkeypatch):
    from spirl.rl import train
    monkeypatch.chdir(tmp_path)
    torch.manual_seed(0)
    save_mae("mae.pt", MAE(MAEArch(**TINY)), game="Seaquest")
    Path("preset.yaml").write_text(
        "games: [Seaquest]\nseeds: 1\nbudget: {env_steps: 30, eval_points: 1, eval_episodes: 1}\n"
        f"mae_variants:\n  paper: {{}}\n  tiny: {json.dumps(TINY)}\n"
        "methods:\n  tiny: {base: spirl, mae_variant: tiny, learner: {warmup_steps: 20, batch_size: 4},"
        " protocol: {max_episode_steps: 25}}\n  base: {base: de_rainbow}\n")
    run = Path("results/runs/tiny/Seaquest/0")
    train.train("preset.yaml", "tiny", "Seaquest", 0, run, mae="mae.pt", threads=1, quiet=True)
    assert cli.main(["attention", "--run", str(run), "--mae", "mae.pt", "--out", "att", "--max-steps", "9",
                     "--frames", "3", "--gif-every", "3"]) == 0
    assert Path("att/attention.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    from spirl.analysis.report import figures_section

    assert "Policy attention of tiny on Seaquest (seed 0)" in figures_section(["att"])  # caption in the PNG

    with Image.open("att/attention.gif") as gif:
        assert gif.n_frames == 3
    lines = Path("att/attention.csv").read_text().splitlines()
    assert len(lines) == 10
    step, _, name, _, k, patches, weights = lines[1].split(",")
    assert step == "0" and name.isupper() and len(patches.split(";")) == int(k) == len(weights.split(";"))
    # Same run, same episode: the numbers repeat.
    assert cli.main(["attention", "--run", str(run), "--mae", "mae.pt", "--out", "att2", "--max-steps", "9"]) == 0
    assert Path("att2/attention.csv").read_text() == Path("att/attention.csv").read_text()


def test_attention_refuses_runs_that_are_not_spirl(tmp_path):
    bad = tmp_path / "final.pt"
    torch.save({"format": "something-else"}, bad)
    with pytest.raises(at.AttentionError, match="not a trained network"):
        at.load_trained(bad)
    with pytest.raises(FileNotFoundError, match="no trained network"):
        at.load_trained(tmp_path / "absent.pt")
    from spirl.config import MethodSettings, settings_to_dict

    s = MethodSettings(name="de_rainbow")
    s.agent.encoder = "de_cnn"
    torch.save({"format": at.TRAINED_FORMAT, "method": "de_rainbow", "settings": settings_to_dict(s),
                "n_actions": 4, "frame_shape": [84, 84, 1], "online": {}}, bad)
    with pytest.raises(at.AttentionError, match="needs a SPIRL run"):
        at.load_trained(bad)


def test_a_corrupt_trained_network_is_refused(tmp_path, corrupt):
    from spirl.integrity import IntegrityError, write_with_digest

    path = write_with_digest(tmp_path / "final.pt", lambda tmp: torch.save({"format": at.TRAINED_FORMAT}, tmp))
    corrupt(path, "flip50")
    with pytest.raises(IntegrityError, match=r"trained network .*final\.pt does not match its sha256"):
        at.load_trained(path)
    path.write_text("not a network\n")
    (tmp_path / "final.pt.sha256").unlink()
    with pytest.raises(at.AttentionError, match=r"not a file torch\.save wrote"):
        at.load_trained(path)
