"""spirl.guards: one writer per output (an OS lock), inputs never overwritten, a writable output, memory bounds."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from spirl import cli
from spirl.guards import (
    OutputBusyError,
    OutputIsInputError,
    TooLargeError,
    lock_file,
    output_lock,
    refuse_beyond_memory,
    refuse_output_in_inputs,
    refuse_unwritable,
)

HOLD = ("import sys, time\nfrom spirl.guards import output_lock\n"
        "with output_lock(sys.argv[1], 'spirl train'):\n    print('held', flush=True)\n    time.sleep(120)\n")


def _holder(output: Path) -> subprocess.Popen:
    """Another process that holds ``output``'s lock until it is killed."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(output)], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_writer_is_refused_naming_the_first_and_a_kill_9_frees_the_output(tmp_path, capsys):
    out = tmp_path / "runs" / "de_rainbow" / "Seaquest" / "0"
    holder = _holder(out)
    try:
        says = rf"is being written by spirl train \(PID {holder.pid} on host {socket.gethostname()}\)"
        with pytest.raises(OutputBusyError, match=says), output_lock(out, "spirl train"):
            pass
        # through the command line: one line, exit code 2, and the run is not touched
        (tmp_path / "preset.yaml").write_text(yaml.safe_dump(
            {"games": ["Seaquest"], "budget": {"env_steps": 60, "eval_points": 1, "eval_episodes": 1,
                                               "checkpoint_every": 50}}))
        code = cli.main(["train", "--config", str(tmp_path / "preset.yaml"), "--method", "de_rainbow", "--game",
                         "Seaquest", "--seed", "0", "--out", str(out), "--set", "learner.warmup_steps=10"])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and f"PID {holder.pid} on host" in err[-1] and "one writer per output" in err[-1], err
        assert not out.exists()
    finally:
        holder.send_signal(signal.SIGKILL)  # the kernel drops its lock: nothing stale is left to remove
        holder.wait()
    with output_lock(out, "spirl train") as path:
        assert path == lock_file(out) == out.parent / ".0.spirl-lock"


def test_a_second_pretraining_of_the_same_model_is_refused(tmp_path, capsys):
    import numpy as np

    from spirl.atari.frames import save_frames

    save_frames(tmp_path / "f.npz", np.zeros((4, 96, 96, 3), np.uint8), {"game": "Seaquest", "frames": 4, "seed": 0})
    out = tmp_path / "mae" / "model.pt"
    holder = _holder(out)
    try:
        code = cli.main(["pretrain", "--frames", str(tmp_path / "f.npz"), "--out", str(out), "--device", "cpu",
                         "--set", "pretrain.batch_size=2", "--set", "pretrain.epochs=1"])
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and f"{out} is being written by spirl train (PID {holder.pid} on host" in err[-1], err
    assert not out.exists() and not (out.parent / ".ckpt").exists()


def test_an_output_that_is_or_is_inside_an_input_is_refused(tmp_path):
    frames = tmp_path / "frames.npz"
    with pytest.raises(OutputIsInputError, match=f"--out {frames} is the input --frames {frames}"):
        refuse_output_in_inputs({"--out": frames}, {"--frames": frames})
    with pytest.raises(OutputIsInputError, match="is inside the input --runs"):
        refuse_output_in_inputs({"--out": tmp_path / "runs" / "scores.csv"}, {"--runs": [tmp_path / "runs"]})
    refuse_output_in_inputs({"--out": tmp_path / "scores.csv"}, {"--runs": [tmp_path / "runs"], "--mae": None})


def test_an_unwritable_output_is_found_before_any_work(tmp_path):
    refuse_unwritable(tmp_path / "new" / "folder")
    with pytest.raises(PermissionError, match="/proc/sys is read-only or not writable"):
        refuse_unwritable("/proc/sys/spirl/run")  # read-only even for root


def test_a_request_beyond_the_machine_is_refused_with_its_estimate():
    refuse_beyond_memory({"replay": 1 << 20}, "a run", "lower it")
    with pytest.raises(TooLargeError, match=r"a run needs at least 1.0 PiB of memory \(replay 1.0 PiB\), more than "
                                            r"this machine's .*; lower it"):
        refuse_beyond_memory({"replay": 1 << 50, "batch": 1}, "a run", "lower it")
