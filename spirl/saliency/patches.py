"""The patch grid of a frame and the inputs of the error map (docs/method.md#step-error-map).

A 96 x 96 frame is cut into a 12 x 12 grid of 8 x 8 patches; patch ``i = row * 12 + col``
and its MAE sequence slot is ``i + 1`` (slot 0 is cls). Each patch's *ring* is its
8-connected neighbourhood (3 at corners, 5 on borders, 8 inside); the error map asks the
MAE to rebuild every patch from its ring alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from spirl.atari import games
from spirl.config import MAEArch
from spirl.mae.checkpoint import load_mae
from spirl.mae.model import FrameShapeError, frames_to_images

NUM_PATCHES = games.NUM_PATCHES  # P = 144
GRID = 12  # patches per side
PATCH = 8  # pixels per patch side
FRAME_SIZE = GRID * PATCH  # 96


class MissingDecoderError(ValueError):
    """The MAE has no decoder, so it cannot reconstruct patches (the error map needs it)."""


def neighbours(grid: int = GRID) -> list[tuple[int, ...]]:
    """The 8-connected neighbours of every patch, in row-major scan order.

    Returns a list of ``grid * grid`` tuples; entry ``i`` holds the patch indices at offsets
    (dr, dc) in {-1, 0, 1}^2 without (0, 0), skipping positions outside the grid: 3 for a
    corner, 5 for another border patch, 8 inside.
    """
    out = []
    for r in range(grid):
        for c in range(grid):
            ring = [(r + dr) * grid + (c + dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1)
                    if (dr or dc) and 0 <= r + dr < grid and 0 <= c + dc < grid]
            out.append(tuple(ring))
    return out


@dataclass(frozen=True)
class NeighbourGroup:
    """The patches whose rings have the same size, so that their problems stack into one tensor.

    ``targets`` int64 ``(n,)`` patch indices; ``rings`` int64 ``(n, m)`` their neighbours.
    """

    targets: Tensor
    rings: Tensor

    @property
    def size(self) -> int:
        """m, the number of neighbours of every target in the group."""
        return int(self.rings.shape[1])


def neighbour_groups(grid: int = GRID) -> list[NeighbourGroup]:
    """The three groups by ring size, smallest first: corners (4 x 3), border (40 x 5), interior (100 x 8)."""
    rings = neighbours(grid)
    by_size: dict[int, list[int]] = {}
    for i, ring in enumerate(rings):
        by_size.setdefault(len(ring), []).append(i)
    return [NeighbourGroup(torch.tensor(ids), torch.tensor([rings[i] for i in ids]))
            for _, ids in sorted(by_size.items())]


def check_images(imgs: Tensor) -> None:
    if not torch.is_floating_point(imgs) or imgs.ndim != 4 or tuple(imgs.shape[1:]) != (3, FRAME_SIZE, FRAME_SIZE):
        raise FrameShapeError(f"images must be float of shape (B, 3, {FRAME_SIZE}, {FRAME_SIZE}) in [0, 1], "
                              f"got {imgs.dtype} {tuple(imgs.shape)}")


def check_mae(mae: nn.Module) -> None:
    """Refuse a model the error map cannot use: one without its decoder, or not cut into 12 x 12 patches.

    Raises:
        MissingDecoderError: the model has no decoder (or says so with ``has_decoder = False``).
        ValueError: the model does not cut a 96 x 96 frame into 144 patches.
    """
    blocks = getattr(mae, "decoder_blocks", None)
    if not getattr(mae, "has_decoder", True) or blocks is None or len(blocks) == 0:
        raise MissingDecoderError("this MAE has no decoder; the error map reconstructs patches, so use a "
                                  "checkpoint saved with its decoder")
    if mae.pos_embed.shape[1] != 1 + NUM_PATCHES:
        raise ValueError(f"the MAE cuts a frame into {mae.pos_embed.shape[1] - 1} patches; the error map needs "
                         f"{NUM_PATCHES} (8 x 8 patches of a 96 x 96 frame)")


def encode_tokens(mae: nn.Module, tokens: Tensor, key_mask: Tensor | None = None) -> Tensor:
    """The encoder on ``[cls; tokens]``: ``(n, m, D)`` -> ``(n, 1 + m, D)`` after the final LayerNorm.

    ``key_mask`` bool ``(n, m)``, True = a real token; padded tokens are left out of attention.
    """
    attn_mask = None
    if key_mask is not None:
        keep = torch.cat([key_mask.new_ones(key_mask.shape[0], 1), key_mask], 1)  # cls always visible
        attn_mask = keep[:, None, None, :]  # [n, 1, 1, 1+m] broadcast over heads and queries
    return mae.encode_visible(tokens, attn_mask)


def load_checked_mae(path: str | Path, *, game: str | None = None, arch: MAEArch | None = None,
                     device: str = "cpu") -> tuple[nn.Module, dict]:
    """Load an MAE checkpoint for saliency: refuse one saved without its decoder. Returns ``(mae, meta)``.

    ``game`` and ``arch``, when given, must match the checkpoint's (``spirl.mae.checkpoint.load_mae``).
    """

    mae, meta = load_mae(path, game=game, arch=arch, map_location=device)
    if not meta.get("has_decoder", True):
        raise MissingDecoderError(f"{path} was saved without its decoder; the error map reconstructs patches, "
                                  "so it needs a checkpoint with the decoder")
    check_mae(mae)
    return mae.to(device).eval().requires_grad_(False), meta


__all__ = ["FRAME_SIZE", "GRID", "NUM_PATCHES", "PATCH", "FrameShapeError", "MissingDecoderError", "NeighbourGroup",
           "check_images", "check_mae", "encode_tokens", "frames_to_images", "load_checked_mae", "neighbour_groups",
           "neighbours"]
