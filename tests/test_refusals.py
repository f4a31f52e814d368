"""Every bad input is refused before any work: exit code 2, one line on stderr, no traceback, no file touched.

A table of bad command lines and bad presets (docs/reliability.md#refusals). Each runs through
``spirl.cli.main`` in-process (the dispatcher the console script calls); a few run the real
``python -m spirl`` too. "No file left behind" is checked by a snapshot of the inputs folder and
of the case's working folder (every path, size and mtime) before and after.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from spirl import cli
from spirl.atari.frames import save_frames
from spirl.config import MAEArch
from spirl.mae.checkpoint import save_mae
from spirl.mae.model import MAE

TINY = MAEArch(embed_dim=16, depth=1, num_heads=2, decoder_embed_dim=16, decoder_depth=1, decoder_num_heads=2)
GOOD = {  # a preset check-config accepts; each bad preset below changes one thing
    "games": ["Seaquest"],
    "seeds": 2,
    "budget": {"env_steps": 100, "eval_points": 1, "eval_episodes": 1, "checkpoint_every": 50, "device": "cpu"},
    "comparison": {"de_rainbow": {}},
}


def _with(**changes: object) -> dict:
    out = {**GOOD}
    for key, value in changes.items():
        section, _, sub = key.partition("__")
        if sub:
            out[section] = {**out.get(section, {}), sub: value}
        else:
            out[section] = value
    return out


def _method(section: str, key: str, value: object) -> dict:
    return {**GOOD, "methods": {"de_rainbow": {section: {key: value}}}}


# name -> preset (a dict, or raw YAML text), and the fragment its one line must contain
BAD_PRESETS: dict[str, tuple[object, str]] = {
    "empty file": ("", "the preset is empty"),
    "one seed": (_with(seeds=[3]), "has 1 seed on Seaquest; the statistics need at least 2"),
    "env_steps 0": (_with(budget__env_steps=0), "budget.env_steps: must be >= 1, got 0"),
    "device tpu": (_with(budget__device="tpu"), "'tpu' is not a device"),
    "threads 0": (_with(threads=0), "threads: must be >= 1, got 0"),
    "checkpoint_every -1": (_with(budget__checkpoint_every=-1), "budget.checkpoint_every: must be >= 1, got -1"),
    "eval_epsilon 5": (_with(budget__eval_epsilon=5), "budget.eval_epsilon: must be in [0, 1], got 5"),
    "lr -1": (_method("learner", "lr", -1), "methods.de_rainbow.learner.lr: must be > 0, got -1"),
    "gamma 2": (_method("learner", "gamma", 2), "methods.de_rainbow.learner.gamma: must be in [0, 1], got 2"),
    "v_min above v_max": (_method("agent", "v_min", 20), "agent.v_min (20.0) must be below agent.v_max"),
    "betas of one number": (_with(pretrain__betas=[0.9]), "pretrain.betas: expected a list of 2 numbers"),
    "max_ratio 1.5": (_method("saliency", "max_ratio", 1.5), "saliency.max_ratio: must be in (0, 1], got 1.5"),
    "heads do not divide": ({**GOOD, "comparison": {"spirl": {}}, "mae_variants": {"paper": {"num_heads": 5}}},
                            "mae.embed_dim (64) must be a multiple of mae.num_heads (5)"),
    "YAML syntax error": ("games: [Seaquest\nseeds: 2\n", "bad.yaml:2: not valid YAML (expected ',' or ']'"),
    "a method defined twice": ("games: [Seaquest]\nseeds: 2\nmethods:\n  m: {base: de_rainbow}\n"
                               "  m: {base: spirl}\ncomparison: {m: {}}\n", "bad.yaml:5: 'm' is defined twice"),
    "a study variant defined twice": (
        "games: [Seaquest]\nseeds: 2\nstudies:\n  s:\n    variants:\n      a: de_rainbow\n      b: de_rainbow\n"
        "      a: spirl\n", "bad.yaml:8: 'a' is defined twice (lines 6 and 8)"),
    "unknown key": (_with(gamesz=["Seaquest"]), "unknown key 'gamesz'; did you mean 'games'?"),
    "unknown game": (_with(games=["Pacmann"]), "unknown game 'Pacmann'"),
    "stats.reps 5": (_with(stats={"reps": 5}), "stats.reps: must be >= 10, got 5"),
    "published sha256": (_with(published=[{"name": "X", "url": "https://e.org/x.json", "sha256": "abc"}]),
                         "published[0]: sha256 'abc' is not 64 hex digits"),
    "pretrain_frames 0": (_with(pretrain_frames=0), "pretrain_frames: must be >= 1, got 0"),
    "runs nothing": ({"games": ["Seaquest"]}, "the preset runs nothing"),
    "no MAE variant": (_with(mae_variants={}), "mae_variants: name at least one MAE variant"),
    "a seed twice": (_with(seeds=[0, 0]), "seeds: seed 0 is given twice"),
    "no paper ratio": ({**GOOD, "games": ["Alien"], "comparison": {"spirl": {}}}, "no paper maximal ratio"),
    # issue 20: sizes and ranges that were accepted, or gave a traceback or "out of memory"
    "10**12 seeds": (_with(seeds=10**12), "seeds: a plan of 1,000,000,000,000 seeds needs at least 36.4 TiB"),
    "a seed beyond the range": (_with(seeds=[0, 2**64]), "seeds: seed 18446744073709551616 is beyond the largest"),
    "max_ratio keeps no patch": (_method("saliency", "max_ratio", 0.001),
                                 "saliency.max_ratio (0.001) keeps no patch of 144 (floor(144 x 0.001) = 0)"),
}

SET = ["--set", "learner.warmup_steps=10"]
TRAIN = ["train", "--config", "{inp}/good.yaml", "--method", "de_rainbow", "--game", "Seaquest", "--seed", "0",
         "--out", "{out}/run"]
PRETRAIN = ["pretrain", "--frames", "{inp}/frames.npz", "--out", "{out}/model.pt"]
# argv (with {inp} and {out} folders) -> the fragment of the one line
BAD_COMMANDS: dict[str, tuple[list[str], str]] = {
    "collect 1e11 frames": (["collect", "--game", "Pong", "--n-frames", "100000000000", "--out", "{out}/f.npz"],
                            "collecting 100,000,000,000 frames needs"),
    "collect 0 frames": (["collect", "--game", "Pong", "--n-frames", "0", "--out", "{out}/f.npz"],
                         "argument --n-frames: must be >= 1, got 0"),
    "collect frames not a number": (["collect", "--game", "Pong", "--n-frames", "many", "--out", "{out}/f.npz"],
                                    "expected an integer, got 'many'"),
    "collect unknown game": (["collect", "--game", "Pongg", "--out", "{out}/f.npz"], "unknown game 'Pongg'"),
    "collect over a file": (["collect", "--game", "Pong", "--out", "{inp}/existing.csv"], "pass --force"),
    "collect onto a directory": (["collect", "--game", "Pong", "--out", "{inp}/adir", "--force"], "is a directory"),
    "collect negative seed": (["collect", "--game", "Pong", "--seed", "-1", "--out", "{out}/f.npz"],
                              "argument --seed: must be in [0, 2147483647], got -1"),
    "collect without --game": (["collect", "--out", "{out}/f.npz"], "the following arguments are required: --game"),
    "pretrain malformed list": ([*PRETRAIN, "--set", "pretrain.betas=[0.9,"], "--set pretrain.betas: '[0.9,' is not"),
    "pretrain betas not numbers": ([*PRETRAIN, "--set", "pretrain.betas=[a,b]"],
                                   "pretrain.betas: expected a list of 2 numbers, got ['a', 'b']"),
    "pretrain negative blr": ([*PRETRAIN, "--set", "pretrain.blr=-1"], "pretrain.blr: must be > 0, got -1"),
    "pretrain out is a directory": (["pretrain", "--frames", "{inp}/frames.npz", "--out", "{inp}/adir", "--force"],
                                    "adir is a directory"),
    "pretrain text renamed npz": (["pretrain", "--frames", "{inp}/notes.npz", "--out", "{out}/model.pt"],
                                  "is not a frame dataset"),
    "pretrain missing frames": (["pretrain", "--frames", "{inp}/missing.npz", "--out", "{out}/model.pt"],
                                "does not exist (run 'spirl collect' first)"),
    "pretrain threads 0": ([*PRETRAIN, "--threads", "0"], "argument --threads: must be >= 1, got 0"),
    "pretrain device tpu": ([*PRETRAIN, "--device", "tpu"], "'tpu' is not a device"),
    "bench threads 0": (["bench", "saliency", "--quick", "--threads", "0"], "argument --threads: must be >= 1, got 0"),
    "bench device gpu": (["bench", "run", "--quick", "--device", "gpu"], "'gpu' is not a device"),
    "pretrain learner setting": ([*PRETRAIN, "--set", "learner.lr=1"], "pretraining only reads mae.* and pretrain.*"),
    "train malformed mapping": ([*TRAIN, "--set", "learner.lr={"], "--set learner.lr: '{' is not a YAML value"),
    "train checkpoint_every 0": ([*TRAIN, "--set", "budget.checkpoint_every=0"],
                                 "budget.checkpoint_every: must be >= 1, got 0"),
    "train negative lr": ([*TRAIN, "--set", "learner.lr=-1"], "learner.lr: must be > 0, got -1"),
    "train nan lr": ([*TRAIN, "--set", "learner.lr=.nan"], "learner.lr: expected a finite number"),
    "train unknown setting": ([*TRAIN, "--set", "learner.lrr=1"], "unknown setting 'lrr'; did you mean 'lr'?"),
    "train text renamed pt": ([*TRAIN[:4], "spirl", *TRAIN[5:], "--mae", "{inp}/notes.pt", *SET],
                              "is not a readable MAE checkpoint (not a file torch.save wrote"),
    "train corrupt MAE": ([*TRAIN[:4], "spirl", *TRAIN[5:], "--mae", "{inp}/corrupt.pt", *SET],
                          "corrupt.pt does not match its sha256"),
    "train missing preset": (["train", "--config", "{inp}/none.yaml", *TRAIN[3:]], "no config at"),
    "train unknown method": ([*TRAIN[:4], "nosuch", *TRAIN[5:]], "unknown method 'nosuch'"),
    "train unknown option": ([*TRAIN, "--lrr", "1"], "unrecognized arguments: --lrr 1"),
    "train seed not a number": ([*TRAIN[:8], "x", *TRAIN[9:]], "argument --seed: expected an integer, got 'x'"),
    "saliency-stats xscale 0": (["saliency-stats", "--mae", "{inp}/model.pt", "--frames", "{inp}/frames.npz",
                                 "--out", "{out}/k.csv", "--xscale", "0"], "argument --xscale: must be > 0"),
    "saliency-stats garbage MAE": (["saliency-stats", "--mae", "{inp}/notes.pt", "--frames", "{inp}/frames.npz",
                                    "--out", "{out}/k.csv"], "not a readable MAE checkpoint"),
    "visualize max ratio": (["visualize", "--mae", "{inp}/model.pt", "--frames", "{inp}/frames.npz",
                             "--out", "{out}/v", "--max-ratio", "1.5"], "argument --max-ratio: must be in (0, 1]"),
    "visualize negative index": (["visualize", "--mae", "{inp}/model.pt", "--frames", "{inp}/frames.npz",
                                  "--out", "{out}/v", "--index", "-1"], "argument --index: must be >= 0"),
    "attention 0 frames": (["attention", "--run", "{inp}", "--mae", "{inp}/model.pt", "--out", "{out}/a",
                            "--n-frames", "0"], "argument --n-frames: must be >= 1"),
    "stats too few reps": (["stats", "--scores", "{inp}/existing.csv", "--out", "{out}/s", "--reps", "5"],
                           "argument --reps: must be >= 10, got 5"),
    "aggregate over a file": (["aggregate", "--runs", "{inp}/adir", "--out", "{inp}/existing.csv"], "pass --force"),
    "report over a file": (["report", "--out", "{inp}/existing.csv"], "pass --force"),
    "resolve-method over a file": (["resolve-method", "--config", "{inp}/good.yaml", "--method", "spirl",
                                    "--out", "{inp}/existing.csv"], "pass --force"),
    "fetch-published bad list": (["fetch-published", "--published-config", "{inp}/badpub.yaml", "--out", "{out}/p"],
                                 "sha256 'abc' is not 64 hex digits"),
    "check-config missing": (["check-config", "--config", "{inp}/none.yaml"], "no preset at"),
    # issue 20: an output that is, or is inside, an input is refused with --force too
    "pretrain out is its frames": (["pretrain", "--frames", "{inp}/frames.npz", "--out", "{inp}/frames.npz",
                                    "--force"], "--out {inp}/frames.npz is the input --frames {inp}/frames.npz"),
    "saliency-stats out is its MAE": (["saliency-stats", "--mae", "{inp}/model.pt", "--frames", "{inp}/frames.npz",
                                       "--out", "{inp}/model.pt", "--force"], "is the input --mae"),
    "aggregate out inside its runs": (["aggregate", "--runs", "{inp}", "--out", "{inp}/existing.csv", "--force"],
                                      "--out {inp}/existing.csv is inside the input --runs {inp}"),
    "resolve-method out is its preset": (["resolve-method", "--config", "{inp}/good.yaml", "--method", "spirl",
                                          "--out", "{inp}/good.yaml", "--force"], "is the input --config"),
    "stats out is its scores": (["stats", "--scores", "{inp}/scores.csv", "--out", "{inp}/scores.csv", "--force"],
                                "is the input --scores"),
    "train out inside its MAE folder": ([*TRAIN[:4], "spirl", *TRAIN[5:-1], "{inp}/model.pt", "--mae",
                                         "{inp}/model.pt", "--force"], "is the input --mae"),
    # issue 20: memory estimated before anything is allocated, refused with the estimate
    "train batch 1e9": ([*TRAIN, "--set", "learner.batch_size=1000000000"],
                        "de_rainbow on Seaquest needs at least 205.4 TiB of memory (batch 205.4 TiB)"),
    "train eval_episodes 1e6": ([*TRAIN, "--set", "budget.eval_episodes=1000000"], "(evaluation 2.0 TiB)"),
    "train env_steps 1e12": ([*TRAIN, "--set", "budget.env_steps=1000000000000"],
                             "(replay 6.3 PiB), more than this machine's"),
    "pretrain batch 1e9": ([*PRETRAIN, "--set", "pretrain.batch_size=1000000000"],
                           "a pretraining batch of 1,000,000,000 needs at least"),
    "saliency-stats batch 1e9": (["saliency-stats", "--mae", "{inp}/model.pt", "--frames", "{inp}/frames.npz",
                                  "--out", "{out}/k.csv", "--batch", "1000000000"], "an error-map batch of"),
    "stats reps 1e12": (["stats", "--scores", "{inp}/scores.csv", "--out", "{out}/s", "--reps", "1000000000000"],
                        "1,000,000,000,000 bootstrap resamples of 4 runs needs at least 58.2 TiB"),
    # issue 20: ranges that named no option or were accepted
    "train seed 2**64": ([*TRAIN[:8], str(2**64), *TRAIN[9:]], "argument --seed: must be in [0, 2147483647]"),
    "status stalled-after -5": (["status", "{inp}", "--stalled-after", "-5"], "argument --stalled-after: must be > 0"),
    "train unwritable out": ([*TRAIN[:-1], "/proc/sys/spirl-run"],
                             "cannot write /proc/sys/spirl-run: /proc/sys is read-only or not writable"),
    "check-config a directory": (["check-config", "--config", "{inp}/adir"], "(it is a directory)"),
}


def _fill(argv: list[str], inputs: Path, work: Path) -> list[str]:
    return [a.replace("{inp}", str(inputs)).replace("{out}", str(work)) for a in argv]


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size if p.is_file() else -1, p.stat().st_mtime_ns)
            for p in [root, *root.rglob("*")]}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """Good and bad input files: a preset, frames and an MAE (with their digests), a corrupt MAE, text files
    renamed .pt and .npz, an existing output, a directory, and every bad preset."""
    root = tmp_path_factory.mktemp("inputs")
    (root / "good.yaml").write_text(yaml.safe_dump(GOOD))
    frames = np.random.default_rng(0).integers(0, 255, (8, 96, 96, 3), dtype=np.uint8)
    save_frames(root / "frames.npz", frames, {"game": "Seaquest", "frames": 8, "seed": 0})
    torch.manual_seed(0)
    save_mae(root / "model.pt", MAE(TINY), game="Seaquest")
    save_mae(root / "corrupt.pt", MAE(TINY), game="Seaquest")
    data = bytearray((root / "corrupt.pt").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (root / "corrupt.pt").write_bytes(bytes(data))
    (root / "notes.pt").write_text("my notes, renamed .pt\n")
    (root / "notes.npz").write_text("my notes, renamed .npz\n")
    (root / "existing.csv").write_text("an earlier output\n")
    (root / "scores.csv").write_text("method,game,seed,step,episode,score\n" + "".join(
        f"m,Pong,{seed},100,0,{seed}.0\n" for seed in range(4)))
    (root / "adir").mkdir()
    (root / "badpub.yaml").write_text(yaml.safe_dump(
        {"published": [{"name": "X", "url": "https://e.org/x.json", "sha256": "abc"}]}))
    (root / "presets").mkdir()
    for i, (body, _) in enumerate(BAD_PRESETS.values()):
        folder = root / "presets" / str(i)
        folder.mkdir()
        (folder / "bad.yaml").write_text(body if isinstance(body, str) else yaml.safe_dump(body))
    return root


def _refused(argv: list[str], fragment: str, inputs: Path, work: Path, capsys) -> None:
    before = _snapshot(inputs), _snapshot(work)
    code = cli.main(argv)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1, err
    assert lines[0].startswith(f"spirl {argv[0]}: error: ") and fragment in lines[0], lines[0]
    assert "Traceback" not in err
    assert (_snapshot(inputs), _snapshot(work)) == before  # nothing written, moved or removed


def test_the_table_is_as_long_as_promised():
    assert len(BAD_PRESETS) + len(BAD_COMMANDS) >= 40


@pytest.mark.parametrize("case", list(BAD_PRESETS))
def test_a_bad_preset_is_refused_by_check_config(case, inputs, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    index = list(BAD_PRESETS).index(case)
    _refused(["check-config", "--config", str(inputs / "presets" / str(index) / "bad.yaml")], BAD_PRESETS[case][1],
             inputs, tmp_path, capsys)


@pytest.mark.parametrize("case", list(BAD_COMMANDS))
def test_a_bad_command_line_is_refused_before_any_work(case, inputs, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv, fragment = BAD_COMMANDS[case]
    _refused(_fill(argv, inputs, tmp_path), _fill([fragment], inputs, tmp_path)[0], inputs, tmp_path, capsys)


@pytest.mark.parametrize("case", ["collect 1e11 frames", "pretrain malformed list", "train corrupt MAE"])
def test_the_console_command_refuses_the_same_way(case, inputs, tmp_path):
    argv, fragment = BAD_COMMANDS[case]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "spirl", *_fill(argv, inputs, tmp_path)],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    assert done.returncode == 2 and fragment in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not list(tmp_path.iterdir())


def test_an_old_spelling_still_works_with_one_note(inputs, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = cli.main(["fetch-published", "--config", str(inputs / "badpub.yaml"), "--out", str(tmp_path / "p")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 2  # the note, then the refusal of the bad list it was given
    assert "--config is now --published-config" in err[0] and "not 64 hex digits" in err[1]
