"""``spirl collect``: random-policy frames of one game into a .npz dataset (spirl.atari.frames)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from spirl.atari import games
from spirl.atari.frames import FRAME_SHAPE, collect_frames, default_frames, save_frames
from spirl.commands.args import add_force, number, old_spelling
from spirl.outputs import refuse_existing, refuse_oversized


def configure_collect(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``spirl collect``."""
    parser.add_argument("--game", required=True, help="game, any spelling (MsPacman, ms_pacman, ALE/MsPacman-v5)")
    parser.add_argument("--n-frames", type=number("preset.pretrain_frames"), default=None,
                        help="frames to collect (default: the paper's 5,000 for Frostbite, 50,000 otherwise)")
    old_spelling(parser, "--frames", "--n-frames", "n_frames", type=number("preset.pretrain_frames"))
    parser.add_argument("--seed", type=number("run.seed"), default=0,
                        help="seed of the environment and the random policy")
    parser.add_argument("--out", required=True, help="output .npz (written atomically, with its .sha256)")
    add_force(parser, "--out")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """``spirl collect`` with the parsed arguments; 0 when done (an error raises, see spirl.cli)."""
    out = Path(args.out)
    refuse_existing([out], force=args.force)  # fail before collecting, not after
    game = games.canonical(args.game)
    n = default_frames(game) if args.n_frames is None else args.n_frames
    refuse_oversized(2 * n * int(np.prod(FRAME_SHAPE)), f"collecting {n:,} frames",
                     "collect fewer (--n-frames) or on a larger machine")
    frames, meta = collect_frames(game, n, args.seed)
    save_frames(out, frames, meta, force=args.force)
    size_mb = out.stat().st_size / 2**20
    print(f"{meta['game']}: {meta['frames']} frames in {meta['trajectories']} first-life trajectories "
          f"(seed {meta['seed']}, {meta['collect_seconds']:.1f} s) -> {out} ({size_mb:.1f} MiB)")
    return 0
