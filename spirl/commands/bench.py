"""``spirl bench NAME``: benchmarks of the hot paths (spirl.bench), each with its own options.

Each benchmark lives in ``spirl/bench/<name>.py`` and defines ``run(options)``; its options are
defined here (``_<name>_options``). With ``--json`` (added to every benchmark) its last line is one
JSON object (``spirl.bench.emit``).
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable

from spirl.commands.args import add_device, add_threads
from spirl.commands.parser import OneLineParser
from spirl.config import Precision, allowed
from spirl.costs import RATES_FILE, TRAINED_FACTOR

BENCHMARKS: dict[str, str] = {
    "env": "training environment vs gymnasium's stock AtariPreprocessing + FrameStackObservation",
    "pretrain": "MAE pretraining samples/s and the paper schedule's estimated wall time",
    "saliency": "error-map frames/s of the shipped path vs the straightforward computation",
    "train": "learner steps/s of DE-Rainbow and SPIRL vs a straightforward learner step",
    "stats": "vectorised probability of improvement vs rliable's",
    "coverage": "coverage of rliable's 95% interval methods at 2-10 runs per game (a simulation)",
    "verdicts": "false-alarm rate and power of the verdict rule vs the Welch / t-interval rules (a simulation)",
    "waits": "host-device waits of one training and one evaluation step (DE-Rainbow, SPIRL) against their budget",
    "run": "projected wall time of one full paper-protocol run from measured component rates",
    "alloc": "batch-1 error maps with the allocator setting (spirl.alloc) vs glibc's defaults",
}


def _coverage_options(parser: argparse.ArgumentParser) -> None:
    """Options of the study."""
    parser.add_argument("--quick", action="store_true", help="seconds-long smoke run (100 trials, 200 replicates)")
    parser.add_argument("--trials", type=int, default=2000, help="simulated experiments per cell (default 2000)")
    parser.add_argument("--reps", type=int, default=1000, help="bootstrap replicates per experiment (default 1000)")
    parser.add_argument("--runs", type=int, nargs="+", default=[2, 3, 5, 10], help="runs per game (default 2 3 5 10)")
    parser.add_argument("--metrics", nargs="+", default=["mean", "IQM"], help="aggregates (default mean IQM)")
    parser.add_argument("--population", help="published per-run scores JSON to draw runs from (e.g. SPR.json)")
    parser.add_argument("--seed", type=int, default=0)


def _env_options(parser: argparse.ArgumentParser) -> None:
    """Options of ``spirl bench env``."""
    parser.add_argument("--quick", action="store_true", help="a seconds-long smoke run (300 steps, one round)")
    parser.add_argument("--steps", type=int, default=None, help="agent steps per measurement (default 4000)")
    parser.add_argument("--rounds", type=int, default=None, help="alternating rounds; best kept (default 3)")
    parser.add_argument("--game", default="MsPacman", help="game (default MsPacman)")
    parser.add_argument("--vector-threads", type=int, default=2, help="threads of AtariVectorEnv (default 2)")
    parser.add_argument("--seed", type=int, default=0)


def _pretrain_options(parser: argparse.ArgumentParser) -> None:
    """Options of ``spirl bench pretrain``."""
    parser.add_argument("--quick", action="store_true", help="a seconds-long smoke run (2 timed updates each)")
    parser.add_argument("--iters", type=int, default=None, help="timed updates per version (default 12; quick 2)")
    parser.add_argument("--batch-size", type=int, default=64, help="batch size (paper: 64)")
    add_threads(parser, shown="the count in force")
    add_device(parser)
    parser.add_argument("--precision", default="float32", choices=allowed(Precision),
                        help="number format of the forward pass (pretrain.precision)")
    parser.add_argument("--frames", default=None, help="frame dataset (.npz) for the batches; default: random images")
    parser.add_argument("--loss-updates", type=int, default=None,
                        help="updates of the float32-vs-format loss comparison (default 40; quick 2)")
    parser.add_argument("--seed", type=int, default=0)


def _run_options(parser: argparse.ArgumentParser) -> None:
    """Options of ``spirl bench run``."""
    parser.add_argument("--method", default="spirl", help="spirl, de_rainbow, de_rainbow_p or a --config method")
    parser.add_argument("--game", default="Frostbite", help="game (default Frostbite)")
    parser.add_argument("--config", default=None, help="preset or method file; default: the built-in methods")
    parser.add_argument("--precision", default=None, choices=allowed(Precision),
                        help="saliency.precision to project (default: the method's)")
    add_device(parser)
    add_threads(parser, 1)
    parser.add_argument("--mae", default=None, help="MAE checkpoint for the features; default: random paper MAE")
    parser.add_argument("--episodes", type=int, default=None, help="random-policy evaluation episodes (default 10)")
    parser.add_argument("--trained-factor", type=float, default=TRAINED_FACTOR,
                        help="assumed length of a trained agent's episodes, in random-policy episode lengths")
    parser.add_argument("--quick", action="store_true", help="a seconds-long smoke run (tiny samples, capped episodes)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", nargs="?", const=RATES_FILE, default=None, metavar="RATES_JSON",
                        help=f"add the measured rates to the rates file of the workflow (default {RATES_FILE})")
    parser.add_argument("--compare", default=None, metavar="RUN",
                        help="a finished run's directory: its method, game and MAE, and its measured time per phase "
                             "beside the projection")


def _alloc_options(parser: argparse.ArgumentParser) -> None:
    """Options of ``spirl bench alloc``."""
    parser.add_argument("--frames", type=int, default=20, help="timed frames (default 20)")
    parser.add_argument("--warm", type=int, default=3, help="frames before timing (default 3)")


def _saliency_options(parser: argparse.ArgumentParser) -> None:
    """Options of ``spirl bench saliency``."""
    parser.add_argument("--quick", action="store_true", help="seconds-long smoke run (batch 1 and 2, two frames)")
    parser.add_argument("--frames", default=None, help="frame dataset (.npz) to take the frames from; "
                                                       "default: collect random-policy frames of --game")
    parser.add_argument("--mae", default=None, help="MAE checkpoint (model.pt); default: randomly initialised")
    parser.add_argument("--game", default="MsPacman", help="game whose frames are collected and whose cap is used")
    parser.add_argument("--batch", type=int, default=50, help="the evaluation batch (default 50)")
    parser.add_argument("--precision", default="float32", choices=allowed(Precision), help="number format")
    parser.add_argument("--agreement-frames", type=int, default=None,
                        help="frames of --frames (evenly spaced) for the agreement of --precision with float32")
    parser.add_argument("--cache-frames", type=int, default=None,
                        help="the first N (consecutive) frames of --frames through the error cache vs without it")
    parser.add_argument("--compile", action="store_true",
                        help="also time the shipped path through torch.compile (measured, not kept: "
                             "docs/costs.md#the-error-map)")
    add_device(parser, "cpu")
    add_threads(parser, 1)
    parser.add_argument("--seed", type=int, default=0, help="seeds the MAE initialisation and the collection")


def _stats_options(parser: argparse.ArgumentParser) -> None:
    """Options of the benchmark."""
    parser.add_argument("--quick", action="store_true", help="seconds-long smoke run (200 / 20 replicates)")
    parser.add_argument("--full", action="store_true", help="run rliable at the full replicate count too")
    parser.add_argument("--reps", type=int, default=2000, help="bootstrap replicates (default 2000)")
    parser.add_argument("--rliable-reps", type=int, default=200,
                        help="replicates for rliable without --full; its time is scaled to --reps (default 200)")
    parser.add_argument("--methods", type=int, default=4)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--games", type=int, default=26)
    parser.add_argument("--seed", type=int, default=0)


def _train_options(parser: argparse.ArgumentParser) -> None:
    """Options of ``spirl bench train``."""
    parser.add_argument("--quick", action="store_true", help="a seconds-long smoke run")
    parser.add_argument("--game", default="MsPacman", help="game (MsPacman: 9 actions, Kmax 43)")
    parser.add_argument("--batch", type=int, default=32, help="batch size of an update")
    parser.add_argument("--fill", type=int, default=2000, help="random warm-up steps before timing")
    parser.add_argument("--steps", type=int, default=300, help="timed learner steps per configuration")
    parser.add_argument("--eval-envs", type=int, default=50, help="environments of the timed evaluation")
    parser.add_argument("--eval-cap", type=int, default=100, help="episode cap of the timed evaluation")
    parser.add_argument("--episode-length", type=int, default=2000,
                        help="assumed mean evaluation-episode length for the 100K projection")
    add_threads(parser, 1)  # runs use 1 each by default
    add_device(parser, "cpu")


def _verdicts_options(parser: argparse.ArgumentParser) -> None:
    """Options of the simulation."""
    parser.add_argument("--quick", action="store_true", help="seconds-long smoke run (2,000 experiments)")
    parser.add_argument("--trials", type=int, default=100_000, help="simulated experiments per cell (default 1e5)")
    parser.add_argument("--skewed", action="store_true", help="gamma(shape 2) scores instead of normal ones")
    parser.add_argument("--ratio", type=float, default=1.0, help="our std / the paper's std (default 1)")
    parser.add_argument("--seed", type=int, default=0)


def _waits_options(parser: argparse.ArgumentParser) -> None:
    """Options of ``spirl bench waits``."""
    parser.add_argument("--quick", action="store_true", help="a seconds-long smoke run (tiny networks)")
    parser.add_argument("--tiny", action="store_true", help="tiny networks and MAE (the counts do not depend on size)")
    parser.add_argument("--game", default="MsPacman", help="game")
    add_threads(parser, 1)
    add_device(parser, "cpu")


OPTIONS: dict[str, Callable[[argparse.ArgumentParser], None]] = {
    "alloc": _alloc_options,
    "coverage": _coverage_options,
    "env": _env_options,
    "pretrain": _pretrain_options,
    "run": _run_options,
    "saliency": _saliency_options,
    "stats": _stats_options,
    "train": _train_options,
    "verdicts": _verdicts_options,
    "waits": _waits_options,
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
    sub = OneLineParser(prog=f"spirl bench {args.benchmark}", description=BENCHMARKS[args.benchmark])
    OPTIONS[args.benchmark](sub)
    sub.add_argument("--json", action="store_true", help="end with one JSON line: figures, device, precision, ratio")
    parsed = sub.parse_args(args.options)
    parsed.benchmark = args.benchmark
    return module.run(parsed)
