"""spirl.atari.resize: the protocol's frames are OpenCV's, bit for bit, on real ALE screens."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from spirl.atari.envs import make_env
from spirl.atari.resize import resize_screen
from spirl.config import ProtocolSettings


def _screens(game: str, n: int, grey: bool = False) -> list[np.ndarray]:
    """``n`` real screens of ``game`` (RGB ``(210, 160, 3)`` or grey ``(210, 160)``) along a random-action play."""
    env = make_env(game, "eval", seed=1)
    env.reset()
    rng = np.random.default_rng(0)
    out = []
    while len(out) < n:
        if env.step(int(rng.integers(env.n_actions))).game_over:
            env.reset()
        out.append(env.ale.getScreenGrayscale() if grey else env.ale.getScreenRGB())
    return out


@pytest.mark.parametrize("game", ["Seaquest", "MsPacman", "Frostbite", "Pong"])
def test_rgb_frames_equal_the_released_cv2_call(game):
    for screen in _screens(game, 40):
        released = cv2.resize(screen, (96, 96), cv2.INTER_LINEAR)  # verbatim: the flag lands in dst, ignored
        np.testing.assert_array_equal(resize_screen(screen, (96, 96)), released)


def test_grey_frames_keep_their_channel_axis_and_equal_cv2():
    for screen in _screens("Seaquest", 20, grey=True):
        ours = resize_screen(screen[..., None], (84, 84))
        assert ours.shape == (84, 84, 1)
        np.testing.assert_array_equal(ours[..., 0], cv2.resize(screen, (84, 84)))
        np.testing.assert_array_equal(resize_screen(screen, (84, 84)), cv2.resize(screen, (84, 84)))


@pytest.mark.parametrize("grey", [False, True])
def test_the_environment_frames_are_the_cv2_resize_of_the_pooled_screens(grey):
    """The reset frame and every step frame: OpenCV's resize of max(screen 3, screen 4), recomputed on a clone."""
    size = 84 if grey else 96
    env = make_env("MsPacman", "eval", seed=3, protocol=ProtocolSettings(frame_size=size, grayscale=grey))
    grab = (lambda: env.ale.getScreenGrayscale()) if grey else env.ale.getScreenRGB
    frame = env.reset()
    np.testing.assert_array_equal(frame[..., 0] if grey else frame, cv2.resize(grab(), (size, size)))
    rng = np.random.default_rng(0)
    for _ in range(30):
        action = int(rng.integers(env.n_actions))
        before = env.ale.cloneState(include_rng=True)
        step = env.step(action)
        if step.life_lost or step.game_over:
            break
        after = env.ale.cloneState(include_rng=True)
        env.ale.restoreState(before)
        ale_action = env.ale.getMinimalActionSet()[action]
        for _ in range(3):
            env.ale.act(ale_action)
        third = grab()
        env.ale.act(ale_action)
        expected = cv2.resize(np.maximum(third, grab()), (size, size))
        np.testing.assert_array_equal(step.frame[..., 0] if grey else step.frame, expected)
        env.ale.restoreState(after)


def test_bad_screens_are_refused_in_one_line():
    with pytest.raises(ValueError, match="uint8"):
        resize_screen(np.zeros((210, 160, 3), np.float32), (96, 96))
    with pytest.raises(ValueError, match="uint8"):
        resize_screen(np.zeros((2, 210, 160, 3), np.uint8), (96, 96))
