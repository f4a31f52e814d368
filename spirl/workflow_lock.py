"""Whether the lock Snakemake left in a working directory is stale, so that ``snakemake --unlock`` is safe.

Snakemake locks its working directory with files in ``.snakemake/locks/`` and removes them when it ends;
killed (``kill -9``, a power cut), it cannot, and the next run stops with a ``LockException``. The lock
is stale when no Snakemake process runs in that directory: then ``spirl unlock`` runs Snakemake's own
``--unlock`` (docs/reliability.md#stale-lock). A Snakemake process counts when its command line names
``snakemake`` as its program (``snakemake ...``, ``python .../snakemake ...``, ``python -m snakemake ...``)
and either its working directory or its ``--directory``/``-d`` is the directory; cluster jobs (``--mode``
in their command line) do not hold the lock. A wrapper that merely names it (``time snakemake``, ``nice``,
``timeout``, ``srun``, ``bash -c``) is not a Snakemake, and this process's ancestors are never counted: they
are the run itself. Processes on other machines are not seen.
"""

from __future__ import annotations

import os
import re
import socket
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


def is_snakemake(cmdline: Sequence[str]) -> bool:
    """True when the program a command line runs is Snakemake: ``snakemake``, ``python [opts] .../snakemake``
    or ``python [opts] -m snakemake``; a wrapper naming it as an argument (``time snakemake``) is not."""
    if not cmdline:
        return False
    program = os.path.basename(cmdline[0])
    if program == "snakemake":
        return True
    if not re.fullmatch(r"python[0-9.]*", program):
        return False
    rest = list(cmdline[1:])
    while rest and rest[0].startswith("-") and rest[0] != "-m":
        rest.pop(0)  # interpreter options (-u, -O, -X...)
    if rest[:2] == ["-m", "snakemake"]:
        return True
    return bool(rest) and os.path.basename(rest[0]) == "snakemake"


def runs_in(cmdline: Sequence[str], cwd: str | None, directory: str | os.PathLike[str]) -> bool:
    """True when a process with this command line and working directory is a main Snakemake process
    working in ``directory``."""
    if not is_snakemake(cmdline) or "--mode" in cmdline:
        return False
    target = os.path.realpath(directory)
    given = _directory_argument(cmdline)
    if given is not None:
        return os.path.realpath(os.path.join(cwd or "", given)) == target
    return cwd is not None and os.path.realpath(cwd) == target


def snakemake_processes(directory: str | os.PathLike[str]) -> list[int]:
    """Process ids of the Snakemake processes on this machine that work in ``directory`` (this one and its
    ancestors excluded)."""
    own = {os.getpid(), *(p.pid for p in psutil.Process().parents())}
    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "cwd"]):
        try:
            if proc.info["pid"] not in own and runs_in(proc.info["cmdline"] or [], proc.info["cwd"], directory):
                found.append(proc.info["pid"])
        except (psutil.Error, OSError):
            continue
    return found


def is_dry_run(argv: Sequence[str]) -> bool:
    """True for ``snakemake -n``/``--dry-run`` (it takes no lock and may look at a live run)."""
    return any(a in ("--dry-run", "--dryrun", "--just-print") or (a.startswith("-") and not a.startswith("--")
                                                                  and "n" in a[1:]) for a in argv)


def refuse_second_run(directory: str | os.PathLike[str]) -> None:
    """Stop a second Snakemake run in ``directory`` while another works there, with one line naming it.

    Without this, the second run mistakes the live run's jobs for incomplete files
    (``IncompleteFilesException``) or stops on its lock with Snakemake's multi-line message.

    Raises:
        SystemExit: one line naming the directory, the live Snakemake's PID(s) and this host.
    """
    others = snakemake_processes(directory)
    if others:
        raise SystemExit(f"spirl: another Snakemake run of this workflow is active in {os.path.realpath(directory)} "
                         f"(PID {', '.join(map(str, others))} on host {socket.gethostname()}); wait for it to end, "
                         "or stop it")


def stale_lock(directory: str | os.PathLike[str]) -> bool:
    """True when ``directory`` holds Snakemake lock files and no Snakemake process works in it."""
    return bool(lock_files(directory)) and not snakemake_processes(directory)


__all__ = ["is_dry_run", "is_snakemake", "lock_files", "refuse_second_run", "runs_in", "snakemake_processes",
           "stale_lock"]
