"""Warning signals (SIGTERM, SIGUSR1): a run keeps a checkpoint, says so in one line, exits 75, resumes exactly."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import yaml

from spirl import preempt
from spirl.cli import main
from spirl.rl.learner import RainbowLearner
from spirl.rl.trainer import Trainer

GAME = "MsPacman"
COMMON = ["learner.warmup_steps=100", "learner.batch_size=8", "agent.hidden_size=32", "protocol.max_episode_steps=120",
          "learner.target_update_period=50"]


@pytest.fixture(autouse=True)
def handlers():
    """Put the test process's own SIGTERM / SIGUSR1 handlers back after each test."""
    saved = {sig: signal.getsignal(sig) for sig in preempt.SIGNALS}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)
    preempt.reset()


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("preempt")
    preset = {"games": [GAME], "budget": {"env_steps": 300, "eval_points": 2, "eval_episodes": 2,
                                         "checkpoint_every": 100}}
    (root / "preset.yaml").write_text(yaml.safe_dump(preset))
    return root


def _train(work: Path, name: str) -> int:
    args = ["train", "--config", str(work / "preset.yaml"), "--method", "de_rainbow", "--game", GAME, "--seed", "0",
            "--out", str(work / "runs" / name), "--ckpt-dir", str(work / "ckpt" / name), "--threads", "1"]
    for s in COMMON:
        args += ["--set", s]
    return main(args)


@pytest.fixture(scope="module")
def reference(work) -> Path:
    """The same run, uninterrupted."""
    assert _train(work, "reference") == 0
    return work / "runs" / "reference"


@pytest.mark.parametrize("sig", preempt.SIGNALS)
def test_a_warning_signal_only_sets_a_flag_until_a_safe_point(sig):
    preempt.install()
    assert preempt.requested() is None
    preempt.check("nothing")  # no signal: goes on
    os.kill(os.getpid(), sig)  # the process is not ended: the handler notes it
    assert preempt.requested() == sig
    with pytest.raises(preempt.PreemptionError, match=f"stopped by {signal.Signals(sig).name}: state kept"):
        preempt.check("state kept")


def test_a_signalled_run_keeps_its_step_says_so_exits_75_and_resumes_bit_identical(work, reference, monkeypatch,
                                                                                capsys):
    learn = Trainer._learn

    def learn_then_signal(self):  # SLURM's SIGTERM arrives during step 130 (no checkpoint is due there)
        learn(self)
        if self.step == 130:
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(Trainer, "_learn", learn_then_signal)
    assert _train(work, "signalled") == preempt.EXIT_RESUME == 75
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("spirl train: stopped by SIGTERM: checkpoint at step 130 of 300 in ")
    assert err[-1].endswith("; the same command resumes from it")
    ckpt = work / "ckpt" / "signalled"
    assert (ckpt / "step-000000130" / "MANIFEST").is_file()
    assert not (work / "runs" / "signalled" / "eval.csv").exists()
    monkeypatch.setattr(Trainer, "_learn", learn)
    assert _train(work, "signalled") == 0
    out = work / "runs" / "signalled"
    assert (out / "eval.csv").read_bytes() == (reference / "eval.csv").read_bytes()
    assert (out / "train_log.csv").read_text() == (reference / "train_log.csv").read_text()


def test_a_signal_during_an_evaluation_resumes_from_the_last_checkpoint(work, reference, monkeypatch, capsys):
    act = RainbowLearner.act_greedy
    calls = []

    def act_then_signal(self, *args, **kwargs):  # the warning comes during the evaluation at step 150
        calls.append(1)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGUSR1)
        return act(self, *args, **kwargs)

    monkeypatch.setattr(RainbowLearner, "act_greedy", act_then_signal)
    assert _train(work, "in_eval") == 75
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "stopped by SIGUSR1: the evaluation at step 150 was not finished; the run resumes from its last " \
           "checkpoint (step 100 in " in err
    monkeypatch.setattr(RainbowLearner, "act_greedy", act)
    assert _train(work, "in_eval") == 0
    assert (work / "runs" / "in_eval" / "eval.csv").read_bytes() == (reference / "eval.csv").read_bytes()
