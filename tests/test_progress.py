"""spirl.progress: the cadence and fields of progress records, and the reader that reads them back."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import sys

import pytest

from spirl.progress import ProgressRecorder, parse_record
from spirl.utils import progress


class Clock:
    """A hand-driven clock, so the time cadence is tested without waiting for it."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def records(stream: io.StringIO):
    lines = stream.getvalue().splitlines()
    parsed = [parse_record(line) for line in lines]
    assert all(parsed), lines  # every line is a record the reader understands
    return parsed


def test_a_record_every_two_percent_and_at_start():
    out, clock = io.StringIO(), Clock()
    bar = ProgressRecorder(total=1000, desc="collect Seaquest", unit="frame", stream=out, clock=clock)
    for _ in range(1000):
        clock.t += 0.01  # 100 frames/s: 2% takes 0.2 s, far below the time bound
        bar.update(1)
    bar.close()
    recs = records(out)
    assert [r.n for r in recs] == list(range(0, 1001, 20))  # the start, then every 20 frames; close adds none
    assert recs[0].rate is None and recs[0].eta_s is None
    mid = recs[25]
    assert mid.desc == "collect Seaquest" and mid.total == 1000 and mid.unit == "frame"
    assert mid.rate == pytest.approx(100.0) and mid.elapsed_s == 5 and mid.eta_s == 5
    assert recs[-1].eta_s == 0


def test_a_record_when_the_time_bound_passes_first():
    out, clock = io.StringIO(), Clock()
    bar = ProgressRecorder(total=1_000_000, unit="step", stream=out, clock=clock, every_s=120)
    for _ in range(10):
        clock.t += 50.0  # a slow step: 2% of the total is far away
        bar.update(1)
    recs = records(out)
    assert [r.n for r in recs] == [0, 3, 6, 9]  # at 150 s, 300 s, 450 s: each 120 s or more after the last
    bar.update(0)  # nothing done: no record before the time bound either
    assert len(records(out)) == 4
    clock.t += 200.0
    bar.update(0)  # a loop that is alive but not done with a unit writes its record on time
    last = records(out)[-1]
    assert last.n == 10 and last.elapsed_s == 700 and last.rate == pytest.approx(10 / 700, rel=1e-2)
    bar.close()
    assert len(records(out)) == 5  # nothing new to say


def test_fields_resume_and_unknown_total():
    out, clock = io.StringIO(), Clock()
    bar = ProgressRecorder(total=100, desc="spirl Seaquest seed 0", unit="step", initial=60, stream=out, clock=clock)
    clock.t = 10.0
    bar.set_postfix({"eval_mean": "12.5", "loss": 0.031234})
    bar.update(20)
    bar.set_postfix(eval_mean="15.0", loss="0.03")
    bar.close()  # same count, new fields: one more record
    recs = records(out)
    assert [r.n for r in recs] == [60, 80, 80]
    assert recs[1].rate == 2.0 and recs[1].eta_s == 10  # the 60 done before this process are not in the rate
    assert recs[1].fields == {"eval_mean": "12.5", "loss": "0.03123"}
    assert recs[2].fields == {"eval_mean": "15.0", "loss": "0.03"}

    out = io.StringIO()
    items = list(ProgressRecorder(iter(range(5)), desc="pairs | of methods", stream=out, clock=clock))
    assert items == [0, 1, 2, 3, 4]
    recs = records(out)
    assert recs[0].total is None and recs[0].desc == "pairs / of methods"  # the separator cannot appear in a name
    assert recs[-1].n == 5 and recs[-1].eta_s is None


def test_other_lines_are_not_records():
    assert parse_record("spirl train: resuming spirl/Seaquest/seed 0 from x") is None
    assert parse_record("[progress] not a time | 1/2 step (50.0%) | ? step/s | elapsed 0:00:00 | eta ?") is None


def test_off_a_terminal_records_on_a_terminal_tqdm():
    code = ("import tqdm\nfrom spirl.utils import progress\n"
            "bar = progress(total=50, desc='K statistics', unit='frame')\n"
            "[bar.update(1) for _ in range(50)]\n"
            "bar.close()\n"
            "print('tqdm' if isinstance(bar, tqdm.tqdm) else type(bar).__name__)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "ProgressRecorder"  # stderr is a pipe here, as in a job log
    recs = [parse_record(line) for line in done.stderr.splitlines()]
    assert all(recs) and [r.n for r in recs] == list(range(51)) and recs[-1].desc == "K statistics"
    assert type(progress(total=3)).__name__ == "ProgressRecorder"  # pytest's captured stderr is no terminal either

    main, side = pty.openpty()  # stderr a terminal: tqdm's bar, unchanged
    try:
        done = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=side, text=True, check=True)
    finally:
        os.close(side)
        os.close(main)
    assert done.stdout.strip() == "tqdm"
