"""``spirl pretrain``: pretrain the MAE on a frame dataset (spirl.mae.pretrain)."""

from __future__ import annotations

import argparse

from spirl.commands.args import add_device, add_force, add_threads, number
from spirl.config import MAEArch, PretrainSettings
from spirl.mae.pretrain import apply_set, pretrain
from spirl.mae.variant_file import load_mae_file


def run(args: argparse.Namespace) -> int:
    """``spirl pretrain`` with the parsed arguments; 0 when done, 75 when stopped by a warning signal with the
    epochs done kept (an error raises, see spirl.cli)."""
    if args.config is None:
        arch, settings = MAEArch(), PretrainSettings()
    else:
        _, arch, settings = load_mae_file(args.config)
    arch, settings = apply_set(arch, settings, args.set)
    # a warning signal keeps the epochs done and exits 75 (spirl.preempt, installed by spirl.cli)
    pretrain(args.frames, args.out, arch, settings, seed=args.seed, device=args.device, threads=args.threads,
             game=args.game, ckpt_dir=args.ckpt_dir, force=args.force)
    return 0


def configure_pretrain(parser: argparse.ArgumentParser) -> None:
    """``spirl pretrain --frames PATH.npz --out DIR/model.pt [--config results/maes/MAE.yaml] [--set KEY=VALUE]``."""
    parser.add_argument("--frames", required=True, help="frame dataset (.npz) from 'spirl collect'")
    parser.add_argument("--out", required=True, help="model checkpoint to write; pretrain.csv goes beside it")
    parser.add_argument("--config", default=None,
                        help="an MAE variant file (results/maes/MAE.yaml, written by the workflow); default: "
                             "the paper's settings")
    parser.add_argument("--game", default=None, help="game name (default: the dataset's; must agree with it)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override an mae.* or pretrain.* setting, e.g. pretrain.epochs=100 or "
                             "mae.decoder_depth=1 (repeatable)")
    parser.add_argument("--seed", type=number("run.seed"), default=0,
                        help="seed of the initialisation, batches and masks")
    add_threads(parser)
    add_device(parser)
    parser.add_argument("--ckpt-dir", default=None,
                        help="where the resumable per-epoch state lives (default: <out dir>/.ckpt/<out stem>)")
    add_force(parser, "the model and pretrain.csv")
    parser.set_defaults(func=run)
