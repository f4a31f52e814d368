"""Outputs a command writes: refuse to overwrite one before any work (the other guards: ``spirl.guards``).

Without ``force``, :func:`refuse_existing` refuses an output that exists; a directory where a file goes
(or a file where a directory goes) is refused even with it. Snakemake deletes a job's declared outputs
before it reruns the job, so the rules need no ``--force``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path


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


__all__ = ["outputs_in", "refuse_existing"]
