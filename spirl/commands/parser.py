"""The one parser class of every ``spirl`` command line: errors are one line, never usage + error.

``spirl.cli`` builds each command's parser with it, and ``spirl bench`` each benchmark's, so that a bad
argument anywhere ends as ``spirl CMD: error: ... (see 'spirl CMD --help')`` with exit code 2.
"""

from __future__ import annotations

import argparse


class UsageError(Exception):
    """A command line argparse cannot accept; the message is one line."""


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors raise :class:`UsageError` (one line, exit 2 in ``spirl.cli``)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see '{self.prog} --help')")
