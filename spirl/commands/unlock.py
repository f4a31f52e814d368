"""``spirl unlock [DIRECTORY]``: remove the lock a killed Snakemake left, with Snakemake's own ``--unlock``,
when no Snakemake process works in the directory (spirl.workflow_lock; docs/reliability.md#stale-lock)."""

from __future__ import annotations

import argparse
import subprocess
import sys

from spirl.workflow_lock import lock_files, snakemake_processes


def run(args: argparse.Namespace) -> int:
    """``spirl unlock`` with the parsed arguments; 0 when done (an error raises, see spirl.cli)."""
    if not lock_files(args.directory):
        print(f"spirl unlock: no Snakemake lock in {args.directory}")
        return 0
    alive = snakemake_processes(args.directory)
    if alive:
        print(f"spirl unlock: the lock in {args.directory} is held by Snakemake process "
              f"{', '.join(map(str, alive))}; left as it is")
        return 0
    cmd = [sys.executable, "-m", "snakemake", "--unlock", "--directory", args.directory, "--snakefile", args.snakefile,
           "--cores", "1"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1]
        raise RuntimeError(f"snakemake --unlock failed in {args.directory}: {last}")
    print(f"spirl unlock: removed the stale Snakemake lock in {args.directory} (no Snakemake process works there)")
    return 0


def configure_unlock(parser: argparse.ArgumentParser) -> None:
    """``spirl unlock [DIRECTORY] [--snakefile Snakefile]``."""
    parser.add_argument("directory", nargs="?", default=".", help="the workflow's working directory (default .)")
    parser.add_argument("--snakefile", default="Snakefile", help="the workflow's Snakefile (default ./Snakefile)")
    parser.set_defaults(func=run)
