"""Run plans: the concrete numbers of one (method, game) run, derived from its settings.

A method's settings may leave game-dependent values open (``max_ratio: paper``, a warm-up of
``pretrain_frames``, DE-Rainbow-P's matched budget); :func:`for_game` makes them concrete, and
:class:`RunPlan` carries the result: Kmax, warm-up, total env steps, replay capacity, the
evaluation steps and episodes (the last evaluation may play more: ``budget.final_eval_episodes``; under
``budget.eval_schedule: tables`` the others play ``budget.curve_episodes``)
and the expected number of updates.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass

from spirl.atari import games
from spirl.config.settings import MAX_RATIO_WORDS, MethodSettings
from spirl.config.validate import ConfigError


@dataclass
class RunPlan:
    """Concrete numbers for one (method, game) run, derived from its settings."""

    method: MethodSettings  # with max_ratio and warm-up made concrete
    game: str
    k_max: int | None  # patches kept per frame (SPIRL encoders), else None
    warmup_steps: int  # uniform-random steps before learning starts
    total_env_steps: int
    replay_capacity: int
    eval_steps: list[int]  # env steps after which an evaluation runs (the last = total_env_steps)
    expected_updates: int
    eval_episodes: int  # episodes of every evaluation but the last
    # episodes of the last evaluation (budget.final_eval_episodes, else eval_episodes)
    final_eval_episodes: int

    def episodes_at(self, step: int) -> int:
        """Episodes of the evaluation after env step ``step``: the final count at the last step."""
        return self.final_eval_episodes if step >= self.total_env_steps else self.eval_episodes

    def beta(self, step: int) -> float:
        """PER importance exponent: linear from beta0 at the end of warm-up to 1 at the last step."""
        b0 = self.method.learner.per_beta0
        span = max(1, self.total_env_steps - self.warmup_steps)
        frac = min(1.0, max(0.0, (step - self.warmup_steps) / span))
        return b0 + (1.0 - b0) * frac


def resolve_max_ratio(spec: float | str | None, game: str, ideal_ratio: float | None = None) -> float:
    """Turn a ``max_ratio`` setting into a number for ``game``.

    ``None``/``"paper"``: the adopted ratio of Table 13; ``"ideal"``: Fig. 8's ideal ratio;
    ``"auto"``: the ideal ratio measured by ``spirl saliency-stats`` (passed as ``ideal_ratio``);
    any of those may carry an offset (``"ideal-0.05"``). Rounded to 4 decimals, checked in (0, 1].
    """
    g = games.get(game)
    if spec is None:
        spec = "paper"
    if isinstance(spec, (int, float)):
        value = float(spec)
    else:
        m = re.match(MAX_RATIO_WORDS.regex, spec)
        if not m:
            raise ConfigError(f"saliency.max_ratio: {spec!r} is not a ratio")
        word, offset = m.group(1), float(m.group(2) or 0.0)
        if word == "paper":
            base = g.max_ratio
        elif word == "ideal":
            base = g.ideal_ratio
        else:
            base = ideal_ratio
            if base is None:
                raise ConfigError(f"saliency.max_ratio {spec!r} needs the K statistics of {g.id} "
                                  "(spirl saliency-stats); pass them with --k-hist")
        if base is None:
            raise ConfigError(f"the paper gives no {word} maximal ratio for {g.id}; use max_ratio: auto "
                              "(measured from the K statistics) or a number")
        value = base + offset
    value = round(value, 4)
    if not 0.0 < value <= 1.0:
        raise ConfigError(f"saliency.max_ratio for {g.id} resolves to {value}, outside (0, 1]")
    return value


def for_game(settings: MethodSettings, game: str, *, pretrain_frames: int | None = None,
             ideal_ratio: float | None = None) -> RunPlan:
    """Make every game-dependent setting concrete for one run of ``settings`` on ``game``."""
    game = games.canonical(game)
    s = copy.deepcopy(settings)
    k_max = None
    if s.agent.encoder == "spirl":
        s.saliency.max_ratio = resolve_max_ratio(s.saliency.max_ratio, game, ideal_ratio)
        k_max = games.k_max(s.saliency.max_ratio)
    warm = s.learner.warmup_steps
    if warm == "pretrain_frames":
        warm = pretrain_frames if pretrain_frames is not None else games.get(game).pretrain_frames
    warm = int(warm)
    s.learner.warmup_steps = warm
    total = s.budget.env_steps
    if s.learner.matched_warmup_steps is not None:
        total += warm - s.learner.matched_warmup_steps
    if total < 1:
        raise ConfigError(f"{s.name} on {game}: the budget comes to {total} env steps; raise "
                          "budget.env_steps")
    if s.budget.eval_episodes < 1:
        raise ConfigError("budget.eval_episodes must be at least 1")
    final_episodes = s.budget.final_eval_episodes
    if final_episodes is None:
        final_episodes = s.budget.eval_episodes
    if final_episodes < 1:
        raise ConfigError("budget.final_eval_episodes must be at least 1 (or null: as many as "
                          "budget.eval_episodes)")
    capacity = s.learner.replay_capacity or total
    s.learner.replay_capacity = capacity
    points = s.budget.eval_points
    if points < 1:
        raise ConfigError("budget.eval_points must be at least 1")
    eval_steps = sorted({max(1, round(total * i / points)) for i in range(1, points + 1)})
    updates = int((total - warm) * s.learner.updates_per_step)
    curve = s.budget.eval_episodes
    if s.budget.eval_schedule == "tables":  # the tables read the last evaluation only; the curves get fewer games
        curve = min(s.budget.curve_episodes, s.budget.eval_episodes)
    return RunPlan(s, game, k_max, warm, total, capacity, eval_steps, updates, curve, final_episodes)
