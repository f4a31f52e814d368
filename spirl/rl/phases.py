"""Where a run's time goes: seconds per phase and the error cache's hit rates, for ``run.json``.

A run (``spirl.rl.trainer.Trainer``) is training steps (env step, features of the new frame, learner
updates), evaluations and checkpoints; ``spirl bench run`` projects each from measured rates
(``spirl.projection``). The trainer times each phase here and counts the error cache's lookups
and hits separately for training and evaluation frames, so a finished (or partial) run's
``run.json`` ``phases`` can be set beside its projection (``spirl bench run --compare RUN``). The
counters are part of the checkpoint, so a resumed run reports all its sessions.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

PHASES = ("training", "evaluation", "checkpoints")


class PhaseClock:
    """Seconds and counts per phase (``PHASES``), and error-cache lookups and hits per phase."""

    def __init__(self) -> None:
        self.seconds = dict.fromkeys(PHASES, 0.0)
        self.count = dict.fromkeys(PHASES, 0)  # steps, evaluation frames, checkpoints
        self.lookups = {"training": 0, "evaluation": 0}
        self.hits = {"training": 0, "evaluation": 0}

    @contextmanager
    def timed(self, phase: str, cache: Any = None, count: int = 1) -> Iterator[None]:
        """Add the block's wall seconds to ``phase`` and ``count`` to its count; with ``cache`` (an ``ErrorCache``
        or None), its lookups and hits made in the block."""
        before = (cache.lookups, cache.hits) if cache is not None else None
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] += time.perf_counter() - t0
            self.count[phase] += count
            if before is not None and phase in self.lookups:
                self.lookups[phase] += cache.lookups - before[0]
                self.hits[phase] += cache.hits - before[1]

    def add_count(self, phase: str, n: int) -> None:
        """Count ``n`` more units of ``phase`` (evaluation frames are known after the evaluation)."""
        self.count[phase] += n

    def state(self) -> dict[str, Any]:
        """The counters, for a checkpoint."""
        return {"seconds": dict(self.seconds), "count": dict(self.count), "lookups": dict(self.lookups),
                "hits": dict(self.hits)}

    def load(self, state: dict[str, Any] | None) -> None:
        """Continue from :meth:`state`'s counters (None: a checkpoint written before they existed)."""
        if not state:
            return
        for name in ("seconds", "count", "lookups", "hits"):
            getattr(self, name).update(state.get(name, {}))

    def summary(self) -> dict[str, Any]:
        """``run.json`` ``phases``: per phase its seconds, count and seconds per unit (step, evaluation frame,
        checkpoint), and the error cache's hit rate of training and evaluation frames (null without a cache)."""
        out: dict[str, Any] = {}
        units = {"training": "step", "evaluation": "frame", "checkpoints": "checkpoint"}
        for phase in PHASES:
            n, s = self.count[phase], self.seconds[phase]
            out[phase] = {"seconds": round(s, 3), units[phase] + "s": n,
                          f"s_per_{units[phase]}": round(s / n, 6) if n else None}
        for phase in self.lookups:
            lookups = self.lookups[phase]
            out[phase]["cache_hit_rate"] = round(self.hits[phase] / lookups, 4) if lookups else None
        return out


__all__ = ["PHASES", "PhaseClock"]
