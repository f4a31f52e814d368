"""The ``spirl`` command line: one subcommand per step of the workflow.

Subcommands are imported lazily, so ``spirl --help`` and a single command start fast.
Each entry names the command's module in spirl/commands/; that module defines
``configure_<command>(parser)``, which adds the arguments and sets ``func`` (the
callable run with the parsed ``argparse.Namespace``, returning an exit code or None).

Exit codes (docs/reliability.md#exit-codes): 0 done; 1 the work failed while running (a NaN
loss, a crashed environment, out of memory or disk); 2 refused before any work (a bad argument,
setting, preset or input file, a corrupt checkpoint with nothing to fall back to, or an output
that exists without ``--force``); 75 stopped on a warning signal with its state saved, so the same command
resumes (SIGTERM or SIGUSR1 in ``train``, ``pretrain`` and ``saliency-stats``: ``spirl.preempt``);
130 interrupted. Errors are one line on stderr,
``spirl COMMAND: error: ...``, without a traceback; ``SPIRL_TRACEBACK=1`` shows it.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from spirl import __version__, alloc, preempt
from spirl.commands.parser import OneLineParser, UsageError

EXIT_OK, EXIT_FAILED, EXIT_REFUSED, EXIT_INTERRUPTED = 0, 1, 2, 130

# command -> (owning module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "collect": ("spirl.commands.collect", "collect random-policy frames of one game into a .npz dataset"),
    "pretrain": ("spirl.commands.pretrain", "pretrain the MAE on a frame dataset (resumable)"),
    "saliency-stats": ("spirl.commands.saliency_stats",
                       "uncapped dynamic-K histogram and ideal maximal ratio (Fig. 8)"),
    "visualize": ("spirl.commands.visualize", "error maps, Lorenz curves and selections as PNG (Figs. 2-3)"),
    "resolve-method": ("spirl.commands.config", "write one method's fully resolved settings as YAML"),
    "check-config": ("spirl.commands.config", "validate a preset and list the runs it expands to"),
    "train": ("spirl.commands.train", "train one method on one game with one seed (resumable)"),
    "status": ("spirl.commands.status", "how far a campaign is: each run's state, steps, rate and ETA, from its files"),
    "aggregate": ("spirl.commands.aggregate", "gather every run's eval.csv into one tidy scores table"),
    "stats": ("spirl.commands.stats", "rliable aggregates with stratified-bootstrap CIs"),
    "tables": ("spirl.commands.tables", "paper tables side by side with ours (Markdown, LaTeX, CSV)"),
    "plots": ("spirl.commands.plots", "figures: intervals, profiles, learning curves, K histograms"),
    "attention": ("spirl.commands.attention", "policy-attention strip (PNG + GIF) of a trained SPIRL run"),
    "report": ("spirl.commands.report", "assemble reports/report.html"),
    "fetch-published": ("spirl.commands.fetch_published", "download published per-run scores, checking sha256"),
    "unlock": ("spirl.commands.unlock", "remove the lock a killed Snakemake left, when no Snakemake works there"),
    "bench": ("spirl.commands.bench", "benchmarks of the hot paths against their straightforward versions"),
    "export": ("spirl.commands.archive", "pack a run's or an MAE's final files, settings and digests into one archive"),
    "import": ("spirl.commands.archive", "verify an archive from 'spirl export' and unpack it into results/"),
}


def _top_parser() -> argparse.ArgumentParser:
    lines = [f"  {name:<16} {help_}" for name, (_, help_) in COMMANDS.items()]
    return argparse.ArgumentParser(
        prog="spirl",
        description="SPIRL benchmark and ablation harness.",
        epilog="commands:\n" + "\n".join(lines) + "\n\n'spirl COMMAND --help' describes one command.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def build_parser(command: str) -> argparse.ArgumentParser:
    """Build the parser of one subcommand, importing only its module."""
    module_name, help_ = COMMANDS[command]
    module = importlib.import_module(module_name)
    parser = OneLineParser(prog=f"spirl {command}", description=help_)
    configure = getattr(module, "configure_" + command.replace("-", "_"))
    configure(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``spirl`` console script; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        _top_parser().print_help()
        return 0 if argv else 2
    if argv[0] == "--version":
        print(f"spirl {__version__}")
        return 0
    command = argv[0]
    if command not in COMMANDS:
        import difflib

        close = difflib.get_close_matches(command, list(COMMANDS), n=2)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        print(f"spirl: unknown command {command!r}{hint} (see 'spirl --help')", file=sys.stderr)
        return 2
    if command in alloc.COMMANDS:
        alloc.configure()  # keep large temporaries mapped (docs/costs.md#allocator)
    if command in preempt.COMMANDS:
        preempt.install()  # SIGTERM / SIGUSR1 set a flag; the work stops at its next safe point
    try:
        args = build_parser(command).parse_args(argv[1:])
        result = args.func(args)
    except preempt.PreemptionError as err:  # state kept: the same command resumes (exit 75)
        return preempt.report(command, err)
    except KeyboardInterrupt:
        print("spirl: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (UsageError, ValueError, FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError,
            PermissionError) as err:
        return _fail(command, err, EXIT_REFUSED)  # refused before any work: bad input
    except (RuntimeError, MemoryError, OSError) as err:
        return _fail(command, err, EXIT_FAILED)  # the work itself failed
    return int(result or 0)


def _fail(command: str, err: BaseException, code: int) -> int:
    """Print ``err`` as one line (its first), or the traceback when ``SPIRL_TRACEBACK`` is set; return ``code``."""
    if os.environ.get("SPIRL_TRACEBACK"):
        import traceback

        traceback.print_exception(err)
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    if isinstance(err, MemoryError):
        text = f"out of memory ({text})"
    elif isinstance(err, (OSError, RuntimeError)) and not text.startswith("the disk is full"):
        from spirl.integrity import is_disk_full

        if is_disk_full(err):  # torch's "unexpected pos", or ENOSPC: say what it means
            text = f"the disk is full ({text})"
    print(f"spirl {command}: error: {text}", file=sys.stderr)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
