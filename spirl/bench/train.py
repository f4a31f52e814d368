"""``spirl bench train``: learner steps/s of DE-Rainbow and SPIRL against a straightforward learner step.

A learner step is what a run does after warm-up for every env step: act with the online
net, step the real ALE environment, store the frame, sample a batch of 32 and do one
Rainbow update (``Trainer._env_step`` + ``Trainer._learn``, the shipped code path).

* DE-Rainbow: 84x84 grey frames stored once, DE CNN in ``channels_last``.
* SPIRL: random (Kmax = 43, 64) feature slabs stand in for the MAE, so the learner is timed
  alone (the error map has its own benchmark, ``spirl bench saliency``).
* straightforward: the same update with the DE CNN in default (NCHW) memory order and a
  replay that stores whole stacks (each transition keeps its own 4-frame observation).

It also times a lockstep evaluation, projects the wall time of a whole 100K DE-Rainbow run,
prints the peak memory and the projected size of a 100K replay, and, last, the ratio of the
shipped DE-Rainbow step to the straightforward one.
"""

from __future__ import annotations

import tempfile
import time
from typing import Any

import numpy as np
import torch

from spirl.atari.envs import FrameStack, eval_seeds, make_env
from spirl.bench import Options, emit, sync
from spirl.config import RunPlan, for_game, parse_preset, resolve_method
from spirl.rl.evaluate import evaluate
from spirl.rl.learner import RainbowLearner
from spirl.rl.networks import build_network
from spirl.rl.replay import PrioritizedReplay, ReplayBatch
from spirl.rl.trainer import Trainer
from spirl.saliency.select import SalientFeatures
from spirl.utils import choose_device, peak_rss_mb, set_threads

FULL_RUN_STEPS, PAPER_WARMUP, PAPER_EVAL_POINTS, PAPER_EVAL_EPISODES = 100_000, 1_600, 10, 50


class RandomFeatures:
    """Stand-in for the MAE extractor: random (Kmax, 64) slabs with a random K per frame."""

    def __init__(self, k_max: int, dim: int = 64, seed: int = 0) -> None:
        self.k_max, self.dim = k_max, dim
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, frames: np.ndarray) -> SalientFeatures:
        B = len(frames)
        k = torch.randint(2, self.k_max + 1, (B,), generator=self.generator)
        feats = torch.randn(B, self.k_max, self.dim, generator=self.generator)
        feats *= (torch.arange(self.k_max) < k[:, None]).unsqueeze(-1)  # zero padding, as the extractor's
        return SalientFeatures(feats, k, torch.full((B, self.k_max), -1), torch.zeros(B, 144))

    def rng_state(self) -> torch.Tensor:
        return self.generator.get_state()

    def set_rng_state(self, state: torch.Tensor) -> None:
        self.generator.set_state(state)

    cache = None  # no error cache (the trainer reads an extractor's hit counts for run.json)

    def reset_cache(self) -> None:
        """Nothing to forget: the stand-in has no error cache (the trainer empties an extractor's at checkpoints)."""


def _plan(method: str, game: str, fill: int, steps: int, batch: int) -> RunPlan:
    preset = parse_preset({"games": [game], "budget": {"env_steps": fill + steps, "eval_points": 1}})
    settings = resolve_method(preset, method)
    settings.learner.warmup_steps = fill
    settings.learner.batch_size = batch
    return for_game(settings, game)


class _ShippedStep:
    """The run loop's own learner step (``Trainer._env_step`` + ``Trainer._learn``) after a random warm-up."""

    def __init__(self, trainer: Trainer, fill: int) -> None:
        self.trainer = trainer
        trainer.start()
        t0 = time.perf_counter()
        for _ in range(fill):  # warm-up: random actions, no updates
            trainer._env_step()
        self.ms_warm = 1000 * (time.perf_counter() - t0) / fill

    def __call__(self) -> float:
        """One learner step; returns the seconds spent in the update (sampling included)."""
        self.trainer._env_step()
        t0 = time.perf_counter()
        self.trainer._learn()
        return time.perf_counter() - t0


class _StraightforwardStep:
    """The textbook learner step: whole stacks in replay, NCHW convolutions."""

    def __init__(self, plan: RunPlan, fill: int, steps: int, batch: int, device: str = "cpu") -> None:
        s = plan.method
        self.env = make_env(plan.game, "train", 0, s.protocol)
        torch.manual_seed(0)
        net = build_network(s.agent, self.env.n_actions, frame_shape=self.env.frame_shape, channels_last=False)
        self.learner = RainbowLearner(net.to(device), s.learner, device, seed=0)
        self.replay = PrioritizedReplay(fill + steps, (s.protocol.frame_stack, *self.env.frame_shape), np.uint8,
                                        stack=1, n_step=s.learner.n_step, gamma=s.learner.gamma,
                                        alpha=s.learner.per_alpha, seed=0)
        self.stack = FrameStack(s.protocol.frame_stack, self.env.frame_shape)
        self.stack.reset(self.env.reset())
        self.batch = batch
        rng = np.random.default_rng(0)
        for _ in range(fill):
            self._env_step(int(rng.integers(self.env.n_actions)))

    def _env_step(self, action: int) -> None:
        r = self.env.step(action)
        self.replay.add(self.stack.array.copy(), action, r.reward, r.terminal)  # the whole stack, every step
        frame = self.env.reset() if r.game_over else r.frame
        self.stack.reset(frame) if r.terminal else self.stack.push(frame)

    def __call__(self) -> float:
        self._env_step(int(self.learner.act(self.stack.array[None])[0]))
        t0 = time.perf_counter()
        b = self.replay.sample(self.batch, 0.4)
        b = b._replace(obs=b.obs[:, 0], next_obs=b.next_obs[:, 0])  # (B, 1, F, H, W, C) -> (B, F, H, W, C)
        self.replay.update_priorities(b.index, self.learner.update(b).priorities)
        return time.perf_counter() - t0


def _time_interleaved(steps: dict[str, Any], total: int, chunk: int = 10) -> dict[str, dict[str, float]]:
    """Time ``total`` learner steps of each configuration, alternating in chunks so that a shared
    machine's changing load falls on all of them alike."""
    spent = {name: 0.0 for name in steps}
    update = {name: 0.0 for name in steps}
    for _ in range(max(1, total // chunk)):
        for name, step in steps.items():
            t0 = time.perf_counter()
            for _ in range(chunk):
                update[name] += step()
            spent[name] += time.perf_counter() - t0
    n = max(1, total // chunk) * chunk
    return {name: {"steps_per_s": n / spent[name], "ms_step": 1000 * spent[name] / n,
                   "ms_update": 1000 * update[name] / n} for name in steps}


def _time_updates(plan: RunPlan, n_actions: int, batch: int, reps: int, device: str = "cpu") -> dict[str, float]:
    """Median ms of one update on a fixed batch, DE CNN in channels_last vs NCHW (interleaved, same process)."""
    s = plan.method
    rng = np.random.default_rng(0)
    obs = rng.integers(0, 256, (batch, s.protocol.frame_stack, 84, 84, 1), dtype=np.uint8)
    b = ReplayBatch(np.arange(batch), obs, rng.integers(0, n_actions, batch), rng.normal(size=batch).astype(np.float32),
                    obs.copy(), np.zeros(batch, bool), np.ones(batch, np.float32))
    learners = {}
    for name, cl in (("channels_last", True), ("NCHW", False)):
        torch.manual_seed(0)
        net = build_network(s.agent, n_actions, frame_shape=(84, 84, 1), channels_last=cl)
        learners[name] = RainbowLearner(net.to(device), s.learner, device, seed=0)
    times: dict[str, list[float]] = {name: [] for name in learners}
    for _ in range(reps):
        for name, learner in learners.items():
            t0 = time.perf_counter()
            learner.update(b)
            times[name].append(time.perf_counter() - t0)
    return {name: 1000 * float(np.median(t[2:])) for name, t in times.items()}


def _time_evaluation(trainer: Trainer, envs: int, cap: int) -> float:
    """Seconds per agent step of a lockstep evaluation of ``envs`` environments (episodes capped at ``cap``)."""
    s = trainer.settings
    protocol = type(s.protocol)(**{**vars(s.protocol), "max_episode_steps": cap})
    eval_envs = [make_env(trainer.plan.game, "eval", sd, protocol) for sd in eval_seeds(0, envs)]
    t0 = time.perf_counter()
    # the run's own choice of encoder: on a GPU the device path (stacks and features stay there)
    result = evaluate(eval_envs, trainer.learner.act_greedy, trainer.obs.eval_encoder(), stack=s.protocol.frame_stack,
                      epsilon=s.budget.eval_epsilon, rng=np.random.default_rng(0))
    sync(trainer.device)
    return (time.perf_counter() - t0) / int(result.lengths.sum())


def _replay_gb(frame_shape: tuple[int, ...], dtype: Any, store_k: bool = False, stack: int = 1) -> float:
    # np.zeros does not commit pages, so sizing a 100K buffer here costs no memory
    r = PrioritizedReplay(FULL_RUN_STEPS, frame_shape if stack == 1 else (stack, *frame_shape), dtype, stack=1,
                          store_k=store_k)
    return r.nbytes / 2**30


def run(args: Options) -> int:
    threads = set_threads(args.threads)
    device = choose_device(args.device)
    fill, steps = (100, 20) if args.quick else (args.fill, args.steps)
    eval_envs, eval_cap = (2, 30) if args.quick else (args.eval_envs, args.eval_cap)
    print(f"spirl bench train: {args.game}, batch {args.batch}, {device}, {threads} thread(s), {fill} warm-up steps, "
          f"{steps} timed learner steps (env step + 1 update)")
    with tempfile.TemporaryDirectory() as tmp:
        de_plan = _plan("de_rainbow", args.game, fill, steps, args.batch)
        de = Trainer(de_plan, 0, tmp, f"{tmp}/de", device=device)
        sp_plan = _plan("spirl", args.game, fill, steps, args.batch)
        sp = Trainer(sp_plan, 0, tmp, f"{tmp}/sp", device=device, extractor=RandomFeatures(int(sp_plan.k_max)))
        shipped_de = _ShippedStep(de, fill)
        t = _time_interleaved({"de": shipped_de, "spirl": _ShippedStep(sp, fill),
                               "straightforward": _StraightforwardStep(de_plan, fill, steps, args.batch, device)},
                              steps)
        de_t, sp_t, ref_t = t["de"], t["spirl"], t["straightforward"]
        print(f"  DE-Rainbow (84x84 grey, frames stored once, channels_last): {de_t['steps_per_s']:.1f} steps/s, "
              f"{de_t['ms_step']:.1f} ms/step of which {de_t['ms_update']:.1f} ms update; "
              f"warm-up step {shipped_de.ms_warm:.2f} ms")
        print(f"  SPIRL learner (features given, Kmax {sp_plan.k_max}): {sp_t['steps_per_s']:.1f} steps/s, "
              f"{sp_t['ms_step']:.1f} ms/step of which {sp_t['ms_update']:.1f} ms update")
        print(f"  straightforward (whole stacks in replay, NCHW convolutions): {ref_t['steps_per_s']:.1f} steps/s, "
              f"{ref_t['ms_step']:.1f} ms/step of which {ref_t['ms_update']:.1f} ms update")
        upd = _time_updates(de_plan, de.n_actions, args.batch, 8 if args.quick else 40, device)
        print(f"  one DE update on a fixed batch: channels_last {upd['channels_last']:.1f} ms, "
              f"NCHW {upd['NCHW']:.1f} ms (median)")
        sec_eval = _time_evaluation(de, eval_envs, eval_cap)
        print(f"  lockstep evaluation, {eval_envs} envs: {1000 * sec_eval:.2f} ms per agent step")
    print(f"  SPIRL learner step / DE-Rainbow learner step: {sp_t['ms_step'] / de_t['ms_step']:.2f} "
          f"({'not slower' if sp_t['ms_step'] <= de_t['ms_step'] else 'SLOWER'})")
    train_s = PAPER_WARMUP * shipped_de.ms_warm / 1000 + (FULL_RUN_STEPS - PAPER_WARMUP) * de_t["ms_step"] / 1000
    eval_s = PAPER_EVAL_POINTS * PAPER_EVAL_EPISODES * args.episode_length * sec_eval
    print(f"  projected 100K DE-Rainbow run: {train_s / 60:.0f} min training + {eval_s / 60:.0f} min evaluation "
          f"({PAPER_EVAL_POINTS} x {PAPER_EVAL_EPISODES} episodes of {args.episode_length} steps assumed) = "
          f"{(train_s + eval_s) / 60:.0f} min")
    print(f"  peak memory of this process: {peak_rss_mb():.0f} MB")
    print(f"  projected 100K replay: DE-Rainbow 96x96 RGB {_replay_gb((96, 96, 3), np.uint8):.2f} GB, "
          f"84x84 grey {_replay_gb((84, 84, 1), np.uint8):.2f} GB; SPIRL features Kmax 43 "
          f"{_replay_gb((43, 64), np.float32, True):.2f} GB, Kmax 50 {_replay_gb((50, 64), np.float32, True):.2f} GB, "
          f"Kmax 72 {_replay_gb((72, 64), np.float32, True):.2f} GB; whole stacks 96x96 RGB "
          f"{_replay_gb((96, 96, 3), np.uint8, stack=4):.2f} GB")
    ratio = de_t["steps_per_s"] / ref_t["steps_per_s"]
    print(f"ratio shipped/straightforward: {ratio:.2f}x")
    figures = {"game": args.game, "batch": args.batch, "de_rainbow": de_t, "spirl_learner": sp_t,
               "straightforward": ref_t, "de_update_ms": upd, "warmup_step_ms": shipped_de.ms_warm,
               "eval_ms_per_agent_step": 1000 * sec_eval, "eval_envs": eval_envs,
               "projected_de_rainbow_100k_min": (train_s + eval_s) / 60, "peak_rss_mb": peak_rss_mb()}
    emit(args, figures, ratio=ratio, device=device)
    return 0


