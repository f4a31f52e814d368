"""The GPU check (docs/costs.md#gpu): ``scripts/gpu_check.sh`` on a CUDA machine, ``--device cpu`` to rehearse it.

Its command line is ``scripts/gpu_check.py`` (run by ``gpu_check.sh``); :func:`run_check` is the check.

It reads what ``scripts/gpu_prepare.sh`` made (``spirl.bench.device_prepare``; digests checked first) and
runs, in priority order, each step under its own time limit (``STEPS``), rewriting one JSON summary after
every step, so that a stop at any moment leaves what was measured:

1. ``run``: a short SPIRL run end to end (``spirl.rl.train.train``) with the carried MAE: steps/s, GPU
   memory and its ``eval.csv``;
2. ``agreement``: the device's error map, K and selections against the carried CPU float32 reference,
   in float32, TF32, bfloat16 and float16;
3. ``error_map``: frames/s at batch 1 and 50 per format and chunk size;
4. ``learner``: updates/s of DE-Rainbow and SPIRL, and the host-device waits of a training and an
   evaluation step (``spirl bench waits``) against ``spirl.waits.BUDGET``;
5. ``pretrain``: MAE pretraining samples/s per format;
6. ``shared``: 1, 2, 4 and 8 short SPIRL runs at once on the one GPU, each one's steps/s and memory.

The step limits plus ``SETUP_S`` fit inside ``OUTER_S``, the ``timeout`` that ``gpu_check.sh`` puts
around the whole check (tests/bench/test_device_check.py). On a CPU the steps run with the tiny inputs
of ``gpu_prepare.sh --tiny`` and the CUDA-only formats are recorded as skipped.
"""

from __future__ import annotations

import contextlib
import json
import signal
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spirl.bench.device_prepare import verify
from spirl.bench.device_steps import (
    Context,
    step_agreement,
    step_error_map,
    step_learner,
    step_pretrain,
    step_run,
    step_shared,
)

# On CUDA every limit is wall-clock time. The CPU rehearsal's step limits are CPU seconds (the check's own, and
# each of the shared step's runs): a loaded CI machine slows its wall clock, not its work; there OUTER_S only
# guards against a hang.
OUTER_S = {"cuda": 300, "cpu": 600}  # gpu_check.sh's timeout around the whole check, seconds
SETUP_S = {"cuda": 25, "cpu": 10}  # imports, CUDA start, verifying the inputs, before the first step
# The device command's limit (gpu_check.sh's wheel install, then OUTER_S): twice that and a machine start
# fit the 15 minutes a task is lent a GPU for, so a failed first try can be fixed and run again.
DEVICE_COMMAND_S = 360
@dataclass(frozen=True)
class Step:
    """One step of the check: its name, its limit in seconds per device kind, and its function."""

    name: str
    limit: dict[str, float]
    run: Callable[[Context, dict[str, Any]], dict[str, Any]]


STEPS: tuple[Step, ...] = (
    # CPU limits, in CPU seconds: the rehearsal's tiny sizes use about half of each.
    Step("run", {"cuda": 75, "cpu": 25}, step_run),
    Step("agreement", {"cuda": 25, "cpu": 8}, step_agreement),
    Step("error_map", {"cuda": 40, "cpu": 10}, step_error_map),
    Step("learner", {"cuda": 35, "cpu": 20}, step_learner),
    Step("pretrain", {"cuda": 20, "cpu": 5}, step_pretrain),
    Step("shared", {"cuda": 80, "cpu": 20}, step_shared),
)


# ------------------------------------------------------------------------------------------------ runner


class StepTimeoutError(Exception):
    """A step ran past its limit."""


@contextlib.contextmanager
def _limit(seconds: float, cpu_time: bool = False) -> Iterator[None]:
    """Raise :class:`StepTimeoutError` in the block after ``seconds`` of wall-clock time (or of this process's
    CPU time)."""
    def stop(signum: int, frame: Any) -> None:
        raise StepTimeoutError

    which, sig = (signal.ITIMER_PROF, signal.SIGPROF) if cpu_time else (signal.ITIMER_REAL, signal.SIGALRM)
    previous = signal.signal(sig, stop)
    signal.setitimer(which, seconds)
    try:
        yield
    finally:
        signal.setitimer(which, 0)
        signal.signal(sig, previous)


def run_check(device: str, prepared: Path, out: Path, only: list[str] | None = None) -> dict[str, Any]:
    """Run the steps in order within ``OUTER_S``, rewriting ``out`` after each; returns the summary."""
    import tempfile

    import torch

    from spirl.bench import _plain, machine

    t0 = time.perf_counter()
    kind = "cuda" if device.startswith("cuda") else "cpu"
    manifest = verify(prepared)
    ctx = Context(device, kind, prepared, Path(tempfile.mkdtemp(prefix="gpu_check_")), manifest["size"] == "tiny")
    summary: dict[str, Any] = {"device": device, "machine": machine(), "cuda": torch.version.cuda,
                               "inputs": {k: manifest[k] for k in ("size", "mae", "frames", "reference_frames",
                                                                   "git_commit", "made")},
                               "limits": {s.name: s.limit[kind] for s in STEPS}, "outer_s": OUTER_S[kind],
                               "order": [], "steps": {}}
    out.parent.mkdir(parents=True, exist_ok=True)

    def save() -> None:
        summary["seconds"] = round(time.perf_counter() - t0, 1)
        out.write_text(json.dumps(_plain(summary), indent=1, sort_keys=True, default=str))

    for step in STEPS:
        if only and step.name not in only:
            continue
        left = OUTER_S[kind] - SETUP_S[kind] / 2 - (time.perf_counter() - t0)
        limit = min(step.limit[kind], left)
        print(f"[{time.perf_counter() - t0:5.0f} s] {step.name} (limit {limit:.0f} s)", flush=True)
        if limit < 2:
            summary["steps"][step.name] = {"ok": False, "error": "no time left"}
            summary["order"].append(step.name)
            save()
            continue
        part: dict[str, Any] = {}
        s = time.perf_counter()
        try:
            with _limit(limit, cpu_time=kind == "cpu"):
                result = step.run(ctx, part)
            record = {"ok": True, **part, **result}
        except StepTimeoutError:
            spent = "s of CPU time" if kind == "cpu" else "s"
            record = {"ok": False, "error": f"timed out after {limit:.0f} {spent}", **part}
        except Exception:  # recorded; the next step runs
            record = {"ok": False, "error": "\n".join(traceback.format_exc().strip().splitlines()[-6:]), **part}
        record["seconds"] = round(time.perf_counter() - s, 1)
        summary["steps"][step.name] = record
        summary["order"].append(step.name)
        save()
        if kind == "cuda":
            torch.cuda.empty_cache()
    save()
    return summary
