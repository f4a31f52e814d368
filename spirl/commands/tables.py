"""``spirl tables``: the paper's tables beside ours (spirl.analysis.paper_tables)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from spirl.analysis import rliable_stats as st
from spirl.analysis import scores as sc
from spirl.analysis.intervals import DEFAULT_INTERVAL, INTERVAL_METHODS
from spirl.analysis.paper_tables import DEFAULT_METHODS, build_tables
from spirl.analysis.table_model import TableError, write_tables
from spirl.commands.args import number, old_spelling
from spirl.config import read_studies
from spirl.outputs import outputs_in, refuse_existing


def _parse_map(items: Sequence[str] | None) -> dict[str, str]:
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or key not in DEFAULT_METHODS or not value:
            raise TableError(f"--map {item!r}: expected KEY=METHOD with KEY one of {', '.join(DEFAULT_METHODS)}")
        out[key] = value
    return out


def run(args: argparse.Namespace) -> int:
    """``spirl tables`` with the parsed arguments; 0 when done (an error raises, see spirl.cli)."""
    refuse_existing(outputs_in(args.out, ["index.json"]), force=args.force, dirs=[args.out])  # a finished set
    df = sc.load_scores(args.scores)
    studies = [s for path in args.study or [] for s in read_studies(path)]
    tables = build_tables(df, khist=args.k_hist or [], studies=studies, methods=_parse_map(args.map),
                          reps=args.reps, seed=args.seed, interval=args.interval)
    write_tables(tables, args.out)
    print(f"spirl tables: {len(tables)} tables ({', '.join(t.name for t in tables)}) -> {args.out}")
    return 0


def configure_tables(parser: argparse.ArgumentParser) -> None:
    """``spirl tables --scores results/scores.csv --out reports/tables/ [--k-hist ...] [--study FILE ...]``."""
    parser.add_argument("--scores", required=True, help="tidy scores CSV from 'spirl aggregate'")
    parser.add_argument("--out", required=True, help="directory for the tables (md, tex, csv, html, index.json)")
    parser.add_argument("--k-hist", nargs="*", help="results/saliency/{mae}/{game}/k_hist.csv files (Fig. 8)")
    old_spelling(parser, "--khist", "--k-hist", "k_hist", nargs="*")
    parser.add_argument("--study", nargs="*", help="study descriptions (JSON/YAML), one table each")
    parser.add_argument("--map", nargs="*", metavar="KEY=METHOD",
                        help="which of our methods plays spirl / de_rainbow / de_rainbow_p (default: same names)")
    parser.add_argument("--reps", type=number("stats.reps"), default=st.DEFAULT_REPS,
                        help=f"bootstrap replicates for study CIs (default {st.DEFAULT_REPS})")
    parser.add_argument("--seed", type=number("stats.seed"), default=0,
                        help="random state of the bootstrap (default 0)")
    parser.add_argument("--force", action="store_true", help="overwrite the tables in --out if index.json is there")
    parser.add_argument("--interval", choices=INTERVAL_METHODS, default=DEFAULT_INTERVAL,
                        help=f"rliable's interval method for study IQMs (default {DEFAULT_INTERVAL})")
    parser.set_defaults(func=run)
