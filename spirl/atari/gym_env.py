"""The paper's exact Atari protocol as registered Gymnasium environments, for any agent.

::

    import gymnasium, spirl.atari.gym_env  # registering happens on import, or name the module in make:
    env = gymnasium.make("spirl.atari.gym_env:spirl/Seaquest-paper-v0")
    env = gymnasium.make("spirl/Seaquest-paper-v0")          # training protocol (a lost life ends the episode)
    env = gymnasium.make("spirl/Seaquest-paper-eval-v0")     # evaluation protocol (whole games, raw score)
    env = gymnasium.make("spirl/Seaquest-paper-v0", frame_size=84, grayscale=True)  # DE-Rainbow's frames
    env = gymnasium.make("spirl/Seaquest-paper-v0", repeat_action_probability=0.25)  # sticky actions

Every game of ``spirl.atari.games`` is registered in both variants. Each wraps the harness's own
``StackedEnv(make_env(game, mode, seed, protocol))`` (``spirl.atari.envs``), so it plays the same
frames for the same seed and actions (tested), and any keyword argument is a ``ProtocolSettings``
field (paper defaults otherwise), or ``protocol=ProtocolSettings(...)`` whole. The episode cap is
``protocol=ProtocolSettings(max_episode_steps=N)``: ``gymnasium.make`` keeps a ``max_episode_steps``
keyword for its own ``TimeLimit`` wrapper, which would end episodes by another count.

Gymnasium's API onto the protocol:

* observation: the frame stack, uint8 ``(4, 96, 96, 3)`` (``(frame_stack, size, size, 1)`` grey),
  oldest first, zeroed at the start of each learning episode;
* ``reset(seed=s)`` builds the environment of seed ``s`` (the harness's seeding: the ALE and the
  no-op draws from ``SeedSequence(s)``); ``reset()`` without a seed starts the next game of the
  same environment (a first ``reset()`` without one draws the seed from Gymnasium's generator);
* reward: the sign of the 4-frame score in the training variant (what the agent learns from), the
  raw game score in the evaluation variant (what papers report); ``info["raw_reward"]`` always;
* ``terminated``: game over, or, in the training variant, a lost life. After a lost life the game
  goes on, as in the paper: the next ``reset()`` (without a seed) returns the new episode's first
  observation, FIRE already pressed, without resetting the emulator (``info["new_game"]`` is False);
* ``truncated``: the 27,000-step cap (``max_episode_steps``) reached with the game still on.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import gymnasium
import numpy as np
from gymnasium import spaces

from spirl.atari import games
from spirl.atari.envs import MODES, StackedEnv, make_env
from spirl.config import ProtocolSettings

NAMESPACE = "spirl"
VARIANTS = {"paper": "train", "paper-eval": "eval"}  # id suffix -> the harness's mode


def env_id(game: str, mode: str = "train") -> str:
    """The registered id of ``game`` (any spelling) in ``mode``: ``spirl/Seaquest-paper-v0``, ``...-paper-eval-v0``."""
    suffix = next(s for s, m in VARIANTS.items() if m == mode) if mode in MODES else None
    if suffix is None:
        raise ValueError(f"mode must be 'train' or 'eval', got {mode!r}")
    return f"{NAMESPACE}/{games.canonical(game)}-{suffix}-v0"


class SpirlAtariEnv(gymnasium.Env):
    """One game under the paper's protocol as a ``gymnasium.Env`` (see the module docstring).

    Args:
        game: any spelling known to ``spirl.atari.games``.
        mode: ``train`` (a lost life ends the episode, sign rewards) or ``eval`` (whole games, raw score).
        render_mode: None or ``rgb_array`` (the emulator's 210x160 RGB screen).
        protocol: the whole protocol (default: the paper's); ``**fields`` change single settings of it.
        **fields: ``ProtocolSettings`` fields; the evaluation variant defaults ``clip_rewards`` to False.
    """

    # 15 agent steps per second: 60 emulator frames per second, action repeat 4
    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 15}

    def __init__(self, game: str, mode: str = "train", render_mode: str | None = None,
                 protocol: ProtocolSettings | None = None, **fields: Any) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be 'train' or 'eval', got {mode!r}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        known = set(ProtocolSettings.__dataclass_fields__)
        unknown = sorted(set(fields) - known)
        if unknown:
            raise TypeError(f"unknown protocol setting(s) {', '.join(unknown)}; allowed: {', '.join(sorted(known))}")
        if mode == "eval" and protocol is None:
            fields.setdefault("clip_rewards", False)
        self.game, self.mode, self.render_mode = games.canonical(game), mode, render_mode
        self.protocol = dataclasses.replace(protocol or ProtocolSettings(), **fields)
        self._env = StackedEnv(make_env(self.game, mode, 0, self.protocol))  # checks the settings
        self._seeded = False
        self._continue_game = False  # a train-time life loss ended the episode; the game goes on
        self._last_obs = self._env.stack.array.copy()
        frame = self._env.env.frame_shape
        self.observation_space = spaces.Box(0, 255, (self.protocol.frame_stack, *frame), np.uint8)
        self.action_space = spaces.Discrete(self._env.n_actions)

    @property
    def harness_env(self) -> StackedEnv:
        """The wrapped ``StackedEnv`` (its ``env`` is the harness's ``AtariEnv``)."""
        return self._env

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start the environment of ``seed`` (or the next game, or the next life's episode); return (obs, info)."""
        super().reset(seed=seed)
        if seed is not None or not self._seeded:
            run_seed = int(seed) if seed is not None else int(self.np_random.integers(2**31 - 1))
            if run_seed < 0:
                raise ValueError(f"seed must be a non-negative integer, got {seed}")
            self._env = StackedEnv(make_env(self.game, self.mode, run_seed, self.protocol))
            self._seeded, self._continue_game = True, False
        if self._continue_game:
            self._continue_game = False
            return self._last_obs.copy(), self._info(new_game=False)
        self._last_obs = self._env.reset()
        return self._last_obs.copy(), self._info(new_game=True)

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Play one agent step (4 emulator frames); return (obs, reward, terminated, truncated, info)."""
        s = self._env.step(int(action))
        self._last_obs = s.obs
        ale_over = self._env.env.ale.game_over()
        truncated = s.game_over and not ale_over  # the step cap, the game still on
        terminated = s.terminal and not truncated
        self._continue_game = s.terminal and not s.game_over  # a train-time lost life
        return s.obs, s.reward, terminated, truncated, self._info(raw_reward=s.raw_reward, life_lost=s.life_lost)

    def _info(self, **extra: Any) -> dict[str, Any]:
        env = self._env.env
        return {"lives": env.lives, "episode_steps": env.episode_steps, "seed": env.seed, **extra}

    def render(self) -> np.ndarray | None:
        """The emulator's current screen, uint8 ``(210, 160, 3)``, in ``rgb_array`` mode."""
        return self._env.env.ale.getScreenRGB() if self.render_mode == "rgb_array" else None


def register_envs() -> list[str]:
    """Register ``spirl/<Game>-paper-v0`` and ``spirl/<Game>-paper-eval-v0`` for every game (idempotent)."""
    ids = []
    for game in games.GAMES:
        for mode in MODES:
            name = env_id(game, mode)
            if name not in gymnasium.registry:
                gymnasium.register(name, entry_point=f"{__name__}:SpirlAtariEnv",
                                   kwargs={"game": game, "mode": mode})
            ids.append(name)
    return ids


register_envs()
