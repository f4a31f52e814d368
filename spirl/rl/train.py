"""``spirl train``: run (or resume) one method on one game with one seed and write its outputs.

``results/runs/{method}/{game}/{seed}/``: ``eval.csv`` (one row per evaluation), ``run.json``
(resolved settings, plan, versions, git commit, device, timings) and ``train_log.csv``. The
loop itself is ``spirl.rl.trainer.Trainer``; checkpoints live under ``results/.ckpt/runs/``
(``spirl.rl.checkpoint``), and a rerun with the same arguments continues from the last one.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from spirl.atari import games
from spirl.config import apply_overrides, for_game, load_method
from spirl.outputs import refuse_existing
from spirl.rl.checkpoint import default_checkpoint_dir, latest_checkpoint, remove_unfinished
from spirl.rl.trainer import RunError, Trainer
from spirl.saliency.kstats import read_k_hist
from spirl.utils import choose_device, set_threads


def train(config: str | Path, method: str, game: str, seed: int, out: str | Path, *, mae: str | Path | None = None,
          k_hist: str | Path | None = None, pretrain_frames: int | None = None, overrides: list[str] | None = None,
          threads: int | None = None, device: str | None = None, ckpt_dir: str | Path | None = None,
          force: bool = False, stop_after_steps: int | None = None, quiet: bool = False) -> dict[str, Any] | None:
    """Run (or resume) one training run and write its outputs; returns the run.json dict.

    Returns None when stopped early by ``stop_after_steps`` (as if killed after that step: nothing is
    saved for the steps after the last checkpoint; the tests of resume use it).

    Raises:
        RunError: SPIRL without an MAE (or with another game's), a checkpoint of other settings,
            or complete outputs already in ``out`` without ``force``.
    """

    out = Path(out)
    if (out / "eval.csv").is_file() and (out / "run.json").is_file() and not force:
        raise RunError(f"{out} already holds a finished run (eval.csv and run.json); pass --force to run it again")
    refuse_existing([out / "eval.csv", out / "run.json"], force=force, dirs=[out])
    settings = apply_overrides(load_method(config, method), list(overrides or []))
    ideal = None
    if k_hist is not None:
        ideal = read_k_hist(k_hist)[1]
    plan = for_game(settings, games.canonical(game), pretrain_frames=pretrain_frames, ideal_ratio=ideal)
    n_threads = set_threads(threads)
    dev = choose_device(device or plan.method.budget.device)
    ckpt = Path(ckpt_dir) if ckpt_dir is not None else default_checkpoint_dir(out)
    refuse_existing(dirs=[ckpt])
    trainer = Trainer(plan, seed, out, ckpt, mae_path=mae, device=dev)
    remove_unfinished(ckpt)
    previous = latest_checkpoint(ckpt)
    if previous is not None:
        trainer.restore(previous)
        if not quiet:
            print(f"spirl train: resuming {plan.method.name}/{plan.game}/seed {seed} from {previous}", file=sys.stderr)
    trainer.start()
    if not trainer.run(stop_after_steps):
        return None
    return trainer.finish(n_threads)
