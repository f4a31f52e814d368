"""Warnings before a kill (SLURM's time limit, preemption): checkpoint, say so, exit "resume me".

A batch scheduler warns a job before it kills it: SLURM sends SIGTERM at the time limit (then
SIGKILL ``KillWait`` seconds later, 30 by default), or the signal ``sbatch --signal=SIG@SECONDS``
names that many seconds before (docs/reliability.md#time-limits). ``spirl train``, ``spirl
pretrain`` and ``spirl saliency-stats`` call :func:`install` at start: SIGTERM and SIGUSR1 then
only set a flag, which the work polls at its safe points (:func:`requested`). There the command
writes a checkpoint (a run: its state at that step; pretraining: the epochs done; K statistics:
the frames counted so far), prints one line saying what was saved and how it resumes, and exits
with :data:`EXIT_RESUME`. Rerunning the same command resumes; the workflow's SLURM profile
resubmits until the job is done (``retries``).
"""

from __future__ import annotations

import signal
import sys
from types import FrameType

EXIT_RESUME = 75  # EX_TEMPFAIL: "stopped on a warning, state saved: run the same command again"
SIGNALS = (signal.SIGTERM, signal.SIGUSR1)

_received: int | None = None


class PreemptionError(Exception):
    """Raised at a safe point after a warning signal; ``saved`` says what the command kept."""

    def __init__(self, signum: int, saved: str) -> None:
        self.signum, self.saved = signum, saved
        super().__init__(f"stopped by {signal.Signals(signum).name}: {saved}")


# The commands that catch the warning signals: spirl.cli installs the handler before them and turns their
# PreemptionError into its one line and EXIT_RESUME.
COMMANDS = ("train", "pretrain", "saliency-stats")


def _note(signum: int, _frame: FrameType | None) -> None:
    global _received
    _received = signum


def install() -> None:
    """Catch SIGTERM and SIGUSR1 in this process (the main thread) from now on: they set a flag only."""
    reset()
    for sig in SIGNALS:
        signal.signal(sig, _note)


def reset() -> None:
    """Forget a warning received before (tests; a new command in the same process)."""
    global _received
    _received = None


def requested() -> int | None:
    """The warning signal received since :func:`install`, or None."""
    return _received


def check(saved: str) -> None:
    """Raise :class:`PreemptionError` (``saved``: what a stop here keeps) if a warning signal came."""
    if _received is not None:
        raise PreemptionError(_received, saved)


def report(command: str, err: PreemptionError) -> int:
    """Print the one line of a warned stop and return :data:`EXIT_RESUME`."""
    print(f"spirl {command}: {err}", file=sys.stderr, flush=True)
    return EXIT_RESUME


__all__ = ["COMMANDS", "EXIT_RESUME", "SIGNALS", "PreemptionError", "check", "install", "report", "requested", "reset"]
