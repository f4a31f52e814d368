"""``spirl aggregate``: every run's eval.csv into one tidy scores table (spirl.analysis.scores)."""

from __future__ import annotations

import argparse

from spirl.analysis.scores import aggregate_runs, write_scores
from spirl.outputs import refuse_existing


def run(args: argparse.Namespace) -> int:
    """``spirl aggregate`` with the parsed arguments; 0 when done (an error raises, see spirl.cli)."""
    refuse_existing([args.out], force=args.force)
    df = aggregate_runs(args.runs)
    write_scores(df, args.out)
    runs = df.groupby(["method", "game", "seed"]).ngroups
    print(f"spirl aggregate: {runs} runs, {len(df)} episode scores -> {args.out}")
    return 0


def configure_aggregate(parser: argparse.ArgumentParser) -> None:
    """``spirl aggregate --runs DIR|GLOB|eval.csv ... --out results/scores.csv``."""
    parser.add_argument("--runs", nargs="+", required=True,
                        help="run directories (searched for eval.csv), globs, or eval.csv files")
    parser.add_argument("--out", required=True, help="tidy scores CSV to write (atomically)")
    parser.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    parser.set_defaults(func=run)
