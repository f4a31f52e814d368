"""spirl.archive (spirl export / spirl import): MAE and run round trips with digests, and every refusal in one line."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest
import torch
import yaml

from spirl.archive import ArchiveError, read_archive
from spirl.cli import main
from spirl.config import MAEArch, TrackSettings, settings_from_dict
from spirl.integrity import load_torch, verify_file
from spirl.mae.checkpoint import load_mae, save_mae
from spirl.mae.model import MAE
from spirl.rl.networks import build_network
from spirl.rl.policy_attention import trained_network_path
from spirl.rl.train import train

TINY = MAEArch(embed_dim=16, depth=1, num_heads=2, decoder_embed_dim=16, decoder_depth=1, decoder_num_heads=2)
RUN_SETTINGS = ["learner.warmup_steps=100", "learner.batch_size=8", "agent.hidden_size=32",
                "protocol.max_episode_steps=60", "learner.target_update_period=50"]


@pytest.fixture(scope="module")
def preset(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("archive") / "preset.yaml"
    path.write_text(yaml.safe_dump({"games": ["Pong"], "budget": {"env_steps": 200, "eval_points": 1,
                                                                   "eval_episodes": 1, "checkpoint_every": 100},
                                    "methods": {"de_small": {"base": "de_rainbow", "agent": {"hidden_size": 32}},
                                                "spirl_tiny": {"base": "spirl", "mae": {
                                        k: getattr(TINY, k) for k in ("embed_dim", "depth", "num_heads",
                                                                      "decoder_embed_dim", "decoder_depth",
                                                                      "decoder_num_heads")}}}}))
    return path


@pytest.fixture
def mae_dir(tmp_path) -> Path:
    d = tmp_path / "theirs" / "results" / "mae" / "paper" / "Seaquest"
    torch.manual_seed(0)
    save_mae(d / "model.pt", MAE(TINY), game="Seaquest", extra={"pretrain": {"epochs": 2}})
    (d / "pretrain.csv").write_text("epoch,loss\n0,1.0\n1,0.5\n")
    return d


@pytest.fixture(scope="module")
def run_dir(preset, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("theirs") / "results" / "runs" / "de_rainbow" / "Pong" / "0"
    train(preset, "de_rainbow", "Pong", 0, out, overrides=RUN_SETTINGS, quiet=True,
          track=TrackSettings(tensorboard=False))
    return out


def test_an_mae_round_trips_with_its_digest_and_pretraining_curve(mae_dir, preset, tmp_path, capsys):
    archive = tmp_path / "seaquest-mae.tar.gz"
    assert main(["export", "--mae", str(mae_dir / "model.pt"), "--out", str(archive)]) == 0
    assert "sha256" in capsys.readouterr().out
    manifest, blobs = read_archive(archive)
    assert manifest["kind"] == "mae" and manifest["game"] == "Seaquest"
    assert manifest["architecture"]["embed_dim"] == 16 and manifest["settings"]["pretrain"] == {"epochs": 2}
    dest = tmp_path / "ours" / "results" / "mae" / "tiny" / "Seaquest"
    assert main(["import", str(archive), "--out", str(dest), "--game", "seaquest", "--config", str(preset),
                 "--method", "spirl_tiny"]) == 0
    assert (dest / "model.pt").read_bytes() == (mae_dir / "model.pt").read_bytes()
    assert (dest / "pretrain.csv").read_text() == (mae_dir / "pretrain.csv").read_text()
    assert verify_file(dest / "model.pt", what="MAE checkpoint")  # the harness checks it again on each load
    record = json.loads((dest / "imported.json").read_text())
    assert record["archive_sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()
    assert record["manifest"]["files"]["model.pt"]["sha256"] == hashlib.sha256(blobs["model.pt"]).hexdigest()
    model, meta = load_mae(dest / "model.pt", game="Seaquest", arch=TINY)
    assert meta["game"] == "Seaquest" and sum(p.numel() for p in model.parameters()) > 0
    # the same files give the same archive, byte for byte (no dates inside)
    again = tmp_path / "again.tar.gz"
    assert main(["export", "--mae", str(dest / "model.pt"), "--out", str(again)]) == 0
    assert read_archive(again)[1] == blobs


def test_a_run_round_trips_with_its_trained_network(run_dir, preset, tmp_path):
    archive = tmp_path / "run.tar.gz"
    assert main(["export", "--run", str(run_dir), "--out", str(archive)]) == 0
    dest = tmp_path / "ours" / "results" / "runs" / "de_rainbow" / "Pong" / "0"
    assert main(["import", str(archive), "--out", str(dest), "--game", "Pong", "--config", str(preset),
                 "--method", "de_small"]) == 0
    for name in ("eval.csv", "run.json", "train_log.csv"):
        assert (dest / name).read_bytes() == (run_dir / name).read_bytes(), name
    final = tmp_path / "ours" / "results" / ".ckpt" / "runs" / "de_rainbow" / "Pong" / "0" / "final.pt"
    assert verify_file(final, what="trained network")
    original = trained_network_path(run_dir, json.loads((run_dir / "run.json").read_text()))
    assert final.read_bytes() == original.read_bytes()
    payload = load_torch(final, what="trained network", remedy="")
    settings = settings_from_dict(payload["settings"])
    network = build_network(settings.agent, payload["n_actions"], frame_shape=tuple(payload["frame_shape"]),
                            stack=settings.protocol.frame_stack)
    network.load_state_dict(payload["online"])  # strict: the imported weights fit the network they describe
    assert payload["method"] == "de_rainbow" and payload["game"] == "Pong" and settings.agent.hidden_size == 32
    manifest = read_archive(archive)[0]
    assert (manifest["method"], manifest["seed"]) == ("de_rainbow", 0)
    assert manifest["settings"] == json.loads((run_dir / "run.json").read_text())["settings"]


def test_another_game_or_architecture_is_refused_in_one_line(mae_dir, run_dir, preset, tmp_path, capsys):
    mae_archive, run_archive = tmp_path / "mae.tar.gz", tmp_path / "run.tar.gz"
    assert main(["export", "--mae", str(mae_dir / "model.pt"), "--out", str(mae_archive)]) == 0
    assert main(["export", "--run", str(run_dir), "--out", str(run_archive)]) == 0
    capsys.readouterr()
    cases = [
        ([str(mae_archive), "--game", "MsPacman"], "holds Seaquest, not MsPacman"),
        ([str(mae_archive), "--config", str(preset), "--method", "spirl"], "another architecture: decoder_depth=1"),
        ([str(run_archive), "--game", "Seaquest"], "holds Pong, not Seaquest"),
        ([str(run_archive), "--config", str(preset), "--method", "de_rainbow"],
         "another architecture: agent.hidden_size=32 (wanted 256)"),
        ([str(run_archive), "--config", str(preset), "--method", "spirl_tiny"], "another architecture: agent."),
    ]
    for args, needle in cases:
        dest = tmp_path / "dest"
        assert main(["import", *args, "--out", str(dest)]) == 2, args
        err = capsys.readouterr().err.strip()
        assert needle in err and "\n" not in err, err
        assert not dest.exists()  # refused before anything is written


def _flip(data: bytes, at: int = 1000) -> bytes:
    """One bit of one byte changed."""
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1:]


def _repack(src: Path, dst: Path, change) -> Path:
    with tarfile.open(src, "r:gz") as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
    change(members)
    with tarfile.open(dst, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return dst


@pytest.mark.parametrize("change, needle", [
    (lambda m: m.update({"files/model.pt": _flip(m["files/model.pt"])}), "model.pt does not match its sha256"),
    (lambda m: m.update({"files/../../evil.sh": b"rm -rf /"}), "do not match the manifest"),
    (lambda m: m.pop("files/model.pt"), "do not match the manifest"),
    (lambda m: m.pop("manifest.json"), "no manifest.json"),
])
def test_an_altered_archive_is_refused_and_nothing_is_written(mae_dir, tmp_path, capsys, change, needle):
    good = tmp_path / "good.tar.gz"
    assert main(["export", "--mae", str(mae_dir / "model.pt"), "--out", str(good)]) == 0
    bad = _repack(good, tmp_path / "bad.tar.gz", change)
    capsys.readouterr()
    assert main(["import", str(bad), "--out", str(tmp_path / "dest")]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and "\n" not in err
    assert not (tmp_path / "dest").exists() and not (tmp_path / "evil.sh").exists()
    with pytest.raises(ArchiveError):
        read_archive(bad)


def test_existing_files_need_force_and_export_refuses_an_unfinished_run(mae_dir, tmp_path, capsys):
    archive = tmp_path / "a.tar.gz"
    assert main(["export", "--mae", str(mae_dir / "model.pt"), "--out", str(archive)]) == 0
    dest = tmp_path / "dest"
    assert main(["import", str(archive), "--out", str(dest)]) == 0
    assert main(["import", str(archive), "--out", str(dest)]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["import", str(archive), "--out", str(dest), "--force"]) == 0
    (tmp_path / "half").mkdir()
    assert main(["export", "--run", str(tmp_path / "half"), "--out", str(tmp_path / "b.tar.gz")]) == 2
    assert "not a finished run" in capsys.readouterr().err
