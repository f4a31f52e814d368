"""Lockstep evaluation: one episode per environment, batching does not change any episode, epsilon, stacks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from spirl.atari.envs import eval_seeds, make_env
from spirl.config import ProtocolSettings
from spirl.rl.evaluate import EVAL_COLUMNS, EvalResult, evaluate, format_rows

PROTOCOL = ProtocolSettings(frame_size=84, grayscale=True, max_episode_steps=80)
GAME = "MsPacman"


class RecordingEnv:
    """A real eval environment that records resets and the actions it is given."""

    def __init__(self, seed: int) -> None:
        self.env = make_env(GAME, "eval", seed, PROTOCOL)
        self.n_actions = self.env.n_actions
        self.resets, self.actions = 0, []

    def reset(self) -> np.ndarray:
        self.resets += 1
        return self.env.reset()

    def step(self, action: int):
        self.actions.append(action)
        return self.env.step(action)


def pixel_policy(obs: np.ndarray, k: np.ndarray | None) -> np.ndarray:
    """A deterministic function of each observation (B, F, H, W, C) alone."""
    return (obs.reshape(len(obs), -1).astype(np.int64).sum(1) // 7) % 9


def identity(frames: np.ndarray):
    return frames, None


def test_lockstep_batches_change_no_episode():
    envs = [RecordingEnv(s) for s in eval_seeds(3, 3)]
    result = evaluate(envs, pixel_policy, identity, stack=4, epsilon=0.0, rng=np.random.default_rng(0), step=7)
    assert result.step == 7 and result.scores.shape == (3,) and (result.lengths <= 80).all()
    assert all(e.resets == 1 for e in envs)  # exactly one episode each
    for i, seed in enumerate(eval_seeds(3, 3)):  # each environment played alone gives the same episode
        alone = evaluate([RecordingEnv(seed)], pixel_policy, identity, stack=4, epsilon=0.0,
                         rng=np.random.default_rng(0))
        assert alone.scores[0] == result.scores[i] and alone.lengths[0] == result.lengths[i]
    assert len({tuple(e.actions) for e in envs}) == 3  # the seeds give different games


def test_epsilon_replaces_greedy_actions_at_its_rate_and_is_seeded():
    def greedy_zero(obs, k):
        return np.zeros(len(obs), dtype=np.int64)

    envs = [RecordingEnv(s) for s in eval_seeds(0, 4)]
    evaluate(envs, greedy_zero, identity, stack=4, epsilon=0.5, rng=np.random.default_rng(1))
    actions = np.concatenate([e.actions for e in envs])
    # a random action is uniform over 9 actions, so it differs from the greedy 0 with probability 8/9
    changed = np.mean(actions != 0)
    assert changed == pytest.approx(0.5 * 8 / 9, abs=4 * math.sqrt(0.25 / len(actions)))
    again = [RecordingEnv(s) for s in eval_seeds(0, 4)]
    evaluate(again, greedy_zero, identity, stack=4, epsilon=0.5, rng=np.random.default_rng(1))
    assert [e.actions for e in again] == [e.actions for e in envs]
    quiet = [RecordingEnv(s) for s in eval_seeds(0, 2)]
    evaluate(quiet, greedy_zero, identity, stack=4, epsilon=0.0, rng=np.random.default_rng(1))
    assert all(a == 0 for e in quiet for a in e.actions)


def test_feature_stacks_start_with_zeros_and_carry_k():
    seen = []

    def encode(frames):
        # a (B, 5, 4) slab per frame whose rows beyond K are zero; K depends on the frame
        k = 1 + frames.reshape(len(frames), -1).sum(1) % 5
        slab = np.zeros((len(frames), 5, 4), dtype=np.float32)
        for i, kk in enumerate(k):
            slab[i, :kk] = 1.0 + i
        return slab, k.astype(np.int64)

    def policy(obs, k):
        seen.append((obs.copy(), k.copy()))
        return np.zeros(len(obs), dtype=np.int64)

    envs = [RecordingEnv(s) for s in eval_seeds(0, 2)]
    evaluate(envs, policy, encode, stack=4, epsilon=0.0, rng=np.random.default_rng(0))
    obs0, k0 = seen[0]
    assert obs0.shape == (2, 4, 5, 4) and k0.shape == (2, 4)
    assert (obs0[:, :3] == 0).all() and (k0[:, :3] == 0).all() and (k0[:, 3] >= 1).all()
    obs3, k3 = seen[3]  # after three steps the stack is full, oldest first
    assert (k3 >= 1).all()
    assert np.array_equal(seen[4][1][:, :3], k3[:, 1:])  # each step shifts one slot towards the oldest
    assert ((obs3[..., 0] > 0).sum(-1) == k3).all()  # rows beyond K stay zero


def test_stacks_kept_as_torch_tensors_give_the_same_episodes():
    # A GPU run's encoder returns device tensors and the stacks stay there; on the CPU the same code path
    # with torch tensors must play exactly the episodes the numpy path plays.
    import torch

    def k_encode(frames):
        k = 1 + frames.reshape(len(frames), -1).astype(np.int64).sum(1) % 5
        return frames.astype(np.float32)[:, ::12, ::12, 0], k

    def torch_encode(frames):
        slab, k = k_encode(frames)
        return torch.from_numpy(slab), torch.from_numpy(k)

    seen = []

    def policy(obs, k):
        seen.append(type(obs))
        x = obs if isinstance(obs, np.ndarray) else obs.numpy()
        kk = k if isinstance(k, np.ndarray) else k.numpy()
        return (x.reshape(len(x), -1).sum(1).astype(np.int64) + kk.sum(1)) % 9

    runs = []
    for encode in (k_encode, torch_encode):
        envs = [RecordingEnv(s) for s in eval_seeds(2, 3)]
        runs.append((evaluate(envs, policy, encode, stack=4, epsilon=0.1, rng=np.random.default_rng(3)),
                     [e.actions for e in envs]))
    (a, acts_a), (b, acts_b) = runs
    assert np.array_equal(a.scores, b.scores) and np.array_equal(a.lengths, b.lengths) and acts_a == acts_b
    assert np.ndarray in seen and torch.Tensor in seen


def test_eval_row_and_csv_format():
    r = EvalResult(5000, np.array([1.0, 2.0, 6.0]), np.array([10, 20, 30]))
    row = r.row()
    assert row["mean"] == 3.0 and row["median"] == 2.0 and row["min"] == 1.0 and row["max"] == 6.0
    assert row["std"] == pytest.approx(math.sqrt(14 / 3))  # ddof 0, as rlpyt's logger
    text = format_rows([row, EvalResult(10000, np.array([0.0, 110.0]), np.array([1, 2])).row()])
    lines = text.splitlines()
    assert lines[0] == ",".join(EVAL_COLUMNS) == "step,episodes,mean,median,std,min,max,scores"
    assert lines[1].startswith("5000,3,3.0,2.0,") and lines[1].endswith(",1.0,6.0,1.0;2.0;6.0")
    assert lines[2] == "10000,2,55.0,55.0,55.0,0.0,110.0,0.0;110.0"
    with pytest.raises(ValueError, match="at least one environment"):
        evaluate([], pixel_policy, identity, stack=4, epsilon=0.0, rng=np.random.default_rng(0))
