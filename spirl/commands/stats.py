"""``spirl stats``: rliable aggregates with stratified-bootstrap intervals (spirl.analysis.rliable_stats)."""

from __future__ import annotations

import argparse
import sys

import numpy as np

from spirl.analysis.formats import scores_with_published
from spirl.analysis.intervals import DEFAULT_INTERVAL, INTERVAL_METHODS
from spirl.analysis.protocols import sticky_methods
from spirl.analysis.rliable_stats import DEFAULT_REPS, run_stats
from spirl.commands.args import add_force, number
from spirl.guards import refuse_beyond_memory, refuse_output_in_inputs, refuse_unwritable
from spirl.outputs import outputs_in, refuse_existing


def run(args: argparse.Namespace) -> int:
    """``spirl stats`` with the parsed arguments; 0 when done (an error raises, see spirl.cli)."""
    names = [f"{name}.csv" for name in ("aggregates", "profiles", "poi", "curves")]
    published = [p.split("=", 1)[-1] for p in args.published or []]
    refuse_output_in_inputs({"--out": args.out}, {"--scores": args.scores, "--published": published})
    refuse_existing(outputs_in(args.out, names), force=args.force, dirs=[args.out])
    refuse_unwritable(args.out)
    df = scores_with_published(args.scores, args.published or [])
    runs = df.groupby(["method", "game", "seed"]).ngroups
    # the bootstrap holds reps resamples of every run's score (float64), and their indices (int64)
    refuse_beyond_memory({"bootstrap": 16 * args.reps * max(runs, 1)}, f"{args.reps:,} bootstrap resamples of "
                         f"{runs} runs", "lower --reps (stats.reps)")
    tables = run_stats(df, args.out, reps=args.reps, seed=args.seed, pairs=args.pairs, interval=args.interval,
                       sticky=sticky_methods(args.methods or []))
    iqm = tables["aggregates"].query("metric == 'IQM'")
    for game_set, rows in iqm.groupby("game_set", sort=False):
        games = rows["game_list"].iloc[0].split(";") if game_set == "shared" else None
        print(f"IQM over the {len(games)} game(s) every method has ({', '.join(games)}):" if games else
              "IQM of each method over its own games (not comparable across methods):")
        for row in rows.itertuples():
            bounds = "(no interval)" if not np.isfinite(row.lower) else f"[{row.lower:.3f}, {row.upper:.3f}]"
            print(f"  {row.method:<28} {row.estimate:.3f} {bounds}  ({row.runs} runs x {row.games} games)")
    notes = dict.fromkeys(f"{r.method}: {r.note}" for r in tables["aggregates"].itertuples()
                          if isinstance(r.note, str) and r.note)
    for note in notes:
        print(f"spirl stats: warning: {note}", file=sys.stderr)
    print(f"spirl stats: wrote aggregates.csv, profiles.csv, poi.csv, curves.csv to {args.out} "
          f"({args.interval} intervals)")
    return 0


def configure_stats(parser: argparse.ArgumentParser) -> None:
    """``spirl stats --scores results/scores.csv --out reports/stats/ [--reps N] [--pairs a:b ...]``."""
    parser.add_argument("--scores", help="tidy scores CSV from 'spirl aggregate'")
    parser.add_argument("--published", nargs="*", metavar="[NAME=]PATH",
                        help="published data: rliable JSON files ({game: [score per run]}) or long CSVs (method, game, "
                             "seed, step, score), added as published:NAME")
    parser.add_argument("--out", required=True, help="directory for aggregates/profiles/poi/curves CSVs")
    parser.add_argument("--reps", type=number("stats.reps"), default=DEFAULT_REPS,
                        help=f"bootstrap replicates (default {DEFAULT_REPS})")
    parser.add_argument("--seed", type=number("stats.seed"), default=0,
                        help="random state of the bootstrap (default 0)")
    parser.add_argument("--pairs", nargs="*", metavar="X:Y",
                        help="probability of improvement of X over Y (default: every pair of methods)")
    parser.add_argument("--interval", choices=INTERVAL_METHODS, default=DEFAULT_INTERVAL,
                        help=f"rliable's interval method for aggregates and curves (default {DEFAULT_INTERVAL}, "
                             "docs/statistics.md#coverage)")
    parser.add_argument("--methods", nargs="*", metavar="FILE",
                        help="resolved method files (results/methods/*.yaml): no pair sets one run with sticky "
                             "actions against published data")
    add_force(parser, "the four CSVs in --out")
    parser.set_defaults(func=run)
