"""``spirl bench NAME``: benchmarks of the hot paths.

Each benchmark lives in ``spirl/bench/<name>.py`` and defines ``add_arguments(parser)``
and ``run(args)``. It prints its figures and the ratio of the shipped path against the
straightforward version measured in the same process. With ``--json`` (added to every
benchmark here) its last line is one JSON object (:func:`emit`): the benchmark, its figures,
the device, the number format, ``ratio`` and the machine, so that CI and scripts can track them.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import math
import platform
from typing import Any

BENCHMARKS: dict[str, str] = {
    "env": "training environment vs gymnasium's stock AtariPreprocessing + FrameStackObservation",
    "pretrain": "MAE pretraining samples/s and the paper schedule's estimated wall time",
    "saliency": "error-map frames/s of the shipped path vs the straightforward computation",
    "train": "learner steps/s of DE-Rainbow and SPIRL vs a straightforward learner step",
    "stats": "vectorised probability of improvement vs rliable's",
    "coverage": "coverage of rliable's 95% interval methods at 2-10 runs per game (a simulation)",
    "verdicts": "false-alarm rate and power of the verdict rule vs the Welch / t-interval rules (a simulation)",
    "run": "projected wall time of one full paper-protocol run from measured component rates",
    "alloc": "batch-1 error maps with the allocator setting (spirl.alloc) vs glibc's defaults",
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
    sub.add_argument("--json", action="store_true", help="end with one JSON line: figures, device, precision, ratio")
    parsed = sub.parse_args(args.options)
    parsed.benchmark = args.benchmark
    return module.run(parsed)


def machine() -> dict[str, Any]:
    """Where a figure was measured: CPU, its vector ISA, threads, GPU, versions, date."""
    import torch

    from spirl.devices import probe

    hw = probe()
    return {"cpu": _cpu_model(), "cpu_capability": hw.cpu_capability,
            "cpu_bf16_units": hw.cpu_bf16_units, "threads": torch.get_num_threads(), "gpu": hw.gpu_name,
            "torch": torch.__version__, "python": platform.python_version(),
            "date": datetime.date.today().isoformat()}


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _plain(x: Any) -> Any:
    """JSON-safe figures: numpy scalars as numbers, non-finite floats as null."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if hasattr(x, "item") and not isinstance(x, (str, bytes)):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def sync(device: Any) -> None:
    """Wait for the GPU ``device`` (a name or a ``torch.device``) to finish its queued work; nothing on a CPU.

    Benchmarks call it around every timed region, so that GPU figures count the work and not its queueing.
    """
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def emit(args: argparse.Namespace, figures: dict[str, Any], *, ratio: float | None, device: str,
         precision: str = "float32") -> None:
    """With ``--json``, print the benchmark's one JSON line (call it last): at least its figures, the
    device, the number format and ``ratio`` (the shipped/straightforward ratio it printed in words)."""
    if not getattr(args, "json", False):
        return
    doc = {"benchmark": getattr(args, "benchmark", None), "device": device, "precision": precision,
           "ratio": ratio, "quick": bool(getattr(args, "quick", False)), "figures": figures, "machine": machine()}
    print(json.dumps(_plain(doc), sort_keys=True))
