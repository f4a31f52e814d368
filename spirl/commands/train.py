"""``spirl train``: one method on one game with one seed (spirl.rl.train)."""

from __future__ import annotations

import argparse
from pathlib import Path

from spirl.commands.args import add_device, add_threads, number
from spirl.config import TrackSettings
from spirl.rl.train import train


def run(args: argparse.Namespace) -> int:
    """``spirl train`` with the parsed arguments; 0 when done, 75 when stopped by a warning signal with this
    step's checkpoint kept (an error raises, see spirl.cli)."""
    # a warning signal checkpoints this step and exits 75 (spirl.preempt, installed by spirl.cli)
    info = train(args.config, args.method, args.game, args.seed, args.out, mae=args.mae, k_hist=args.k_hist,
                 pretrain_frames=args.pretrain_frames, overrides=args.set, threads=args.threads,
                 device=args.device, ckpt_dir=args.ckpt_dir, force=args.force,
                 track=TrackSettings(tensorboard=args.tensorboard, wandb=args.track, project=args.wandb_project,
                                     entity=args.wandb_entity))
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
    add_threads(parser)
    add_device(parser, None, shown="the budget's, auto")
    parser.add_argument("--ckpt-dir", default=None,
                        help="checkpoint directory (default: results/.ckpt/runs/... beside --out, or OUT/.ckpt)")
    parser.add_argument("--force", action="store_true", help="run again even if --out holds a finished run")
    parser.add_argument("--track", action="store_true",
                        help="log to Weights & Biases (settings, curves, final files); WANDB_MODE=offline: local")
    parser.add_argument("--wandb-project", default=TrackSettings.project, help="W&B project (default: spirl)")
    parser.add_argument("--wandb-entity", default=None, help="W&B entity (default: the logged-in user's)")
    parser.add_argument("--tensorboard", action=argparse.BooleanOptionalAction, default=TrackSettings.tensorboard,
                        help="TensorBoard scalars beside the checkpoints (default: on)")
    parser.set_defaults(func=run)
