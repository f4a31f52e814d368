"""spirl.mae.checkpoint: round trip, named mismatches, encoder-only checkpoints."""

import pytest
import torch

from spirl.config import MAEArch
from spirl.integrity import IntegrityError
from spirl.mae.checkpoint import CheckpointMismatchError, load_mae, save_mae
from spirl.mae.model import MAE
from tests.conftest import CORRUPTIONS

SMALL = MAEArch(embed_dim=16, depth=1, num_heads=2, decoder_embed_dim=16, decoder_depth=1, decoder_num_heads=2)


def test_checkpoint_round_trip(tmp_path):
    torch.manual_seed(1)
    model = MAE(SMALL).eval()
    path = tmp_path / "model.pt"
    save_mae(path, model, game="ms_pacman", extra={"epoch": 3, "loss": 0.5})
    loaded, meta = load_mae(path, game="MsPacman", arch=SMALL)
    assert meta["game"] == "MsPacman" and meta["has_decoder"] and meta["extra"]["epoch"] == 3
    assert meta["arch"] == SMALL
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), name
    imgs = torch.rand(2, 3, 96, 96)
    with torch.no_grad():
        assert torch.equal(model(imgs, 0.75, torch.Generator().manual_seed(0))[1],
                           loaded(imgs, 0.75, torch.Generator().manual_seed(0))[1])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt", "model.pt.sha256"]  # and no temp file


def test_checkpoint_mismatches_are_named(tmp_path):
    path = tmp_path / "model.pt"
    save_mae(path, MAE(SMALL), game="Frostbite", extra={})
    other = MAEArch(**{**SMALL.__dict__, "decoder_depth": 2})
    with pytest.raises(CheckpointMismatchError, match=r"decoder_depth=1 in the checkpoint but 2 asked for"):
        load_mae(path, arch=other)
    with pytest.raises(CheckpointMismatchError, match=r"trained on Frostbite, not on Seaquest"):
        load_mae(path, game="seaquest")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointMismatchError, match="not a readable MAE checkpoint"):
        load_mae(junk)
    torch.save({"model": {}}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointMismatchError, match="format"):
        load_mae(tmp_path / "foreign.pt")
    with pytest.raises(FileNotFoundError):
        load_mae(tmp_path / "missing.pt")


def test_encoder_only_checkpoint(tmp_path):
    torch.manual_seed(2)
    model = MAE(SMALL)
    save_mae(tmp_path / "enc.pt", model, game="Seaquest", extra={}, include_decoder=False)
    loaded, meta = load_mae(tmp_path / "enc.pt")
    assert not meta["has_decoder"]
    assert torch.equal(loaded.blocks[0].attn.qkv.weight, model.blocks[0].attn.qkv.weight)
    assert torch.equal(loaded.cls_token, model.cls_token)


@pytest.mark.parametrize("how", CORRUPTIONS)
def test_a_corrupt_checkpoint_is_refused_never_loaded(tmp_path, corrupt, how):
    path = tmp_path / "model.pt"
    save_mae(path, MAE(SMALL), game="Seaquest")
    corrupt(path, how)
    with pytest.raises(IntegrityError, match=r"MAE checkpoint .*model\.pt does not match its sha256"):
        load_mae(path)


@pytest.mark.parametrize("how", CORRUPTIONS)
def test_a_damaged_checkpoint_without_its_digest_is_one_clear_line(tmp_path, corrupt, how):
    path = tmp_path / "model.pt"
    save_mae(path, MAE(SMALL), game="Seaquest")
    (tmp_path / "model.pt.sha256").unlink()  # e.g. copied from elsewhere
    corrupt(path, how)
    try:
        load_mae(path)
    except CheckpointMismatchError as err:
        text = str(err)
        assert "\n" not in text and "weights_only" not in text and "model.pt" in text
    else:  # 16 flipped bytes may fall in a tensor's data, which only the digest can see
        assert how.startswith("flip")


def test_a_text_file_renamed_pt_is_refused_without_torchs_advice(tmp_path):
    path = tmp_path / "model.pt"
    path.write_text("these are my notes, not a model\n")
    with pytest.raises(CheckpointMismatchError) as err:
        load_mae(path)
    assert "not a file torch.save wrote" in str(err.value) and "weights_only" not in str(err.value)
