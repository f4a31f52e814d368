"""What the agent sees: the acting stack of a run, and the encoders that fill it (docs/method.md#step-agent).

Pixel methods stack uint8 frames ``(H, W, C)``. SPIRL stacks, per frame, the ``(Kmax, D)`` float32
feature slab of its salient patches and its true K, computed **once** per new frame by the frozen MAE
(batch 1 in training, batched across the lockstep environments in evaluation). The stack is zeroed at
reset and after a train-time life loss, exactly as the replay rebuilds its stacks.

A new SPIRL frame's slab is computed when the frame arrives but stays on the device (``pending``) until the
next update's copy brings it back together with the priorities (one wait for both on a GPU), or
:meth:`Observations.flush` fetches it on its own. ``spirl.rl.trainer`` owns one ``Observations``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from spirl.atari.envs import FrameStack
from spirl.devices import to_device

Encoder = Callable[[np.ndarray], tuple[Any, Any]]


class Observations:
    """A run's acting stack ``(F, *frame_shape)`` (and SPIRL's K stack ``(F,)``) and its encoders.

    Args:
        extractor: SPIRL's ``SalientPatchExtractor`` (or a stand-in with its ``__call__``); None for pixels.
        frame_shape: one stacked frame: ``(H, W, C)`` for pixels, ``(Kmax, D)`` for SPIRL.
        dtype: ``np.uint8`` for pixels, ``np.float32`` for SPIRL.
        depth: frames per stack (``protocol.frame_stack``).
        device: torch device of the extractor and the learner.
    """

    def __init__(self, extractor: Any, frame_shape: tuple[int, ...], dtype: Any, depth: int, device: str) -> None:
        self.extractor, self.frame_shape, self.device = extractor, tuple(frame_shape), device
        self.stack = FrameStack(depth, self.frame_shape, dtype)
        self.k_stack = FrameStack(depth, (), np.int64) if extractor is not None else None
        self.pending: tuple[torch.Tensor, bool] | None = None  # SPIRL: a new frame's packed slab, not stacked yet

    # ------------------------------------------------------------------------------------ encoders

    def encode(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """New frames (B, H, W, C) uint8 -> what the stack holds: the frames, or SPIRL slabs (B, Kmax, D) and K (B,)."""
        if self.extractor is None:
            return frames, None
        return self.unpack(self.pack(frames).cpu().numpy())  # one copy to the host: one wait on a GPU

    def pack(self, frames: np.ndarray) -> torch.Tensor:
        """SPIRL: the slabs of new frames (B, H, W, C) with K appended, float32 ``(B, Kmax * D + 1)`` on the
        device (K <= 144 is exact in float32), so that one copy brings both to the host."""
        feats = self.extractor(frames)
        B = feats.features.shape[0]
        packed = torch.cat([feats.features.reshape(B, -1), feats.k[:, None].to(torch.float32)], 1)
        return to_device(packed, self.device)  # where the learner is (a stand-in extractor may give host tensors)

    def unpack(self, packed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`pack`'s values on the host -> slabs ``(B, Kmax, D)`` float32 and K ``(B,)`` int64."""
        packed = packed.reshape(-1, int(np.prod(self.frame_shape)) + 1)
        return packed[:, :-1].reshape(-1, *self.frame_shape), packed[:, -1].astype(np.int64)

    def encode_on_device(self, frames: np.ndarray) -> tuple[torch.Tensor, torch.Tensor | None]:
        """As :meth:`encode`, but left on the run's device (GPU evaluation: stacks stay there, frames go in pinned)."""
        if self.extractor is None:
            return to_device(frames, self.device), None
        feats = self.extractor(frames)
        return feats.features, feats.k

    def eval_encoder(self) -> Encoder:
        """Evaluation's encoder: :meth:`encode` on a CPU, :meth:`encode_on_device` elsewhere (stacks stay there)."""
        return self.encode if torch.device(self.device).type == "cpu" else self.encode_on_device

    # ------------------------------------------------------------------------------------ the stack

    def push(self, frame: np.ndarray, terminal: bool) -> None:
        """Put a new frame ``(H, W, C)`` on the stack (``terminal``: a new learning episode). SPIRL's slab is
        computed now and waits on the device (:attr:`pending`)."""
        if self.extractor is not None:
            self.pending = (self.pack(frame[None]), terminal)
            return
        self.put(frame, None, terminal)

    def pending_slab(self) -> torch.Tensor | None:
        """The packed slab ``(1, Kmax * D + 1)`` waiting on the device, for an update to bring back, or None."""
        return None if self.pending is None else self.pending[0]

    def flush(self, carried: np.ndarray | None = None) -> None:
        """Stack the pending SPIRL slab: ``carried`` is its values from an update's copy, else it is copied here."""
        if self.pending is None:
            return
        packed, terminal = self.pending
        self.pending = None
        slab, k = self.unpack(packed.cpu().numpy() if carried is None else carried)
        self.put(slab[0], k[0], terminal)

    def put(self, slab: np.ndarray, k: Any, terminal: bool) -> None:
        """Stack one frame (or slab and its K) now; ``terminal``: older slots become zeros, as the replay
        rebuilds them."""
        if terminal:
            self.stack.reset(slab)
            if self.k_stack is not None:
                self.k_stack.reset(k)
        else:
            self.stack.push(slab)
            if self.k_stack is not None:
                self.k_stack.push(k)

    def k_array(self) -> np.ndarray | None:
        """SPIRL's K stack ``(F,)`` int64 (the live buffer), or None for pixels."""
        return None if self.k_stack is None else self.k_stack.array

    # ---------------------------------------------------------------------------------- checkpoints

    def state(self) -> dict[str, np.ndarray | None]:
        """Copies of the stacks (the pending slab is stacked first): ``{"stack", "k_stack"}``."""
        self.flush()
        k_stack = None if self.k_stack is None else self.k_stack.array.copy()
        return {"stack": self.stack.array.copy(), "k_stack": k_stack}

    def load(self, state: dict[str, Any]) -> None:
        """Set the stacks from :meth:`state`'s dict (nothing pending)."""
        self.pending = None
        np.copyto(self.stack.array, state["stack"])
        if self.k_stack is not None:
            np.copyto(self.k_stack.array, state["k_stack"])
