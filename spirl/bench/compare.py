"""``spirl bench run --compare RUN``: a run's measured time per phase beside its projection.

A run writes, in ``run.json`` ``phases`` (``spirl.rl.phases``), the seconds it spent training, evaluating
and checkpointing, the frames it evaluated and its error cache's hit rates. Set beside the projection
(``spirl.projection``) of the same plan at the rates measured now, this checks the projection's
two assumptions separately: the component rates (the projection at the run's own evaluation frames),
and a trained agent's episode lengths (the projection at the assumed lengths).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from spirl.projection import Rates, Workload, eval_episode_count, project


def read_run(path: str | Path) -> dict[str, Any]:
    """The ``run.json`` of ``path`` (a run directory or the file); refuses one without ``phases``."""
    p = Path(path)
    p = p / "run.json" if p.is_dir() else p
    if not p.is_file():
        raise FileNotFoundError(f"no run.json at {p}: --compare needs a finished run's directory")
    info = json.loads(p.read_text())
    if not info.get("phases"):
        raise ValueError(f"{p} has no 'phases' (written by runs of this version and later); nothing to compare")
    return info


def at_measured_lengths(w: Workload, info: dict[str, Any]) -> Workload:
    """``w`` with the evaluation episodes as long as the run's were (its evaluated frames / episodes)."""
    frames = info["phases"]["evaluation"]["frames"]
    mean = max(1.0, frames / max(1, eval_episode_count(w)))  # an episode of L steps encodes L frames (not its last)
    return replace(w, mean_length=mean, max_length=max(w.max_length * mean / w.mean_length, mean))


def rows(rates: Rates, w: Workload, info: dict[str, Any]) -> list[tuple[str, float, float, float]]:
    """(phase, measured s, projected s at the run's own evaluation lengths, projected s at the assumed lengths)."""
    own, assumed = project(rates, at_measured_lengths(w, info)), project(rates, w)
    ph = info["phases"]
    out = []
    for phase in ("training", "evaluation", "checkpoints"):
        out.append((phase, ph[phase]["seconds"], sum(own[phase].values()), sum(assumed[phase].values())))
    out.append(("total", sum(r[1] for r in out), own["total_s"], assumed["total_s"]))
    return out


def report(rates: Rates, w: Workload, info: dict[str, Any], hit_rates: dict[str, float] | None) -> dict[str, Any]:
    """Print the comparison; return it as figures (for ``--json``)."""
    table = rows(rates, w, info)
    print(f"  compared with {info['method']}/{info['game']}/seed {info['seed']} ({info.get('sessions', 1)} session(s), "
          f"{info.get('threads')} thread(s), {info['plan']['total_env_steps']:,} steps):")
    print(f"  {'phase':<12} {'measured':>10} {'projected (its lengths)':>24} {'projected (assumed)':>20}")
    for phase, measured, own, assumed in table:
        print(f"  {phase:<12} {measured / 60:>8.1f} m {own / 60:>14.1f} m ({own / max(measured, 1e-9):.2f}x) "
              f"{assumed / 60:>10.1f} m ({assumed / max(measured, 1e-9):.2f}x)")
    ph = info["phases"]
    frames = ph["evaluation"]["frames"]
    print(f"  evaluation frames: {frames:,} measured, {project(rates, w)['frames']['evaluation']:,.0f} assumed")
    figures: dict[str, Any] = {"compare": [dict(zip(("phase", "measured_s", "projected_own_s", "projected_assumed_s"),
                                                   r)) for r in table]}
    if hit_rates is not None:
        run_hits = {k: ph[k].get("cache_hit_rate") for k in ("training", "evaluation")}
        print(f"  error cache hit rate: training {_pct(run_hits['training'])} in the run, "
              f"{_pct(hit_rates.get('hit_rate_1'))} projected (timed; {_pct(hit_rates.get('long_hit_rate_1'))} "
              f"long stream); evaluation {_pct(run_hits['evaluation'])} in the run, "
              f"{_pct(hit_rates.get('hit_rate_batch'))} projected ({_pct(hit_rates.get('long_hit_rate_batch'))} "
              "long stream)")
        figures["hit_rates"] = {"run": run_hits, "bench": hit_rates}
    return figures


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.0%}"


__all__ = ["at_measured_lengths", "read_run", "report", "rows"]
