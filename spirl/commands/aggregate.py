"""``spirl aggregate``: every run's eval.csv into one tidy scores table (spirl.analysis.scores), and the same
scores in the formats others read (spirl.analysis.formats)."""

from __future__ import annotations

import argparse
from pathlib import Path

from spirl.analysis.formats import write_curves, write_rliable
from spirl.analysis.scores import aggregate_runs, write_scores
from spirl.commands.args import add_force
from spirl.guards import refuse_output_in_inputs, refuse_unwritable
from spirl.outputs import refuse_existing


def run(args: argparse.Namespace) -> int:
    """``spirl aggregate`` with the parsed arguments; 0 when done (an error raises, see spirl.cli)."""
    outputs = {"--out": args.out, "--rliable": args.rliable, "--curves": args.curves}
    refuse_output_in_inputs(outputs, {"--runs": args.runs})
    refuse_existing([args.out, *([args.curves] if args.curves else [])], force=args.force)  # before any work
    refuse_unwritable(*(path for path in outputs.values() if path))
    df = aggregate_runs(args.runs)
    methods = list(dict.fromkeys(df["method"]))
    # the rliable files are named by the methods found: refused once these are known, before anything is written
    refuse_existing([Path(args.rliable) / f"{m}.json" for m in methods] if args.rliable else [], force=args.force)
    write_scores(df, args.out)
    runs = df.groupby(["method", "game", "seed"]).ngroups
    print(f"spirl aggregate: {runs} runs, {len(df)} episode scores -> {args.out}")
    if args.rliable:
        write_rliable(df, args.rliable)
        print(f"spirl aggregate: final per-run scores of {len(methods)} method(s) -> {args.rliable}/METHOD.json")
    if args.curves:
        write_curves(df, args.curves)
        print(f"spirl aggregate: per-evaluation curves -> {args.curves}")
    return 0


def configure_aggregate(parser: argparse.ArgumentParser) -> None:
    """``spirl aggregate --runs DIR|GLOB|eval.csv ... --out results/scores.csv [--rliable DIR] [--curves CSV]``."""
    parser.add_argument("--runs", nargs="+", required=True,
                        help="run directories (searched for eval.csv), globs, or eval.csv files")
    parser.add_argument("--out", required=True, help="tidy scores CSV to write (atomically)")
    parser.add_argument("--rliable", default=None, metavar="DIR",
                        help="also write DIR/METHOD.json: final per-run scores as rliable's {game: [score per run]}")
    parser.add_argument("--curves", default=None, metavar="CSV",
                        help="also write the long per-evaluation table (method, game, seed, step, score)")
    add_force(parser, "--out, --curves and the --rliable files")
    parser.set_defaults(func=run)
