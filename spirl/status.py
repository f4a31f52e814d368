"""``spirl status``: how far a campaign is and when it will finish, from its files alone.

For every run a preset expands to (``Preset.runs()``: method, game, seed) it reads, below the
results folder, the run's outputs (``runs/{method}/{game}/{seed}/eval.csv`` and ``run.json``),
its checkpoints (``.ckpt/runs/{method}/{game}/{seed}/step-*/``, ``spirl.checkpoints``) and its
job log (``logs/train/{method}/{game}/{seed}.log``, where the Snakemake rule ``train`` sends
stdout and stderr; the progress records in it are ``spirl.progress``'s). It starts no process
and asks no scheduler, so it works on a login node while SLURM runs the jobs.

States:

* ``done``: ``eval.csv`` and ``run.json`` are there (final score, wall time).
* ``failed``: no outputs, and the log ends in an error (a traceback or ``spirl ...: error:``)
  after its last progress record; the error's last line is shown.
* ``stalled``: no outputs, and neither the log nor the checkpoints changed for
  ``STALLED_AFTER_S`` (10 minutes; a moving step writes a record at least every 2 minutes).
  A job killed without a word (out of memory, out of time, a lost node) ends up here.
* ``running``: no outputs, and a log or a checkpoint that changed more recently (step, rate,
  ETA and fields from the latest training record, the last checkpoint's step and age).
* ``not started``: none of those files.

The campaign's ETA: each unfinished run's remaining steps at its measured rate (its own for a
running run, else the mean rate of the method's measured runs), or, for a method with no run
measured yet, the projection of the workflow's cost model (``spirl.costs``: the rates file
``RESULTS/bench/rates.json`` of ``spirl bench run --save``, else the built-in rates), summed,
divided by the number of runs running now (the parallelism the scheduler gives), and never
less than the longest running run's own ETA; the projected runs are counted. docs/monitoring.md shows an example.
"""

from __future__ import annotations

import datetime
import json
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from spirl import costs
from spirl.analysis.scores import read_eval_csv
from spirl.checkpoints import TRAINING, CheckpointStore, default_checkpoint_dir
from spirl.config import ConfigError, Preset, RunPlan, resolve_method
from spirl.progress import clock_text, parse_record

DEFAULT_PRESET = "workflow/config/default.yaml"  # what `snakemake` runs with no --configfile
RUN_DIR = "runs/{method}/{game}/{seed}"  # below the results folder (workflow/rules/train.smk: output)
LOG_FILE = "logs/train/{method}/{game}/{seed}.log"  # below the results folder (workflow/rules/train.smk: log)
TRAIN_UNIT = "step"  # the training loop's records count env steps (evaluation counts episodes)
STALLED_AFTER_S = 600.0
STATES = ("done", "running", "stalled", "failed", "not started")
_ERROR = re.compile(r"^(Traceback \(most recent call last\):|spirl(?: \S+)?: (?:error|interrupted))")


@dataclass
class RunStatus:
    """What the files say about one run."""

    method: str
    game: str
    seed: int
    state: str  # one of STATES
    step: int | None = None  # env steps done (latest training record, else the checkpoint, else the total)
    total: int | None = None  # env steps of the whole run
    rate: float | None = None  # env steps per second (latest record; run.json for a done run)
    eta_s: float | None = None  # seconds left (running runs)
    checkpoint_step: int | None = None
    checkpoint_age_s: float | None = None
    idle_s: float | None = None  # seconds since the log or a checkpoint last changed
    score: float | None = None  # final evaluation's mean (done runs)
    wall_time_s: float | None = None  # done runs (run.json)
    error: str | None = None  # failed runs: the log's last error line
    fields: dict[str, str] = field(default_factory=dict)  # the latest record's own fields (eval_mean, loss)
    log: str | None = None


def _latest_training_record(text: str) -> tuple[Any, list[str]]:
    """The last training record of a log, and the lines after the log's last record of any kind."""
    last_train, tail = None, []
    for line in text.splitlines():
        rec = parse_record(line)
        if rec is None:
            if line.strip():
                tail.append(line.strip())
            continue
        tail = []
        if rec.unit == TRAIN_UNIT:
            last_train = rec
    return last_train, tail


def _error_line(tail: list[str]) -> str | None:
    """The error a log ends in (the lines after its last record), or None: a traceback's last line, or
    the ``spirl CMD: error: ...`` line."""
    starts = [line for line in tail if _ERROR.match(line)]
    if not starts:
        return None
    return tail[-1] if starts[-1].startswith("Traceback") else starts[-1]


def run_status(results: Path, method: str, game: str, seed: int, *, now: float,
               stalled_after_s: float = STALLED_AFTER_S) -> RunStatus:
    """The state of one run from its files below ``results`` (``now``: seconds since the epoch)."""

    ident = {"method": method, "game": game, "seed": seed}
    run_dir = results / RUN_DIR.format(**ident)
    log_path = results / LOG_FILE.format(**ident)
    log = str(log_path) if log_path.is_file() else None
    if (run_dir / "eval.csv").is_file() and (run_dir / "run.json").is_file():
        st = RunStatus(method, game, seed, "done", log=log)
        try:
            info = json.loads((run_dir / "run.json").read_text())
            st.wall_time_s, st.rate = info.get("wall_time_s"), info.get("steps_per_s")
            st.total = st.step = (info.get("plan") or {}).get("total_env_steps")
            st.score = float(read_eval_csv(run_dir / "eval.csv")["mean"].iloc[-1])
        except (ValueError, AttributeError) as err:  # a run.json or eval.csv not of this harness
            st.error = f"{run_dir}: {err}"
        return st
    ckpt = CheckpointStore(default_checkpoint_dir(run_dir), TRAINING).newest_written()
    if log is None and ckpt is None:
        return RunStatus(method, game, seed, "not started")
    st = RunStatus(method, game, seed, "running", log=log)
    changed = []
    if ckpt is not None:
        _, st.checkpoint_step, mtime = ckpt
        st.checkpoint_age_s, st.step = max(0.0, now - mtime), st.checkpoint_step
        changed.append(mtime)
    if log is not None:
        try:
            changed.append(log_path.stat().st_mtime)
            text = log_path.read_text(errors="replace")
        except OSError:  # a rerun replacing the log as we read it
            text = ""
        rec, tail = _latest_training_record(text)
        if rec is not None:
            st.step, st.total, st.rate, st.fields = rec.n, rec.total, rec.rate, rec.fields
            if rec.eta_s is not None:
                st.eta_s = max(0.0, rec.eta_s - max(0.0, now - rec.time.timestamp()))
        st.error = _error_line(tail)
    st.idle_s = max(0.0, now - max(changed)) if changed else None
    if st.error is not None:
        st.state, st.eta_s = "failed", None
    elif st.idle_s is not None and st.idle_s >= stalled_after_s:
        st.state, st.eta_s = "stalled", None
    return st


@dataclass
class Campaign:
    """Every run of a preset, and the campaign's totals."""

    results: str
    config: str
    time: str  # UTC, when the files were read
    stalled_after_s: float
    runs: list[RunStatus]
    counts: dict[str, int]
    remaining_run_s: float | None  # run time the unfinished runs still need, summed (None: no rate measured)
    other_rates: int  # unfinished runs of a method with no measured rate yet, timed by the projection (spirl.costs)
    parallel: int  # runs moving now
    eta_s: float | None  # wall time to the campaign's end at that parallelism (None: nothing moving or no rate)
    not_in_preset: int  # runs on disk the preset does not name (another preset?)


def _plan(preset: Preset, method: str, game: str) -> RunPlan | None:
    try:  # the plan the workflow's requests are costed by
        return costs.request_plan(resolve_method(preset, method), preset, game)
    except ConfigError:
        return None


def _planned_steps(preset: Preset, method: str, game: str) -> int:
    plan = _plan(preset, method, game)
    return plan.total_env_steps if plan is not None else resolve_method(preset, method).budget.env_steps


def _projected_s(preset: Preset, st: RunStatus, entries: dict[str, Any]) -> float | None:
    """Seconds the run still needs by the cost model (its remaining share of the projected run)."""
    plan = _plan(preset, st.method, st.game)
    if plan is None:
        return None
    done = (st.step or 0) / max(1, plan.total_env_steps)
    return max(0.0, 1.0 - done) * costs.run_seconds(plan, preset.threads, entries)


def campaign_status(results: str | Path, preset: Preset, *, now: float | None = None,
                    stalled_after_s: float = STALLED_AFTER_S) -> Campaign:
    """The status of every run of ``preset`` from the files below ``results``."""
    root = Path(results)
    if not root.is_dir():
        raise FileNotFoundError(f"no results folder at {root}; run from the project folder or pass RESULTS_DIR")
    now = time.time() if now is None else now
    runs = [run_status(root, m, g, s, now=now, stalled_after_s=stalled_after_s) for m, g, s in preset.runs()]
    for st in runs:
        if st.total is None:
            st.total = _planned_steps(preset, st.method, st.game)
    measured: dict[str, list[float]] = {}
    for st in runs:
        if st.rate and st.state in ("done", "running"):
            measured.setdefault(st.method, []).append(st.rate)
    entries = costs.read_rates(root / costs.RATES_IN_RESULTS)
    remaining, unknown, borrowed = 0.0, False, 0
    for st in runs:
        if st.state == "done":
            continue
        if st.state == "running" and st.eta_s is not None:
            remaining += st.eta_s
            continue
        rates = measured.get(st.method)
        if rates and st.total is not None:
            remaining += max(0, st.total - (st.step or 0)) / (sum(rates) / len(rates))
            continue
        projected = _projected_s(preset, st, entries)
        if projected is None:
            unknown = True
            continue
        borrowed += 1
        remaining += projected
    moving = [st for st in runs if st.state == "running"]
    eta = None
    if moving and not unknown:
        eta = max(remaining / len(moving), max((st.eta_s or 0.0) for st in moving))
    counts = {state: sum(st.state == state for st in runs) for state in STATES}
    named = {(m, g, str(s)) for m, g, s in preset.runs()}
    when = datetime.datetime.fromtimestamp(now, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return Campaign(str(root), preset.path, when, stalled_after_s, runs, counts, None if unknown else remaining,
                    0 if unknown else borrowed, len(moving), eta, len(_runs_on_disk(root) - named))


def _runs_on_disk(root: Path) -> set[tuple[str, str, str]]:
    found = {p.parts[-3:] for p in root.glob(RUN_DIR.format(method="*", game="*", seed="*")) if p.is_dir()}
    found |= {(*p.parts[-3:-1], p.stem) for p in root.glob(LOG_FILE.format(method="*", game="*", seed="*"))}
    return {(a, b, c) for a, b, c in found}


# ----------------------------------------------------------------------------------------------- output


def _age(seconds: float | None) -> str:
    return "" if seconds is None else clock_text(seconds)


def _row(st: RunStatus) -> list[str]:
    steps = ""
    if st.step is not None and st.total:
        steps = f"{st.step}/{st.total} ({100.0 * st.step / st.total:.0f}%)"
    rate = f"{st.rate:.3g}" if st.rate else ""
    ckpt = f"{st.checkpoint_step} ({_age(st.checkpoint_age_s)} ago)" if st.checkpoint_step is not None else ""
    if st.state == "done":
        detail = (f"score {st.score:.1f}" if st.score is not None else f"unreadable: {st.error}") + (
            f", wall {_age(st.wall_time_s)}" if st.wall_time_s is not None else "")
    elif st.state == "failed":
        detail = st.error or ""
    elif st.state == "stalled":
        detail = f"no change for {_age(st.idle_s)}" + ("" if st.error else "; log ends without an error (killed?)")
    elif st.state == "running" and st.step is None:
        detail = "starting: no progress record yet"
    else:
        detail = " ".join(f"{k}={v}" for k, v in st.fields.items())
    return [st.method, st.game, str(st.seed), st.state, steps, rate, _age(st.eta_s), ckpt, detail]


def format_table(c: Campaign) -> str:
    """The human-readable status: one line per run, then the campaign's totals."""
    head = ["method", "game", "seed", "state", "steps", "steps/s", "eta", "checkpoint", "detail"]
    rows = [head, *(_row(st) for st in c.runs)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head) - 1)]
    lines = [("  ".join(cell.ljust(w) for cell, w in zip(r[:-1], widths)) + "  " + r[-1]).rstrip() for r in rows]
    counts = ", ".join(f"{n} {state}" for state, n in c.counts.items() if n)
    lines.insert(0, f"{c.config}: {len(c.runs)} runs in {c.results} at {c.time}: {counts}")
    left = len(c.runs) - c.counts["done"]
    if left == 0:
        lines.append("campaign: every run is done")
    elif c.remaining_run_s is None:
        lines.append(f"campaign: {left} runs left; no rate measured yet, so no ETA")
    else:
        total = f"campaign: {left} runs left, about {_age(c.remaining_run_s)} of run time"
        if c.other_rates:
            total += f" ({c.other_rates} of them projected by the cost model until one of their method is measured)"
        lines.append(total + (f"; ETA {_age(c.eta_s)} at the {c.parallel} run(s) now running" if c.eta_s is not None
                              else "; no run is moving now, so no ETA"))
    lines.append(f"stalled = no change in a run's log or checkpoints for {_age(c.stalled_after_s)}")
    if c.not_in_preset:
        lines.append(f"note: {c.not_in_preset} run(s) in {c.results} are not in {c.config}; pass --config PRESET "
                     "to see the campaign that made them")
    return "\n".join(lines)


def to_json(c: Campaign) -> dict[str, Any]:
    """The status as plain JSON types (``spirl status --json``)."""
    return asdict(c)
