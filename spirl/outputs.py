"""Outputs a command writes: refuse to overwrite one before any work, and refuse a request larger than memory.

Without ``force``, :func:`refuse_existing` refuses an output that exists; a directory where a file goes
(or a file where a directory goes) is refused even with it. Snakemake deletes a job's declared outputs
before it reruns the job, so the rules need no ``--force``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from spirl.config import ConfigError


def _refuse_file_parent(path: Path, verb: str) -> None:
    """Refuse ``path`` when its nearest existing ancestor is a file (it could not be ``verb``)."""
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise FileExistsError(f"{parent} is a file, so {path} cannot be {verb}; give another path")
            return


def refuse_existing(files: Iterable[str | os.PathLike[str]] = (), *, force: bool = False,
                    dirs: Iterable[str | os.PathLike[str]] = ()) -> None:
    """Refuse, before any work, to overwrite an output: ``files`` that exist (unless ``force``), a directory
    where one of ``files`` goes, or a file where one of ``dirs`` (output folders) goes.

    Raises:
        FileExistsError: one line naming the path and the remedy.
    """
    for d in map(Path, dirs):
        if d.exists() and not d.is_dir():
            raise FileExistsError(f"{d} is a file, not a folder for the outputs; give another path")
        _refuse_file_parent(d, "created")
    for f in map(Path, files):
        if f.is_dir():
            raise FileExistsError(f"{f} is a directory; give the path of the file to write")
        _refuse_file_parent(f, "written")
        if f.exists() and not force:
            raise FileExistsError(f"{f} already exists; pass --force to overwrite it")


def outputs_in(folder: str | os.PathLike[str], names: Sequence[str]) -> list[Path]:
    """``folder/name`` for each of ``names``: the files a command writes into an output folder."""
    return [Path(folder) / n for n in names]


def memory_bytes() -> int:
    """Physical memory of this machine in bytes (0 when unknown)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 0


def refuse_oversized(n_bytes: int, what: str, remedy: str) -> None:
    """Refuse, before allocating, a request larger than this machine's memory.

    Raises:
        ConfigError: one line with the size needed, the memory there is and ``remedy``.
    """
    have = memory_bytes()
    if have and n_bytes > have:
        raise ConfigError(f"{what} needs {_size(n_bytes)} of memory, more than this machine's {_size(have)}; "
                          f"{remedy}")


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024:
            return f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"


__all__ = ["memory_bytes", "outputs_in", "refuse_existing", "refuse_oversized"]
