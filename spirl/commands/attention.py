"""``spirl attention``: the policy-attention strip of a trained SPIRL run (spirl.rl.policy_attention)."""

from __future__ import annotations

import argparse

from spirl.commands.args import add_device, add_force, add_threads, number, old_spelling
from spirl.outputs import outputs_in, refuse_existing
from spirl.rl.policy_attention import make_attention
from spirl.utils import choose_device, set_threads


def run(args: argparse.Namespace) -> int:
    """``spirl attention`` with the parsed arguments; 0 when done (an error raises, see spirl.cli)."""
    refuse_existing(outputs_in(args.out, ["attention.png", "attention.gif", "attention.csv"]), force=args.force,
                    dirs=[args.out])
    set_threads(args.threads)
    summary = make_attention(args.run, args.mae, args.out, network=args.network, frames=args.n_frames,
                             max_steps=args.max_steps, gif_every=args.gif_every, device=choose_device(args.device))
    print(f"spirl attention: {summary['method']} {summary['game']} seed {summary['seed']}, "
          f"{summary['steps']} steps -> {args.out}/attention.png, attention.gif, attention.csv")
    return 0


def configure_attention(parser: argparse.ArgumentParser) -> None:
    """``spirl attention --run results/runs/spirl/GAME/SEED --mae results/mae/paper/GAME/model.pt --out DIR``."""
    parser.add_argument("--run", required=True, help="a finished SPIRL run directory (with run.json)")
    parser.add_argument("--mae", required=True, help="the MAE checkpoint the run used")
    parser.add_argument("--out", required=True, help="directory for attention.png, attention.gif, attention.csv")
    parser.add_argument("--network", help="trained network (default: run.json's final_network)")
    parser.add_argument("--n-frames", type=number("run.n_frames"), default=8, help="frames in the strip (default 8)")
    old_spelling(parser, "--frames", "--n-frames", "n_frames", type=number("run.n_frames"))
    parser.add_argument("--max-steps", type=number("run.steps"), default=400,
                        help="steps of the episode to play at most (default 400)")
    parser.add_argument("--gif-every", type=number("run.every"), default=2,
                        help="keep every n-th step in the GIF (default 2)")
    add_device(parser, "cpu")
    add_threads(parser)
    add_force(parser, "attention.png, attention.gif and attention.csv")
    parser.set_defaults(func=run)
