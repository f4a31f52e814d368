"""What the machine offers and how jobs share it: device choice, number formats, GPU packing.

- :func:`select_device`: ``auto | cpu | cuda | cuda:N`` -> the device a job uses (a GPU when present; with
  several, the least-shared one, claimed by :func:`claim_gpu` for the job's lifetime).
- :func:`probe` / :class:`Hardware`: torch's CPU capability, the CPU's flags (``/proc/cpuinfo``) and
  the GPU's bfloat16 support, read once. Tests pass their own :class:`Hardware` instead.
- :func:`check_precision`: ``float32 | bfloat16 | float16`` -> the torch dtype, or a one-line refusal
  where the format would run slower than float32 (bfloat16 on a CPU without AMX-BF16 or AVX512-BF16
  matrix units) or not at all (float16 off CUDA). float32 is always allowed: it is the exact reference.
- :func:`gpu_resources`: the Snakemake resources of a job on ``device`` when ``runs_per_gpu`` jobs share one
  GPU (docs/costs.md#sharing-a-gpu). Plain arithmetic: the workflow calls it, nothing here imports Snakemake.
- :func:`to_device`: host -> GPU copies through page-locked memory, so a copy does not stall the host.
"""

from __future__ import annotations

import contextlib
import functools
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from spirl.config import DEVICE, Precision, allowed

PRECISIONS = allowed(Precision)
# CPU flags (as /proc/cpuinfo and torch.cpu.get_capabilities() name them) of bfloat16 matrix units.
CPU_BF16_FLAGS = ("amx_bf16", "avx512_bf16")


class PrecisionError(ValueError):
    """A number format this device cannot run, or would run slower than float32."""


class DeviceError(ValueError):
    """A device was asked for that this machine does not have."""


# ------------------------------------------------------------------------------------------- devices


def select_device(requested: str = "auto", *, cuda_count: int | None = None,
                  lock_dir: str | Path | None = None) -> str:
    """The device a job runs on: ``auto`` is ``cuda`` when a GPU is present, else ``cpu``.

    With several GPUs visible, ``auto`` and ``cuda`` claim one (:func:`claim_gpu`) and return ``cuda:N``: local
    jobs started side by side (Snakemake's ``gpu_slots``) spread over the GPUs instead of all using the first.

    Args:
        requested: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        cuda_count: GPUs visible to this process; by default ``torch.cuda.device_count()``.
        lock_dir: where the GPU claims' lock files live (:func:`claim_gpu`'s default).

    Raises:
        DeviceError: a GPU (or GPU ``N``) was asked for and is not there.
        ValueError: ``requested`` is not a device name.
    """
    if not re.fullmatch(DEVICE.regex, requested):
        raise ValueError(DEVICE.refuse(requested))
    if cuda_count is None:
        import torch

        cuda_count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if requested == "auto" and cuda_count == 0:
        return "cpu"
    if requested in ("auto", "cuda") and cuda_count > 1:
        return f"cuda:{claim_gpu(cuda_count, lock_dir=lock_dir)}"
    if requested == "auto":
        return "cuda"
    if requested == "cpu":
        return "cpu"
    index = requested.partition(":")[2]  # cuda or cuda:N (the DEVICE pattern allows nothing else)
    if cuda_count == 0:
        raise DeviceError(f"device {requested!r} was asked for but no GPU is visible; use device auto or cpu")
    if index and int(index) >= cuda_count:
        raise DeviceError(f"device {requested!r} was asked for but only {cuda_count} GPU(s) are visible "
                          f"(cuda:0 .. cuda:{cuda_count - 1})")
    return requested


_CLAIMS: list[Any] = []  # open lock files of this process's GPU claims: held until it exits (or is killed)


def claim_gpu(count: int, *, ids: list[str] | None = None, lock_dir: str | Path | None = None) -> int:
    """Claim the least-shared of ``count`` visible GPUs for this process; returns its index.

    Each claim is an OS lock (``flock``) on ``lock_dir/gpu-<id>-slot-<s>.lock`` held by this process until it
    exits, killed or not: slot 0 of every GPU is tried first, then slot 1, and so on, so that N jobs started side
    by side on G GPUs get ``ceil(N / G)`` jobs per GPU at most. Snakemake's ``--resources gpu_slots=G*runs_per_gpu``
    caps N. The GPU's UUID names it (``ids``; by default read from torch), so jobs that see the GPUs in another
    order still agree. On a GPU it is made this process's current device (no context on GPU 0 for nothing).

    Args:
        count: GPUs visible (> 1).
        ids: a stable name of each GPU (tests pass their own).
        lock_dir: where the locks live; by default ``<tmp>/spirl-gpu-claims-<uid>``.
    """
    import fcntl
    import os
    import tempfile

    folder = Path(lock_dir) if lock_dir is not None else Path(tempfile.gettempdir()) / f"spirl-gpu-claims-{os.getuid()}"
    folder.mkdir(parents=True, exist_ok=True)
    if ids is None:
        import torch

        cuda = torch.cuda.is_available()
        ids = [str(getattr(torch.cuda.get_device_properties(i), "uuid", i)) if cuda else str(i) for i in range(count)]
    slot = 0
    while True:
        for index, name in enumerate(ids[:count]):
            handle = open(folder / f"gpu-{name}-slot-{slot}.lock", "w")  # noqa: SIM115 (held until exit)
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                continue
            _CLAIMS.append(handle)
            _set_current_gpu(index)
            return index
        slot += 1


def _set_current_gpu(index: int) -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.set_device(index)


def release_gpu_claims() -> None:
    """Drop this process's GPU claims (tests; a job's claims end with it)."""
    while _CLAIMS:
        _CLAIMS.pop().close()


# ------------------------------------------------------------------------------------------ hardware


@dataclass(frozen=True)
class Hardware:
    """What the number formats depend on, read once per process by :func:`probe`.

    ``cpu_capability``: torch's vector ISA (``AVX2``, ``AVX512``, ...); ``cpu_flags``: the flags of
    ``/proc/cpuinfo`` and those ``torch.cpu.get_capabilities()`` reports true; ``gpu_name``/``gpu_bf16``:
    the first visible GPU and whether it has bfloat16 units (``torch.cuda.is_bf16_supported``), or
    None/False without one.
    """

    cpu_capability: str
    cpu_flags: frozenset[str] = field(default_factory=frozenset)
    gpu_name: str | None = None
    gpu_bf16: bool = False

    @property
    def cpu_bf16_units(self) -> bool:
        """True when the CPU multiplies bfloat16 matrices natively (AMX-BF16 or AVX512-BF16)."""
        return any(f in self.cpu_flags for f in CPU_BF16_FLAGS)

    def describe_cpu(self) -> str:
        """One phrase for messages: the ISA and the bfloat16 units found or missing."""
        found = [f for f in CPU_BF16_FLAGS if f in self.cpu_flags]
        units = f"with {' and '.join(found)}" if found else f"without {' or '.join(CPU_BF16_FLAGS)}"
        return f"{self.cpu_capability} CPU {units}"


def cpuinfo_flags(path: str | Path = "/proc/cpuinfo") -> frozenset[str]:
    """The ``flags`` of the first processor in ``/proc/cpuinfo`` (empty where the file is not there)."""
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith("flags"):
                return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


@functools.cache
def probe() -> Hardware:
    """This machine's :class:`Hardware` (cached: the answer does not change while the process runs)."""
    import torch

    flags = set(cpuinfo_flags())
    with contextlib.suppress(AttributeError, RuntimeError):  # an older torch: /proc/cpuinfo alone
        flags |= {name for name, on in torch.cpu.get_capabilities().items() if on is True}
    gpu_name, gpu_bf16 = None, False
    if torch.cuda.is_available():
        gpu_name = torch.cuda.get_device_name(0)
        gpu_bf16 = bool(torch.cuda.is_bf16_supported(including_emulation=False))
    return Hardware(torch.backends.cpu.get_cpu_capability(), frozenset(flags), gpu_name, gpu_bf16)


def check_precision(precision: str, device: str, *, what: str = "saliency.precision", hardware: Hardware | None = None,
                    allow_slow: bool = False) -> Any:
    """The torch dtype of ``precision`` on ``device``, refusing a format the device would run badly.

    Args:
        precision: ``float32``, ``bfloat16`` or ``float16``.
        device: ``cpu``, ``cuda`` or ``cuda:N`` (after :func:`select_device`).
        what: the setting named in messages.
        hardware: what the machine offers; :func:`probe` by default (tests pass their own).
        allow_slow: run bfloat16 on a CPU without bfloat16 units anyway, with a one-line warning on
            stderr (the benchmarks use it to measure agreement and cost; a run never does).

    Raises:
        PrecisionError: an unknown word; float16 off CUDA; bfloat16 on a GPU without bfloat16 units;
            bfloat16 on a CPU without AMX-BF16/AVX512-BF16 (slower than float32) unless ``allow_slow``.
    """
    import torch

    if precision not in PRECISIONS:
        raise PrecisionError(f"{what}: {precision!r} is not a number format; allowed: {', '.join(PRECISIONS)}")
    if precision == "float32":
        return torch.float32
    hw = hardware if hardware is not None else probe()
    on_gpu = str(device).startswith("cuda")
    if precision == "float16":
        if not on_gpu:
            raise PrecisionError(f"{what}: float16 runs on CUDA only (on {device} use float32, or bfloat16 on a CPU "
                                 "with AMX-BF16/AVX512-BF16)")
        return torch.float16
    if on_gpu:
        if not hw.gpu_bf16:
            raise PrecisionError(f"{what}: the GPU {hw.gpu_name or '?'} has no bfloat16 units; use float16 or float32")
        return torch.bfloat16
    if not hw.cpu_bf16_units:
        message = (f"{what}: bfloat16 on this {hw.describe_cpu()} runs slower than float32 (no bfloat16 matrix "
                   "units)")
        if not allow_slow:
            raise PrecisionError(message + "; use float32 (exact), or a GPU or a CPU with AMX-BF16/AVX512-BF16")
        print(f"warning: {message}; running it anyway to measure it", file=sys.stderr)
    return torch.bfloat16


# ------------------------------------------------------------------------------------- GPU sharing


def gpu_resources(device: str, runs_per_gpu: int = 1) -> dict[str, int | str]:
    """Snakemake resources of one job on ``device`` when ``runs_per_gpu`` jobs share a GPU.

    Every job declares the same three keys (a rule's resources are fixed):

    - ``gpu_slots``: 1 for a GPU job, 0 for a CPU job. A GPU offers ``runs_per_gpu`` slots, so a
      local run with G GPUs caps the GPU jobs with ``--resources gpu_slots=G*runs_per_gpu``.
    - ``gpu``: whole GPUs (the SLURM executor's ``--gpus``): 1 when a job has its GPU to itself
      (``runs_per_gpu`` 1), else 0.
    - ``gres``: ``"gpu:1"`` for a GPU job that shares its GPU, else ``""``. A string resource is not
      summed over a SLURM group job, so ``--groups train=gpu_pack --group-components gpu_pack=N``
      packs N runs into one SLURM job holding one GPU (docs/costs.md#sharing-a-gpu).

    ``device`` is the job's setting (``auto`` counts as a GPU job: a cluster then places it on a GPU node).

    Raises:
        ValueError: ``runs_per_gpu`` < 1.
    """
    if isinstance(runs_per_gpu, bool) or int(runs_per_gpu) != runs_per_gpu or runs_per_gpu < 1:
        raise ValueError(f"runs_per_gpu must be a whole number >= 1, got {runs_per_gpu!r}")
    if device == "cpu":
        return {"gpu": 0, "gpu_slots": 0, "gres": ""}
    if runs_per_gpu == 1:
        return {"gpu": 1, "gpu_slots": 1, "gres": ""}
    return {"gpu": 0, "gpu_slots": 1, "gres": "gpu:1"}


# ------------------------------------------------------------------------------------ host -> device


def to_device(x: Any, device: Any) -> Any:
    """A host array or tensor (any shape and dtype) -> a tensor on ``device``, without the host waiting for a GPU.

    On CUDA a host source is copied into page-locked memory from torch's caching host allocator and
    sent asynchronously: the allocator keeps that block until the copy, on the destination device's
    current stream, has ended, so the caller may reuse its array at once (``cuda:N`` included). A
    source already on a GPU is moved with ``non_blocking`` too. On a CPU the result shares the
    array's memory (no copy), as ``.to("cpu")`` does.
    """
    import torch

    t = torch.from_numpy(np.ascontiguousarray(x)) if isinstance(x, np.ndarray) else x
    dev = torch.device(device)
    if dev.type == "cpu" and t.device.type == "cpu":
        return t
    if dev.type == "cuda" and t.device.type == "cpu" and not t.is_pinned():
        t = t.pin_memory()
    return t.to(dev, non_blocking=True)


def set_generator_state(generator: Any, state: Any, *, what: str = "a generator") -> None:
    """Restore ``generator`` from a saved ``get_state()``, wherever the state was written.

    The project's torch generators all live on the host (the learner's noise, the pretraining sampler
    and masks, the random-patch control), so a state written by a run on one device loads into the same
    run on another. A state of another kind of generator (a CUDA generator's 16 bytes, from a checkpoint
    of an older version) is refused in one line.

    Raises:
        ValueError: ``state`` is not a state of ``generator``'s kind.
    """
    import torch

    state = torch.as_tensor(state).cpu()
    expected = generator.get_state().numel()
    if state.dtype != torch.uint8 or state.numel() != expected:
        raise ValueError(f"{what}: the saved state ({state.numel()} bytes) is not a {generator.device.type} "
                         f"generator's ({expected} bytes); the checkpoint was written by another version: "
                         "delete it to start afresh")
    generator.set_state(state)


__all__ = ["CPU_BF16_FLAGS", "PRECISIONS", "DeviceError", "Hardware", "PrecisionError", "check_precision",
           "claim_gpu", "cpuinfo_flags", "gpu_resources", "probe", "release_gpu_claims",
           "select_device", "set_generator_state", "to_device"]
