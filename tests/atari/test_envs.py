"""The Atari protocol of spirl.atari.envs (docs/method.md#step-protocol), point by point, on the real ALE."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from spirl.atari.envs import FrameStack, StackedEnv, eval_seeds, make_env
from spirl.atari.games import UnknownGameError
from spirl.atari.resize import bilinear_resize
from spirl.config import ProtocolSettings

BREAKOUT_NOOP, BREAKOUT_FIRE = 0, 1  # Breakout's minimal set: NOOP, FIRE, RIGHT, LEFT


def _play_until_life_lost(env, max_steps: int = 300):
    """Step NOOPs (Breakout: the served ball is missed) until a life is lost; return the steps."""
    steps = []
    for _ in range(max_steps):
        steps.append(env.step(BREAKOUT_NOOP))
        if steps[-1].life_lost:
            return steps
    raise AssertionError("no life lost")


def test_observation_shape_and_dtype_rgb_and_grey():
    env = make_env("Breakout", "train", seed=0)
    frame = env.reset()
    assert frame.shape == (96, 96, 3) and frame.dtype == np.uint8
    step = env.step(2)
    assert step.frame.shape == (96, 96, 3) and step.frame.dtype == np.uint8
    assert not np.all(frame == 0)
    grey = make_env("Breakout", "eval", seed=0, protocol=ProtocolSettings(frame_size=84, grayscale=True))
    frame = grey.reset()
    assert frame.shape == (84, 84, 1) and frame.dtype == np.uint8
    assert grey.step(2).frame.shape == (84, 84, 1)
    # The grey frame is the luminance of the same screen: not all zero, and one channel only.
    assert frame.std() > 0


def test_minimal_action_set_and_unknown_game():
    assert make_env("ms_pacman").n_actions == 9
    assert make_env("ALE/Seaquest-v5").n_actions == 18
    assert make_env("breakout").action_meanings == ["NOOP", "FIRE", "RIGHT", "LEFT"]
    with pytest.raises(UnknownGameError, match="Breakout"):
        make_env("Breakoutt")
    with pytest.raises(ValueError, match="mode"):
        make_env("Breakout", mode="test")


def test_every_game_of_the_table_has_its_rom_in_ale_py():
    from ale_py import roms

    from spirl.atari.games import GAMES

    missing = [g.id for g in GAMES.values() if roms.get_rom_path(g.rom) is None]
    assert not missing


def test_reward_is_the_sign_of_the_raw_score():
    env = make_env("MsPacman", "train", seed=0)
    env.reset()
    rng = np.random.default_rng(0)
    seen_big = False
    for _ in range(300):
        s = env.step(int(rng.integers(env.n_actions)))
        assert s.reward == np.sign(s.raw_reward)
        seen_big |= s.raw_reward > 1  # a pellet is worth 10: clipping must have acted
        if s.game_over:
            env.reset()
    assert seen_big
    raw = make_env("MsPacman", "train", seed=0, protocol=ProtocolSettings(clip_rewards=False))
    raw.reset()
    rng = np.random.default_rng(0)
    for _ in range(100):
        s = raw.step(int(rng.integers(raw.n_actions)))
        assert s.reward == s.raw_reward


def test_life_loss_in_train_ends_the_learning_episode_but_not_the_game():
    env = make_env("Breakout", "train", seed=0)
    env.reset()
    lives = env.lives
    last = _play_until_life_lost(env)[-1]
    assert last.terminal and last.life_lost and not last.game_over
    assert env.lives == lives - 1
    frames_before = env.ale.getEpisodeFrameNumber()
    after = env.step(BREAKOUT_NOOP)  # the game goes on: no reset, the frame counter keeps counting
    assert env.lives == lives - 1 and not after.terminal
    assert env.ale.getEpisodeFrameNumber() == frames_before + 4
    # FIRE was pressed after the lost life: the new ball is served and is lost again under NOOPs.
    assert _play_until_life_lost(env)[-1].terminal
    assert env.lives == lives - 2


def test_life_loss_in_eval_does_not_end_the_episode():
    env = make_env("Breakout", "eval", seed=0)
    env.reset()
    lives = env.lives
    last = _play_until_life_lost(env)[-1]
    assert last.life_lost and not last.terminal and not last.game_over
    assert env.lives == lives - 1
    # No FIRE in eval: the ball is never served again, so no further life is lost under NOOPs.
    for _ in range(200):
        assert not env.step(BREAKOUT_NOOP).life_lost


@pytest.mark.parametrize("mode, life_loss_noop, extra", [("train", True, 2), ("eval", True, 1),
                                                         ("train", False, 1), ("eval", False, 0)])
def test_life_loss_extra_frames(mode, life_loss_noop, extra):
    """Released code: one NOOP frame after a lost life (both modes), plus one FIRE frame in train mode."""
    env = make_env("Breakout", mode, seed=0, protocol=ProtocolSettings(life_loss_noop=life_loss_noop))
    env.reset()
    before = env.ale.getEpisodeFrameNumber()
    steps = _play_until_life_lost(env)
    assert env.ale.getEpisodeFrameNumber() - before == 4 * len(steps) + extra


def test_noop_count_in_range_and_fire_on_reset():
    counts = []
    env = make_env("Breakout", "eval", seed=0, protocol=ProtocolSettings(noop_max=30))
    for _ in range(60):
        env.reset()
        counts.append(env.noops)
        # Reset = counts no-op frames + one FIRE frame (Breakout has FIRE).
        assert env.ale.getEpisodeFrameNumber() == env.noops + 1
    assert min(counts) >= 1 and max(counts) <= 30
    assert len(set(counts)) > 10  # drawn, not fixed
    pacman = make_env("MsPacman", "eval", seed=3)  # no FIRE in its minimal action set
    pacman.reset()
    assert not pacman.has_fire and pacman.ale.getEpisodeFrameNumber() == pacman.noops
    nofire = make_env("Breakout", "eval", seed=3, protocol=ProtocolSettings(fire_on_reset=False))
    nofire.reset()
    assert nofire.ale.getEpisodeFrameNumber() == nofire.noops


def test_fire_on_reset_serves_the_ball():
    """Without FIRE, Breakout never serves the ball, so NOOPs never lose a life."""
    served = make_env("Breakout", "eval", seed=1)
    served.reset()
    _play_until_life_lost(served)
    unserved = make_env("Breakout", "eval", seed=1, protocol=ProtocolSettings(fire_on_reset=False))
    unserved.reset()
    with pytest.raises(AssertionError, match="no life lost"):
        _play_until_life_lost(unserved, max_steps=150)


def _replay_twice(env, actions):
    """Play ``actions`` from the same emulator state twice (the ALE RNG is NOT restored); return both runs."""
    start = env.ale.cloneState()  # without the RNG: sticky actions would draw differently the second time
    runs = []
    for _ in range(2):
        env.ale.restoreState(start)
        runs.append(np.stack([env.step(int(a)).frame for a in actions]))
    return runs


def test_sticky_actions_are_off():
    actions = np.random.default_rng(0).integers(0, 9, 60)
    env = make_env("MsPacman", "train", seed=0)
    env.reset()
    for _ in range(80):  # past the intro, where MsPacman ignores the joystick
        env.step(0)
    assert env.ale.getFloat("repeat_action_probability") == 0.0
    first, second = _replay_twice(env, actions)
    np.testing.assert_array_equal(first, second)
    # Control: with sticky actions on, the same replay differs, so the check above can fail.
    sticky = make_env("MsPacman", "train", seed=0, protocol=ProtocolSettings(repeat_action_probability=0.25))
    sticky.reset()
    for _ in range(80):
        sticky.step(0)
    first, second = _replay_twice(sticky, actions)
    assert not np.array_equal(first, second)


def test_step_cap_is_a_true_terminal():
    env = make_env("Breakout", "eval", seed=0, protocol=ProtocolSettings(max_episode_steps=5))
    env.reset()
    for _ in range(4):
        s = env.step(2)
        assert not s.terminal and not s.game_over
    s = env.step(2)
    assert s.terminal and s.game_over
    with pytest.raises(RuntimeError, match="reset"):
        env.step(2)
    env.reset()
    assert not env.step(2).game_over


def _trajectory(env, n=120, policy_seed=0):
    rng = np.random.default_rng(policy_seed)
    frames, rewards = [env.reset()], []
    for _ in range(n):
        s = env.step(int(rng.integers(env.n_actions)))
        frames.append(s.frame)
        rewards.append(s.raw_reward)
        if s.game_over:
            frames.append(env.reset())
    return np.stack(frames), np.array(rewards)


def test_seeding_same_seed_same_run_and_different_seeds_differ():
    f1, r1 = _trajectory(make_env("MsPacman", "train", seed=7))
    f2, r2 = _trajectory(make_env("MsPacman", "train", seed=7))
    np.testing.assert_array_equal(f1, f2)
    np.testing.assert_array_equal(r1, r2)
    noops = {}
    for seed in (7, 8, 9):
        env = make_env("MsPacman", "train", seed=seed)
        noops[seed] = []
        for _ in range(4):
            env.reset()
            noops[seed].append(env.noops)
    assert len({tuple(v) for v in noops.values()}) == 3
    f3, _ = _trajectory(make_env("MsPacman", "train", seed=8))
    assert not np.array_equal(f1, f3)


def test_eval_seeds_follow_the_released_rule():
    assert eval_seeds(3, 4) == [3, 301, 302, 303]
    assert eval_seeds(0, 2) == [0, 1]
    assert eval_seeds(5, 0) == []


def test_max_pool_of_frames_three_and_four():
    """The observation is the resize of max(screen after frame 3, screen after frame 4)."""
    env = make_env("MsPacman", "eval", seed=0)
    env.reset()
    for _ in range(30):
        env.step(3)
    state = env.ale.cloneState()
    screens = []
    for _ in range(4):
        env.ale.act(env.ale.getMinimalActionSet()[3])
        screens.append(env.ale.getScreenRGB())
    env.ale.restoreState(state)
    frame = env.step(3).frame
    pooled = np.maximum(screens[2], screens[3])
    np.testing.assert_array_equal(frame, bilinear_resize(pooled, (96, 96)))
    assert not np.array_equal(frame, bilinear_resize(screens[3], (96, 96)))  # MsPacman flickers: pooling matters


def test_get_state_set_state_reproduces_the_future_exactly():
    env = make_env("Breakout", "train", seed=4)
    env.reset()
    rng = np.random.default_rng(1)
    for _ in range(20):
        env.step(int(rng.integers(env.n_actions)))
    state = pickle.loads(pickle.dumps(env.get_state()))
    actions = rng.integers(0, env.n_actions, 150)

    def future(e):
        out = []
        for a in actions:
            s = e.step(int(a))
            out.append((s.frame, s.reward, s.terminal, s.game_over))
            if s.terminal:  # resets draw from the env's own RNG, which the state must carry
                out.append((e.reset(), e.noops, 0, 0))
        return out

    expected = future(env)
    fresh = make_env("Breakout", "train", seed=99)  # another seed: everything must come from the state
    fresh.set_state(state)
    got = future(fresh)
    assert len(got) == len(expected) and sum(1 for x in expected if x[2]) >= 1
    for a, b in zip(expected, got):
        np.testing.assert_array_equal(a[0], b[0])
        assert a[1:] == b[1:]
    with pytest.raises(ValueError, match="game"):
        make_env("Pong").set_state(state)


def test_frame_stack_zero_padding_order_and_zeroing():
    stack = FrameStack(4, (2, 3), np.float32)
    a, b, c = (np.full((2, 3), v, np.float32) for v in (1, 2, 3))
    arr = stack.reset(a)
    assert arr.shape == (4, 2, 3)
    np.testing.assert_array_equal(arr[:3], 0)
    np.testing.assert_array_equal(arr[3], a)
    stack.push(b)
    stack.push(c)
    np.testing.assert_array_equal(stack.array[:, 0, 0], [0, 1, 2, 3])  # oldest -> newest
    stack.zero_and_push(a)
    np.testing.assert_array_equal(stack.array[:, 0, 0], [0, 0, 0, 1])
    with pytest.raises(ValueError, match="shape"):
        stack.push(np.zeros((3, 2), np.float32))


def test_stacked_env_zeroes_the_stack_after_a_train_life_loss_only():
    for mode in ("train", "eval"):
        env = StackedEnv(make_env("Breakout", mode, seed=0))
        obs = env.reset()
        assert obs.shape == (4, 96, 96, 3) and obs.dtype == np.uint8
        assert not obs[:3].any() and obs[3].any()
        for _ in range(300):
            s = env.step(BREAKOUT_NOOP)
            if s.life_lost:
                break
        assert s.life_lost
        if mode == "train":
            assert s.terminal and not s.obs[:3].any() and s.obs[3].any()
        else:
            assert not s.terminal and s.obs[:3].any()
