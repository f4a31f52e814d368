"""Progress of long steps: a tqdm bar on a terminal, one-line progress records in a log.

Every long step (collection, pretraining, K statistics, training, evaluation) counts its work
through ``spirl.utils.progress``. On a terminal that is tqdm's bar, unchanged. Off a terminal
(a Snakemake or SLURM job's log, CI) it is a :class:`ProgressRecorder`, which writes one line
to stderr when the step starts, then whenever the count passes the next 2% of the total or
2 minutes have passed since the previous record, whichever comes first, and once at the end::

    [progress] 2025-06-01T12:00:00Z spirl Seaquest seed 0 | 2000/100000 step (2.0%) | 35.2 step/s
        | elapsed 0:00:57 | eta 0:46:24 | eval_mean=120.5 loss=0.0312      (one line in the log)

Fields, separated by `` | ``: the UTC time the record was written and the step's name; the
count, its total (when known) and the percentage; the mean rate since the step started in this
process (``?`` on the first record); the time since it started; the time left at that rate
(``?`` when unknown); and the step's own fields (``set_postfix``: training adds the latest
evaluation's mean and the loss ``train_log.csv`` logged last). A record is only written
from the step's own loop, so a hung loop writes nothing. :func:`parse_record` reads a line
back (``spirl status`` does); :func:`format_record` is the one writer.

docs/monitoring.md describes the records and how ``spirl status`` uses them.
"""

from __future__ import annotations

import datetime
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TextIO

PREFIX = "[progress]"
EVERY_FRACTION = 0.02  # a record each time the count passes the next 2% of the total ...
EVERY_SECONDS = 120.0  # ... or once this long has passed since the previous one, whichever comes first
SEP = " | "

_RECORD = re.compile(
    r"^\[progress\] (?P<time>\S+) (?P<desc>.*?) \| (?P<n>\d+)(?:/(?P<total>\d+))? (?P<unit>\S+)"
    r"(?: \((?P<pct>[\d.]+)%\))? \| (?P<rate>\S+) \S+/s \| elapsed (?P<elapsed>[\d:]+) \| eta (?P<eta>\S+)"
    r"(?: \| (?P<post>.*))?$"
)


@dataclass
class ProgressRecord:
    """One progress record, as written to (and read back from) a log."""

    time: datetime.datetime  # UTC, when the record was written
    desc: str  # the step's name, e.g. "spirl Seaquest seed 0" or "evaluation at step 2000"
    n: int  # units done (counting those of earlier sessions of a resumed step)
    total: int | None  # units in the whole step, when known
    unit: str  # "step", "episode", "batch", "frame", ...
    rate: float | None  # units per second, mean since the step started in this process (None on the first)
    elapsed_s: float  # seconds since the step started in this process
    eta_s: float | None  # seconds left at ``rate`` (None when the rate or the total is unknown)
    fields: dict[str, str] = field(default_factory=dict)  # the step's own fields (set_postfix)


def clock_text(seconds: float) -> str:
    """``H:MM:SS`` of a number of seconds (rounded; the hours are not capped)."""
    s = max(0, round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _clock_seconds(text: str) -> float:
    parts = [int(p) for p in text.split(":")]
    return float(sum(p * 60 ** i for i, p in enumerate(reversed(parts))))


def _rate_text(rate: float | None) -> str:
    if rate is None:
        return "?"
    return f"{rate:.1f}" if rate >= 10 else f"{rate:.3g}"


def format_record(r: ProgressRecord) -> str:
    """The log line of ``r`` (no newline); :func:`parse_record` reads it back."""
    count = f"{r.n}/{r.total} {r.unit} ({100.0 * r.n / r.total:.1f}%)" if r.total else f"{r.n} {r.unit}"
    parts = [f"{PREFIX} {r.time.strftime('%Y-%m-%dT%H:%M:%SZ')} {_clean(r.desc) or 'progress'}", count,
             f"{_rate_text(r.rate)} {r.unit}/s", f"elapsed {clock_text(r.elapsed_s)}",
             f"eta {'?' if r.eta_s is None else clock_text(r.eta_s)}"]
    if r.fields:
        parts.append(" ".join(f"{_clean(k).replace(' ', '_')}={_clean(v).replace(' ', '_')}"
                              for k, v in r.fields.items()))
    return SEP.join(parts)


def _clean(text: Any) -> str:
    """One-line text without the field separator."""
    return " ".join(str(text).split()).replace("|", "/")


def parse_record(line: str) -> ProgressRecord | None:
    """The record on ``line``, or None when the line is not a progress record."""
    m = _RECORD.match(line.rstrip("\n"))
    if m is None:
        return None
    try:
        when = datetime.datetime.strptime(m["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
    except ValueError:
        return None
    post = dict(kv.split("=", 1) for kv in (m["post"] or "").split() if "=" in kv)
    return ProgressRecord(
        time=when, desc=m["desc"], n=int(m["n"]), total=int(m["total"]) if m["total"] else None, unit=m["unit"],
        rate=None if m["rate"] == "?" else float(m["rate"]), elapsed_s=_clock_seconds(m["elapsed"]),
        eta_s=None if m["eta"] == "?" else _clock_seconds(m["eta"]), fields=post,
    )


class ProgressRecorder:
    """tqdm's interface (``update``, ``set_postfix``, ``close``, iteration, ``with``) writing progress records.

    Args:
        iterable: what to iterate over (optional; ``update`` counts by hand otherwise).
        total: units in the whole step (``len(iterable)`` when omitted and it has one).
        desc: the step's name.
        unit: the name of one unit.
        initial: units already done before this process (a resumed step); they count in ``n``, not in the rate.
        stream: where records go (``sys.stderr`` at the time of each write when None).
        every_fraction / every_s: the cadence (2% of the total / 2 minutes).
        clock: seconds, monotonic (the tests pass their own).
    """

    def __init__(self, iterable: Iterable[Any] | None = None, *, total: int | None = None, desc: str = "",
                 unit: str = "it", initial: int = 0, stream: TextIO | None = None,
                 every_fraction: float = EVERY_FRACTION, every_s: float = EVERY_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.iterable, self.total, self.desc, self.unit = iterable, total, desc, unit
        self.n = int(initial)
        self.postfix: dict[str, str] = {}
        self._stream, self._clock = stream, clock
        self._step = max(1, int(total * every_fraction)) if total else None
        self._every_s = every_s
        self._initial = self.n
        self._start = self._last_t = clock()
        self._last_n, self._last_post = self.n, dict(self.postfix)
        self._next = self._next_mark()
        self._closed = False
        self._write(self._start)

    def _next_mark(self) -> int | None:
        if self._step is None:
            return None
        return (self.n // self._step + 1) * self._step

    def update(self, n: int = 1) -> None:
        """Count ``n`` more units; write a record when the cadence says so (``n=0`` only checks the clock)."""
        self.n += n
        now = self._clock()
        if (self._next is not None and self.n >= self._next) or now - self._last_t >= self._every_s:
            self._record(now)

    def set_postfix(self, ordered_dict: dict[str, Any] | None = None, refresh: bool = True, **kwargs: Any) -> None:
        """Replace the step's own fields (written with the next record), as tqdm's ``set_postfix``."""
        items = {**(ordered_dict or {}), **kwargs}
        self.postfix = {str(k): (f"{v:.4g}" if isinstance(v, float) else str(v)) for k, v in items.items()}

    def close(self) -> None:
        """Write the last record (unless the previous record already says the same)."""
        if self._closed:
            return
        self._closed = True
        if self.n != self._last_n or self.postfix != self._last_post:
            self._record(self._clock())

    def _record(self, now: float) -> None:
        self._last_t, self._last_n, self._last_post = now, self.n, dict(self.postfix)
        self._next = self._next_mark()
        self._write(now)

    def record(self, now: float | None = None) -> ProgressRecord:
        """The record this recorder would write at clock time ``now`` (default: the clock's now).

        The rate is the mean since the step started in this process: units done here / time spent here.
        """
        now = self._clock() if now is None else now
        elapsed = now - self._start
        rate = (self.n - self._initial) / elapsed if elapsed > 0 else None
        eta = None
        if self.total is not None and self.n >= self.total:
            eta = 0.0
        elif rate and self.total is not None:
            eta = (self.total - self.n) / rate
        return ProgressRecord(datetime.datetime.now(datetime.UTC).replace(microsecond=0), self.desc, self.n,
                              self.total, self.unit, rate, elapsed, eta, dict(self.postfix))

    def _write(self, now: float) -> None:
        stream = self._stream if self._stream is not None else sys.stderr
        stream.write(format_record(self.record(now)) + "\n")
        stream.flush()

    def __iter__(self) -> Iterator[Any]:
        if self.iterable is None:
            raise TypeError("this progress recorder has nothing to iterate over")
        try:
            for item in self.iterable:
                yield item
                self.update(1)
        finally:
            self.close()

    def __enter__(self) -> ProgressRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["EVERY_FRACTION", "EVERY_SECONDS", "ProgressRecord", "ProgressRecorder", "clock_text", "format_record",
           "parse_record"]
