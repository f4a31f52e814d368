"""glibc's allocator for the long-running commands: keep large temporaries instead of unmapping them.

A batch-1 error map (every training step of a SPIRL run) allocates tens of MB of temporaries. With
glibc's defaults those above its (dynamic) mmap threshold are mapped and unmapped on every call and
the heap's free top is trimmed back to the OS, so each frame faults the same pages in again: 39-51K
minor page faults and 72-99 ms of system time per frame with the paper MAE (docs/costs.md#allocator).
:func:`configure` sets what ``MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=4294967296``
would, through ``mallopt`` at process start (the environment variables are read only when a process
starts): blocks up to 32 MiB come from the heap and the heap is not trimmed below 2 GiB of free top
(``mallopt`` takes an ``int``), so a warm process reuses its pages. Numbers are unchanged (bit-identical);
memory stays at the process's peak. ``spirl train``, ``pretrain``, ``saliency-stats`` and ``bench``
call it (``spirl.cli``); ``SPIRL_MALLOC=default`` leaves glibc's defaults (to measure them).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h
MMAP_THRESHOLD = 32 * 2**20  # glibc's largest (HEAP_MAX_SIZE / 2 on 64-bit)
TRIM_THRESHOLD = 2**31 - 1  # the largest an int holds
COMMANDS = ("train", "pretrain", "saliency-stats", "bench")


def configure() -> bool:
    """Set the thresholds in this process; False where there is no glibc or ``SPIRL_MALLOC=default``."""
    if os.environ.get("SPIRL_MALLOC") == "default":
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        mallopt = getattr(libc, "mallopt", None)
    except OSError:
        return False
    if mallopt is None:  # not glibc (macOS, musl without it)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))


__all__ = ["COMMANDS", "configure"]
