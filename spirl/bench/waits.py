"""``spirl bench waits``: host-device waits of one training and one evaluation step (docs/costs.md#host-device-waits).

``spirl.waits.count_waits`` records every operation that makes the host wait for the device while
the run loop's own code runs (``Trainer._env_step`` + ``Trainer._learn`` after a random warm-up, with
one update due; and a lockstep evaluation through the GPU path, ``Trainer.encode_on_device``), for
DE-Rainbow and SPIRL (its real extractor: the MAE, the error cache, the selection). The counts are
compared with ``spirl.waits.BUDGET``. On a CPU they bound the GPU's (``spirl.waits``); the GPU check
runs the same benchmark on CUDA. ``--tiny`` shrinks the networks and the MAE (the counts do not
depend on sizes), so that the CPU test runs in seconds.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spirl.atari.envs import eval_seeds, make_env
from spirl.bench import Options, emit
from spirl.bench.device_prepare import TINY_OVERRIDES
from spirl.config import apply_overrides, for_game, parse_preset, resolve_method
from spirl.rl.evaluate import evaluate
from spirl.rl.trainer import Trainer
from spirl.utils import choose_device, set_threads
from spirl.waits import BUDGET, count_waits


def build_trainer(method: str, game: str, warm: int, device: str, tiny: bool, out: Path, cap: int,
                  batch: int = 8) -> Trainer:
    """A run of ``method`` on ``game`` with ``warm`` random steps, updates of ``batch``, episodes capped at ``cap``
    steps, writing under ``out``; SPIRL's extractor is the real one on a seeded random MAE (``tiny``: small networks
    and MAE)."""
    from spirl.mae.model import MAE
    from spirl.saliency.select import SalientPatchExtractor

    preset = parse_preset({"games": [game], "budget": {"env_steps": 10 * warm, "eval_points": 1}})
    settings = apply_overrides(resolve_method(preset, method),
                               [f"learner.warmup_steps={warm}", f"learner.batch_size={batch}",
                                f"protocol.max_episode_steps={cap}", *(TINY_OVERRIDES if tiny else [])])
    plan = for_game(settings, game)
    extractor = None
    if settings.agent.encoder == "spirl":
        torch.manual_seed(0)
        extractor = SalientPatchExtractor(MAE(settings.mae), settings.saliency, int(plan.k_max), device=device)
    return Trainer(plan, 0, out, out / "ckpt", device=device, extractor=extractor)


def step_waits(method: str, *, game: str = "MsPacman", device: str = "cpu", tiny: bool = False,
               warm: int = 24, eval_envs: int = 2, cap: int = 12) -> dict[str, Any]:
    """Waits of one training step (with one update) and of a lockstep evaluation of ``eval_envs`` games.

    The evaluation is played twice and the second counted, so that what is built once per batch size
    (the error map's index layouts) is not counted. Returns the counts, the evaluation's lockstep
    steps, and each wait's kind, operation and line (``spirl.waits.WaitLog.describe``).
    """
    with tempfile.TemporaryDirectory() as tmp:
        tr = build_trainer(method, game, warm, device, tiny, Path(tmp), cap)
        tr.start()
        while tr.step <= warm + 1:  # past the warm-up, a few updates done
            tr._env_step()
            tr._learn()
        due = tr.learner.updates
        with count_waits() as train_log:
            tr._env_step()
            tr._learn()
        assert tr.learner.updates == due + 1, "the counted training step did not update"
        envs = [make_env(game, "eval", sd, tr.settings.protocol) for sd in eval_seeds(0, eval_envs)]
        play = lambda: evaluate(envs, tr.learner.act_greedy, tr.obs.encode_on_device,  # noqa: E731
                                stack=tr.settings.protocol.frame_stack, epsilon=tr.settings.budget.eval_epsilon,
                                rng=np.random.default_rng(0), desc="evaluation (waits counted)")
        play()
        with count_waits() as eval_log:
            result = play()
    steps = int(result.lengths.max())
    return {"train_step": train_log.total, "train_by_kind": train_log.by_kind(),
            "train_waits": train_log.describe().splitlines(),
            "eval_total": eval_log.total, "eval_steps": steps, "eval_per_step": eval_log.total / steps,
            "eval_by_kind": eval_log.by_kind(), "eval_waits": sorted(set(eval_log.describe().splitlines()))}


def run(args: Options) -> int:
    set_threads(args.threads)
    device = choose_device(args.device)
    tiny = args.tiny or args.quick
    print(f"spirl bench waits: {args.game}, {device}, {'tiny' if tiny else 'paper-size'} networks")
    figures: dict[str, Any] = {}
    worst = 0.0
    for method in ("de_rainbow", "spirl"):
        w = step_waits(method, game=args.game, device=device, tiny=tiny)
        budget_train, budget_eval = BUDGET["train_step"][method], BUDGET["eval_step"]
        print(f"  {method}: {w['train_step']} waits per training step (budget {budget_train}), "
              f"{w['eval_per_step']:.2f} per evaluation step (budget {budget_eval}) over {w['eval_steps']} steps")
        for line in w["train_waits"]:
            print(f"    train  {line}")
        for line in w["eval_waits"]:
            print(f"    eval   {line}")
        figures[method] = {**w, "budget_train_step": budget_train, "budget_eval_step": budget_eval}
        worst = max(worst, w["train_step"] / budget_train, w["eval_per_step"] / budget_eval)
    print(f"ratio (waits / budget, the worst step): {worst:.2f}")
    emit(args, figures, ratio=worst, device=device)
    return 0
