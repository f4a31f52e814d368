"""Whether the lock Snakemake left in a working directory is stale, so that ``snakemake --unlock`` is safe.

Snakemake locks its working directory with files in ``.snakemake/locks/`` and removes them when it ends;
killed (``kill -9``, a power cut), it cannot, and the next run stops with a ``LockException``. The lock
is stale when no Snakemake process runs in that directory: then ``spirl unlock`` runs Snakemake's own
``--unlock`` (docs/reliability.md#stale-lock). A Snakemake process counts when its command line names
``snakemake`` and either its working directory or its ``--directory``/``-d`` is the directory; cluster
jobs (``--mode`` in their command line) do not hold the lock. Processes on other machines are not seen.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import psutil


def lock_files(directory: str | os.PathLike[str]) -> list[Path]:
    """The lock files Snakemake holds (or left) in ``directory``, sorted."""
    locks = Path(directory) / ".snakemake" / "locks"
    return sorted(locks.glob("*.lock")) if locks.is_dir() else []


def _directory_argument(cmdline: Sequence[str]) -> str | None:
    for i, arg in enumerate(cmdline):
        if arg in ("--directory", "-d") and i + 1 < len(cmdline):
            return cmdline[i + 1]
        if arg.startswith("--directory="):
            return arg.split("=", 1)[1]
    return None


def runs_in(cmdline: Sequence[str], cwd: str | None, directory: str | os.PathLike[str]) -> bool:
    """True when a process with this command line and working directory is a main Snakemake process
    working in ``directory``."""
    if not any("snakemake" in os.path.basename(a) or a == "snakemake" for a in cmdline) or "--mode" in cmdline:
        return False
    target = os.path.realpath(directory)
    given = _directory_argument(cmdline)
    if given is not None:
        return os.path.realpath(os.path.join(cwd or "", given)) == target
    return cwd is not None and os.path.realpath(cwd) == target


def snakemake_processes(directory: str | os.PathLike[str]) -> list[int]:
    """Process ids of the Snakemake processes on this machine that work in ``directory`` (this one excluded)."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "cwd"]):
        try:
            if proc.info["pid"] != os.getpid() and runs_in(proc.info["cmdline"] or [], proc.info["cwd"], directory):
                found.append(proc.info["pid"])
        except (psutil.Error, OSError):
            continue
    return found


def stale_lock(directory: str | os.PathLike[str]) -> bool:
    """True when ``directory`` holds Snakemake lock files and no Snakemake process works in it."""
    return bool(lock_files(directory)) and not snakemake_processes(directory)


__all__ = ["lock_files", "runs_in", "snakemake_processes", "stale_lock"]
