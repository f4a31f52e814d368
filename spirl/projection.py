"""What one full run costs, from component rates: the arithmetic of ``spirl bench run`` (no measuring here).

A run (``spirl.rl.trainer.Trainer``) is, in seconds:

- **training**: ``warmup_steps`` random-action env steps and ``total - warmup`` acting env steps,
  one new frame each, whose features cost ``encode_1`` (SPIRL's error map at batch 1; 0 for pixel
  agents), and ``expected_updates`` learner updates;
- **evaluation**: ``eval_points`` lockstep evaluations, all but the last with ``eval_episodes``
  episodes and the last with ``final_eval_episodes``. Each lockstep iteration steps every live
  environment and encodes and acts on the live ones as one batch, whose cost is modelled as
  affine in its size, ``a + c * n``, through the measured batch-1 and batch-``eval_batch`` figures.
  With every episode ``L`` steps long on average and the longest ``L_max`` (all episodes start
  together), one evaluation of ``E`` episodes costs
  ``E * L * (env + c_encode + c_policy) + L_max * (a_encode + a_policy) + encode(E)`` (the reset frames);
- **checkpoints**: one every ``checkpoint_every`` steps before the last, each writing the replay filled
  so far (``replay_bytes_per_step`` per stored step) at ``write_bytes_per_s``, plus a fixed part.

Episode lengths are the caller's: measured for a random policy, and an assumption for a trained agent.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Rates:
    """Seconds per unit of each component of a run, measured on one machine (``spirl bench run``)."""

    warm_step: float  # one warm-up env step: uniform action, env step, replay add (features excluded)
    step: float  # one env step after warm-up: online-net action at batch 1, env step, replay add
    update: float  # one learner update: sample a batch, gradient step, new priorities
    encode_1: float  # features of one new frame (SPIRL: error map, K, selection, encoder); 0 for pixels
    encode_batch: float  # features of ``eval_batch`` frames at once
    eval_batch: int
    eval_env_step: float  # one evaluation env step
    policy_1: float  # greedy actions for one stacked observation
    policy_batch: float  # greedy actions for ``eval_batch`` observations
    checkpoint_fixed: float  # one checkpoint besides its replay (networks, optimizer, env states)
    write_bytes_per_s: float
    replay_bytes_per_step: float


@dataclass(frozen=True)
class Workload:
    """What one run does: the ``RunPlan``'s counts and the evaluation episodes' assumed lengths."""

    total_steps: int
    warmup_steps: int
    random_warmup: bool  # learner.warmup_random_actions: warm-up steps skip the online net
    updates: int  # RunPlan.expected_updates
    eval_points: int
    eval_episodes: int
    final_eval_episodes: int
    checkpoint_every: int
    mean_length: float  # mean agent steps of an evaluation episode
    max_length: float  # the longest episode of an evaluation (the lockstep runs until it ends)


def affine(t_1: float, t_batch: float, batch: int) -> tuple[float, float]:
    """``(a, c)`` with ``a + c = t_1`` and ``a + c * batch = t_batch``, both >= 0.

    Where a batch costs more per item than one alone (``a`` would be negative), ``a = 0`` and
    ``c = max(t_1, t_batch / batch)``: never cheaper than what was measured.
    """
    if batch <= 1:
        return 0.0, t_1
    c = (t_batch - t_1) / (batch - 1)
    a = t_1 - c
    if a < 0 or c < 0:
        return (0.0, max(t_1, t_batch / batch)) if a < 0 else (t_1, 0.0)
    return a, c


def evaluation_seconds(r: Rates, episodes: int, mean_length: float, max_length: float) -> dict[str, float]:
    """One lockstep evaluation of ``episodes`` episodes: env, features (encode) and policy seconds."""
    a_enc, c_enc = affine(r.encode_1, r.encode_batch, r.eval_batch)
    a_pol, c_pol = affine(r.policy_1, r.policy_batch, r.eval_batch)
    frames = episodes * mean_length
    return {"env": frames * r.eval_env_step,
            "encode": frames * c_enc + max_length * a_enc + (a_enc + c_enc * episodes),
            "policy": frames * c_pol + max_length * a_pol}


def eval_episode_count(w: Workload) -> int:
    """Evaluation episodes of a run: ``eval_points - 1`` intermediate evaluations and the last one."""
    return (w.eval_points - 1) * w.eval_episodes + w.final_eval_episodes


def checkpoint_count(total_steps: int, every: int) -> int:
    """Checkpoints a run writes: at every multiple of ``every`` before the last step (``Trainer.run``)."""
    return 0 if every <= 0 else (total_steps - 1) // every


def project(r: Rates, w: Workload) -> dict[str, Any]:
    """Projected seconds of one run, broken down, and the frames each part encodes.

    Returns ``{"training": {...}, "evaluation": {...}, "checkpoints": {...}, "total_s": ...,
    "frames": {"training": ..., "evaluation": ...}}``, each part's entries in seconds.
    """
    acting = w.total_steps - w.warmup_steps
    warm_cost = r.warm_step if w.random_warmup else r.step
    training = {"env": w.warmup_steps * warm_cost + acting * r.step,
                "encode": (w.total_steps + 1) * r.encode_1,  # one new frame per step, and the first reset
                "updates": w.updates * r.update}
    intermediate = evaluation_seconds(r, w.eval_episodes, w.mean_length, w.max_length)
    final = evaluation_seconds(r, w.final_eval_episodes, w.mean_length, w.max_length)
    evaluation = {k: (w.eval_points - 1) * intermediate[k] + final[k] for k in intermediate}
    n = checkpoint_count(w.total_steps, w.checkpoint_every)
    stored = w.checkpoint_every * n * (n + 1) / 2  # replay steps written over all checkpoints
    checkpoints = {"fixed": n * r.checkpoint_fixed, "replay": stored * r.replay_bytes_per_step / r.write_bytes_per_s}
    parts = {"training": training, "evaluation": evaluation, "checkpoints": checkpoints}
    total = sum(sum(p.values()) for p in parts.values())
    eval_frames = eval_episode_count(w) * w.mean_length
    return {**parts, "count": {"checkpoints": n}, "total_s": total,
            "frames": {"training": w.total_steps, "evaluation": eval_frames}}


def as_dict(x: Rates | Workload) -> dict[str, Any]:
    """The dataclass as a plain dict (for the benchmark's JSON line)."""
    return asdict(x)


__all__ = ["Rates", "Workload", "affine", "as_dict", "checkpoint_count", "eval_episode_count", "evaluation_seconds",
           "project"]
