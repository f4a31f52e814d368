"""Batched evaluation over N environments in lockstep (docs/method.md#step-evaluation).

Each of the N evaluation environments (seeds ``spirl.atari.envs.eval_seeds(seed, N)``, eval
mode: a lost life does not end the episode) plays exactly one full game from a fresh
reset, capped at ``protocol.max_episode_steps`` agent steps. All live environments are
stepped together, so one batched forward pass of the network (and, for SPIRL, one
batched saliency call on the new frames) serves them all. Actions are greedy on the
expected Q of the mean (noise-free) weights, replaced by a uniform random action with
probability ``epsilon`` (0.001) drawn from a seeded generator. The score of an episode
is its raw (unclipped) game score. With an encoder that returns GPU tensors the stacks stay
on the GPU, and the actions are the one thing read back per step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from spirl.atari.envs import AtariEnv
from spirl.devices import to_device
from spirl.utils import progress

# (B, *frame_shape) new frames -> (B, *slab_shape) what the network stacks, and K (B,) or None
Encoder = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray | None]]
# stacked observations (B, F, *slab_shape) and K (B, F) or None -> greedy actions (B,)
Policy = Callable[[np.ndarray, np.ndarray | None], np.ndarray]

EVAL_COLUMNS = ("step", "episodes", "mean", "median", "std", "min", "max", "scores")


@dataclass
class EvalResult:
    """One evaluation point: the raw score of each environment's episode, in environment order."""

    step: int
    scores: np.ndarray  # (N,) float64
    lengths: np.ndarray  # (N,) int64 agent steps

    def row(self) -> dict[str, object]:
        """The ``eval.csv`` row: step, episodes, mean, median, std (ddof 0, as rlpyt's logger), min, max, scores."""
        s = self.scores
        return {
            "step": int(self.step), "episodes": len(s), "mean": float(np.mean(s)), "median": float(np.median(s)),
            "std": float(np.std(s)), "min": float(np.min(s)), "max": float(np.max(s)),
            "scores": ";".join(_fmt(x) for x in s),
        }


def _fmt(x: float) -> str:
    return repr(float(x))


def format_rows(rows: Sequence[dict[str, object]]) -> str:
    """``eval.csv`` text: the header ``step,episodes,mean,median,std,min,max,scores`` and one line per row."""
    lines = [",".join(EVAL_COLUMNS)]
    for r in rows:
        cells = [str(r["step"]), str(r["episodes"])] + [_fmt(r[c]) for c in ("mean", "median", "std", "min", "max")]
        lines.append(",".join([*cells, str(r["scores"])]))
    return "\n".join(lines) + "\n"


def evaluate(envs: Sequence[AtariEnv], policy: Policy, encode: Encoder, *, stack: int, epsilon: float,
             rng: np.random.Generator, step: int = 0, desc: str = "evaluation",
             stop: Callable[[], None] | None = None) -> EvalResult:
    """Play one full episode in every environment, all in lockstep.

    Args:
        envs: the N evaluation environments (eval mode); each is reset here.
        policy: greedy actions (B,) for stacked observations (B, F, ...) and K (B, F) (noise off).
        encode: turns the new frames (B, H, W, C) of the live environments into what is stacked:
            the frames themselves (pixels, K None) or SPIRL feature slabs (B, Kmax, D) with K (B,), as
            numpy arrays or as torch tensors; the stacks are kept where it leaves them (on a GPU, so
            that only the actions come back to the host each step).
        stack: frames per observation (4).
        epsilon: probability of a uniform random action instead of the greedy one.
        rng: the epsilon generator; one uniform draw per live environment per step, in env order.
        step: the training step this evaluation belongs to (recorded in the result).
        stop: called once per lockstep step; it may raise to abandon the evaluation (a warning signal,
            ``spirl.preempt``).

    Returns:
        EvalResult with the raw scores (N,) and episode lengths (N,).
    """
    n = len(envs)
    if n == 0:
        raise ValueError("evaluation needs at least one environment")
    n_actions = envs[0].n_actions
    slabs, k = encode(np.stack([env.reset() for env in envs]))
    obs = _zeros_like(slabs, (n, stack, *slabs.shape[1:]))  # (N, F, *slab_shape), where encode left the slabs
    obs[:, -1] = slabs
    ks = None
    if k is not None:
        ks = _zeros_like(k, (n, stack))  # (N, F) int64
        ks[:, -1] = k
    scores = np.zeros(n, dtype=np.float64)
    lengths = np.zeros(n, dtype=np.int64)
    live = np.arange(n)
    bar = progress(total=n, desc=desc, unit="episode")
    while live.size:
        if stop is not None:
            stop()
        at = _index(live, obs)  # the live rows, as an index of obs's kind (a device tensor on a GPU)
        actions = policy(obs[at], None if ks is None else ks[at])  # the step's one read-back: the actions
        explore = rng.random(live.size) < epsilon
        randoms = rng.integers(0, n_actions, live.size)
        actions = np.where(explore, randoms, actions)
        frames, still = [], []
        for i, a in zip(live, actions):
            s = envs[i].step(int(a))
            scores[i] += s.raw_reward
            lengths[i] += 1
            if not s.game_over:
                frames.append(s.frame)
                still.append(i)
        bar.update(live.size - len(still))  # every lockstep step, so a long episode still shows it is alive
        live = np.asarray(still, dtype=np.int64)
        if live.size:
            slabs, k = encode(np.stack(frames))
            at = _index(live, obs)
            obs[at, :-1] = obs[at, 1:]  # eval mode: the stack is only zeroed at reset
            obs[at, -1] = slabs
            if ks is not None:
                ks[at, :-1] = ks[at, 1:]
                ks[at, -1] = k
    bar.close()
    return EvalResult(step, scores, lengths)


def _zeros_like(x: Any, shape: tuple[int, ...]) -> Any:
    """Zeros of ``shape`` with ``x``'s dtype, a numpy array or a torch tensor on ``x``'s device."""
    if isinstance(x, np.ndarray):
        return np.zeros(shape, dtype=x.dtype)
    import torch

    return torch.zeros(shape, dtype=x.dtype, device=x.device)


def _index(rows: np.ndarray, like: Any) -> Any:
    """Row indices (n,) int64 for indexing ``like``: as they are for numpy, a tensor on ``like``'s device for torch."""
    if isinstance(like, np.ndarray):
        return rows
    return to_device(rows, like.device)  # page-locked and asynchronous on a GPU


__all__ = ["EVAL_COLUMNS", "EvalResult", "evaluate", "format_rows"]
