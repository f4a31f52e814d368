"""Command-line conventions every ``spirl`` command shares: checked numbers, ``--force``, old spellings.

- Numbers that mean a setting (``--threads``, ``--seed``, ``--n-frames``, ``--xscale``, ...) are
  parsed by :func:`number`, which checks them against the range of the same dataclass field a
  preset's value obeys (``spirl.config.check_number``), so a bad one stops argparse with one line.
- A command that writes outputs takes ``--force`` (:func:`add_force`) and calls
  ``spirl.outputs.refuse_existing`` before any work: without ``--force`` it refuses to overwrite an output
  it would write, and a directory where a file goes (or a file where a directory goes) is refused
  even with it. Snakemake deletes a job's declared outputs before it reruns the job, so the rules
  need no ``--force``.
- An old spelling stays for one release as a hidden alias (:func:`old_spelling`) that says, in
  one line, what it is now called.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
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


def add_device(parser: argparse.ArgumentParser, default: str | None = "auto", shown: str | None = None) -> None:
    """``--device``, checked by :func:`device`; ``shown`` says what a ``None`` default means."""
    parser.add_argument("--device", type=device, default=default,
                        help=f"auto (a GPU when present), cpu, cuda or cuda:N (default: {shown or default})")


def add_threads(parser: argparse.ArgumentParser, default: int | None = None, shown: str = "torch's choice") -> None:
    """``--threads`` (torch threads), checked as ``preset.threads`` is; ``shown`` says what ``None`` means."""
    parser.add_argument("--threads", type=number("preset.threads"), default=default,
                        help=f"torch threads (default: {shown if default is None else default})")


def add_force(parser: argparse.ArgumentParser, what: str = "its outputs") -> None:
    """``--force``: overwrite ``what`` if they exist (without it the command refuses before any work)."""
    parser.add_argument("--force", action="store_true", help=f"overwrite {what} if present")


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


__all__ = ["add_force", "device", "number", "old_spelling"]
