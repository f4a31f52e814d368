"""MAE pretraining: settings, schedule, decay groups, a loss that falls, resume and refusal to overwrite."""

import csv
import json
import shutil

import numpy as np
import pytest
import torch

from spirl import cli
from spirl.config import MAEArch, PretrainSettings
from spirl.mae.checkpoint import load_mae
from spirl.mae.model import MAE
from spirl.mae.optim import peak_lr
from spirl.mae.pretrain import apply_set, pretrain

TINY = MAEArch(embed_dim=32, depth=1, num_heads=2, decoder_embed_dim=32, decoder_depth=1, decoder_num_heads=2)
TINY_SET = ["mae.embed_dim=32", "mae.depth=1", "mae.num_heads=2", "mae.decoder_embed_dim=32",
            "mae.decoder_depth=1", "mae.decoder_num_heads=2"]


def structured_frames(n: int, seed: int = 0) -> np.ndarray:
    """uint8 (n, 96, 96, 3) frames with the regularities of a game screen: a fixed coloured maze
    of walls, a plain background, and a few moving coloured blocks."""
    rng = np.random.default_rng(seed)
    frames = np.zeros((n, 96, 96, 3), np.uint8)
    frames[:] = (20, 20, 90)
    frames[:, ::16, :, :] = (200, 120, 40)  # horizontal walls every 16 rows
    frames[:, :, ::24, :] = (200, 120, 40)  # vertical walls every 24 columns
    for i in range(n):
        for colour in ((250, 250, 0), (0, 230, 0), (230, 0, 200)):
            r, c = rng.integers(0, 88, size=2)
            frames[i, r:r + 8, c:c + 8] = colour
    return frames


def write_dataset(path, n: int, game: str = "MsPacman", seed: int = 0):
    meta = {"game": game, "seed": seed, "frames": n}
    np.savez(path, frames=structured_frames(n, seed), meta=np.array(json.dumps(meta)))
    return path


def read_csv(path) -> list[dict[str, str]]:
    with open(path) as f:
        return list(csv.DictReader(f))


def tiny_settings(**kw) -> PretrainSettings:
    base = {"epochs": 2, "batch_size": 16, "warmup_epochs": 1, "blr": 1e-2}
    return PretrainSettings(**{**base, **kw})


def test_apply_set_coerces_and_refuses():
    arch, s = apply_set(MAEArch(), PretrainSettings(), ["pretrain.epochs=100", "mae.decoder_depth=1",
                                                        "pretrain.loss_all=false", "pretrain.blr=1.5e-4"])
    assert (s.epochs, arch.decoder_depth, s.loss_all, s.blr) == (100, 1, False, 1.5e-4)
    assert MAEArch().decoder_depth == 3  # the defaults are untouched
    with pytest.raises(ValueError, match="epochs"):
        apply_set(MAEArch(), PretrainSettings(), ["pretrain.epoch=3"])
    with pytest.raises(ValueError, match=r"mae\.\* and pretrain\.\*.*pretrain\.epochs"):
        apply_set(MAEArch(), PretrainSettings(), ["learner.lr=1e-3"])
    with pytest.raises(ValueError, match="int"):
        apply_set(MAEArch(), PretrainSettings(), ["pretrain.epochs=many"])


def test_short_pretraining_lowers_the_loss(tmp_path):
    data = write_dataset(tmp_path / "frames.npz", 256)
    out = tmp_path / "mae" / "model.pt"
    extra = pretrain(data, out, TINY, tiny_settings(epochs=3, warmup_epochs=0), seed=0, device="cpu")
    rows = read_csv(out.parent / "pretrain.csv")
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"])
    assert float(rows[-1]["lr"]) < float(rows[0]["lr"])  # cosine decay within the run
    model, meta = load_mae(out, game="MsPacman", arch=TINY)
    assert meta["extra"]["epoch"] == 3 and meta["extra"]["loss"] == pytest.approx(extra["loss"])
    # Against the untrained model on held-out frames and fixed masks.
    torch.manual_seed(0)
    fresh = MAE(TINY).eval()
    imgs = torch.from_numpy(structured_frames(32, seed=99)).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        before = fresh(imgs, 0.75, torch.Generator().manual_seed(5))[0].item()
        after = model(imgs, 0.75, torch.Generator().manual_seed(5))[0].item()
    assert after < 0.8 * before
    assert not (out.parent / ".ckpt").exists()  # the resumable state is removed once done


def test_resume_after_interruption_gives_the_same_weights(tmp_path, capsys):
    data = write_dataset(tmp_path / "frames.npz", 64)
    settings = tiny_settings()
    pretrain(data, tmp_path / "a" / "model.pt", TINY, settings, seed=3, device="cpu")

    out_b = tmp_path / "b" / "model.pt"
    assert pretrain(data, out_b, TINY, settings, seed=3, device="cpu", stop_after_epochs=1) is None
    state = out_b.parent / ".ckpt" / "model" / "epoch-0001"
    assert not out_b.exists() and (state / "state.pt").is_file() and (state / "MANIFEST").is_file()
    (out_b.parent / "pretrain.csv").write_text("epoch,lo")  # issue 20.7: killed between pretrain.csv and model.pt
    pretrain(data, out_b, TINY, settings, seed=3, device="cpu")  # the same command finishes it, no --force
    assert "resuming MsPacman from epoch 1/2" in capsys.readouterr().err

    a, _ = load_mae(tmp_path / "a" / "model.pt")
    b, _ = load_mae(out_b)
    for (name, wa), (_, wb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(wa, wb), name
    losses = [[r["loss"] for r in read_csv(tmp_path / d / "pretrain.csv")] for d in "ab"]
    assert losses[0] == losses[1]
    # issue 20.9: states a kill left after model.pt was written are removed by the next command
    from spirl.checkpoints import PRETRAINING, CheckpointStore

    CheckpointStore(state.parent, PRETRAINING).save(2, {"epoch": 2})
    with pytest.raises(FileExistsError, match="pass --force"):
        pretrain(data, out_b, TINY, settings, seed=3, device="cpu")
    assert not list(state.parent.glob("epoch-*")) and "removed 1 state(s) of the finished" in capsys.readouterr().err


def test_state_of_other_frames_or_settings_is_refused_and_unreadable_not_resumed(tmp_path, capsys):
    from spirl.checkpoints import CheckpointMismatchError, NoIntactCheckpointError
    from spirl.integrity import sha256_file

    data = write_dataset(tmp_path / "frames.npz", 32)
    other = write_dataset(tmp_path / "other.npz", 32, seed=1)
    out, ckpt = tmp_path / "model.pt", tmp_path / "ckpt"
    settings = tiny_settings(epochs=2, warmup_epochs=0)
    pretrain(data, out, TINY, settings, seed=0, device="cpu", ckpt_dir=ckpt, stop_after_epochs=1)
    says = r"\(seed: checkpoint 0 vs this run 1\); give those, or start over with --force \(under Snakemake: delete "
    with pytest.raises(CheckpointMismatchError, match=says):
        pretrain(data, out, TINY, settings, seed=1, device="cpu", ckpt_dir=ckpt)
    digests = sha256_file(data), sha256_file(other)
    says = f"frames sha256 {digests[0]} in the checkpoint, {digests[1]} given"
    with pytest.raises(CheckpointMismatchError, match=says):
        pretrain(other, out, TINY, settings, seed=0, device="cpu", ckpt_dir=ckpt)  # issue 20.1: frames bound
    pretrain(data, out, TINY, settings, seed=1, device="cpu", ckpt_dir=ckpt, stop_after_epochs=1, force=True)
    assert "starting over as --force asks" in capsys.readouterr().err
    (ckpt / "epoch-0001" / "state.pt").write_bytes(b"half a file")  # the only state, now corrupt
    with pytest.raises(NoIntactCheckpointError, match=r"no intact pretraining state .* delete .* to start afresh"):
        pretrain(data, out, TINY, settings, seed=1, device="cpu", ckpt_dir=ckpt)
    assert not out.exists()
    shutil.rmtree(ckpt)  # the remedy the line names
    pretrain(data, out, TINY, settings, seed=1, device="cpu", ckpt_dir=ckpt)
    assert load_mae(out)[1]["extra"]["epoch"] == 2
    assert load_mae(out)[1]["extra"]["frames"]["sha256"] == digests[0]


def test_game_and_dataset_checks(tmp_path):
    data = write_dataset(tmp_path / "frames.npz", 32)
    with pytest.raises(ValueError, match=r"Seaquest was given but .* holds MsPacman"):
        pretrain(data, tmp_path / "m.pt", TINY, tiny_settings(), game="seaquest", device="cpu")
    with pytest.raises(ValueError, match="fewer than one batch"):
        pretrain(data, tmp_path / "m.pt", TINY, tiny_settings(batch_size=64), device="cpu")
    with pytest.raises(ValueError, match="mask_ratio"):
        pretrain(data, tmp_path / "m.pt", TINY, tiny_settings(mask_ratio=1.0), device="cpu")
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 a truncated archive")
    with pytest.raises(ValueError, match=r"junk\.npz"):
        pretrain(tmp_path / "junk.npz", tmp_path / "m.pt", TINY, tiny_settings(), device="cpu")
    assert not (tmp_path / "m.pt").exists()


def test_cli_refuses_to_overwrite_and_runs_with_force(tmp_path, capsys):
    data = write_dataset(tmp_path / "frames.npz", 32)
    out = tmp_path / "model.pt"
    out.write_bytes(b"an earlier model")
    args = ["pretrain", "--frames", str(data), "--out", str(out), "--seed", "0", "--threads", "1",
            "--device", "cpu", "--set", "pretrain.epochs=1", "--set", "pretrain.batch_size=16"]
    for pair in TINY_SET:
        args += ["--set", pair]
    assert cli.main(args) == 2
    assert "--force" in capsys.readouterr().err
    assert out.read_bytes() == b"an earlier model"
    assert cli.main([*args, "--force"]) == 0
    meta = load_mae(out, game="ms_pacman", arch=TINY)[1]
    assert meta["extra"]["pretrain"]["epochs"] == 1 and meta["extra"]["threads"] == 1
    assert cli.main([*args, "--set", "pretrain.epoch=1", "--force"]) == 2
    assert "unknown setting 'epoch'" in capsys.readouterr().err


# ------------------------------------------------------------------------------------- number formats


def test_a_reduced_format_the_device_cannot_use_is_refused_before_training(tmp_path, monkeypatch):
    from spirl import devices

    monkeypatch.setattr(devices, "probe", lambda: devices.Hardware("AVX2", frozenset({"avx2"})))
    data = write_dataset(tmp_path / "frames.npz", 16)
    for precision, words in (("bfloat16", "runs slower than float32"), ("float16", "CUDA only")):
        with pytest.raises(devices.PrecisionError, match=words):
            pretrain(data, tmp_path / precision / "model.pt", TINY, tiny_settings(precision=precision), device="cpu")
        assert not (tmp_path / precision).exists()  # nothing written


def test_bfloat16_autocast_step_keeps_float32_weights_and_is_close_to_float32():
    from spirl.mae.optim import build_optimizer
    from spirl.mae.pretrain import pretrain_step

    imgs = torch.from_numpy(structured_frames(8)).permute(0, 3, 1, 2).float() / 255
    settings = tiny_settings()
    losses, weights = {}, {}
    for dtype in (torch.float32, torch.bfloat16):
        torch.manual_seed(0)
        model = MAE(TINY)
        opt = build_optimizer(model, settings)
        losses[dtype] = float(pretrain_step(model, opt, imgs, settings, torch.Generator().manual_seed(1), dtype=dtype))
        assert all(p.dtype == torch.float32 for p in model.parameters())  # master weights stay float32
        weights[dtype] = model.decoder_pred.weight.detach().clone()
    assert losses[torch.bfloat16] == pytest.approx(losses[torch.float32], rel=0.02)
    assert not torch.equal(weights[torch.bfloat16], weights[torch.float32])  # it did run in another format
    # Adam's first step moves a weight by about lr either way: a gradient of another sign moves it 2 lr away.
    torch.testing.assert_close(weights[torch.bfloat16], weights[torch.float32], atol=2.2 * peak_lr(settings), rtol=0.0)


def test_a_warning_signal_keeps_the_epochs_done_and_exits_75(tmp_path, monkeypatch, capsys):
    import os
    import signal

    from spirl import preempt
    from spirl.mae import pretrain as pretrain_module

    saved = {sig: signal.getsignal(sig) for sig in preempt.SIGNALS}
    data = write_dataset(tmp_path / "frames.npz", 32)
    args = ["pretrain", "--frames", str(data), "--seed", "3", "--threads", "1", "--device", "cpu",
            "--set", "pretrain.epochs=2", "--set", "pretrain.batch_size=16", "--set", "pretrain.warmup_epochs=1"]
    for pair in TINY_SET:
        args += ["--set", pair]
    assert cli.main([*args, "--out", str(tmp_path / "a" / "model.pt")]) == 0
    step, calls = pretrain_module.pretrain_step, []

    def step_then_signal(*a, **kw):  # the warning arrives during epoch 2 (2 iterations per epoch)
        calls.append(1)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGUSR1)
        return step(*a, **kw)

    monkeypatch.setattr(pretrain_module, "pretrain_step", step_then_signal)
    out = tmp_path / "b" / "model.pt"
    try:
        assert cli.main([*args, "--out", str(out)]) == preempt.EXIT_RESUME
        assert capsys.readouterr().err.strip().splitlines()[-1] == (
            "spirl pretrain: stopped by SIGUSR1: 1 of 2 epochs are saved (epoch 2 is dropped); the same command "
            "resumes from epoch 2")
        assert not out.exists()
        monkeypatch.setattr(pretrain_module, "pretrain_step", step)
        assert cli.main([*args, "--out", str(out)]) == 0
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
        preempt.reset()
    a, _ = load_mae(tmp_path / "a" / "model.pt")
    b, _ = load_mae(out)
    assert all(torch.equal(wa, wb) for wa, wb in zip(a.state_dict().values(), b.state_dict().values()))
