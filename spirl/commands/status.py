"""``spirl status``: how far a campaign is, from its files (spirl.status)."""

from __future__ import annotations

import argparse
import json

from spirl.config import load_preset
from spirl.status import DEFAULT_PRESET, STALLED_AFTER_S, campaign_status, format_table, to_json


def run(args: argparse.Namespace) -> int:
    """``spirl status`` with the parsed arguments; 0 when done (an error raises, see spirl.cli)."""
    preset = load_preset(args.config)
    c = campaign_status(args.results, preset, stalled_after_s=60.0 * args.stalled_after)
    print(json.dumps(to_json(c), indent=2) if args.json else format_table(c))
    return 0


def configure_status(parser: argparse.ArgumentParser) -> None:
    """``spirl status [RESULTS_DIR] [--config PRESET] [--json] [--stalled-after MINUTES]``."""
    parser.add_argument("results", nargs="?", default="results", help="the campaign's results folder (results)")
    parser.add_argument("--config", default=DEFAULT_PRESET,
                        help=f"the preset the campaign runs (default: {DEFAULT_PRESET}, the workflow's default)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.add_argument("--stalled-after", type=float, default=STALLED_AFTER_S / 60.0, metavar="MINUTES",
                        help="call a run stalled after this long without a change in its log or checkpoints (10)")
    parser.set_defaults(func=run)
