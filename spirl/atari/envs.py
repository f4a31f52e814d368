"""The paper's Atari protocol (docs/method.md#step-protocol) on the real ALE of ale-py.

``make_env(game, mode, seed, protocol)`` builds one environment. It drives
``ale_py.ALEInterface`` directly (frameskip 1, sticky actions off, minimal action
set, ROMs from the ale-py wheel), as the authors' wrapper drives ``atari_py``:
each protocol point is a few explicit lines below instead of a stack of gymnasium
wrappers, and one agent step costs four ``act`` calls, two screen grabs, one
max-pool and one resize.

Protocol (docs/method.md#step-protocol, paper Table 9), all settings in ``spirl.config.ProtocolSettings``:

* observation: max of the screens after emulator frames 3 and 4 of the action
  repeat, the full 210x160 frame resized to 96x96 RGB by **bilinear** interpolation
  (OpenCV ``INTER_LINEAR`` semantics: half-pixel centres, no antialiasing, no crop),
  uint8 ``(H, W, C)``. ``ProtocolSettings(frame_size=84, grayscale=True)`` gives the
  84x84x1 grey frames of the DE-Rainbow baseline (ALE's own luminance palette);
* action repeat 4, all four frames always played (rewards summed);
* no-op starts: U{1..30} NOOP frames after a hard ``reset_game``; if a life is lost
  (or the game ends) during them the reset starts over;
* FIRE once, a single emulator frame, after the no-ops when the minimal action set
  has FIRE (its reward is discarded);
* reward: the sign of the 4-frame sum; ``raw_reward`` keeps the game score;
* train mode (``episodic_life``): a lost life ends the *learning* episode
  (``terminal``) without resetting the game; the caller zeroes its frame stack and
  the env presses FIRE once. Eval mode: a lost life changes nothing;
* life-loss bookkeeping of the released code (``life_loss_noop``, both modes): one
  extra NOOP frame after a lost life, its reward discarded. As released, these
  extra frames run before the final screen grab, and in train mode the saved
  frame-3 screen is zeroed, so the observation of a train-time life-loss step is the
  single post-FIRE frame (docs/method.md#protocol-step);
* episode cap: 27,000 agent steps since the game reset; reaching it sets
  ``game_over`` (a true terminal);
* seeding: ``SeedSequence(seed)`` gives the ALE ``random_seed`` and the env's own
  numpy Generator (no-op counts), so a seed fixes every observation and reward.
  Evaluation environment ``i`` of a run with seed ``s`` uses ``eval_seeds(s, n)[i]``
  (``s`` for ``i = 0``, ``s * 100 + i`` otherwise), as the released code. The
  released code derives the ALE seed with gym's ``hash_seed`` instead: same idea,
  other numbers.

Deviations from gymnasium's stock ``AtariPreprocessing`` + ``FrameStackObservation``
(docs/method.md#protocol-gymnasium) and how each is handled here:

1. base env: ``ALE/X-v5`` defaults to frameskip 4 and sticky actions 0.25. Here the
   ALE runs at frameskip 1 with ``repeat_action_probability = 0`` (a setting).
2. resize: gymnasium hard-codes ``cv2.INTER_AREA``; the paper used bilinear. Here
   ``BilinearResize`` (numpy, precomputed taps and weights).
3. reward clipping: gymnasium has none. Here ``reward = sign(sum)``, ``raw_reward`` kept.
4. life loss: ``terminal_on_life_loss`` ends the episode and the next ``reset()`` is a
   full game reset. Here ``terminal=True, game_over=False``: the game goes on, FIRE
   is pressed, and the caller (``StackedEnv`` does it) zeroes the stack.
5. FIRE on reset: not in gymnasium. Here one FIRE frame after the no-ops.
6. stack padding: ``FrameStackObservation`` pads with zeros only at reset
   (``padding_type="zero"``) or repeats the first frame (default). Here
   ``FrameStack`` is zeroed at reset and after every train-time life loss.
7. max-pool: both pool frames 3 and 4, but gymnasium stops the repeat early when the
   game ends; here all four frames are always played.
8. no-ops: gymnasium draws U{1..30} and fully resets on termination; here a lost life
   during the no-ops also restarts the reset.
9. episode cap: v5 counts 108,000 emulator frames including no-op frames; here
   27,000 agent steps, counted from the end of the reset.
10. action set: minimal in both.
11. layout: both HWC here; the networks transpose to CHW.
12. the extra life-loss NOOP frame and the discarded FIRE/NOOP rewards: not in
    gymnasium; here ``life_loss_noop`` (default on, as released).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, NamedTuple

import ale_py
import numpy as np
from ale_py import roms

from spirl.atari import games
from spirl.atari.resize import BilinearResize
from spirl.config import ProtocolSettings

MODES = ("train", "eval")
SCREEN_SHAPE = (210, 160)  # every ALE game renders 210 x 160
_NOOP, _FIRE = ale_py.Action.NOOP, ale_py.Action.FIRE


class Step(NamedTuple):
    """One agent step of ``AtariEnv``.

    ``frame`` uint8 ``(H, W, C)`` (a fresh array); ``reward`` the sign-clipped reward
    (the raw one when ``clip_rewards`` is off); ``raw_reward`` the game score of the
    four frames; ``terminal`` ends the learning episode (train-time life loss, game
    over or step cap); ``game_over`` means the caller must ``reset()``; ``life_lost``
    tells that the lives counter dropped during this step (in both modes).
    """

    frame: np.ndarray
    reward: float
    raw_reward: float
    terminal: bool
    game_over: bool
    life_lost: bool


class StackedStep(NamedTuple):
    """One step of ``StackedEnv``: ``obs`` is the stacked observation ``(F, H, W, C)``."""

    obs: np.ndarray
    reward: float
    raw_reward: float
    terminal: bool
    game_over: bool
    life_lost: bool


def eval_seeds(seed: int, n: int) -> list[int]:
    """Seeds of the ``n`` evaluation environments of a run with ``seed``: ``seed`` for env 0, ``seed*100+i`` after.

    This is the released code's rule (docs/method.md#step-protocol, docs/method.md#step-evaluation).
    """
    if n < 0:
        raise ValueError(f"the number of evaluation environments must be >= 0, got {n}")
    return [seed if i == 0 else seed * 100 + i for i in range(n)]


def _check_protocol(protocol: ProtocolSettings) -> None:
    problems = []
    if not 1 <= protocol.frame_size <= 1024:
        problems.append(f"frame_size must be in 1..1024, got {protocol.frame_size}")
    if protocol.frame_skip < 1:
        problems.append(f"frame_skip must be >= 1, got {protocol.frame_skip}")
    if protocol.frame_stack < 1:
        problems.append(f"frame_stack must be >= 1, got {protocol.frame_stack}")
    if protocol.noop_max < 0:
        problems.append(f"noop_max must be >= 0, got {protocol.noop_max}")
    if protocol.max_episode_steps < 1:
        problems.append(f"max_episode_steps must be >= 1, got {protocol.max_episode_steps}")
    if not 0.0 <= protocol.repeat_action_probability <= 1.0:
        problems.append(f"repeat_action_probability must be in [0, 1], got {protocol.repeat_action_probability}")
    if problems:
        raise ValueError("invalid protocol settings: " + "; ".join(problems))


class AtariEnv:
    """One Atari game under the paper's protocol (see the module docstring).

    ``reset()`` starts a fresh game and returns its first frame; ``step(a)`` plays
    agent action ``a`` (an index into the minimal action set) and returns a ``Step``.
    Frames are uint8 ``(frame_size, frame_size, 3)``, or ``(..., 1)`` when grey.
    """

    def __init__(self, game: str, mode: str = "train", seed: int = 0,
                 protocol: ProtocolSettings | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be 'train' or 'eval', got {mode!r}")
        if not isinstance(seed, int | np.integer) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        protocol = ProtocolSettings() if protocol is None else protocol
        _check_protocol(protocol)
        info = games.get(game)
        self.game, self.mode, self.seed, self.protocol = info.id, mode, int(seed), protocol
        # Eval envs never end the episode on a lost life (docs/method.md#step-protocol).
        self.episodic_life = protocol.episodic_life and mode == "train"

        ale_seed_seq, rng_seq = np.random.SeedSequence(self.seed).spawn(2)
        ale_py.ALEInterface.setLoggerMode(ale_py.LoggerMode.Error)  # static; set first, so the banner stays quiet
        self._ale = ale_py.ALEInterface()
        self._ale.setFloat("repeat_action_probability", float(protocol.repeat_action_probability))
        self._ale.setInt("random_seed", int(ale_seed_seq.generate_state(1)[0] & 0x7FFFFFFF))
        # The cap is counted in agent steps here (docs/method.md#protocol-gymnasium), so the ALE's own
        # frame cap stays off.
        self._ale.setInt("max_num_frames_per_episode", 0)
        self._ale.loadROM(roms.get_rom_path(info.rom))
        self._rng = np.random.default_rng(rng_seq)  # draws the no-op counts

        self._actions = list(self._ale.getMinimalActionSet())
        self.n_actions = len(self._actions)
        self.action_meanings = [a.name for a in self._actions]
        self.has_fire = _FIRE in self._actions
        self._press_fire = protocol.fire_on_reset and self.has_fire

        channels = 1 if protocol.grayscale else 3
        self.frame_shape = (protocol.frame_size, protocol.frame_size, channels)
        self._resize = BilinearResize(SCREEN_SHAPE, (protocol.frame_size, protocol.frame_size), channels)
        # Screens after frames 3 and 4 of the action repeat, max-pooled in place.
        self._screen_prev = np.zeros((*SCREEN_SHAPE, channels), np.uint8)
        self._screen_last = np.zeros((*SCREEN_SHAPE, channels), np.uint8)
        if protocol.grayscale:
            self._grab = lambda buf: self._ale.getScreenGrayscale(buf.reshape(SCREEN_SHAPE))
        else:
            self._grab = self._ale.getScreenRGB

        self._lives = 0
        self.episode_steps = 0  # agent steps since the last reset (the cap counts these)
        self.noops = 0  # no-op count drawn at the last reset, in 1..noop_max
        self._needs_reset = True

    # ----------------------------------------------------------------- properties
    @property
    def lives(self) -> int:
        """Lives left in the current game."""
        return self._ale.lives()

    @property
    def ale(self) -> ale_py.ALEInterface:
        """The underlying ``ALEInterface`` (for tests and tools; stepping it directly bypasses the protocol)."""
        return self._ale

    # --------------------------------------------------------------------- reset
    def reset(self) -> np.ndarray:
        """Start a fresh game: ``reset_game``, U{1..noop_max} no-ops, FIRE once; return the frame ``(H, W, C)``."""
        ale, noop_max = self._ale, self.protocol.noop_max
        while True:
            ale.reset_game()
            lives = ale.lives()
            self.noops = int(self._rng.integers(1, noop_max + 1)) if noop_max > 0 else 0
            for _ in range(self.noops):
                ale.act(_NOOP)
                if ale.game_over() or ale.lives() < lives:
                    break
            else:
                break  # no life lost during the no-ops
        if self._press_fire:
            ale.act(_FIRE)  # one emulator frame; its reward is discarded
        self._lives = ale.lives()
        self.episode_steps = 0
        self._needs_reset = False
        self._grab(self._screen_last)
        return self._resize(self._screen_last)

    # ---------------------------------------------------------------------- step
    def step(self, action: int) -> Step:
        """Play agent action ``action`` (index into ``action_meanings``) for ``frame_skip`` frames."""
        if self._needs_reset:
            raise RuntimeError("the game is over (or was never started): call reset() before step()")
        if not 0 <= action < self.n_actions:
            raise ValueError(f"action must be in 0..{self.n_actions - 1} for {self.game}, got {action}")
        ale, skip = self._ale, self.protocol.frame_skip
        ale_action = self._actions[action]
        raw = 0
        for t in range(skip):
            raw += ale.act(ale_action)
            if t == skip - 2:
                self._grab(self._screen_prev)  # frame 3 of 4
        lives = ale.lives()
        game_over = ale.game_over()
        life_lost = lives < self._lives
        if skip < 2:
            self._screen_prev.fill(0)  # nothing to pool with
        if life_lost and not game_over:
            # Released code: the life check runs before the last grab, so these frames come first
            # and their rewards are dropped (docs/method.md#choice-16).
            if self.protocol.life_loss_noop:
                ale.act(_NOOP)
            if self.episodic_life:
                self._screen_prev.fill(0)
                if self._press_fire:
                    ale.act(_FIRE)
            game_over = ale.game_over()
            lives = ale.lives()
        self._lives = lives
        self._grab(self._screen_last)
        np.maximum(self._screen_prev, self._screen_last, out=self._screen_last)
        frame = self._resize(self._screen_last)

        self.episode_steps += 1
        game_over = game_over or self.episode_steps >= self.protocol.max_episode_steps
        self._needs_reset = game_over
        reward = float((raw > 0) - (raw < 0)) if self.protocol.clip_rewards else float(raw)
        terminal = game_over or (self.episodic_life and life_lost)
        return Step(frame, reward, float(raw), terminal, game_over, life_lost)

    # --------------------------------------------------------------- checkpoint
    def get_state(self) -> dict[str, Any]:
        """Everything needed to continue bit-identically: ALE state (with its RNG), env RNG, counters. Picklable."""
        return {
            "game": self.game,
            "mode": self.mode,
            "protocol": asdict(self.protocol),
            "ale": self._ale.cloneState(include_rng=True).serialize(),
            "rng": self._rng.bit_generator.state,
            "lives": self._lives,
            "episode_steps": self.episode_steps,
            "noops": self.noops,
            "needs_reset": self._needs_reset,
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore a state from ``get_state`` of an env of the same game, mode and protocol."""
        for key, mine in (("game", self.game), ("mode", self.mode), ("protocol", asdict(self.protocol))):
            if state.get(key) != mine:
                raise ValueError(f"environment state was saved with {key}={state.get(key)!r}, this env has {mine!r}")
        self._ale.restoreState(ale_py.ALEState(state["ale"]))
        self._rng.bit_generator.state = state["rng"]
        self._lives = int(state["lives"])
        self.episode_steps = int(state["episode_steps"])
        self.noops = int(state["noops"])
        self._needs_reset = bool(state["needs_reset"])

    def __repr__(self) -> str:
        return f"AtariEnv({self.game!r}, mode={self.mode!r}, seed={self.seed}, frame_shape={self.frame_shape})"


def make_env(game: str, mode: str = "train", seed: int = 0, protocol: ProtocolSettings | None = None) -> AtariEnv:
    """Build the ``train`` or ``eval`` environment of ``game`` (any spelling known to ``spirl.atari.games``).

    Raises:
        spirl.atari.games.UnknownGameError: for an unknown game, naming the closest ones.
        ValueError: for a bad mode, seed or protocol setting.
    """
    return AtariEnv(game, mode=mode, seed=seed, protocol=protocol)


class FrameStack:
    """The last ``depth`` frames, oldest -> newest, zero-padded: ``array`` is ``(depth, *frame_shape)``.

    Generic: it stacks pixel frames ``(H, W, C)`` uint8 as well as SPIRL's
    ``(Kmax, 64)`` float32 feature slabs. ``array`` is the live buffer; copy it to keep it.
    """

    def __init__(self, depth: int, frame_shape: tuple[int, ...], dtype: Any = np.uint8) -> None:
        if depth < 1:
            raise ValueError(f"frame stack depth must be >= 1, got {depth}")
        self.depth = depth
        self.frame_shape = tuple(frame_shape)
        self.array = np.zeros((depth, *self.frame_shape), dtype=dtype)  # (F, *frame_shape)

    def push(self, frame: np.ndarray) -> np.ndarray:
        """Shift one slot towards the oldest and put ``frame`` newest; return ``array``."""
        if np.shape(frame) != self.frame_shape:  # np.shape also takes scalars (frame_shape ())
            raise ValueError(f"frame of shape {np.shape(frame)} pushed onto a stack of {self.frame_shape} frames")
        self.array[:-1] = self.array[1:]
        self.array[-1] = frame
        return self.array

    def reset(self, frame: np.ndarray) -> np.ndarray:
        """Zero every slot, then push ``frame`` (start of an episode); return ``array``."""
        self.array.fill(0)
        return self.push(frame)

    def zero_and_push(self, frame: np.ndarray) -> np.ndarray:
        """Same as ``reset``: used after a train-time life loss, where the older slots become zeros."""
        return self.reset(frame)


class StackedEnv:
    """``AtariEnv`` + ``FrameStack`` for gymnasium-like use: observations ``(F, H, W, C)`` uint8.

    The stack is zeroed at reset and after a train-time life loss.
    ``reset() -> obs``; ``step(a) -> StackedStep``. The returned ``obs`` is a copy.
    """

    def __init__(self, env: AtariEnv, depth: int | None = None) -> None:
        self.env = env
        self.stack = FrameStack(depth or env.protocol.frame_stack, env.frame_shape, np.uint8)
        self.n_actions = env.n_actions
        self.action_meanings = env.action_meanings

    def reset(self) -> np.ndarray:
        """Start a fresh game; return the stacked observation ``(F, H, W, C)`` (older slots zero)."""
        return self.stack.reset(self.env.reset()).copy()

    def step(self, action: int) -> StackedStep:
        """Play ``action``; the stack is zeroed before the new frame when a train-time life is lost."""
        s = self.env.step(action)
        if s.life_lost and self.env.episodic_life and not s.game_over:
            obs = self.stack.zero_and_push(s.frame)
        else:
            obs = self.stack.push(s.frame)
        return StackedStep(obs.copy(), s.reward, s.raw_reward, s.terminal, s.game_over, s.life_lost)

    def get_state(self) -> dict[str, Any]:
        """The env state plus the stack contents (picklable)."""
        return {"env": self.env.get_state(), "stack": self.stack.array.copy()}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore a state from ``get_state``."""
        self.env.set_state(state["env"])
        np.copyto(self.stack.array, state["stack"])
