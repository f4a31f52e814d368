"""spirl.atari.gym_env: the protocol as registered Gymnasium environments, checked by Gymnasium, equal to ours."""

from __future__ import annotations

import dataclasses
import warnings

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from spirl.atari import games
from spirl.atari.envs import StackedEnv, make_env
from spirl.atari.gym_env import SpirlAtariEnv, env_id
from spirl.config import ProtocolSettings


@pytest.mark.parametrize("name", ["spirl/Seaquest-paper-v0", "spirl/Seaquest-paper-eval-v0"])
def test_gymnasiums_own_checker_passes(name):
    env = gymnasium.make(name, render_mode="rgb_array")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the checker warns of what it tolerates: none of that either
        check_env(env.unwrapped, skip_render_check=False)
    assert env.observation_space.shape == (4, 96, 96, 3) and env.action_space.n == 18
    env.close()


def test_make_imports_the_module_itself_when_named():
    """Gymnasium's own ``module:id`` form: no import of spirl needed before ``make``."""
    env = gymnasium.make("spirl.atari.gym_env:spirl/Pong-paper-eval-v0")
    assert env.reset(seed=0)[0].shape == (4, 96, 96, 3)
    env.close()


def test_every_game_is_registered_in_both_variants():
    for game in games.GAMES:
        assert env_id(game, "train") in gymnasium.registry and env_id(game, "eval") in gymnasium.registry
    assert env_id("ms_pacman") == "spirl/MsPacman-paper-v0"
    assert env_id("Pong", "eval") == "spirl/Pong-paper-eval-v0"


@pytest.mark.parametrize("mode, protocol", [
    ("train", {}),  # lost lives end episodes, the game goes on
    ("eval", {}),
    ("train", {"frame_size": 84, "grayscale": True}),  # DE-Rainbow's frames
    ("train", {"repeat_action_probability": 0.25}),  # sticky actions: the same ALE seed, the same draws
])
def test_it_plays_the_same_frames_as_the_harness_for_the_same_seed_and_actions(mode, protocol):
    """A random-action play over lost lives, game overs and the step cap: every observation and reward equal."""
    seed = 5
    settings = ProtocolSettings(max_episode_steps=400, **protocol)
    ours = StackedEnv(make_env("MsPacman", mode, seed, settings))
    if mode == "eval":  # the evaluation variant reports the raw game score
        settings = dataclasses.replace(settings, clip_rewards=False)
    gym_env = gymnasium.make(env_id("MsPacman", mode), protocol=settings)
    obs, info = gym_env.reset(seed=seed)
    np.testing.assert_array_equal(obs, ours.reset())
    assert info["seed"] == seed and info["new_game"] is True
    rng = np.random.default_rng(0)
    ended = {"life": 0, "game_or_cap": 0, "truncated": 0}
    for _ in range(1500):
        action = int(rng.integers(gym_env.action_space.n))
        mine = ours.step(action)
        obs, reward, terminated, truncated, info = gym_env.step(action)
        np.testing.assert_array_equal(obs, mine.obs)
        assert reward == (mine.reward if mode == "train" else mine.raw_reward) and info["raw_reward"] == mine.raw_reward
        assert (terminated or truncated) == (mine.terminal or mine.game_over)
        if mine.game_over:
            ended["game_or_cap"] += 1
            ended["truncated"] += truncated
            np.testing.assert_array_equal(gym_env.reset()[0], ours.reset())
        elif mine.terminal:  # a train-time lost life: the gym episode ends, the game goes on
            ended["life"] += 1
            assert terminated and not truncated
            obs, info = gym_env.reset()
            np.testing.assert_array_equal(obs, mine.obs)
            assert info["new_game"] is False
        else:
            assert not (terminated or truncated)
    assert ended["game_or_cap"] >= 2 and ended["truncated"] >= 1
    assert (ended["life"] > 0) == (mode == "train")
    gym_env.close()


def test_sticky_actions_change_the_frames_and_bad_settings_are_refused():
    plain, sticky = (gymnasium.make("spirl/MsPacman-paper-v0", repeat_action_probability=p) for p in (0.0, 0.25))
    frames = []
    for env in (plain, sticky):
        env.reset(seed=1)
        frames.append([env.step(i % 5)[0] for i in range(300)])  # past MsPacman's intro
    assert any(not np.array_equal(a, b) for a, b in zip(*frames))
    with pytest.raises(TypeError, match="unknown protocol setting"):
        SpirlAtariEnv("Pong", frame_sise=84)
    with pytest.raises(ValueError, match="repeat_action_probability"):
        SpirlAtariEnv("Pong", repeat_action_probability=1.5)
    with pytest.raises(ValueError, match="mode"):
        SpirlAtariEnv("Pong", mode="test")
