"""Prioritized n-step replay that stores each frame once (docs/method.md#step-rainbow, docs/method.md#features-stack).

Read top to bottom: the sum tree, the batch type, then the buffer.

Storage. Time index ``t`` (a global step counter) lives at slot ``t % capacity``. A slot holds
``frame_t`` (the newest frame of the state ``s_t`` in which ``a_t`` was taken: uint8 pixels ``(H, W, C)``
or a SPIRL feature slab float32 ``(Kmax, 64)``), ``a_t``, ``r_t`` (the clipped reward received after
``a_t``), ``terminal_t`` (the learning episode ended after ``a_t``) and, optionally, ``k_t`` (the true
number of selected patches of ``frame_t``). Stacks are never stored; they are rebuilt at sampling time.

Stack rule. The state at ``i`` is frames ``i-stack+1 .. i`` (oldest first). Frame ``i-j`` is zeroed when a
terminal occurred at any of ``i-j .. i-1`` (the environment zeroes its stack at reset and after a
train-time life loss), and when it is not in the buffer (before the first stored step, overwritten by
the write head, or not yet written), so a stack never mixes data across the write head. (The oldest
``stack-1`` slots therefore stay sampleable with zero-padded history; rlpyt instead gives them priority 0.)

n-step rule. ``ret_t = sum_{k<m} gamma^k r_{t+k}`` with ``m = n``, or ``m`` stopping right after the
first terminal; ``done_t`` says a terminal occurred (then the learner must not bootstrap);
``next_obs`` is the state at ``t+n`` and the learner bootstraps with ``gamma^n`` (``discount``).

Sampleable indices. Slot ``t`` gets its new-sample priority only once its n-step window is complete
(``t+n`` stored, or a terminal inside the window) and gets priority 0 the moment the write head
overwrites it, so every sample has real data for its return, its done flag and its next state.
"""

from __future__ import annotations

import json
import math
import os
import zipfile
from typing import Any, NamedTuple

import numpy as np

from spirl.config import NewPriority, allowed
from spirl.utils import atomic_path

PRIORITY_MIN, PRIORITY_MAX = 1e-6, 1e6  # released rlpyt clamps TD/KL priorities to this range
NEW_PRIORITY = allowed(NewPriority)


class SumTree:
    """Array-backed binary sum tree over ``capacity`` non-negative priorities (float64, as rlpyt advises).

    Node 1 is the root, node ``n`` has children ``2n`` and ``2n+1``; leaf ``i`` is node ``leaf0 + i``
    (``leaf0`` = the next power of two >= capacity; leaves past ``capacity`` stay 0). Every update
    recomputes each touched parent from its two children, so the tree is a pure function of its
    leaves (no drift from accumulated differences) and rebuilding it from the leaves is bit-identical.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"sum tree capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self.leaf0 = 1 << (capacity - 1).bit_length()
        self.tree = np.zeros(2 * self.leaf0, dtype=np.float64)  # [2 * leaf0]; node 0 unused

    @property
    def total(self) -> float:
        """Sum of all priorities."""
        return float(self.tree[1])

    @property
    def priorities(self) -> np.ndarray:
        """The leaves, a read-only view ``(capacity,)``."""
        view = self.tree[self.leaf0 : self.leaf0 + self.capacity]
        view.flags.writeable = False
        return view

    def update(self, index: np.ndarray, priority: np.ndarray | float) -> None:
        """Set leaves ``index (N,)`` to ``priority (N,)`` (or a scalar); a repeated index keeps its first value."""
        index = np.asarray(index, dtype=np.int64).reshape(-1)
        priority = np.broadcast_to(np.asarray(priority, dtype=np.float64), index.shape)
        if index.size == 0:
            return
        index, first = np.unique(index, return_index=True)  # duplicates: first wins, as rlpyt
        node = index + self.leaf0
        self.tree[node] = priority[first]
        while node[0] > 1:  # all leaves sit at one depth, so every node climbs in lockstep
            node = node >> 1
            self.tree[node] = self.tree[2 * node] + self.tree[2 * node + 1]

    def sample(self, batch: int, rng: np.random.Generator, stratified: bool = False) -> np.ndarray:
        """Draw ``batch`` leaf indices ``(batch,)`` int64 with probability proportional to priority.

        Plain (default, as released rlpyt): ``batch`` independent draws with replacement.
        Stratified: one uniform draw in each of ``batch`` equal segments of the total.
        All draws descend the tree together, one level per step.
        """
        u = rng.random(batch)  # (batch,) in [0, 1)
        if stratified:
            u = (np.arange(batch) + u) / batch
        value = u * self.tree[1]
        node = np.ones(batch, dtype=np.int64)
        while node[0] < self.leaf0:
            left = 2 * node
            left_sum = self.tree[left]
            # never step into an empty subtree, even when rounding leaves value >= the remaining mass
            go_right = (value >= left_sum) & (self.tree[left + 1] > 0)
            value = np.where(go_right, value - left_sum, value)
            node = left + go_right
        return node - self.leaf0


class ReplayBatch(NamedTuple):
    """One sampled batch; B = batch size, S = stack depth."""

    index: np.ndarray  # (B,) int64 buffer slots, to hand back to update_priorities
    obs: np.ndarray  # (B, S, *frame_shape) frame_dtype, the state at t
    action: np.ndarray  # (B,) int64, a_t
    ret: np.ndarray  # (B,) float32, n-step return truncated after a terminal
    next_obs: np.ndarray  # (B, S, *frame_shape) frame_dtype, the state at t+n
    done: np.ndarray  # (B,) bool, a terminal within the n steps: do not bootstrap
    weight: np.ndarray  # (B,) float32 importance weights, max 1
    k: np.ndarray | None = None  # (B, S) int64 selected-patch counts of obs (0 for zeroed frames)
    next_k: np.ndarray | None = None  # (B, S) int64, the same for next_obs


class PrioritizedReplay:
    """Circular prioritized n-step replay storing each frame once; stacks rebuilt on sampling.

    ``capacity`` is the number of steps kept; to keep a whole run, pass its total number of env steps.
    ``new_priority``: "one" gives new transitions stored priority 1 (released rlpyt), "max" the largest
    priority seen so far (original Rainbow). ``store_k`` keeps each frame's K for ``k``/``next_k``.
    ``stratified=True`` draws one sample per equal segment of the total priority; the default draws
    independently, as rlpyt does. ``seed`` seeds the buffer's own Generator, saved with its state.
    """

    def __init__(self, capacity: int, frame_shape: tuple[int, ...], frame_dtype: Any, *, stack: int = 4,
                 n_step: int = 20, gamma: float = 0.99, alpha: float = 0.5, new_priority: str = "one",
                 store_k: bool = False, seed: int = 0, stratified: bool = False) -> None:
        if capacity is None or int(capacity) != capacity:
            raise ValueError(f"replay capacity must be an integer number of steps, got {capacity!r}")
        if stack < 1 or n_step < 1:
            raise ValueError(f"replay stack and n_step must be at least 1, got stack={stack}, n_step={n_step}")
        if capacity <= n_step:
            raise ValueError(f"replay capacity ({capacity}) must exceed n_step ({n_step}) to hold one n-step window")
        if not 0.0 <= gamma <= 1.0 or alpha < 0.0:
            raise ValueError(f"replay needs 0 <= gamma <= 1 and alpha >= 0, got gamma={gamma}, alpha={alpha}")
        if new_priority not in NEW_PRIORITY:
            raise ValueError(f"replay new_priority must be one of {NEW_PRIORITY}, got {new_priority!r}")
        self.capacity, self.stack, self.n_step = int(capacity), int(stack), int(n_step)
        self.gamma, self.alpha, self.new_priority = float(gamma), float(alpha), new_priority
        self.frame_shape, self.frame_dtype = tuple(int(s) for s in frame_shape), np.dtype(frame_dtype)
        self.store_k, self.stratified = bool(store_k), bool(stratified)
        self.seed = int(seed)
        C = self.capacity
        # np.zeros is calloc'd: pages are committed only when a frame is written, so a buffer sized for a
        # whole run costs memory as it fills, and never-written slots read as zeros.
        self.frames = np.zeros((C, *self.frame_shape), dtype=self.frame_dtype)  # [C, *frame_shape]
        self.action = np.zeros(C, dtype=np.int64)  # [C]
        self.reward = np.zeros(C, dtype=np.float32)  # [C]
        self.terminal = np.zeros(C, dtype=bool)  # [C]
        self.k = np.zeros(C if store_k else 0, dtype=np.int16)  # [C]; K <= 144 patches
        self.tree = SumTree(C)
        self.rng = np.random.default_rng(self.seed)
        self.t = 0  # steps added so far; the next add goes to slot t % C
        self.max_priority = 1.0  # largest clamped priority seen ("max" mode); Rainbow starts at 1
        self._stack_offsets = np.arange(1 - self.stack, 1)  # (S,) oldest .. newest
        self._discounts = self.gamma ** np.arange(self.n_step)  # (n,) float64
        self._reused: tuple[np.ndarray, np.ndarray] | None = None  # output arrays of sample(reuse=True)

    # ---- filling -----------------------------------------------------------------------------------

    def add(self, frame: Any, action: int, reward: float, terminal: bool, k: int | None = None) -> None:
        """Store one step: ``frame`` ``frame_shape`` is the newest frame of the state in which ``action`` was taken."""
        frame = np.asarray(frame)
        if frame.shape != self.frame_shape:
            raise ValueError(f"replay frame has shape {frame.shape}, expected {self.frame_shape}")
        if not np.can_cast(frame.dtype, self.frame_dtype, casting="same_kind"):
            raise ValueError(f"replay frame has dtype {frame.dtype}, which does not fit {self.frame_dtype}")
        if (k is None) == self.store_k:
            raise ValueError("replay add() needs k exactly when the buffer was built with store_k=True")
        if not math.isfinite(float(reward)):
            raise ValueError(f"replay reward must be finite, got {reward}")
        t, C, n = self.t, self.capacity, self.n_step
        slot = t % C
        self.frames[slot] = frame
        self.action[slot], self.reward[slot], self.terminal[slot] = int(action), float(reward), bool(terminal)
        if self.store_k:
            self.k[slot] = int(k)
        self.t = t + 1
        # Indices that become sampleable now: t-n (its next state t has arrived) and, on a terminal, every
        # index of the last n whose window holds this terminal, except those already validated by an
        # earlier terminal (they may carry learned priorities by now).
        recent = np.arange(max(0, t - n), t)  # global steps t-n .. t-1
        ended = recent[self.terminal[recent % C]]
        lo = max(int(ended[-1]) + 1 if ended.size else 0, t - n, 0)
        hi = t if terminal else t - n
        fresh = np.arange(lo, hi + 1) % C
        value = np.full(fresh.size, self._new_value())
        if not terminal:  # the slot just written starts invalid, whatever it held before
            fresh, value = np.append(fresh, slot), np.append(value, 0.0)
        self.tree.update(fresh, value)

    def _new_value(self) -> float:
        return 1.0 if self.new_priority == "one" else self.max_priority**self.alpha

    # ---- sampling ----------------------------------------------------------------------------------

    def _global_step(self, slot: np.ndarray) -> np.ndarray:
        """Global step ``(B,)`` stored at each slot ``(B,)`` (the newest write to that slot)."""
        return self.t - 1 - (self.t - 1 - slot) % self.capacity

    def _stacks(self, newest: np.ndarray, out: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rebuild the states whose newest frames are global steps ``newest (B,)``, into ``out`` if given.

        Returns ``frames (B, S, *frame_shape)``, ``kept (B, S)`` bool and ``slot (B, S)``.
        """
        steps = newest[:, None] + self._stack_offsets  # (B, S) oldest .. newest
        kept = (steps >= max(0, self.t - self.capacity)) & (steps < self.t)  # in the buffer right now
        slot = steps % self.capacity
        # a terminal at step j ends the episode before j+1: frames at or before j belong to an older one
        ended = self.terminal[slot[:, :-1]] & kept[:, :-1]  # (B, S-1)
        ended_later = np.logical_or.accumulate(ended[:, ::-1], axis=1)[:, ::-1]  # terminal at j or after
        kept[:, :-1] &= ~ended_later
        if out is None:
            out = np.empty((*slot.shape, *self.frame_shape), dtype=self.frame_dtype)  # (B, S, *frame_shape)
        np.take(self.frames, slot.reshape(-1), axis=0, out=out.reshape(-1, *self.frame_shape))
        out[~kept] = 0
        return out, kept, slot

    def _n_step_return(self, start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``ret (B,)`` float32 and ``done (B,)`` bool of the n steps from global steps ``start (B,)``."""
        slot = (start[:, None] + np.arange(self.n_step)) % self.capacity  # (B, n)
        terminal = self.terminal[slot]
        ended = np.logical_or.accumulate(terminal, axis=1)  # (B, n) a terminal at or before step k
        counted = np.ones_like(ended)
        counted[:, 1:] = ~ended[:, :-1]  # the terminal step's reward counts, later ones do not
        ret = (self.reward[slot] * self._discounts * counted).sum(axis=1)
        return ret.astype(np.float32), ended[:, -1]

    def sample(self, batch: int, beta: float, *, reuse: bool = False) -> ReplayBatch:
        """Sample ``batch`` transitions in proportion to priority, with importance weights for ``beta``.

        weight_i = (N P(i))^-beta / max_j (N P(j))^-beta = (p_min / p_i)^beta over the batch, with p the
        stored priority. Released rlpyt computes (1 / (p + 1e-5))^beta / max, the same up to its 1e-5.

        ``reuse=True`` writes obs and next_obs into two arrays owned by the buffer, which the next
        ``reuse=True`` call overwrites: use (or copy) them before sampling again. A fresh 2 x 3.5 MB pixel
        batch costs ~1,700 page faults per call, several times the gather itself on a small VM.
        """
        if batch < 1 or beta < 0:
            raise ValueError(f"replay sample needs batch >= 1 and beta >= 0, got batch={batch}, beta={beta}")
        if self.tree.total <= 0:
            raise ValueError(f"replay has no complete {self.n_step}-step transition to sample yet ({self.t} steps)")
        index = self.tree.sample(batch, self.rng, self.stratified)  # (B,) slots
        step = self._global_step(index)
        if reuse and (self._reused is None or len(self._reused[0]) != batch):
            shape = (batch, self.stack, *self.frame_shape)
            self._reused = (np.empty(shape, self.frame_dtype), np.empty(shape, self.frame_dtype))
        obs, kept, slot = self._stacks(step, self._reused[0] if reuse else None)
        next_obs, next_kept, next_slot = self._stacks(step + self.n_step, self._reused[1] if reuse else None)
        ret, done = self._n_step_return(step)
        p = self.tree.tree[self.tree.leaf0 + index]  # (B,) stored p^alpha, > 0
        weight = (p.min() / p) ** beta
        k = next_k = None
        if self.store_k:
            k = np.where(kept, self.k[slot], 0).astype(np.int64)  # (B, S)
            next_k = np.where(next_kept, self.k[next_slot], 0).astype(np.int64)
        return ReplayBatch(index, obs, self.action[index], ret, next_obs, done, weight.astype(np.float32), k, next_k)

    def update_priorities(self, index: Any, priority: Any) -> None:
        """Set priorities ``(B,)`` (numpy or CPU tensor) of slots ``index (B,)``, stored as clamp(p, 1e-6, 1e6)^alpha.

        A slot that stopped being sampleable since it was drawn (overwritten by the write head) is skipped.
        """
        index = np.asarray(index, dtype=np.int64).reshape(-1)
        priority = np.asarray(priority, dtype=np.float64).reshape(-1)
        if index.shape != priority.shape:
            raise ValueError(f"replay got {index.size} indices but {priority.size} priorities")
        if index.size and (index.min() < 0 or index.max() >= self.capacity):
            raise ValueError(f"replay index out of range [0, {self.capacity})")
        if not np.all(np.isfinite(priority)):
            raise ValueError("replay priorities contain NaN or inf (is the loss finite?)")
        live = self.tree.priorities[index] > 0
        priority = np.clip(priority[live], PRIORITY_MIN, PRIORITY_MAX)
        if priority.size:
            self.max_priority = max(self.max_priority, float(priority.max()))
        self.tree.update(index[live], priority**self.alpha)

    # ---- size --------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return min(self.t, self.capacity)

    @property
    def discount(self) -> float:
        """Bootstrap discount gamma^n of next_obs (masked by done)."""
        return self.gamma**self.n_step

    @property
    def nbytes(self) -> int:
        """Bytes allocated by the buffer's arrays (frames dominate)."""
        arrays = (self.frames, self.action, self.reward, self.terminal, self.k, self.tree.tree, *(self._reused or ()))
        return int(sum(a.nbytes for a in arrays))

    # ---- checkpoints -------------------------------------------------------------------------------

    def _settings(self) -> dict[str, Any]:
        return {"capacity": self.capacity, "frame_shape": list(self.frame_shape), "frame_dtype": self.frame_dtype.str,
                "stack": self.stack, "n_step": self.n_step, "gamma": self.gamma, "alpha": self.alpha,
                "new_priority": self.new_priority, "store_k": self.store_k, "seed": self.seed,
                "stratified": self.stratified}

    def state_dict(self) -> dict[str, np.ndarray]:
        """Everything needed to resume bit-identically, as numpy arrays (0-d for scalars and JSON strings).

        Only the filled part of the storage is included, as views (no copy): save it before the next add.
        """
        filled = len(self)
        state = {
            "settings": np.array(json.dumps(self._settings(), sort_keys=True)),
            "t": np.array(self.t, dtype=np.int64),
            "max_priority": np.array(self.max_priority, dtype=np.float64),
            "rng": np.array(json.dumps(self.rng.bit_generator.state)),
            "frames": self.frames[:filled],
            "action": self.action[:filled],
            "reward": self.reward[:filled],
            "terminal": self.terminal[:filled],
            "k": self.k[:filled],
            "tree": self.tree.tree,
        }
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a ``state_dict()``; refuses one written by a buffer with other settings."""
        theirs = json.loads(str(state["settings"]))
        ours = self._settings()
        differ = sorted(key for key in ours.keys() | theirs.keys() if ours.get(key) != theirs.get(key))
        if differ:
            detail = ", ".join(f"{key}: saved {theirs.get(key)!r} vs {ours.get(key)!r}" for key in differ)
            raise ValueError(f"replay checkpoint was written with other settings ({detail})")
        t = int(state["t"])
        filled = min(t, self.capacity)
        names = ("frames", "action", "reward", "terminal", "k")
        for name in (*names, "tree"):  # check everything before changing anything
            expected = self.tree.tree.shape if name == "tree" else getattr(self, name)[:filled].shape
            if np.shape(state[name]) != expected:
                raise ValueError(f"replay checkpoint's {name} has shape {np.shape(state[name])}, expected {expected}")
            if isinstance(state[name], _NpyMember) and state[name].dtype != getattr(self, name).dtype:
                raise ValueError(f"replay checkpoint's {name} has dtype {state[name].dtype}")
        # slots past the saved fill keep whatever they held: sampling never uses a slot outside the buffer
        for name in names:
            target = getattr(self, name)[:filled]
            if isinstance(state[name], _NpyMember):
                state[name].read_into(target)
            else:
                np.copyto(target, state[name])
        self.tree.tree[:] = state["tree"]
        self.t, self.max_priority = t, float(state["max_priority"])
        self.rng.bit_generator.state = json.loads(str(state["rng"]))

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write ``state_dict()`` to an uncompressed ``.npz`` at ``path``, atomically."""
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, **self.state_dict())

    def load(self, path: str | os.PathLike[str]) -> None:
        """Restore a ``save()``d buffer; frames stream straight into the storage (no second copy in memory)."""
        try:
            with zipfile.ZipFile(path) as archive:
                state: dict[str, Any] = {}
                for name in archive.namelist():
                    key = name.removesuffix(".npy")
                    if key in ("frames", "action", "reward", "terminal", "k"):
                        state[key] = _NpyMember(archive, name)
                    else:
                        with archive.open(name) as f:
                            state[key] = np.lib.format.read_array(f, allow_pickle=False)
                self.load_state_dict(state)
        except (zipfile.BadZipFile, KeyError, EOFError) as err:
            raise ValueError(f"replay checkpoint {path} is corrupt or incomplete: {err}") from err


class _NpyMember:
    """One ``.npy`` member of an uncompressed ``.npz``, copied into a preallocated array chunk by chunk."""

    CHUNK = 1 << 26  # 64 MiB: bounded extra memory whatever the buffer size

    def __init__(self, archive: zipfile.ZipFile, name: str) -> None:
        self.archive, self.name = archive, name
        with archive.open(name) as f:
            self.shape, self.dtype = self._header(f)

    @staticmethod
    def _header(f: Any) -> tuple[tuple[int, ...], np.dtype]:
        version = np.lib.format.read_magic(f)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read(f)
        if fortran:
            raise ValueError("replay checkpoint arrays must be C-ordered")
        return shape, dtype

    def read_into(self, out: np.ndarray) -> None:
        with self.archive.open(self.name) as f:
            self._header(f)
            raw = out.reshape(-1).view(np.uint8)  # a view: out is a contiguous prefix of the storage
            for start in range(0, raw.size, self.CHUNK):
                size = min(self.CHUNK, raw.size - start)
                chunk = f.read(size)
                if len(chunk) != size:
                    raise EOFError(f"{self.name} ends early")
                raw[start : start + size] = np.frombuffer(chunk, dtype=np.uint8)
