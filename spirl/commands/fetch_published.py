"""``spirl fetch-published``: download published per-run scores, checking sha256 (spirl.analysis.published)."""

from __future__ import annotations

import argparse
from pathlib import Path

from spirl.analysis.published import PublishedDataError, fetch, read_config
from spirl.commands.args import old_spelling
from spirl.config import published_file
from spirl.integrity import sha256_file
from spirl.outputs import refuse_existing


def run(args: argparse.Namespace) -> int:
    """``spirl fetch-published`` with the parsed arguments; 0 when done (an error raises, see spirl.cli)."""
    if args.published_config is None:
        raise ValueError("the argument --published-config is required (see 'spirl fetch-published --help')")
    entries = read_config(args.published_config)
    if args.only:
        unknown = sorted(set(args.only) - {e.name for e in entries})
        if unknown:
            raise PublishedDataError(f"--only: {', '.join(unknown)} not in {args.published_config}")
        entries = [e for e in entries if e.name in set(args.only)]
    refuse_existing(dirs=[args.out])
    for entry in entries:
        target = Path(args.out) / published_file(entry.name, entry.url)
        if args.force and target.is_file() and sha256_file(target) != entry.sha256:
            target.unlink()  # --force: replace a file that is not the pinned one
        path = fetch(entry, args.out)
        print(f"{entry.name}: {path} (sha256 ok)")
    return 0


def configure_fetch_published(parser: argparse.ArgumentParser) -> None:
    """``spirl fetch-published --published-config CONFIG --out DIR [--only NAME ...]``."""
    parser.add_argument("--published-config", default=None,
                        help="(required) YAML/JSON with a 'published:' list (name, url, sha256), e.g. a preset")
    old_spelling(parser, "--config", "--published-config", "published_config")
    parser.add_argument("--out", required=True, help="directory for <name>.json")
    parser.add_argument("--only", nargs="*", help="fetch only these names")
    parser.add_argument("--force", action="store_true",
                        help="replace a file in --out whose sha256 is not the pinned one (one that is, is kept)")
    parser.set_defaults(func=run)
