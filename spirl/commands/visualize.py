"""``spirl visualize``: error maps, Lorenz curves and selections as PNG (spirl.saliency.panels)."""

from __future__ import annotations

import argparse

from spirl.atari.frames import load_frames
from spirl.commands.args import add_device, add_force, add_threads, number
from spirl.guards import refuse_output_in_inputs
from spirl.outputs import outputs_in, refuse_existing
from spirl.saliency.panels import visualize
from spirl.saliency.patches import load_checked_mae
from spirl.utils import choose_device, set_threads


def run(args: argparse.Namespace) -> int:
    """``spirl visualize`` with the parsed arguments; 0 when done (an error raises, see spirl.cli)."""
    names = [f"frame{i:05d}_{kind}.png" for i in args.index for kind in ("panel", "fixed")]
    refuse_output_in_inputs({"--out": args.out}, {"--mae": args.mae, "--frames": args.frames})
    refuse_existing(outputs_in(args.out, names), force=args.force, dirs=[args.out])
    set_threads(args.threads)
    device = choose_device(args.device)
    frames, meta = load_frames(args.frames)
    mae, _ = load_checked_mae(args.mae, game=meta.get("game"), device=device)
    for path in visualize(mae, frames, args.index, args.out, max_ratio=args.max_ratio, xscale=args.xscale,
                          device=device):
        print(path)
    return 0


def configure_visualize(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``spirl visualize``."""
    parser.add_argument("--mae", required=True, help="MAE checkpoint (model.pt) saved with its decoder")
    parser.add_argument("--frames", required=True, help="frame dataset (.npz from 'spirl collect')")
    parser.add_argument("--index", type=number("run.index"), nargs="+", default=[0],
                        help="frames to draw (dataset rows)")
    parser.add_argument("--out", required=True, help="output directory for the PNGs")
    parser.add_argument("--max-ratio", type=number("saliency.max_ratio", float), default=None,
                        help="cap the dynamic K at floor(144 * ratio); default: uncapped, as the paper's figures")
    parser.add_argument("--xscale", type=number("saliency.xscale", float), default=1.0,
                        help="Lorenz-rule scale: 1 as released, 2 = 45-degree")
    add_device(parser)
    add_threads(parser)
    add_force(parser, "the PNGs of the chosen frames")
    parser.set_defaults(func=run)
