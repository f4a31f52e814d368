"""``spirl bench env``: agent steps per second of our training environment vs gymnasium's stock pipeline.

Ours: ``StackedEnv(make_env(game, "train"))`` (96x96 RGB, bilinear, stack 4, every
protocol point of docs/method.md#step-protocol). Stock: ``gym.make("ALE/X-v5", frameskip=1,
repeat_action_probability=0)`` + ``AtariPreprocessing(noop_max=30, frame_skip=4,
screen_size=96, grayscale_obs=False, terminal_on_life_loss=True)`` +
``FrameStackObservation(stack_size=4, padding_type="zero")``. Same process, same game,
same uniform-random actions, one thread; the two are measured in alternating rounds
and the best round of each is kept (the machine is shared).

``AtariPreprocessing`` needs OpenCV for its ``INTER_AREA`` resize. When ``cv2`` is not
installed, its ``cv2.resize`` call is served by a zero-cost stand-in (a strided view of
the right shape, wrong content). The stock figure is then an upper bound of the real
pipeline's speed, so the printed ratio can only understate ours.

Informational: ale-py's ``AtariVectorEnv`` (C++ preprocessing, thread pool) with 2
threads at the same settings, and the same vector env returning native 210x160 frames
that we resize bilinearly and stack in Python (what a protocol-faithful batched
evaluation would cost; see docs/protocol.md#batched-evaluation).
"""

from __future__ import annotations

import contextlib
import sys
import time
import types
from collections.abc import Iterator

import numpy as np

from spirl.atari import games
from spirl.atari.envs import SCREEN_SHAPE, FrameStack, StackedEnv, make_env
from spirl.atari.resize import BilinearResize
from spirl.bench import Options, emit


@contextlib.contextmanager
def _opencv_for_stock() -> Iterator[bool]:
    """Make ``import cv2`` work for ``AtariPreprocessing``; yield True when a stand-in had to be used."""
    try:
        import cv2  # noqa: F401
    except ImportError:
        pass
    else:
        yield False
        return
    stand_in = types.ModuleType("cv2")
    stand_in.INTER_AREA = 3  # type: ignore[attr-defined]

    def resize(src: np.ndarray, dsize: tuple[int, int], interpolation: int | None = None) -> np.ndarray:
        # A view of the requested shape: no pixel is computed, so it costs less than any real resize.
        w, h = dsize
        return src[: 2 * h : 2, :w] if src.shape[0] >= 2 * h else src[:h, :w]

    stand_in.resize = resize  # type: ignore[attr-defined]
    sys.modules["cv2"] = stand_in
    try:
        yield True
    finally:
        del sys.modules["cv2"]


def _ours(game: str, actions: np.ndarray, seed: int) -> float:
    env = StackedEnv(make_env(game, "train", seed=seed))
    env.reset()
    start = time.perf_counter()
    for a in actions:
        if env.step(int(a) % env.n_actions).game_over:
            env.reset()
    return len(actions) / (time.perf_counter() - start)


def _stock(game: str, actions: np.ndarray, seed: int) -> float:
    import ale_py
    import gymnasium as gym
    from gymnasium.wrappers import AtariPreprocessing, FrameStackObservation

    gym.register_envs(ale_py)
    base = gym.make(games.get(game).ale_id, frameskip=1, repeat_action_probability=0.0, full_action_space=False)
    env = AtariPreprocessing(base, noop_max=30, frame_skip=4, screen_size=96, grayscale_obs=False,
                             terminal_on_life_loss=True)
    env = FrameStackObservation(env, stack_size=4, padding_type="zero")
    n = env.action_space.n
    env.reset(seed=seed)
    start = time.perf_counter()
    for a in actions:
        _, _, terminated, truncated, _ = env.step(int(a) % n)
        if terminated or truncated:
            env.reset()
    rate = len(actions) / (time.perf_counter() - start)
    env.close()
    return rate


def _vector(game: str, steps: int, threads: int, seed: int, native: bool) -> float:
    """Steps/s of ``AtariVectorEnv`` (2 envs); ``native`` returns 210x160 frames we resize and stack ourselves."""
    from ale_py.vector_env import AtariVectorEnv

    num_envs = threads
    size = SCREEN_SHAPE if native else (96, 96)
    envs = AtariVectorEnv(
        games.get(game).rom, num_envs, num_threads=threads, img_height=size[0], img_width=size[1], grayscale=False,
        stack_num=1 if native else 4, frameskip=4, maxpool=True, noop_max=30, episodic_life=True,
        reward_clipping=True, use_fire_reset=True, repeat_action_probability=0.0, max_num_frames_per_episode=108_000,
    )
    resize = BilinearResize(SCREEN_SHAPE, (96, 96), 3)
    stacks = [FrameStack(4, (96, 96, 3)) for _ in range(num_envs)]
    rng = np.random.default_rng(seed)
    n = int(envs.single_action_space.n)
    envs.reset(seed=seed)
    iters = max(1, steps // num_envs)
    start = time.perf_counter()
    for _ in range(iters):
        obs, _, _, _, _ = envs.step(rng.integers(0, n, size=num_envs))
        if native:
            for i in range(num_envs):
                stacks[i].push(resize(obs[i, 0]))
    rate = iters * num_envs / (time.perf_counter() - start)
    envs.close()
    return rate


def run(args: Options) -> int:
    """Measure and print steps/s of ours, stock and AtariVectorEnv; the last line is the ratio ours/stock."""
    game = games.canonical(args.game)
    steps = args.steps or (300 if args.quick else 4000)
    rounds = args.rounds or (1 if args.quick else 3)
    if steps < 1 or rounds < 1 or args.vector_threads < 1:
        raise ValueError("--steps, --rounds and --vector-threads must be >= 1")
    actions = np.random.default_rng(args.seed).integers(0, 18, size=steps)  # reduced modulo each env's action count
    print(f"game {game}, {steps} random-action agent steps per measurement, best of {rounds} round(s), one thread")
    ours, stock = [], []
    with _opencv_for_stock() as stand_in:
        for _ in range(rounds):
            ours.append(_ours(game, actions, args.seed))
            stock.append(_stock(game, actions, args.seed))
    best_ours, best_stock = max(ours), max(stock)
    print(f"ours  (96x96 RGB bilinear, stack 4, full protocol): {best_ours:8.0f} steps/s")
    note = " [cv2 missing: resize replaced by a zero-cost view, an upper bound]" if stand_in else ""
    print(f"stock (AtariPreprocessing + FrameStackObservation): {best_stock:8.0f} steps/s{note}")
    figures = {"game": game, "steps": steps, "rounds": rounds, "ours_steps_per_s": best_ours,
               "stock_steps_per_s": best_stock, "stock_resize_stand_in": stand_in}
    try:
        vec = _vector(game, steps, args.vector_threads, args.seed, native=False)
        raw = _vector(game, steps, args.vector_threads, args.seed, native=True)
        t = args.vector_threads
        print(f"AtariVectorEnv, {t} threads, 96x96 RGB INTER_AREA (informational): {vec:8.0f} steps/s")
        print(f"AtariVectorEnv, {t} threads, 210x160 + our bilinear/stack (informational): {raw:8.0f} steps/s")
        figures.update(vector_steps_per_s=vec, vector_native_steps_per_s=raw, vector_threads=t)
    except (ImportError, RuntimeError) as err:  # informational only: never hide the main figures
        print(f"AtariVectorEnv: not measured ({err})")
    print(f"ratio ours/stock: {best_ours / best_stock:.2f}x")
    emit(args, figures, ratio=best_ours / best_stock, device="cpu")
    return 0
