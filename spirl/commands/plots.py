"""``spirl plots``: the figures (spirl.analysis.figures)."""

from __future__ import annotations

import argparse

from spirl.analysis import scores as sc
from spirl.analysis.figures import make_figures
from spirl.commands.args import old_spelling
from spirl.config import read_studies
from spirl.outputs import outputs_in, refuse_existing


def run(args: argparse.Namespace) -> int:
    """``spirl plots`` with the parsed arguments; 0 when done (an error raises, see spirl.cli)."""
    if not (args.scores or args.stats or args.k_hist):
        raise ValueError("nothing to plot: give --scores, --stats and/or --k-hist")
    refuse_existing(outputs_in(args.out, ["captions.json"]), force=args.force, dirs=[args.out])  # a finished set
    scores = sc.load_scores(args.scores) if args.scores else None
    studies = [s for path in args.study or [] for s in read_studies(path)]
    captions = make_figures(args.out, scores=scores, stats_dir=args.stats, khist=args.k_hist or [], studies=studies)
    print(f"spirl plots: {len(captions)} figures (PNG + PDF) -> {args.out}")
    return 0


def configure_plots(parser: argparse.ArgumentParser) -> None:
    """``spirl plots --scores results/scores.csv --stats reports/stats --k-hist ... --out reports/figures/``."""
    parser.add_argument("--scores", help="tidy scores CSV (learning curves, study bars)")
    parser.add_argument("--stats", help="directory written by 'spirl stats' (aggregates, profiles, poi, curves)")
    parser.add_argument("--k-hist", nargs="*", help="results/saliency/{mae}/{game}/k_hist.csv files")
    old_spelling(parser, "--khist", "--k-hist", "k_hist", nargs="*")
    parser.add_argument("--study", nargs="*", help="study descriptions (JSON/YAML), one bar figure each")
    parser.add_argument("--out", required=True, help="directory for PNG + PDF figures and captions.json")
    parser.add_argument("--force", action="store_true",
                        help="overwrite the figures in --out if captions.json is there")
    parser.set_defaults(func=run)
