"""``spirl train``: run (or resume) one method on one game with one seed and write its outputs.

``results/runs/{method}/{game}/{seed}/``: ``eval.csv`` (one row per evaluation), ``run.json``
(resolved settings, plan, versions, git commit, device, timings) and ``train_log.csv``. The
loop itself is ``spirl.rl.trainer.Trainer``; checkpoints live under ``results/.ckpt/runs/``
(``spirl.rl.checkpoint``), and a rerun with the same arguments continues from the last one.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from spirl import preempt
from spirl.atari import games
from spirl.config import load_method
from spirl.fields import apply_overrides
from spirl.plan import for_game
from spirl.rl.checkpoint import default_checkpoint_dir, latest_checkpoint, remove_unfinished
from spirl.rl.trainer import RunError, Trainer
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
    from spirl.cliargs import refuse_existing

    out = Path(out)
    if (out / "eval.csv").is_file() and (out / "run.json").is_file() and not force:
        raise RunError(f"{out} already holds a finished run (eval.csv and run.json); pass --force to run it again")
    refuse_existing([out / "eval.csv", out / "run.json"], force=force, dirs=[out])
    settings = apply_overrides(load_method(config, method), list(overrides or []))
    ideal = None
    if k_hist is not None:
        from spirl.saliency.kstats import read_k_hist

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


def _train_cmd(args: argparse.Namespace) -> int:
    preempt.install()  # SIGTERM / SIGUSR1: checkpoint this step, say so, exit 75 (spirl.preempt)
    try:
        info = train(args.config, args.method, args.game, args.seed, args.out, mae=args.mae, k_hist=args.k_hist,
                     pretrain_frames=args.pretrain_frames, overrides=args.set, threads=args.threads,
                     device=args.device, ckpt_dir=args.ckpt_dir, force=args.force)
    except preempt.PreemptionError as err:
        return preempt.report("train", err)
    assert info is not None  # only stop_after_steps returns early
    print(f"{info['method']} {info['game']} seed {info['seed']}: final mean score "
          f"{_last_mean(args.out)} after {info['plan']['total_env_steps']} steps, {info['updates']} updates, "
          f"{info['wall_time_s'] / 60:.1f} min ({info['steps_per_s']:.1f} steps/s) -> {args.out}")
    return 0


def _last_mean(out: str | Path) -> str:
    lines = (Path(out) / "eval.csv").read_text().strip().splitlines()
    return lines[-1].split(",")[2] if len(lines) > 1 else "n/a"


def configure_train(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``spirl train``."""
    from spirl.cliargs import device, number

    parser.add_argument("--config", required=True, help="preset YAML or a resolved method file (spirl resolve-method)")
    parser.add_argument("--method", required=True, help="spirl, de_rainbow, de_rainbow_p or a preset's method")
    parser.add_argument("--game", required=True, help="game, any spelling (MsPacman, ms_pacman, ...)")
    parser.add_argument("--seed", type=number("run.seed"), required=True, help="run seed")
    parser.add_argument("--out", required=True, help="output directory: eval.csv, run.json (and train_log.csv)")
    parser.add_argument("--mae", default=None, help="MAE checkpoint of the game (required by SPIRL methods)")
    parser.add_argument("--k-hist", default=None, help="K statistics CSV (spirl saliency-stats), for max_ratio: auto")
    parser.add_argument("--pretrain-frames", type=number("preset.pretrain_frames"), default=None,
                        help="size of the game's pretraining set (DE-Rainbow-P's warm-up); default: the paper's")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override a setting, e.g. --set learner.lr=3e-4 (repeatable)")
    parser.add_argument("--threads", type=number("preset.threads"), default=None,
                        help="torch threads (default: torch's choice)")
    parser.add_argument("--device", type=device, default=None, help="auto | cpu | cuda (default: the budget's, auto)")
    parser.add_argument("--ckpt-dir", default=None,
                        help="checkpoint directory (default: results/.ckpt/runs/... beside --out, or OUT/.ckpt)")
    parser.add_argument("--force", action="store_true", help="run again even if --out holds a finished run")
    parser.set_defaults(func=_train_cmd)
