"""``spirl report``: assemble reports/report.html (spirl.analysis.report)."""

from __future__ import annotations

import argparse

from spirl.analysis.report import build_report
from spirl.commands.args import add_force
from spirl.guards import refuse_output_in_inputs
from spirl.outputs import refuse_existing
from spirl.utils import atomic_write_text


def run(args: argparse.Namespace) -> int:
    """``spirl report`` with the parsed arguments; 0 when done (an error raises, see spirl.cli)."""
    refuse_output_in_inputs({"--out": args.out}, {"--tables": args.tables, "--figures": args.figures or [],
                                                  "--methods": args.methods,
                                                  "--published-config": args.published_config})
    refuse_existing([args.out], force=args.force)
    text = build_report(tables_dir=args.tables, figure_dirs=args.figures or [], runs_dir=args.runs,
                        methods_dir=args.methods, published_config=args.published_config, title=args.title)
    atomic_write_text(args.out, text)
    print(f"spirl report: {args.out} ({len(text) / 1e6:.1f} MB)")
    return 0


def configure_report(parser: argparse.ArgumentParser) -> None:
    """``spirl report --out reports/report.html --tables DIR --figures DIR... --runs results/runs
    --methods results/methods``."""
    parser.add_argument("--out", required=True, help="HTML file to write (atomically)")
    parser.add_argument("--tables", help="directory written by 'spirl tables'")
    parser.add_argument("--figures", nargs="*", help="figure directories (PNG + captions.json)")
    parser.add_argument("--runs", help="results/runs (every run.json below it is listed)")
    parser.add_argument("--methods", help="results/methods (resolved settings, one YAML per method)")
    parser.add_argument("--published-config", help="config with the 'published:' list of downloaded files")
    parser.add_argument("--title", default="SPIRL reproduction report", help="page title")
    add_force(parser, "--out")
    parser.set_defaults(func=run)
