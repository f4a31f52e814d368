"""What a job costs and asks for: the one cost model of the workflow, ``spirl bench run`` and ``spirl status``.

A run's seconds are ``spirl.projection.project`` of its plan (``spirl.config.RunPlan``) at component
rates: the rates ``spirl bench run --save`` measured on this kind of machine, from a rates file
(:data:`RATES_FILE`, JSON), else the conservative built-in ones below (the paper MAE's features and a
DE-Rainbow learner on one core of the 2-core AMD EPYC machine of docs/costs.md with another job beside
it). Evaluation episodes are a trained agent's, assumed :data:`TRAINED_FACTOR` times a random policy's.

The workflow asks SLURM for :data:`MARGIN` times the projection (at least :data:`MIN_MINUTES`), so a job
whose node is as fast as the measured one ends before its limit; one that does not is warned, keeps a
checkpoint and is resubmitted (``spirl.preempt``, docs/reliability.md#time-limits). Memory is the
replay's arithmetic. Nothing here imports torch (the Snakefile reads it at every start).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from spirl.config import MethodSettings, Preset, RunPlan, for_game
from spirl.guards import run_memory_parts
from spirl.projection import Rates, Workload, project

RATES_FORMAT = "spirl-rates-1"
RATES_IN_RESULTS = "bench/rates.json"  # below the results folder
RATES_FILE = f"results/{RATES_IN_RESULTS}"  # relative to the workflow's directory; `spirl bench run --save` default
MARGIN = 1.5  # requested time over projected time
MIN_MINUTES = 10
TRAINED_FACTOR = 2.0  # a trained agent's evaluation episodes, in random-policy episode lengths (an assumption)
PLANNING_IDEAL_RATIO = 0.95  # a ratio measured from the K statistics (max_ratio: auto) is not known while planning

# Built-in rates, seconds per unit (spirl.projection.Rates), rounded up from `spirl bench run --threads 1`
# with the other core busy (docs/costs.md#what-a-run-costs, 2026-12-01: SPIRL Seaquest 19.9 h, DE-Rainbow 2.4 h
# at a trained agent's lengths) on the 2-core AMD EPYC machine. SPIRL's are the paper MAE's with the error
# cache (a smaller MAE costs less, so they over-ask for it).
BUILTIN: dict[str, Rates] = {
    "spirl": Rates(warm_step=0.002, step=0.010, update=0.060, encode_1=0.190, encode_batch=4.0, eval_batch=50,
                   eval_env_step=0.002, policy_1=0.006, policy_batch=0.060, checkpoint_fixed=1.0,
                   write_bytes_per_s=50e6, replay_bytes_per_step=12_000),
    "pixels": Rates(warm_step=0.002, step=0.010, update=0.070, encode_1=0.0, encode_batch=0.0, eval_batch=50,
                    eval_env_step=0.002, policy_1=0.006, policy_batch=0.060, checkpoint_fixed=1.0,
                    write_bytes_per_s=50e6, replay_bytes_per_step=7_100),
}
# Random-policy evaluation episodes (mean, longest) in agent steps, `spirl bench run` 2026-12-01 (docs/costs.md);
# a game not listed is costed as the longest of these (BattleZone).
BUILTIN_LENGTHS: dict[str, tuple[float, float]] = {
    "Frostbite": (400.0, 700.0), "MsPacman": (520.0, 800.0), "Seaquest": (530.0, 900.0),
    "BattleZone": (1120.0, 2000.0),
}
PRETRAIN_SAMPLES_PER_S = 40.0  # paper MAE, batch 64, one loaded core (spirl bench pretrain: 88 quiet)
COLLECT_FRAMES_PER_S = 200.0  # random-policy frames written to a dataset (spirl bench env: about 2,700 steps/s)
KSTATS_FRAMES_PER_S = 2.0  # paper MAE error maps at batch 64 without the cache, one loaded core (3.7 quiet)


def request_plan(settings: MethodSettings, preset: Preset, game: str) -> RunPlan:
    """The plan a run is costed by, in the workflow's requests and ``spirl status``: the run's own, with a
    measured ``max_ratio: auto`` taken as large (:data:`PLANNING_IDEAL_RATIO`), since it is not known yet.

    Raises:
        spirl.config.ConfigError: a plan the settings cannot make on this game.
    """
    return for_game(settings, game, pretrain_frames=preset.pretrain_frames(game), ideal_ratio=PLANNING_IDEAL_RATIO)


def rates_key(plan: RunPlan, threads: int) -> str:
    """What the rates of a run depend on besides its game: the encoder (SPIRL: the MAE, number format,
    error cache; pixels: frame size and colour) and the torch threads."""
    s = plan.method
    if plan.k_max is None:
        kind = f"pixels-{s.protocol.frame_size}{'-grey' if s.protocol.grayscale else ''}"
    else:
        m = s.mae
        kind = (f"spirl-mae{m.embed_dim}x{m.depth}-dec{m.decoder_embed_dim}x{m.decoder_depth}-"
                f"{s.saliency.precision}{'-cache' if s.saliency.error_cache else ''}")
    return f"{kind}|threads={threads}"


def read_rates(path: str | os.PathLike[str] | None = RATES_FILE) -> dict[str, Any]:
    """The rates file's entries (``{key: {game: entry}}``), or none where there is no file."""
    if path is None or not Path(path).is_file():
        return {}
    doc = json.loads(Path(path).read_text())
    if not isinstance(doc, dict) or doc.get("format") != RATES_FORMAT:
        raise ValueError(f"{path} is not a rates file of `spirl bench run --save` (format {RATES_FORMAT})")
    return doc["entries"]


def save_rates(path: str | os.PathLike[str], key: str, game: str, rates: Rates, lengths: list[int],
               extra: dict[str, Any]) -> None:
    """Add (or replace) the measured rates of ``key`` on ``game`` in the rates file ``path``."""
    from spirl.utils import atomic_write_text

    entries = read_rates(path)
    entries.setdefault(key, {})[game] = {"rates": asdict(rates), "random_lengths": list(map(int, lengths)), **extra}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps({"format": RATES_FORMAT, "entries": entries}, indent=1, sort_keys=True))


def rates_for(plan: RunPlan, threads: int, entries: dict[str, Any]) -> tuple[Rates, tuple[float, float], str]:
    """The rates, random-policy episode lengths (mean, longest) and their source for ``plan``: the rates file's
    entry of this game, else of another game (with this game's built-in lengths), else the built-in ones."""
    builtin_len = BUILTIN_LENGTHS.get(plan.game, max(BUILTIN_LENGTHS.values()))
    measured = entries.get(rates_key(plan, threads), {})
    entry = measured.get(plan.game)
    if entry is not None:
        lengths = entry["random_lengths"]
        return Rates(**entry["rates"]), (sum(lengths) / len(lengths), float(max(lengths))), "measured"
    if measured:
        other = sorted(measured)[0]
        return Rates(**measured[other]["rates"]), builtin_len, f"measured on {other}"
    return BUILTIN["pixels" if plan.k_max is None else "spirl"], builtin_len, "built-in"


def workload(plan: RunPlan, mean_length: float, max_length: float, factor: float = TRAINED_FACTOR) -> Workload:
    """The plan's counts with evaluation episodes ``factor`` times the given lengths (capped at the protocol's)."""
    cap = plan.method.protocol.max_episode_steps
    warm = min(plan.warmup_steps, plan.total_env_steps)  # a warm-up longer than the run ends with it
    return Workload(plan.total_env_steps, warm, plan.method.learner.warmup_random_actions,
                    max(0, plan.expected_updates), len(plan.eval_steps), plan.eval_episodes, plan.final_eval_episodes,
                    plan.method.budget.checkpoint_every, min(cap, factor * mean_length), min(cap, factor * max_length))


def run_seconds(plan: RunPlan, threads: int = 1, entries: dict[str, Any] | None = None,
                factor: float = TRAINED_FACTOR) -> float:
    """Projected seconds of one run of ``plan`` (``entries``: the rates file's; None: read :data:`RATES_FILE`)."""
    rates, (mean, longest), _ = rates_for(plan, threads, read_rates() if entries is None else entries)
    return project(rates, workload(plan, mean, longest, factor))["total_s"]


def minutes(seconds: float) -> int:
    """A job's requested minutes: :data:`MARGIN` times ``seconds``, at least :data:`MIN_MINUTES`."""
    return max(MIN_MINUTES, math.ceil(MARGIN * seconds / 60))


def train_minutes(plan: RunPlan, threads: int = 1, entries: dict[str, Any] | None = None) -> int:
    """The runtime (minutes) a training job asks for: the projection with the margin."""
    return minutes(run_seconds(plan, threads, entries))


def train_mem_mb(plan: RunPlan) -> int:
    """The memory (MB) a training job asks for: the run's estimate by part (``spirl.guards.run_memory_parts``,
    the same one a run refuses beyond the machine by) with a 1.5x margin, plus 2 GB for torch, the networks,
    the environments and the error cache."""
    return int(2000 + 1.5 * sum(run_memory_parts(plan).values()) / 2**20)


def frames_mem_mb(n_frames: int) -> int:
    """Memory of a job that holds a frame dataset: 96x96x3 bytes per frame, twice, plus torch."""
    return int(1500 + 2 * n_frames * 96 * 96 * 3 / 2**20)


def pretrain_minutes(n_frames: int, epochs: int) -> int:
    """The runtime (minutes) an MAE pretraining asks for, at the built-in rate (the paper MAE)."""
    return minutes(n_frames * epochs / PRETRAIN_SAMPLES_PER_S)


def collect_minutes(n_frames: int) -> int:
    """The runtime (minutes) of collecting ``n_frames`` random-policy frames."""
    return minutes(n_frames / COLLECT_FRAMES_PER_S)


def kstats_minutes(n_frames: int) -> int:
    """The runtime (minutes) of the K statistics over ``n_frames`` frames, at the built-in rate."""
    return minutes(n_frames / KSTATS_FRAMES_PER_S)


__all__ = ["BUILTIN", "BUILTIN_LENGTHS", "MARGIN", "MIN_MINUTES", "RATES_FILE", "RATES_IN_RESULTS", "TRAINED_FACTOR",
           "collect_minutes", "frames_mem_mb", "kstats_minutes", "minutes", "pretrain_minutes", "rates_for",
           "rates_key", "read_rates", "run_seconds", "save_rates", "train_mem_mb", "train_minutes", "workload"]
