"""Errors of neighbourhoods seen before (docs/costs.md#the-error-cache): an exact saving of the error map.

The error of patch t is a function of the pixels of its 3 x 3-patch neighbourhood alone: the
encoder sees only t's ring (and cls), the decoder a mask token at every other slot, and the error
compares the prediction with t's own pixels (docs/method.md#step-error-map). Atari screens repeat
most of their neighbourhoods from frame to frame and across the evaluation's environments (a
static maze, the sky, the score digits): on the paper's four games, 74-91% of the neighbourhoods of
random-policy frames were seen before in the same stream (``spirl bench run``). :class:`ErrorCache` keys each
neighbourhood by a 128-bit BLAKE2b digest of its patch index and pixels, computes the error map
only for the neighbourhoods it has not seen (once per batch, however many frames share one), and
reads the others from a table that stays on the MAE's device (no transfer back to the host).

A cached error is the value the same float32 (or ``saliency.precision``) computation gave for the
same pixels, in another batch: it can differ from a fresh computation in the last bits, as the
shipped error map differs from the straightforward one. The table's contents depend only on the
frames seen since it was last emptied, so a run is repeatable: the trainer empties it at every
checkpoint, where a resumed run starts with an empty one. When the table is full it is emptied too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view
from torch import Tensor

from spirl.devices import to_device
from spirl.saliency.patches import GRID, NUM_PATCHES, PATCH

# Entries before the table is emptied: about 130 MB of keys on the host and 4 MB of errors on the device;
# one evaluation of 50 trained-agent games needs fewer (docs/costs.md#the-error-cache).
CAPACITY = 1 << 20
_INDEX = [t.to_bytes(2, "little") for t in range(NUM_PATCHES)]


def neighbourhood_keys(frames: np.ndarray) -> list[bytes]:
    """The key of every (frame, patch) neighbourhood, frame-major: uint8 ``(B, 96, 96, 3)`` -> B * P digests.

    A key is the 16-byte BLAKE2b digest of the patch index and the uint8 pixels of the 3 x 3 patches
    around it (zero outside the frame, so a border patch's key covers exactly its clipped neighbourhood).
    """
    if frames.ndim != 4 or frames.shape[1:3] != (GRID * PATCH, GRID * PATCH) or frames.dtype != np.uint8:
        raise ValueError(f"neighbourhood keys need uint8 frames (B, {GRID * PATCH}, {GRID * PATCH}, C), got "
                         f"{frames.dtype} {tuple(frames.shape)}")
    padded = np.pad(frames, ((0, 0), (PATCH, PATCH), (PATCH, PATCH), (0, 0)))
    windows = sliding_window_view(padded, (3 * PATCH, 3 * PATCH), axis=(1, 2))[:, ::PATCH, ::PATCH]
    blocks = np.ascontiguousarray(windows[:, :GRID, :GRID]).reshape(len(frames), NUM_PATCHES, -1)  # [B, P, 1728]
    blake = hashlib.blake2b
    return [blake(_INDEX[t] + row.tobytes(), digest_size=16).digest()
            for frame in blocks for t, row in enumerate(frame)]


class ErrorCache:
    """A table of the errors of neighbourhoods seen before, for one MAE in one number format.

    ``errors(frames, compute)`` returns the error map ``(B, P)`` of uint8 ``frames`` ``(B, 96, 96, 3)``,
    calling ``compute(need)`` (``need`` a host bool array ``(B, P)``; it returns float32 ``(B, P)`` errors
    on ``device``, valid where ``need``) only when some neighbourhood is new. Only index arrays go to the
    device and nothing comes back, so a GPU is not waited for. ``hits`` / ``lookups`` count
    the neighbourhoods read from the table.
    """

    def __init__(self, device: str | torch.device = "cpu", capacity: int = CAPACITY) -> None:
        if capacity < NUM_PATCHES:
            raise ValueError(f"the error cache needs room for one frame ({NUM_PATCHES} entries), got {capacity}")
        self.device = torch.device(device)
        self.capacity = int(capacity)
        self._slot: dict[bytes, int] = {}
        self._values: Tensor | None = None
        self.hits = self.lookups = 0

    def __len__(self) -> int:
        return len(self._slot)

    def clear(self) -> None:
        """Forget every entry (the counters stay)."""
        self._slot.clear()

    @property
    def hit_rate(self) -> float:
        """Share of the neighbourhoods looked up so far that were read from the table (0 before any)."""
        return self.hits / self.lookups if self.lookups else 0.0

    def errors(self, frames: np.ndarray, compute: Callable[[Tensor], Tensor]) -> Tensor:
        """float32 ``(B, P)`` errors of ``frames``: the table's where known, ``compute(need)``'s elsewhere."""
        keys = neighbourhood_keys(frames)
        if len(self._slot) + len(keys) > self.capacity:
            self.clear()
        if self._values is None:
            self._values = torch.zeros(self.capacity, dtype=torch.float32, device=self.device)
        first = len(self._slot)
        slots = np.empty(len(keys), dtype=np.int64)
        need = np.zeros(len(keys), dtype=bool)
        table = self._slot
        for i, key in enumerate(keys):
            slot = table.get(key)
            if slot is None:
                slot = table[key] = len(table)
                need[i] = True
            slots[i] = slot
        new = len(table) - first
        self.lookups += len(keys)
        self.hits += len(keys) - new
        if new:
            fresh = compute(need.reshape(len(frames), NUM_PATCHES)).float()  # [B, P]
            # Slots were handed out in frame-major order, the order of the flat indices of the new entries.
            where = to_device(np.flatnonzero(need), self.device)
            self._values[first:first + new] = fresh.reshape(-1)[where]
        index = to_device(slots, self.device)
        return self._values[index].view(len(frames), NUM_PATCHES)


__all__ = ["CAPACITY", "ErrorCache", "neighbourhood_keys"]
