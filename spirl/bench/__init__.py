"""``spirl bench NAME``: benchmarks of the hot paths.

Each benchmark lives in ``spirl/bench/<name>.py`` and defines ``run(options)`` (its options are
defined by ``spirl.commands.bench``). It prints its figures and the ratio of the shipped path against the
straightforward version measured in the same process. With ``--json`` (added to every
benchmark) its last line is one JSON object (:func:`emit`): the benchmark, its figures,
the device, the number format, ``ratio`` and the machine, so that CI and scripts can track them.
"""

from __future__ import annotations

import datetime
import json
import math
import platform
from typing import Any, TypeAlias

from spirl.devices import probe

# The parsed options of ``spirl bench NAME`` (spirl.commands.bench defines each benchmark's); read by
# attribute only, so a test or script may pass any object with those attributes.
Options: TypeAlias = Any


def machine() -> dict[str, Any]:
    """Where a figure was measured: CPU, its vector ISA, threads, GPU, versions, date."""
    import torch

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


def emit(args: Options, figures: dict[str, Any], *, ratio: float | None, device: str,
         precision: str = "float32") -> None:
    """With ``--json``, print the benchmark's one JSON line (call it last): at least its figures, the
    device, the number format and ``ratio`` (the shipped/straightforward ratio it printed in words)."""
    if not getattr(args, "json", False):
        return
    doc = {"benchmark": getattr(args, "benchmark", None), "device": device, "precision": precision,
           "ratio": ratio, "quick": bool(getattr(args, "quick", False)), "figures": figures, "machine": machine()}
    print(json.dumps(_plain(doc), sort_keys=True))
