"""``spirl bench NAME``: benchmarks of the hot paths.

Each benchmark lives in ``spirl/bench/<name>.py`` and defines ``add_arguments(parser)``
and ``run(args)``. It prints its figures and, last, the ratio of the shipped path
against the straightforward version measured in the same process.
"""

from __future__ import annotations

import argparse
import importlib

BENCHMARKS: dict[str, str] = {
    "env": "training environment vs gymnasium's stock AtariPreprocessing + FrameStackObservation",
    "pretrain": "MAE pretraining samples/s and the paper schedule's estimated wall time",
    "saliency": "error-map frames/s of the shipped path vs the straightforward computation",
    "train": "learner steps/s of DE-Rainbow and SPIRL vs a straightforward learner step",
    "stats": "vectorised probability of improvement vs rliable's",
    "coverage": "coverage of rliable's 95% interval methods at 2-10 runs per game (a simulation)",
    "verdicts": "false-alarm rate and power of the verdict rule vs the Welch / t-interval rules (a simulation)",
}


def configure_bench(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``spirl bench``: the benchmark's name, then that benchmark's own options."""
    lines = "\n".join(f"  {name:<10} {help_}" for name, help_ in BENCHMARKS.items())
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = "benchmarks:\n" + lines
    parser.add_argument("benchmark", choices=list(BENCHMARKS), metavar="NAME", help="which benchmark")
    parser.add_argument("options", nargs=argparse.REMAINDER, help="options of that benchmark")
    parser.set_defaults(func=_dispatch)


def _dispatch(args: argparse.Namespace) -> int | None:
    module = importlib.import_module(f"spirl.bench.{args.benchmark}")
    sub = argparse.ArgumentParser(prog=f"spirl bench {args.benchmark}", description=BENCHMARKS[args.benchmark])
    module.add_arguments(sub)
    return module.run(sub.parse_args(args.options))
