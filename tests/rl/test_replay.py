"""Tests of spirl.rl.replay: the sum tree, n-step returns, stack rebuild, priorities and checkpoints.

Frames encode their global step as ``step + 1`` so that a zeroed frame (0) and a misaligned one are both visible.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import chisquare

from spirl.rl.replay import PrioritizedReplay, ReplayBatch, SumTree


def make(capacity: int = 64, *, stack: int = 3, n_step: int = 3, gamma: float = 0.5, **kw) -> PrioritizedReplay:
    return PrioritizedReplay(capacity, (1,), np.float32, stack=stack, n_step=n_step, gamma=gamma, **kw)


def fill(buf: PrioritizedReplay, rewards, terminals, start: int = 0, k=None) -> None:
    for i, (r, d) in enumerate(zip(rewards, terminals)):
        step = start + i
        buf.add(np.array([step + 1], np.float32), step % 7, r, d, k=None if k is None else k(step))


def steps_of(field: np.ndarray) -> np.ndarray:
    """Global step + 1 of every frame in a stack field ``(B, S, 1)`` -> ``(B, S)``."""
    return field[..., 0].astype(np.int64)


# Hand-made episode data shared by several tests: terminals after steps 3 and 5.
REWARDS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048]
TERMINALS = [False, False, False, True, False, True, False, False, False, False, False, False]


def hand_filled(**kw) -> PrioritizedReplay:
    buf = make(**kw)
    fill(buf, REWARDS, TERMINALS)
    return buf


def test_sum_tree_totals_and_updates():
    tree = SumTree(5)  # not a power of two: 8 leaves, 3 unused
    assert tree.total == 0.0
    tree.update(np.array([0, 2, 4]), np.array([1.0, 2.5, 4.0]))
    assert tree.total == 7.5
    tree.update(np.array([2]), 0.5)
    assert tree.total == 5.5
    tree.update(np.array([1, 1]), np.array([3.0, 9.0]))  # a repeated index keeps its first value
    assert tree.total == 8.5
    np.testing.assert_array_equal(tree.priorities, [1.0, 3.0, 0.5, 0.0, 4.0])
    rng = np.random.default_rng(0)
    tree = SumTree(37)
    for _ in range(50):
        tree.update(rng.integers(0, 37, size=6), rng.random(6))
    nodes = np.arange(1, tree.leaf0)
    np.testing.assert_array_equal(tree.tree[nodes], tree.tree[2 * nodes] + tree.tree[2 * nodes + 1])
    assert tree.total == pytest.approx(tree.priorities.sum(), rel=1e-12)


@pytest.mark.parametrize("stratified", [False, True])
def test_sum_tree_samples_in_proportion_to_priority(stratified):
    priority = np.array([1.0, 2.0, 0.0, 3.0, 4.0, 10.0, 0.5])
    tree = SumTree(priority.size)
    tree.update(np.arange(priority.size), priority)
    rng = np.random.default_rng(123)
    draws = np.concatenate([tree.sample(32, rng, stratified) for _ in range(1000)])
    counts = np.bincount(draws, minlength=priority.size)
    assert counts[2] == 0  # zero priority is never drawn
    live = priority > 0
    expected = draws.size * priority[live] / priority.sum()
    assert chisquare(counts[live], expected).pvalue > 1e-3
    uniform = np.full(live.sum(), draws.size / live.sum())
    assert chisquare(counts[live], uniform).pvalue < 1e-12  # the test has the power to see uniform sampling


def test_sum_tree_stratified_draws_one_per_segment():
    tree = SumTree(8)
    tree.update(np.arange(8), np.ones(8))
    rng = np.random.default_rng(0)
    assert sorted(tree.sample(8, rng, stratified=True).tolist()) == list(range(8))  # segment i holds leaf i
    assert len(set(tree.sample(8, rng, stratified=False).tolist())) < 8  # independent draws repeat


class _LargestDraw:
    """Stands in for a Generator whose draws are all the largest double below 1, the worst case for rounding."""

    def random(self, size: int) -> np.ndarray:
        return np.full(size, np.nextafter(1.0, 0.0))


def test_sum_tree_never_descends_into_empty_leaves():
    # found by search: u * total - (x + y) rounds up to z, so an unguarded descent ends on the empty 4th leaf
    tree = SumTree(4)
    tree.update(np.arange(3), np.array([199.64501338118745, 56.15867040751434, 597.3456235768031]))
    for stratified in (False, True):
        assert set(tree.sample(4, _LargestDraw(), stratified).tolist()) <= {0, 1, 2}
    rng = np.random.default_rng(5)
    tree = SumTree(1000)
    live = np.arange(0, 1000, 97)
    tree.update(live, 10.0 ** rng.uniform(-8, 8, live.size))  # sparse leaves, 16 decades of magnitude
    for stratified in (False, True):
        drawn = np.concatenate([tree.sample(256, rng, stratified) for _ in range(20)])
        assert np.isin(drawn, live).all()


def test_n_step_returns_and_done_across_terminals():
    buf = hand_filled(n_step=3, gamma=0.5)
    # ret_t = r_t + 0.5 r_{t+1} + 0.25 r_{t+2}, stopping right after a terminal (steps 3 and 5)
    expected = {
        0: (1 + 1 + 1, False),
        1: (2 + 2 + 2, True),  # steps 1, 2, 3(terminal)
        2: (4 + 4, True),
        3: (8, True),
        4: (16 + 16, True),
        5: (32, True),
        6: (64 + 64 + 64, False),
        7: (128 + 128 + 128, False),
        8: (256 + 256 + 256, False),
    }
    batch = buf.sample(400, beta=0.4)
    assert set(batch.index.tolist()) == set(expected)  # 9..11 lack their window
    for i, ret, done in zip(batch.index, batch.ret, batch.done):
        assert ret == expected[i][0] and done == expected[i][1], i
    assert batch.ret.dtype == np.float32 and batch.done.dtype == bool
    np.testing.assert_array_equal(batch.action, batch.index % 7)
    assert buf.discount == 0.5**3


def test_stack_rebuild_zeroes_before_terminal_and_at_start():
    buf = hand_filled(n_step=3)
    obs = {0: [0, 0, 1], 1: [0, 1, 2], 2: [1, 2, 3], 3: [2, 3, 4], 4: [0, 0, 5],
           5: [0, 5, 6], 6: [0, 0, 7], 7: [0, 7, 8], 8: [7, 8, 9]}
    # next_obs is the state at t+n, rebuilt with the same rule
    next_obs = {i: obs[i + 3] if i + 3 in obs else [i + 2, i + 3, i + 4] for i in obs}
    batch = buf.sample(400, beta=0.4)
    for row, i in enumerate(batch.index):
        assert steps_of(batch.obs)[row].tolist() == obs[i], i
        assert steps_of(batch.next_obs)[row].tolist() == next_obs[i], i
    assert batch.obs.shape == (400, 3, 1) and batch.next_obs.shape == (400, 3, 1)


def test_incomplete_windows_are_never_sampled_and_terminals_release_them():
    buf = make(capacity=32, n_step=3)
    fill(buf, [1.0] * 6, [False] * 6)
    np.testing.assert_array_equal(buf.tree.priorities[:6], [1, 1, 1, 0, 0, 0])
    assert set(buf.sample(300, 0.4).index.tolist()) == {0, 1, 2}
    fill(buf, [1.0], [True], start=6)  # a terminal completes the windows of 3..6 at once
    np.testing.assert_array_equal(buf.tree.priorities[:8], [1, 1, 1, 1, 1, 1, 1, 0])
    buf.update_priorities(np.array([4, 5]), np.array([9.0, 16.0]))
    fill(buf, [1.0, 1.0], [False, True], start=7)  # must not reset 4 and 5, validated earlier
    np.testing.assert_array_equal(buf.tree.priorities[:9], [1, 1, 1, 1, 3, 4, 1, 1, 1])
    with pytest.raises(ValueError, match="no complete"):
        make(n_step=3).sample(4, 0.4)


def test_wrap_around_overwrites_and_stacks_never_cross_the_write_head():
    buf = make(capacity=8, n_step=2, stack=3)
    fill(buf, [1.0] * 13, [False] * 13)  # steps 5..12 kept in slots 5,6,7,0,..,4
    assert len(buf) == 8 and buf.t == 13
    np.testing.assert_array_equal(buf.frames[:, 0], [9, 10, 11, 12, 13, 6, 7, 8])
    valid = {i % 8 for i in range(5, 11)}  # 11 and 12 wait for their next state
    assert {int(s) for s in np.flatnonzero(buf.tree.priorities)} == valid
    batch = buf.sample(300, 0.4)
    for row, slot in enumerate(batch.index):
        step = buf.t - 1 - (buf.t - 1 - slot) % 8
        want = [s + 1 if s >= 5 else 0 for s in (step - 2, step - 1, step)]  # 3 and 4 were overwritten
        assert steps_of(batch.obs)[row].tolist() == want
        assert steps_of(batch.next_obs)[row].tolist() == [step + 1, step + 2, step + 3]
    # a terminal at step 13 (slot 5) makes 11..13 sampleable; their next states reach past the head, where
    # slots still hold old steps: those frames must come out as zeros, not as the old data
    fill(buf, [1.0], [True], start=13)
    assert buf.tree.priorities[5] == 1.0
    batch = buf.sample(400, 0.4)
    seen = {}
    for row, slot in enumerate(batch.index):
        seen[int(slot)] = (steps_of(batch.obs)[row].tolist(), steps_of(batch.next_obs)[row].tolist(),
                           bool(batch.done[row]))
    assert set(seen) == set(range(8))  # steps 6..13, all with complete windows now
    assert seen[3] == ([10, 11, 12], [12, 13, 14], False)  # step 11
    assert seen[4] == ([11, 12, 13], [0, 0, 0], True)  # step 12: next state = 12, 13 (terminal), 14 (unwritten)
    assert seen[5] == ([12, 13, 14], [0, 0, 0], True)  # step 13: next state 15 lies past the head
    assert seen[6] == ([0, 0, 7], [7, 8, 9], False)  # step 6: steps 4 and 5 were overwritten
    assert seen[7] == ([0, 7, 8], [8, 9, 10], False)


def test_oldest_slot_is_invalidated_when_overwritten():
    buf = make(capacity=8, n_step=2)
    fill(buf, [1.0] * 8, [False] * 8)
    buf.update_priorities(np.arange(6), np.full(6, 4.0))
    fill(buf, [1.0], [False], start=8)  # overwrites step 0 in slot 0
    assert buf.tree.priorities[0] == 0.0
    buf.update_priorities(np.array([0]), np.array([100.0]))  # a stale update of an overwritten slot is ignored
    assert buf.tree.priorities[0] == 0.0
    assert 0 not in buf.sample(200, 0.4).index


def test_importance_weights_match_hand_computation():
    buf = make(capacity=16, n_step=1, alpha=0.5)
    fill(buf, [0.0] * 6, [False] * 6)  # steps 0..4 valid
    raw = np.array([4.0, 1.0, 9.0, 0.25, 16.0])
    buf.update_priorities(np.arange(5), raw)
    stored = raw**0.5
    np.testing.assert_allclose(buf.tree.priorities[:5], stored)
    beta = 0.6
    batch = buf.sample(64, beta)
    prob = stored / stored.sum()
    w = (5 * prob[batch.index]) ** -beta
    np.testing.assert_allclose(batch.weight, w / w.max(), rtol=1e-6)
    rlpyt = (1.0 / (stored[batch.index] + 1e-5)) ** beta
    np.testing.assert_allclose(batch.weight, rlpyt / rlpyt.max(), rtol=1e-4)
    assert batch.weight.dtype == np.float32 and batch.weight.max() == 1.0
    assert np.all(buf.sample(64, 0.0).weight == 1.0)


@pytest.mark.parametrize("mode, first, second", [("one", 1.0, 1.0), ("max", 2.0, 1000.0)])
def test_new_priority_one_vs_max(mode, first, second):
    buf = make(capacity=16, n_step=1, alpha=0.5, new_priority=mode)
    fill(buf, [0.0] * 3, [False] * 3)
    buf.update_priorities(np.array([0, 1]), np.array([4.0, 0.25]))
    fill(buf, [0.0], [False], start=3)  # step 2 becomes valid
    assert buf.tree.priorities[2] == pytest.approx(first)
    buf.update_priorities(np.array([0]), np.array([1e9]))  # clamped to 1e6
    fill(buf, [0.0], [False], start=4)
    assert buf.tree.priorities[3] == pytest.approx(second)
    assert buf.tree.priorities[0] == pytest.approx(1000.0)


def test_k_stacks_follow_the_frames():
    buf = make(n_step=3, store_k=True)
    fill(buf, REWARDS, TERMINALS, k=lambda step: step % 5 + 1)
    batch = buf.sample(200, 0.4)
    for name_obs, name_k in (("obs", "k"), ("next_obs", "next_k")):
        frames, ks = steps_of(getattr(batch, name_obs)), getattr(batch, name_k)
        assert ks.dtype == np.int64 and ks.shape == (200, 3)
        np.testing.assert_array_equal(ks, np.where(frames > 0, (frames - 1) % 5 + 1, 0))
    with pytest.raises(ValueError, match="store_k"):
        buf.add(np.zeros(1, np.float32), 0, 0.0, False)


def _random_fill(buf: PrioritizedReplay, rng: np.random.Generator, steps: int) -> None:
    for _ in range(steps):
        frame = rng.integers(0, 256, size=buf.frame_shape, dtype=np.uint8)
        buf.add(frame, int(rng.integers(4)), float(rng.integers(-1, 2)), bool(rng.random() < 0.05))


def _assert_same(a: ReplayBatch, b: ReplayBatch) -> None:
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("steps", [30, 70])  # partly filled, and wrapped once
def test_state_dict_and_file_round_trip_give_identical_samples(tmp_path, steps):
    def build() -> PrioritizedReplay:
        return PrioritizedReplay(50, (6, 6, 3), np.uint8, n_step=4, new_priority="max", seed=3)

    buf = build()
    _random_fill(buf, np.random.default_rng(0), steps)
    batch = buf.sample(8, 0.5)
    buf.update_priorities(batch.index, np.linspace(0.5, 3, 8))
    in_memory = {k: np.copy(v) for k, v in buf.state_dict().items()}
    buf.save(tmp_path / "replay.npz")
    copies = [build(), build()]
    copies[0].load_state_dict(in_memory)
    _random_fill(copies[1], np.random.default_rng(9), 45)  # what it held beyond the saved fill must not matter
    copies[1].load(tmp_path / "replay.npz")
    for step in range(30):
        priority = np.random.default_rng(step).random(16) + 0.1
        for b in (buf, *copies):
            _random_fill(b, np.random.default_rng(step), 1)
            batch = b.sample(16, 0.4 + 0.01 * step)
            b.update_priorities(batch.index, priority)
        batches = [b.sample(16, 0.7) for b in (buf, *copies)]
        _assert_same(batches[0], batches[1])
        _assert_same(batches[0], batches[2])


def test_state_dict_refuses_other_settings_and_corrupt_files(tmp_path):
    buf = PrioritizedReplay(20, (2, 2, 3), np.uint8, n_step=2)
    _random_fill(buf, np.random.default_rng(0), 10)
    path = tmp_path / "replay.npz"
    buf.save(path)
    with pytest.raises(ValueError, match="n_step"):
        PrioritizedReplay(20, (2, 2, 3), np.uint8, n_step=3).load(path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match="corrupt"):
        PrioritizedReplay(20, (2, 2, 3), np.uint8, n_step=2).load(path)


def test_same_seed_same_samples():
    runs = []
    for seed in (0, 0, 1):
        buf = make(seed=seed)
        fill(buf, REWARDS * 3, TERMINALS * 3)
        runs.append(buf.sample(32, 0.4).index)
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


def test_reused_output_arrays_hold_the_same_batches():
    fresh, reused = make(seed=4), make(seed=4)
    for buf in (fresh, reused):
        fill(buf, REWARDS * 3, TERMINALS * 3)
    first = reused.sample(16, 0.4, reuse=True)
    _assert_same(fresh.sample(16, 0.4), first)
    second = reused.sample(16, 0.4, reuse=True)
    _assert_same(fresh.sample(16, 0.4), second)
    assert second.obs is first.obs and second.next_obs is first.next_obs  # overwritten, as documented
    assert reused.sample(8, 0.4, reuse=True).obs.shape == (8, 3, 1)


def test_each_frame_is_stored_once():
    pixels = PrioritizedReplay(1000, (96, 96, 3), np.uint8)
    frame_bytes = 1000 * 96 * 96 * 3
    assert frame_bytes <= pixels.nbytes < frame_bytes + 1000 * 64  # small scalars + the tree per step
    features = PrioritizedReplay(1000, (50, 64), np.float32, store_k=True)
    assert 1000 * 50 * 64 * 4 <= features.nbytes < 1000 * (50 * 64 * 4 + 64)
    features.add(np.ones((50, 64), np.float32), 0, 0.0, False, k=12)
    assert features.frames.shape == (1000, 50, 64)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="capacity"):
        PrioritizedReplay(None, (1,), np.float32)
    with pytest.raises(ValueError, match="exceed n_step"):
        PrioritizedReplay(20, (1,), np.float32, n_step=20)
    with pytest.raises(ValueError, match="new_priority"):
        PrioritizedReplay(30, (1,), np.float32, new_priority="mean")
    buf = PrioritizedReplay(30, (2, 2, 3), np.uint8)
    with pytest.raises(ValueError, match="shape"):
        buf.add(np.zeros((2, 2), np.uint8), 0, 0.0, False)
    with pytest.raises(ValueError, match="dtype"):
        buf.add(np.zeros((2, 2, 3), np.float32), 0, 0.0, False)
    with pytest.raises(ValueError, match="NaN"):
        buf.update_priorities(np.array([0]), np.array([np.nan]))
