"""Command-line conventions every ``spirl`` command shares: checked numbers, ``--force``, old spellings.

- Numbers that mean a setting (``--threads``, ``--seed``, ``--n-frames``, ``--xscale``, ...) are
  parsed by :func:`number`, which checks them against the range of the same dataclass field a
  preset's value obeys (``spirl.config.check_number``), so a bad one stops argparse with one line.
- A command that writes outputs takes ``--force`` (:func:`add_force`) and calls
  :func:`refuse_existing` before any work: without ``--force`` it refuses to overwrite an output
  it would write, and a directory where a file goes (or a file where a directory goes) is refused
  even with it. Snakemake deletes a job's declared outputs before it reruns the job, so the rules
  need no ``--force``.
- An old spelling stays for one release as a hidden alias (:func:`old_spelling`) that says, in
  one line, what it is now called.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from spirl.config import DEVICE, ConfigError, check_number


def number(key: str, kind: type = int) -> Callable[[str], Any]:
    """An argparse ``type``: parse an ``int`` (or ``float``) and check it against field ``key``'s range."""
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}, "
                                             f"got {text!r}") from None
        try:
            return check_number("value", key, value)
        except ConfigError as err:
            raise argparse.ArgumentTypeError(str(err).removeprefix("value: ")) from None

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


def device(text: str) -> str:
    """An argparse ``type`` for ``--device``: auto, cpu, cuda or cuda:N (``spirl.config.DEVICE``)."""
    if not re.match(DEVICE.regex, text):
        raise argparse.ArgumentTypeError(DEVICE.refuse(text))
    return text


def add_force(parser: argparse.ArgumentParser, what: str = "its outputs") -> None:
    """``--force``: overwrite ``what`` if they exist (without it the command refuses before any work)."""
    parser.add_argument("--force", action="store_true", help=f"overwrite {what} if they exist")


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


class _OldSpelling(argparse.Action):
    """Store into the new option's ``dest`` and say, once, what the option is now called."""

    def __init__(self, *args: Any, new: str, **kwargs: Any) -> None:
        self.new = new
        super().__init__(*args, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        print(f"{parser.prog}: note: {option_string} is now {self.new}; the old spelling goes in the next release",
              file=sys.stderr)
        setattr(namespace, self.dest, values)


def old_spelling(parser: argparse.ArgumentParser, old: str, new: str, dest: str, *, type: Any = None,
                 nargs: str | int | None = None) -> None:
    """Accept ``old`` as a hidden alias of ``new`` (same ``dest``, same ``type``), with a one-line note."""
    parser.add_argument(old, dest=dest, type=type, nargs=nargs, action=_OldSpelling, new=new,
                        default=argparse.SUPPRESS, help=argparse.SUPPRESS)


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


__all__ = ["add_force", "device", "memory_bytes", "number", "old_spelling", "outputs_in", "refuse_existing",
           "refuse_oversized"]
