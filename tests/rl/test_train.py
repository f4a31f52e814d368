"""Training runs end to end on the real ALE: outputs, kill-and-resume equality, refusals."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from spirl.checkpoints import CheckpointMismatchError, default_checkpoint_dir
from spirl.cli import main
from spirl.config import MAEArch, for_game, load_method
from spirl.mae.checkpoint import save_mae
from spirl.mae.model import MAE
from spirl.rl.evaluate import EVAL_COLUMNS
from spirl.rl.train import train
from spirl.rl.trainer import RunError, Trainer

GAME = "MsPacman"
# Tiny budget: 300 env steps, 100 of random warm-up, updates at batch 8, 2 evaluations of 2 short games.
COMMON = ["learner.warmup_steps=100", "learner.batch_size=8", "agent.hidden_size=32", "protocol.max_episode_steps=120",
          "learner.target_update_period=50"]
TINY_MAE = {"embed_dim": 16, "depth": 1, "num_heads": 2, "decoder_embed_dim": 16, "decoder_depth": 1,
            "decoder_num_heads": 2}
SPIRL = [*COMMON, "budget.env_steps=150", "budget.eval_points=1", "protocol.max_episode_steps=25",
         "agent.proj_dim=8", "agent.attention_heads=2", "agent.attention_mlp=16", "agent.padding=mask",
         *(f"mae.{k}={v}" for k, v in TINY_MAE.items())]


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("train")
    preset = {"games": [GAME], "budget": {"env_steps": 300, "eval_points": 2, "eval_episodes": 2,
                                         "checkpoint_every": 100}}
    (root / "preset.yaml").write_text(yaml.safe_dump(preset))
    torch.manual_seed(0)
    arch = MAEArch(**TINY_MAE)
    save_mae(root / "mae_mspacman.pt", MAE(arch), game=GAME)
    save_mae(root / "mae_seaquest.pt", MAE(arch), game="Seaquest")
    return root


@pytest.fixture(scope="module")
def de_run(work) -> Path:
    """One uninterrupted DE-Rainbow run, shared by the output and resume tests."""
    out = work / "runs" / "de_rainbow"
    train(work / "preset.yaml", "de_rainbow", GAME, 0, out, overrides=COMMON, quiet=True)
    return out


def _check_outputs(out: Path, method: str, steps: list[int], episodes: int) -> dict:
    ev = pd.read_csv(out / "eval.csv")
    assert tuple(ev.columns) == EVAL_COLUMNS
    assert ev["step"].tolist() == steps and (ev["episodes"] == episodes).all()
    for _, row in ev.iterrows():
        scores = [float(x) for x in str(row["scores"]).split(";")]
        assert len(scores) == episodes
        assert row["mean"] == pytest.approx(sum(scores) / episodes)
        assert row["min"] == min(scores) and row["max"] == max(scores)
    info = json.loads((out / "run.json").read_text())
    assert info["method"] == method and info["game"] == GAME and info["seed"] == 0
    assert info["updates"] == info["plan"]["expected_updates"]
    for key in ("settings", "versions", "git_commit", "device", "threads", "wall_time_s", "steps_per_s",
                "peak_rss_mb"):
        assert key in info
    assert (out / "train_log.csv").is_file()
    return info


def test_de_rainbow_run_writes_valid_outputs(de_run):
    info = _check_outputs(de_run, "de_rainbow", [150, 300], 2)
    assert info["settings"]["protocol"]["frame_size"] == 84 and info["settings"]["agent"]["encoder"] == "de_cnn"
    assert info["updates"] == 200 and info["plan"]["warmup_steps"] == 100
    log = pd.read_csv(de_run / "train_log.csv")
    assert log["episode_return"].notna().sum() == 2  # 120-step games in a 300-step run
    assert log["loss"].notna().all()  # mean loss of the updates since the previous row
    # the step checkpoints are gone, the trained network stays for later analysis
    ckpt = Path(info["checkpoint_dir"])
    assert not list(ckpt.glob("step-*")) and (ckpt / "final.pt").is_file()


def test_final_eval_episodes_changes_only_the_last_evaluation(work, de_run):
    out = work / "runs" / "de_rainbow_final"
    train(work / "preset.yaml", "de_rainbow", GAME, 0, out, overrides=[*COMMON, "budget.final_eval_episodes=3"],
          quiet=True)
    base, more = pd.read_csv(de_run / "eval.csv"), pd.read_csv(out / "eval.csv")
    assert base["episodes"].tolist() == [2, 2] and more["episodes"].tolist() == [2, 3]
    assert more.iloc[0].equals(base.iloc[0])  # the same training and the same first evaluation
    # The last evaluation's first two environments are the same as before (eval_seeds extends), one more is added.
    assert more.iloc[1]["scores"].split(";")[:2] == base.iloc[1]["scores"].split(";")
    info = json.loads((out / "run.json").read_text())
    assert (info["plan"]["eval_episodes"], info["plan"]["final_eval_episodes"]) == (2, 3)
    assert (out / "train_log.csv").read_text() == (de_run / "train_log.csv").read_text()


def test_de_rainbow_p_warms_up_for_the_pretraining_frames_and_extends_the_budget(work):
    out = work / "runs" / "de_rainbow_p"
    # 100 warm-up frames: total = 1700 + 100 - 1600 = 200 env steps, so the learning steps match DE-Rainbow's
    train(work / "preset.yaml", "de_rainbow_p", GAME, 0, out, pretrain_frames=100, quiet=True,
          overrides=[*COMMON, "budget.env_steps=1700", "budget.eval_points=1"])
    info = _check_outputs(out, "de_rainbow_p", [200], 2)
    assert info["plan"]["warmup_steps"] == 100 and info["plan"]["total_env_steps"] == 200
    assert info["plan"]["replay_capacity"] == 100_000 and info["updates"] == 100


@pytest.fixture(scope="module")
def spirl_run(work) -> Path:
    """One uninterrupted SPIRL run (tiny MAE, error cache on as by default), shared by the run and resume tests."""
    out = work / "runs" / "spirl"
    train(work / "preset.yaml", "spirl", GAME, 0, out, mae=work / "mae_mspacman.pt", overrides=SPIRL, quiet=True)
    return out


def test_spirl_run_with_a_tiny_mae(spirl_run):
    info = _check_outputs(spirl_run, "spirl", [150], 2)
    assert info["settings"]["saliency"]["error_cache"] is True
    assert info["plan"]["k_max"] == 43 and info["mae"]["game"] == GAME
    assert info["settings"]["agent"]["padding"] == "mask"


def test_a_killed_spirl_run_resumes_to_the_same_numbers_with_its_error_cache(work, spirl_run):
    # The cache is emptied at every checkpoint, so the resumed run (empty cache at step 100) repeats the other.
    out, ckpt = work / "runs" / "spirl_killed", work / "ckpt" / "spirl_killed"
    assert train(work / "preset.yaml", "spirl", GAME, 0, out, mae=work / "mae_mspacman.pt", overrides=SPIRL,
                 ckpt_dir=ckpt, stop_after_steps=120, quiet=True) is None
    info = train(work / "preset.yaml", "spirl", GAME, 0, out, mae=work / "mae_mspacman.pt", overrides=SPIRL,
                 ckpt_dir=ckpt, quiet=True)
    assert info["sessions"] == 2
    assert (out / "eval.csv").read_bytes() == (spirl_run / "eval.csv").read_bytes()
    assert (out / "train_log.csv").read_text() == (spirl_run / "train_log.csv").read_text()


def test_a_spirl_run_never_resumes_with_another_mae_and_says_both_digests(work, tmp_path):
    """Issue 20.1: an MAE of the same game and architecture, other weights, replaced between two sessions."""
    from spirl.integrity import sha256_file

    torch.manual_seed(1)
    other = tmp_path / "other_mae.pt"
    save_mae(other, MAE(MAEArch(**TINY_MAE)), game=GAME)
    out, ckpt = tmp_path / "run", tmp_path / "ckpt"
    assert train(work / "preset.yaml", "spirl", GAME, 0, out, mae=work / "mae_mspacman.pt", overrides=SPIRL,
                 ckpt_dir=ckpt, stop_after_steps=120, quiet=True) is None
    first, second = sha256_file(work / "mae_mspacman.pt"), sha256_file(other)
    with pytest.raises(CheckpointMismatchError, match=f"MAE sha256 {first} in the checkpoint, {second} given"):
        train(work / "preset.yaml", "spirl", GAME, 0, out, mae=other, overrides=SPIRL, ckpt_dir=ckpt, quiet=True)
    assert (ckpt / "step-000000100" / "MANIFEST").is_file()  # refused: nothing removed
    info = train(work / "preset.yaml", "spirl", GAME, 0, out, mae=other, overrides=SPIRL, ckpt_dir=ckpt, quiet=True,
                 force=True)  # --force: starts over with the new MAE, never mixes the two
    assert info["sessions"] == 1 and info["inputs"] == {"MAE": second}
    assert json.loads((out / "run.json").read_text())["eval_csv_sha256"] == sha256_file(out / "eval.csv")


def test_k_statistics_of_another_game_edited_or_of_another_mae_are_refused(work, tmp_path):
    """Issue 20.2: k_hist.csv carries its game and its MAE's digest, and its own digest beside it."""
    from spirl.integrity import IntegrityError, sha256_file
    from spirl.saliency.kstats import KHistError, k_histogram, write_k_hist

    hist = k_histogram(np.array([20, 30, 30, 40]))
    mae_digest = sha256_file(work / "mae_mspacman.pt")
    auto = [*SPIRL, "saliency.max_ratio=auto"]
    cases = {"seaquest.csv": ("Seaquest", mae_digest), "other_mae.csv": (GAME, "0" * 64),
             "edited.csv": (GAME, mae_digest)}
    for name, (game, digest) in cases.items():
        write_k_hist(tmp_path / name, hist, game=game, mae_sha256=digest)
    edited = tmp_path / "edited.csv"
    edited.write_text(edited.read_text().replace(",0.3,", ",0.05,"))  # the ideal ratio changed by hand
    for name, error, says in [("seaquest.csv", KHistError, "of game Seaquest, not of this run's MsPacman"),
                              ("other_mae.csv", KHistError, f"MAE sha256 {'0' * 64}, not of this run's {mae_digest}"),
                              ("edited.csv", IntegrityError, "does not match its sha256")]:
        with pytest.raises(error, match=says):
            train(work / "preset.yaml", "spirl", GAME, 0, tmp_path / "run", mae=work / "mae_mspacman.pt",
                  k_hist=tmp_path / name, overrides=auto, quiet=True)
    assert not (tmp_path / "run").exists()


def _nan_priorities(step: Path) -> None:
    """Give an intact-looking checkpoint replay priorities with NaN, its manifest rewritten to match."""
    from spirl.integrity import MANIFEST, write_manifest

    with np.load(step / "replay.npz") as z:
        arrays = {k: z[k] for k in z.files}
    arrays["tree"][-1] = np.nan
    with open(step / "replay.npz", "wb") as f:
        np.savez(f, **arrays)
    write_manifest(step / MANIFEST, [step / "replay.npz", step / "state.pt"])


@pytest.mark.parametrize("damage", ["nan-priorities", "manifest-cut"])
def test_a_checkpoint_that_fails_to_load_for_any_reason_falls_back_and_ends_identical(
        work, killed, de_run, tmp_path, corrupt, capsys, damage):
    """Issue 20.3: a manifest cut short (state.pt unverified) or NaN priorities behind a true manifest."""
    ckpt = tmp_path / "ckpt"
    shutil.copytree(killed, ckpt)
    newest = ckpt / "step-000000200"
    if damage == "nan-priorities":
        _nan_priorities(newest)
    else:
        manifest = newest / "MANIFEST"
        manifest.write_text(next(x for x in manifest.read_text().splitlines() if x.endswith("replay.npz")) + "\n")
        corrupt(newest / "state.pt", "flip50")
    out = tmp_path / "out"
    info = train(work / "preset.yaml", "de_rainbow", GAME, 0, out, overrides=COMMON, ckpt_dir=ckpt, quiet=True)
    assert "resuming from step-000000100" in capsys.readouterr().err
    assert info["sessions"] == 2 and (out / "eval.csv").read_bytes() == (de_run / "eval.csv").read_bytes()


def test_a_kill_while_the_outputs_are_written_resumes_without_force(work, killed, de_run, tmp_path):
    """Issue 20.7: eval.csv written, run.json not yet: the same command finishes the run."""
    ckpt, out = tmp_path / "ckpt", tmp_path / "out"
    shutil.copytree(killed, ckpt)
    out.mkdir()
    (out / "eval.csv").write_text((de_run / "eval.csv").read_text()[:40])  # as a kill left it
    info = train(work / "preset.yaml", "de_rainbow", GAME, 0, out, overrides=COMMON, ckpt_dir=ckpt, quiet=True)
    assert info["sessions"] == 2 and (out / "eval.csv").read_bytes() == (de_run / "eval.csv").read_bytes()


def test_checkpoints_left_by_a_kill_after_the_outputs_are_removed_by_the_next_run(work, killed, de_run, tmp_path,
                                                                                  capsys):
    """Issue 20.9: killed after run.json, before the checkpoints were removed: the next command removes them."""
    ckpt, out = tmp_path / "ckpt", tmp_path / "out"
    shutil.copytree(killed, ckpt)
    shutil.copytree(de_run, out)
    with pytest.raises(RunError, match="already holds a finished run"):
        train(work / "preset.yaml", "de_rainbow", GAME, 0, out, overrides=COMMON, ckpt_dir=ckpt, quiet=True)
    assert not list(ckpt.glob("step-*")) and "removed 2 checkpoint(s) of the finished run" in capsys.readouterr().err


def test_a_nan_loss_exits_1_as_the_docs_say(work, tmp_path, capsys):
    """Issue 20.9: the work failed while running (docs/reliability.md#exit-codes), not a refusal."""
    code = main(["train", "--config", str(work / "preset.yaml"), "--method", "de_rainbow", "--game", GAME,
                 "--seed", "0", "--out", str(tmp_path / "run"), *(f"--set={c}" for c in COMMON),
                 "--set=learner.lr=1e38", "--set=learner.grad_clip=1e38"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and "the training loss of de_rainbow on MsPacman became nan" in err[-1], err


def test_spirl_refuses_to_start_without_an_mae_or_with_another_games(work, capsys):
    with pytest.raises(RunError, match="needs the MAE pretrained on MsPacman"):
        train(work / "preset.yaml", "spirl", GAME, 0, work / "runs" / "nomae", overrides=SPIRL, quiet=True)
    with pytest.raises(ValueError, match="trained on Seaquest, not on MsPacman"):
        train(work / "preset.yaml", "spirl", GAME, 0, work / "runs" / "othermae", mae=work / "mae_seaquest.pt",
              overrides=SPIRL, quiet=True)
    # through the CLI: one clear line, exit code 2 (refused before any work)
    code = main(["train", "--config", str(work / "preset.yaml"), "--method", "spirl", "--game", GAME, "--seed", "0",
                 "--out", str(work / "runs" / "nomae")])
    assert code == 2 and "needs the MAE pretrained on MsPacman" in capsys.readouterr().err


def test_killed_run_resumes_to_the_same_eval_csv(work, de_run):
    out, ckpt = work / "runs" / "killed", work / "ckpt" / "killed"
    # "killed" after step 250: checkpoints exist at 100 and 200, the evaluation at 150 was done
    assert train(work / "preset.yaml", "de_rainbow", GAME, 0, out, overrides=COMMON, ckpt_dir=ckpt,
                 stop_after_steps=250, quiet=True) is None
    # the two newest checkpoints are kept, each with its sha256 manifest
    assert sorted(p.name for p in ckpt.glob("step-*")) == ["step-000000100", "step-000000200"]
    assert (ckpt / "step-000000200" / "MANIFEST").is_file() and not (out / "eval.csv").exists()
    # a checkpoint of other settings is refused, naming the setting, and left untouched
    with pytest.raises(CheckpointMismatchError, match=r"learner\.lr: checkpoint 0\.0001 vs this run 0\.0003"):
        train(work / "preset.yaml", "de_rainbow", GAME, 0, out, overrides=[*COMMON, "learner.lr=3e-4"],
              ckpt_dir=ckpt, quiet=True)
    assert (ckpt / "step-000000200" / "MANIFEST").is_file()
    # started again with the same arguments: continues from step 200 and ends where the uninterrupted run ended
    info = train(work / "preset.yaml", "de_rainbow", GAME, 0, out, overrides=COMMON, ckpt_dir=ckpt, quiet=True)
    assert info["sessions"] == 2
    assert (out / "eval.csv").read_bytes() == (de_run / "eval.csv").read_bytes()
    resumed = torch.load(ckpt / "final.pt", weights_only=False)["online"]
    reference = torch.load(default_checkpoint_dir(de_run) / "final.pt", weights_only=False)["online"]
    assert all(torch.equal(resumed[k], reference[k]) for k in reference)
    assert (out / "train_log.csv").read_text() == (de_run / "train_log.csv").read_text()


def test_finished_outputs_are_not_overwritten_without_force(work, de_run):
    before = (de_run / "eval.csv").read_bytes()
    with pytest.raises(RunError, match="already holds a finished run"):
        train(work / "preset.yaml", "de_rainbow", GAME, 0, de_run, overrides=COMMON, quiet=True)
    assert (de_run / "eval.csv").read_bytes() == before


def test_acting_stacks_equal_the_stacks_the_replay_rebuilds(work, tmp_path):
    """Zeros at reset and after every train-time life loss, on both sides (Breakout loses lives fast)."""
    settings = load_method(work / "preset.yaml", "de_rainbow")
    settings.learner.warmup_steps = 400  # random actions throughout: no learning needed here
    settings.budget.env_steps = 400
    plan = for_game(settings, "Breakout")
    trainer = Trainer(plan, 0, tmp_path / "out", tmp_path / "ckpt")
    trainer.start()
    acted = []
    for _ in range(400):
        acted.append(trainer.obs.stack.array.copy())  # the state in which the next action is taken
        trainer._env_step()
    replay = trainer.replay
    assert replay.terminal.sum() >= 3  # several life losses (and game overs) inside the run
    n = plan.method.learner.n_step
    batch = replay.sample(256, 0.4)
    assert len(np.unique(batch.index)) > 100
    for i, t in enumerate(batch.index):
        assert np.array_equal(batch.obs[i], acted[t])
        if t + n < len(acted):
            assert np.array_equal(batch.next_obs[i], acted[t + n])
    zeroed = [t for t in range(1, 400) if replay.terminal[t - 1]]
    assert all((acted[t][:3] == 0).all() and acted[t][3].any() for t in zeroed)


@pytest.fixture(scope="module")
def killed(work) -> Path:
    """The checkpoints of a run "killed" after step 250: step-000000100 and step-000000200."""
    ckpt = work / "ckpt" / "corrupt-source"
    assert train(work / "preset.yaml", "de_rainbow", GAME, 0, work / "runs" / "corrupt-source", overrides=COMMON,
                 ckpt_dir=ckpt, stop_after_steps=250, quiet=True) is None
    return ckpt


@pytest.mark.parametrize("how", ["flip50", "flip90", "truncate", "empty", "garbage", "replay-flip50"])
def test_a_corrupt_checkpoint_falls_back_to_the_previous_one(killed, tmp_path, corrupt, how, capsys):
    from spirl.checkpoints import TRAINING, CheckpointStore

    ckpt = tmp_path / "ckpt"
    shutil.copytree(killed, ckpt)
    name = "replay.npz" if how.startswith("replay") else "state.pt"
    corrupt(ckpt / "step-000000200" / name, how.removeprefix("replay-"))
    assert CheckpointStore(ckpt, TRAINING).resume(lambda path, state: None) == ckpt / "step-000000100"
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"step-000000200/{name} does not match its sha256" in err[0], err
    assert "resuming from step-000000100" in err[0]


def test_a_run_resumed_from_the_fallback_ends_bit_identical(work, killed, de_run, tmp_path, corrupt):
    ckpt = tmp_path / "ckpt"
    shutil.copytree(killed, ckpt)
    corrupt(ckpt / "step-000000200" / "state.pt", "flip50")
    out = tmp_path / "out"
    info = train(work / "preset.yaml", "de_rainbow", GAME, 0, out, overrides=COMMON, ckpt_dir=ckpt, quiet=True)
    assert info["sessions"] == 2
    assert (out / "eval.csv").read_bytes() == (de_run / "eval.csv").read_bytes()  # never a silently other result


def test_no_intact_checkpoint_is_one_line_naming_the_remedy(work, killed, tmp_path, corrupt, capsys):
    ckpt = tmp_path / "ckpt"
    shutil.copytree(killed, ckpt)
    corrupt(ckpt / "step-000000200" / "state.pt", "truncate")
    corrupt(ckpt / "step-000000100" / "state.pt", "empty")
    out = tmp_path / "out"
    code = main(["train", "--config", str(work / "preset.yaml"), "--method", "de_rainbow", "--game", GAME,
                 "--seed", "0", "--out", str(out), "--ckpt-dir", str(ckpt), *(f"--set={c}" for c in COMMON)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert f"no intact training checkpoint in {ckpt}" in err[0] and f"delete {ckpt} to start afresh" in err[0]
    assert not out.exists() and len(list(ckpt.glob("step-*"))) == 2  # nothing written, nothing deleted
