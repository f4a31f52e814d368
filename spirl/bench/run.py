"""``spirl bench run``: the projected wall time of one full paper-protocol run, from rates measured here.

``spirl bench run --method spirl --game Frostbite [--precision bfloat16] [--device cuda] [--threads 2]``

Measures, on this machine and with the method's own code paths: env steps (warm-up and acting,
``Trainer._env_step``), learner updates (``Trainer._learn``), the features of new frames at batch 1 and at
the evaluation batch (``SalientPatchExtractor``: the paper MAE, randomly initialised unless ``--mae``: the
cost does not depend on the weights), greedy actions at both batch sizes, evaluation env steps, a
checkpoint and the disk's write rate, and the game's evaluation-episode lengths under a uniform-random
policy. It then prints the projected wall time of one run at the method's protocol (``spirl.config.for_game``
of the built-in method, or of ``--config``'s), broken down (``spirl.projection``), for two episode
lengths: the random policy's, and a trained agent's, **assumed** to be ``--trained-factor`` (2) times longer.

The features are timed with the method's ``saliency.error_cache`` on streams of consecutive random-policy frames
(one game at batch 1, the evaluation's games in lockstep at its batch), after a warm-up, and without the cache on
benchmark frames; the projection without the cache is printed too. A trained agent's frames may repeat fewer
neighbourhoods than a random policy's (docs/costs.md#the-error-cache).

The printed ratio is the projected wall time with the straightforward error map
(``error_map_reference``, no cache) over the shipped one (1.0 for methods without an error map).
"""

from __future__ import annotations

import copy
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spirl import costs
from spirl.atari.envs import eval_seeds, make_env
from spirl.bench import Options, emit, machine, sync
from spirl.bench.saliency import benchmark_frames
from spirl.bench.train import RandomFeatures
from spirl.config import MethodSettings, RunPlan, TrackSettings, for_game, load_method, parse_preset, resolve_method
from spirl.mae.model import MAE
from spirl.projection import Rates, Workload, as_dict, project
from spirl.rl.trainer import Trainer
from spirl.saliency.error_cache import ErrorCache
from spirl.saliency.error_map import error_map, error_map_reference
from spirl.saliency.patches import frames_to_images, load_checked_mae
from spirl.saliency.select import SalientPatchExtractor
from spirl.utils import choose_device, set_threads


def _settings(args: Options) -> MethodSettings:
    if args.compare:
        from spirl.config import settings_from_dict

        s = settings_from_dict(args.compared["settings"])
    elif args.config:
        s = load_method(args.config, args.method)
    else:
        s = resolve_method(parse_preset({"games": [args.game]}), args.method)
    if args.precision is not None:
        s.saliency.precision = args.precision
    return s


def _small_plan(settings: MethodSettings, game: str, fill: int, steps: int) -> RunPlan:
    """The method's agent and learner on a run of ``fill`` random warm-up steps and ``steps`` learning steps."""
    s = copy.deepcopy(settings)
    s.budget.env_steps, s.budget.eval_points, s.learner.warmup_steps = fill + steps, 1, fill
    s.learner.matched_warmup_steps = None
    return for_game(s, game)


def _timed(fn: Any, n: int, device: str) -> float:
    """Seconds per call of ``fn()`` over ``n`` calls (the device waited for)."""
    sync(device)
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    sync(device)
    return (time.perf_counter() - t0) / max(1, n)


def _write_rate(folder: Path, nbytes: int) -> float:
    """Bytes/s of writing an uncompressed ``.npz`` as the replay's checkpoint does (``np.savez``)."""
    data = np.random.default_rng(0).integers(0, 255, nbytes, dtype=np.uint8)
    t0 = time.perf_counter()
    with open(folder / "write-rate.npz", "wb") as f:
        np.savez(f, data=data)
    seconds = time.perf_counter() - t0
    (folder / "write-rate.npz").unlink()
    return nbytes / max(seconds, 1e-9)


def _frame_stream(plan: RunPlan, n_envs: int, steps: int, seed: int, spread: int = 0) -> list[np.ndarray]:
    """``steps`` batches uint8 ``(n_envs, 96, 96, 3)`` of consecutive frames of ``n_envs`` evaluation games played
    in lockstep by a uniform-random policy (a finished game restarts), as an evaluation hands them to the extractor.

    Game ``i`` first plays ``i * spread`` steps unrecorded, so the games are at different stages (games that start
    together look alike; an agent's games drift apart), which makes the measured cache hit rate conservative.
    """
    envs = [make_env(plan.game, "eval", sd, plan.method.protocol) for sd in eval_seeds(seed, n_envs)]
    rng = np.random.default_rng(seed)
    frames = [env.reset() for env in envs]

    def advance(i: int) -> None:
        st = envs[i].step(int(rng.integers(envs[i].n_actions)))
        frames[i] = envs[i].reset() if st.game_over else st.frame

    for i in range(n_envs):
        for _ in range(i * spread):
            advance(i)
    stream = []
    for _ in range(steps):
        stream.append(np.stack(frames))
        for i in range(n_envs):
            advance(i)
    return stream


def _cached_rate(ext: Any, stream: list[np.ndarray], warm: int, device: str) -> tuple[float, float]:
    """Seconds per batch of the extractor on ``stream`` after ``warm`` batches, and the error cache's hit rate then."""
    ext.reset_cache()
    for batch in stream[:warm]:
        ext(batch)
    hits, lookups = ext.cache.hits, ext.cache.lookups
    sync(device)
    t0 = time.perf_counter()
    for batch in stream[warm:]:
        ext(batch)
    sync(device)
    seconds = (time.perf_counter() - t0) / max(1, len(stream) - warm)
    return seconds, (ext.cache.hits - hits) / max(1, ext.cache.lookups - lookups)


def _stream_hit_rate(stream: list[np.ndarray]) -> float:
    """Share of the neighbourhoods of ``stream`` (batches of frames) that an earlier frame had: the error cache's
    own table and its emptying when full (``spirl.saliency.error_cache``), with no error maps computed."""

    cache = ErrorCache()
    for batch in stream:
        cache.errors(batch, lambda need: torch.zeros(need.shape))
    return cache.hit_rate


def _features(plan: RunPlan, args: Options, device: str, batch: int, n_single: int) -> dict[str, float]:
    """Seconds of the extractor and of the error map (shipped, straightforward) at batch 1 and ``batch``.

    ``encode_*_uncached``: the extractor without the error cache on benchmark frames; ``encode_*``: with the
    method's ``saliency.error_cache``, on streams of consecutive frames (one game for training's batch 1, timed
    after 200 frames; ``batch`` games in lockstep at stages 6 steps apart for evaluation, timed after 4 batches),
    with the hit rates ``hit_rate_*`` of the timed part; ``long_hit_rate_*``: the hit rates of longer streams (2,000
    frames of one game; ``batch`` games in lockstep for 400 steps), from the keys alone.
    """

    s = plan.method
    if args.mae:
        mae, _ = load_checked_mae(args.mae, arch=s.mae, device=device)
    else:
        torch.manual_seed(args.seed)
        mae = MAE(s.mae).to(device).eval().requires_grad_(False)
    plain = copy.deepcopy(s.saliency)
    plain.error_cache = False
    ext = SalientPatchExtractor(mae, plain, int(plan.k_max), seed=args.seed, device=device, allow_slow=True)
    frames = benchmark_frames(max(batch, n_single), plan.game, args.seed)
    ext(frames[:1])  # the per-model cache, built once by a run

    def one_at_a_time(fn: Any) -> float:
        """Seconds per frame of ``fn`` on the first ``n_single`` frames, one frame per call."""
        sync(device)
        t0 = time.perf_counter()
        for i in range(n_single):
            fn(i)
        sync(device)
        return (time.perf_counter() - t0) / n_single

    imgs = frames_to_images(frames[:batch], device)
    out = {"encode_1_uncached": one_at_a_time(lambda i: ext(frames[i:i + 1])),
           "encode_batch_uncached": _timed(lambda: ext(frames[:batch]), 1 if args.quick else 2, device)}
    for name, fn in (("map", error_map), ("map_reference", error_map_reference)):
        out[f"{name}_1"] = one_at_a_time(lambda i, fn=fn: fn(ext.compute, imgs[i:i + 1]))
        out[f"{name}_batch"] = _timed(lambda fn=fn: fn(ext.compute, imgs), 1, device)
    if not s.saliency.error_cache:
        return {**out, "encode_1": out["encode_1_uncached"], "encode_batch": out["encode_batch_uncached"],
                "hit_rate_1": 0.0, "hit_rate_batch": 0.0}
    cached = SalientPatchExtractor(mae, s.saliency, int(plan.k_max), seed=args.seed, device=device, allow_slow=True)
    # (frames, warm-up frames) at batch 1; (batches, warm-up batches, stage spread in steps) at the evaluation batch
    single, evaluation = ((4, 1), (3, 1, 2)) if args.quick else ((240, 200), (12, 4, 6))
    out["encode_1"], out["hit_rate_1"] = _cached_rate(cached, _frame_stream(plan, 1, single[0], args.seed),
                                                      single[1], device)
    out["encode_batch"], out["hit_rate_batch"] = _cached_rate(
        cached, _frame_stream(plan, batch, evaluation[0], args.seed + 1, evaluation[2]), evaluation[1], device)
    # Longer streams, keys only (no error maps): what a run's fuller table sees.
    long_1, long_batch = (8, 4) if args.quick else (2000, 400)
    out["long_hit_rate_1"] = _stream_hit_rate(_frame_stream(plan, 1, long_1, args.seed))
    out["long_hit_rate_batch"] = _stream_hit_rate(_frame_stream(plan, batch, long_batch, args.seed + 1))
    return out


def _lengths(plan: RunPlan, episodes: int, cap: int | None, seed: int) -> tuple[list[int], float]:
    """Lengths of ``episodes`` uniform-random evaluation episodes (full games unless ``cap``) and seconds per step."""
    protocol = plan.method.protocol if cap is None else type(plan.method.protocol)(
        **{**vars(plan.method.protocol), "max_episode_steps": cap})
    lengths, steps, t0 = [], 0, time.perf_counter()
    for i, sd in enumerate(eval_seeds(seed, episodes)):
        env, rng, n = make_env(plan.game, "eval", sd, protocol), np.random.default_rng([seed, i]), 0
        env.reset()
        while not env.step(int(rng.integers(env.n_actions))).game_over:
            n += 1
        lengths.append(n + 1)
        steps += n + 1
    return lengths, (time.perf_counter() - t0) / steps


def measure(args: Options, plan: RunPlan, device: str) -> tuple[Rates, dict[str, Any]]:
    """Every component rate of a run of ``plan`` on this machine, and the extras (lengths, error-map rates)."""

    quick = args.quick
    fill, steps = (100, 10) if quick else (1000, 150)
    batch = 2 if quick else plan.eval_episodes
    spirl = plan.k_max is not None
    extra: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        small = _small_plan(plan.method, plan.game, fill, steps)
        stand_in = RandomFeatures(int(plan.k_max)) if spirl else None  # the learner is timed on random slabs
        trainer = Trainer(small, args.seed, tmp, Path(tmp) / "ckpt", device=device, extractor=stand_in,
                          track=TrackSettings(tensorboard=False))  # no tracking output in the timed steps
        trainer.start()
        warm_step = _timed(trainer._env_step, fill, device)
        step_s = update_s = 0.0
        for _ in range(steps):
            step_s += _timed(trainer._env_step, 1, device)
            update_s += _timed(trainer._learn, 1, device)
        step_s, update_s = step_s / steps, update_s / steps
        t0 = time.perf_counter()
        trainer.save_checkpoint()
        ckpt_s = time.perf_counter() - t0
        per_step = trainer.replay.nbytes / trainer.replay.capacity
        rate = _write_rate(Path(tmp), (2 if quick else 64) * 2**20)
        fixed = max(0.0, ckpt_s - per_step * len(trainer.replay) / rate)
        shape = (plan.method.protocol.frame_stack, *trainer.frame_shape)
        if spirl:
            obs = torch.randn(batch, *shape)
            ks = torch.randint(1, int(plan.k_max) + 1, (batch, shape[0]))
        else:
            obs, ks = torch.randint(0, 256, (batch, *shape), dtype=torch.uint8), None
        obs = obs.to(device)
        ks = None if ks is None else ks.to(device)
        act = trainer.learner.act_greedy
        policy_1 = _timed(lambda: act(obs[:1], None if ks is None else ks[:1]), 3 if quick else 50, device)
        policy_b = _timed(lambda: act(obs, ks), 2 if quick else 20, device)
    if spirl:
        feats = _features(plan, args, device, batch, 1 if quick else 5)
        extra["features_s"] = feats
    else:
        feats = {"encode_1": 0.0, "encode_batch": 0.0}
    episodes = args.episodes or (1 if quick else 10)
    lengths, eval_step = _lengths(plan, episodes, 200 if quick else None, args.seed)
    extra["random_lengths"] = lengths
    encode_1, encode_batch = feats["encode_1"], feats["encode_batch"]
    if "long_hit_rate_1" in feats:  # what a run's fuller table sees: the longer streams' hit rates
        encode_1 = at_hit_rate(feats["encode_1_uncached"], encode_1, feats["hit_rate_1"], feats["long_hit_rate_1"])
        encode_batch = at_hit_rate(feats["encode_batch_uncached"], encode_batch, feats["hit_rate_batch"],
                                   feats["long_hit_rate_batch"])
        extra["encode_timed"] = {"encode_1": feats["encode_1"], "encode_batch": feats["encode_batch"]}
    rates = Rates(warm_step, step_s, update_s, encode_1, encode_batch, batch, eval_step,
                  policy_1, policy_b, fixed, rate, per_step)
    return rates, extra


def at_hit_rate(uncached: float, cached: float, hit: float, target: float) -> float:
    """Seconds of the features at the cache hit rate ``target``, from the seconds measured without the cache and
    with it at the hit rate ``hit``: the error-map part scales with the misses (``uncached - fixed`` at no hit),
    the rest (digests, selection, encoder) is fixed. Never below the measured where ``target <= hit``."""
    if target <= hit or hit >= 1.0:
        return cached
    per_miss = max(0.0, (uncached - cached) / hit) if hit > 0 else 0.0
    return max(0.0, cached - per_miss * (target - hit))


def workload(plan: RunPlan, lengths: list[int], factor: float) -> Workload:
    """The plan's counts with evaluation episodes ``factor`` times the given lengths (``spirl.costs.workload``)."""
    return costs.workload(plan, float(np.mean(lengths)), float(np.max(lengths)), factor)


def _report(label: str, p: dict[str, Any]) -> None:
    h = 3600.0
    tr, ev, ck = p["training"], p["evaluation"], p["checkpoints"]
    print(f"  {label}: {p['total_s'] / h:.1f} h = training {sum(tr.values()) / h:.1f} h (env {tr['env'] / h:.2f}, "
          f"features {tr['encode'] / h:.2f}, updates {tr['updates'] / h:.2f}) + evaluation "
          f"{sum(ev.values()) / h:.1f} h (env {ev['env'] / h:.2f}, features {ev['encode'] / h:.2f}, policy "
          f"{ev['policy'] / h:.2f}; {p['frames']['evaluation']:,.0f} frames) + {p['count']['checkpoints']} checkpoints "
          f"{sum(ck.values()) / h:.2f} h")


def run(args: Options) -> int:
    """Measure, project and print; the last line is the ratio (straightforward/shipped projected time)."""
    args.compared = None
    if args.compare:  # the run's own settings, game and MAE
        from spirl.bench.compare import read_run

        args.compared = read_run(args.compare)
        args.game = args.compared["game"]
        mae = (args.compared.get("mae") or {}).get("path")
        if args.mae is None and mae and Path(mae).is_file():
            args.mae = mae
    threads = set_threads(args.threads)
    device = choose_device(args.device)
    settings = _settings(args)
    plan = for_game(settings, args.game)
    print(f"spirl bench run: {settings.name} on {plan.game}, {device}, {threads} thread(s), saliency.precision "
          f"{settings.saliency.precision}; {plan.total_env_steps:,} steps, {len(plan.eval_steps)} evaluations of "
          f"{plan.eval_episodes} episodes (the last {plan.final_eval_episodes})")
    rates, extra = measure(args, plan, device)
    lengths = extra["random_lengths"]
    print(f"  rates (ms): warm-up step {1e3 * rates.warm_step:.2f}, step {1e3 * rates.step:.2f}, update "
          f"{1e3 * rates.update:.2f}, features 1 frame {1e3 * rates.encode_1:.1f} / {rates.eval_batch} frames "
          f"{1e3 * rates.encode_batch:.1f}, eval env step {1e3 * rates.eval_env_step:.3f}, policy "
          f"{1e3 * rates.policy_1:.2f} / {1e3 * rates.policy_batch:.2f}; checkpoint fixed "
          f"{1e3 * rates.checkpoint_fixed:.0f} ms, write {rates.write_bytes_per_s / 2**20:.0f} MiB/s")
    print(f"  random-policy evaluation episodes: {len(lengths)}, mean {np.mean(lengths):.0f} steps, "
          f"longest {max(lengths)}{' (capped at 200: --quick)' if args.quick else ''}")
    figures: dict[str, Any] = {"method": settings.name, "game": plan.game, "threads": threads,
                               "rates": as_dict(rates), **extra, "trained_factor": args.trained_factor}
    for label, factor in (("random-policy episode lengths", 1.0),
                          (f"trained-agent lengths (assumed {args.trained_factor:g}x random)", args.trained_factor)):
        w = workload(plan, lengths, factor)
        p = project(rates, w)
        _report(label, p)
        key = "random" if factor == 1.0 else "trained"
        figures[f"workload_{key}"], figures[f"projection_{key}"] = as_dict(w), p
        figures[f"hours_{key}"] = p["total_s"] / 3600
    trained = w  # the loop's last workload: a trained agent's lengths
    ratio = 1.0
    if "features_s" in extra:  # the same run with the straightforward error map in place of the shipped one
        f = extra["features_s"]
        print(f"  error cache: {f['hit_rate_1']:.0%} of the neighbourhoods of a training frame and "
              f"{f['hit_rate_batch']:.0%} of an evaluation batch's were seen before (random-policy streams); "
              f"features {1e3 * f['encode_1_uncached']:.1f} / {1e3 * f['encode_batch_uncached']:.1f} ms without it; "
              f"over longer streams (keys only: one game's first frames, the evaluation's games in lockstep) "
              f"{f['long_hit_rate_1']:.0%} and {f['long_hit_rate_batch']:.0%}, so the projection is conservative "
              "where those are higher")
        uncached = Rates(**{**as_dict(rates), "encode_1": f["encode_1_uncached"],
                            "encode_batch": f["encode_batch_uncached"]})
        figures["hours_trained_uncached"] = project(uncached, trained)["total_s"] / 3600
        print(f"  without the error cache (trained-agent lengths): {figures['hours_trained_uncached']:.1f} h")
        slow = Rates(**{**as_dict(rates), "encode_1": f["encode_1_uncached"] - f["map_1"] + f["map_reference_1"],
                        "encode_batch": f["encode_batch_uncached"] - f["map_batch"] + f["map_reference_batch"]})
        ratio = project(slow, trained)["total_s"] / figures["projection_trained"]["total_s"]
    if args.compared is not None:
        from spirl.bench.compare import report

        figures["compare"] = report(rates, trained, args.compared, extra.get("features_s"))
    if args.save:
        key = costs.rates_key(plan, threads)
        costs.save_rates(args.save, key, plan.game, rates, lengths, {"machine": machine(), "device": device})
        print(f"  rates saved to {args.save} ({key}, {plan.game}): the workflow's runtime requests use them")
    print(f"ratio shipped/straightforward: {ratio:.2f}x (projected run time with the straightforward error map "
          "over the shipped one)")
    emit(args, figures, ratio=ratio, device=device, precision=settings.saliency.precision)
    return 0
