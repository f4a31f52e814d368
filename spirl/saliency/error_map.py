"""Salient patch selection (spec sections D and E): error maps, K, selections and the features handed to RL.

A patch is salient when the frozen MAE cannot rebuild it from its 8-connected neighbours.
The steps, each a small function with its shapes:

- :func:`neighbours` / :func:`neighbour_groups`: the ring of every patch (3 at corners, 5 on
  borders, 8 inside), grouped by size so that each group is one batched problem.
- :func:`error_map`: for every patch, reconstruct it from its ring only and score the MSE
  against the per-patch-normalised target -> ``(B, 144)``. The shipped path takes the exact
  savings of DESIGN.md section 5; :func:`error_map_reference` is the straightforward
  computation of the spec's pseudo-code, kept for tests and ``spirl bench saliency``.
- :func:`dynamic_k`: the released code's Lorenz two-step-chord rule (spec E.2); fixed K
  (E.1) and a random-patch control live in :func:`select_patches`.
- :func:`selected_features`: the encoder run on the selected tokens only (E.4), padded to
  ``(Kmax, 64)`` and batched with a key-padding mask so that one pass is exact.
- :class:`SalientPatchExtractor`: uint8 frames in, :class:`SalientFeatures` out (the RL input).
- K statistics (paper Fig. 8): :func:`k_statistics`, :func:`k_histogram`, :func:`ideal_ratio`,
  ``spirl saliency-stats`` and :func:`read_k_hist` (used to resolve ``max_ratio: auto``).

Patch index ``i = row * 12 + col``; the MAE sequence slot of patch ``i`` is ``i + 1`` (slot 0 is cls).
"""

from __future__ import annotations

import argparse
import math
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from spirl.atari import games
from spirl.settings import SaliencySettings
from spirl.utils import atomic_path, choose_device, progress, set_threads

NUM_PATCHES = games.NUM_PATCHES  # P = 144
GRID = 12  # patches per side
PATCH = 8  # pixels per patch side
FRAME_SIZE = GRID * PATCH  # 96
SELECTIONS = ("dynamic", "fixed", "random")
# Problems (one target patch of one frame) per batched decoder pass: the released code's rec_idx_bc
# for the straightforward path (its speed hardly depends on it here); the shipped path is fastest
# on CPU with small, cache-sized chunks, and 24 cuts one frame's 144 problems into 6 full chunks.
CHUNK_REFERENCE = 128
CHUNK = 24
K_HIST_COLUMNS = ["bin_start", "bin_end", "count", "frames", "ideal_ratio"]
K_BINS = 20  # 5% bins of K/P
IDEAL_COVERAGE = 0.999  # "more than 99.9% of frames keep every salient patch" (appendix, Fig. 8)


class MissingDecoderError(ValueError):
    """The MAE has no decoder, so it cannot reconstruct patches (the error map needs it)."""


class FrameShapeError(ValueError):
    """Frames are not uint8 (B, 96, 96, 3), or images not float (B, 3, 96, 96)."""


class EmptyDatasetError(ValueError):
    """K statistics were asked of a dataset with no frames."""


# ------------------------------------------------------------------------------------------ neighbours


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


# ------------------------------------------------------------------------------------------ inputs


def frames_to_images(frames: np.ndarray | Tensor, device: str | torch.device = "cpu") -> Tensor:
    """uint8 frames ``(B, 96, 96, 3)`` (numpy or torch) -> float32 images ``(B, 3, 96, 96)`` in [0, 1]."""
    x = torch.as_tensor(frames)
    if x.dtype != torch.uint8 or x.ndim != 4 or tuple(x.shape[1:]) != (FRAME_SIZE, FRAME_SIZE, 3):
        raise FrameShapeError(f"frames must be uint8 of shape (B, {FRAME_SIZE}, {FRAME_SIZE}, 3), "
                              f"got {x.dtype} {tuple(x.shape)}")
    return x.to(device).permute(0, 3, 1, 2).float().div_(255.0)  # [B, 3, 96, 96]


def _check_images(imgs: Tensor) -> None:
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


def _encode(mae: nn.Module, tokens: Tensor, key_mask: Tensor | None = None) -> Tensor:
    """The encoder on ``[cls; tokens]``: ``(n, m, D)`` -> ``(n, 1 + m, D)`` after the final LayerNorm.

    ``key_mask`` bool ``(n, m)``, True = a real token; padded tokens are left out of attention.
    """
    attn_mask = None
    if key_mask is not None:
        keep = torch.cat([key_mask.new_ones(key_mask.shape[0], 1), key_mask], 1)  # cls always visible
        attn_mask = keep[:, None, None, :]  # [n, 1, 1, 1+m] broadcast over heads and queries
    return mae.encode_visible(tokens, attn_mask)


def _problems(group: NeighbourGroup, batch: int, device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
    """Every (frame, target) problem of one group: frame ``(n,)``, target ``(n,)``, ring ``(n, m)``; n = B * |group|."""
    g = group.targets.numel()
    frame = torch.arange(batch, device=device).repeat_interleave(g)
    target = group.targets.to(device).repeat(batch)
    ring = group.rings.to(device).repeat(batch, 1)
    return frame, target, ring


def _ids_restore(ring: Tensor) -> Tensor:
    """``ids_restore`` for ``MAE.forward_decoder`` when the visible tokens are the rings ``(n, m)``: -> ``(n, P)``.

    The shuffled order is the ring first, then every other patch; gathering by its inverse
    permutation puts each ring token at its own patch and a mask token everywhere else.
    """
    n, m = ring.shape
    hidden = torch.ones(n, NUM_PATCHES, dtype=torch.bool, device=ring.device)
    hidden[torch.arange(n, device=ring.device)[:, None], ring] = False
    rest = torch.arange(NUM_PATCHES, device=ring.device).expand(n, -1)[hidden].reshape(n, NUM_PATCHES - m)
    return torch.cat([ring, rest], 1).argsort(1)


# ------------------------------------------------------------------------------------------ error map, reference


@torch.no_grad()
def error_map_reference(mae: nn.Module, imgs: Tensor, *, chunk: int = CHUNK_REFERENCE) -> Tensor:
    """Neighbour-reconstruction error map, computed straightforwardly (spec D pseudo-code).

    For every patch the encoder sees ``[cls; ring tokens]``, the decoder sees its output at the
    ring's slots and the mask token everywhere else, and the MAE's own ``forward_decoder`` runs
    over all 145 slots; the error is the MSE over 192 values at the target patch. Problems are
    batched by ring size (3 groups) across frames, ``chunk`` at a time, as the released code does.

    Args:
        imgs: float32 ``(B, 3, 96, 96)`` in [0, 1].

    Returns:
        float32 ``(B, P)``, every entry >= 0.
    """
    _check_images(imgs)
    check_mae(mae)
    with torch.autocast(imgs.device.type, enabled=False):
        B = imgs.shape[0]
        z = mae.embed_patches(imgs)  # [B, P, D]
        target = mae.normalized_target(imgs)  # [B, P, 192]
        errors = imgs.new_zeros(B, NUM_PATCHES)
        for group in neighbour_groups():
            frame, tgt, ring = _problems(group, B, imgs.device)
            for s in range(0, frame.numel(), chunk):
                f, t, r = frame[s:s + chunk], tgt[s:s + chunk], ring[s:s + chunk]
                latent = _encode(mae, z[f[:, None], r])  # [n, 1+m, D]
                y = mae.forward_decoder(latent, _ids_restore(r))  # [n, P, 192], full decoder over 145 slots
                pred = y[torch.arange(f.numel(), device=f.device), t]  # [n, 192]
                errors[f, t] = ((pred - target[f, t]) ** 2).mean(-1)
    return errors


# ------------------------------------------------------------------------------------------ error map, shipped


@dataclass
class _MaskedSlots:
    """The first decoder layer at masked slots, which does not depend on the frame (once per model).

    The input there is ``mask_token + decoder_pos_embed``, so its LayerNorm -> qkv is fixed; and
    for each target patch the set of masked keys is fixed too, so the softmax sums over those keys
    are precomputed, each shifted by its largest score ``c`` (so that every row holds a term of
    exactly 1). A problem then only adds its own visible keys (cls + ring) to these sums, which
    is exact softmax arithmetic.
    """

    owner: weakref.ref[nn.Module]  # the model these were computed from (ids and addresses get reused)
    key: tuple[Any, ...]
    x0: Tensor  # [1+P, Dd] first-layer input at every slot if it were masked
    q: Tensor  # [H, 1+P, hd] queries of those inputs, already scaled by hd**-0.5
    k: Tensor  # [H, 1+P, hd] their keys and values
    v: Tensor
    c: Tensor  # [P, H, 1+P] per target and query: the largest score over the target's masked keys
    sums: Tensor  # [P, H, 1+P, hd+1] per target: sum over its masked keys of exp(score - c) * [value, 1]


_SLOT_CACHE: dict[int, _MaskedSlots] = {}


def _cache_key(mae: nn.Module) -> tuple[Any, ...]:
    # A parameter changed in place (an optimiser step, load_state_dict) bumps its _version.
    blk = mae.decoder_blocks[0]
    ts = [mae.mask_token, mae.decoder_pos_embed, *blk.norm1.parameters(), *blk.attn.qkv.parameters()]
    return tuple((t.data_ptr(), t._version, t.device, t.dtype) for t in ts)


def _masked_slots(mae: nn.Module) -> _MaskedSlots:
    """The frame-independent part of decoder layer 1, cached per model and recomputed if its weights change."""
    key = _cache_key(mae)
    hit = _SLOT_CACHE.get(id(mae))
    if hit is not None and hit.owner() is mae and hit.key == key:
        return hit
    blk = mae.decoder_blocks[0]
    H = blk.attn.num_heads
    x0 = (mae.mask_token[0] + mae.decoder_pos_embed[0]).float()  # [1+P, Dd]
    S, Dd = x0.shape
    hd = Dd // H
    q, k, v = blk.attn.qkv(blk.norm1(x0)).reshape(S, 3, H, hd).permute(1, 2, 0, 3)  # 3 x [H, 1+P, hd]
    q = q * hd**-0.5
    scores = q @ k.transpose(-1, -2)  # [H, 1+P, 1+P]
    v1 = torch.cat([v, torch.ones_like(v[..., :1])], -1)  # [H, 1+P, hd+1]
    c = scores.new_empty(NUM_PATCHES, H, S)  # [P, H, 1+P]
    sums = scores.new_empty(NUM_PATCHES, H, S, hd + 1)  # [P, H, 1+P, hd+1]
    for i, ring in enumerate(neighbours()):
        hidden = torch.ones(S, dtype=torch.bool, device=x0.device)
        hidden[[0] + [j + 1 for j in ring]] = False  # the cls slot and the ring are visible for target i
        masked = scores[:, :, hidden]  # [H, 1+P, keys masked for target i]
        c[i] = masked.amax(-1)
        # Every row's largest term is exactly 1, so these float32 sums are as accurate as a softmax's.
        sums[i] = torch.exp(masked - c[i, ..., None]) @ v1[:, hidden]
    slots = _MaskedSlots(weakref.ref(mae), key, x0, q, k, v, c, sums)
    _SLOT_CACHE.clear()  # one model at a time is the use; do not keep old models alive
    _SLOT_CACHE[id(mae)] = slots
    return slots


def _first_decoder_layer(blk: nn.Module, ms: _MaskedSlots, xv: Tensor, slots: Tensor, valid: Tensor,
                         target: Tensor) -> Tensor:
    """Decoder layer 1 for n problems whose visible inputs are ``xv`` ``(n, V, Dd)`` at ``slots`` ``(n, V)``.

    ``valid`` bool ``(n, V)``: False marks padding (a copy of the cls entry, so that problems with
    3, 5 and 8 neighbours share one tensor). Queries at masked slots reuse the precomputed sums
    over masked keys and add the visible keys; queries at visible slots attend over all 145 keys
    directly. Returns ``(n, 1+P, Dd)``.
    """
    n, V, Dd = xv.shape
    H, S = ms.q.shape[0], ms.q.shape[1]
    hd = Dd // H
    qv, kv, vv = blk.attn.qkv(blk.norm1(xv)).reshape(n, V, 3, H, hd).permute(2, 0, 3, 1, 4)  # 3 x [n, H, V, hd]
    # Masked-slot queries: softmax over (precomputed masked keys) + (this problem's visible keys).
    s = torch.einsum("hjd,nhkd->nhjk", ms.q, kv) - ms.c[target][..., None]  # [n, H, 1+P, V] scores minus c
    # Shift each row by its largest term, as a softmax does: 0 unless a visible key outscores the masked ones.
    shift = s.amax(-1).clamp_min(0.0)  # [n, H, 1+P]
    w = torch.exp(s - shift[..., None]) * valid[:, None, None, :]  # [n, H, 1+P, V]
    vv1 = torch.cat([vv, torch.ones_like(vv[..., :1])], -1)  # [n, H, V, hd+1]: values and a 1 for the sum
    acc = ms.sums[target] * torch.exp(-shift)[..., None]  # [n, H, 1+P, hd+1]
    acc.view(n * H, S, hd + 1).baddbmm_(w.reshape(n * H, S, V), vv1.reshape(n * H, V, hd + 1))
    out = acc[..., :hd] / acc[..., hd:]  # [n, H, 1+P, hd]
    # Visible-slot queries: all keys, the masked ones precomputed (padding rewrites the cls entry with itself).
    idx = slots[:, None, :, None].expand(n, H, V, hd)
    keys = ms.k.expand(n, -1, -1, -1).scatter(2, idx, kv)  # [n, H, 1+P, hd]
    values = ms.v.expand(n, -1, -1, -1).scatter(2, idx, vv)
    out.scatter_(2, idx, F.scaled_dot_product_attention(qv, keys, values))
    x = ms.x0.expand(n, -1, -1).scatter(1, slots[..., None].expand(n, V, Dd), xv)  # [n, 1+P, Dd] layer input
    x = x + blk.attn.proj(out.transpose(1, 2).reshape(n, S, Dd))
    return x + blk.mlp(blk.norm2(x))


def _last_decoder_layer_at(blk: nn.Module, x: Tensor, rows: Tensor) -> Tensor:
    """The last decoder layer at one slot per problem: ``x`` ``(n, 1+P, Dd)``, ``rows`` ``(n,)`` -> ``(n, Dd)``.

    With one query, keys and values need not be formed: ``q . (Wk y + bk) = (Wk^T q) . y + q . bk``,
    where the last term is the same for every key and cancels in the softmax; and since the
    attention weights sum to 1, ``sum_j p_j (Wv y_j + bv) = Wv (sum_j p_j y_j) + bv``.
    """
    n, Dd = x.shape[0], x.shape[2]
    H = blk.attn.num_heads
    hd = Dd // H
    W, b = blk.attn.qkv.weight, blk.attn.qkv.bias  # [3 Dd, Dd], [3 Dd]
    if b is None:
        b = W.new_zeros(3 * Dd)
    y = blk.norm1(x)  # [n, 1+P, Dd]
    at = torch.arange(n, device=x.device)
    q = F.linear(y[at, rows], W[:Dd], b[:Dd]).reshape(n, H, hd) * hd**-0.5  # [n, H, hd]
    qk = torch.einsum("nhd,hde->nhe", q, W[Dd:2 * Dd].reshape(H, hd, Dd))  # [n, H, Dd] = Wk^T q per head
    p = torch.bmm(qk, y.transpose(1, 2)).softmax(-1)  # [n, H, 1+P] attention of the target's query
    u = torch.bmm(p, y)  # [n, H, Dd] attention-weighted mean of the normalised inputs
    o = torch.einsum("nhe,hde->nhd", u, W[2 * Dd:].reshape(H, hd, Dd)) + b[2 * Dd:].reshape(H, hd)  # [n, H, hd]
    xt = x[at, rows] + blk.attn.proj(o.reshape(n, Dd))  # [n, Dd]
    return xt + blk.mlp(blk.norm2(xt))


def _visible_inputs(mae: nn.Module, z: Tensor, batch: int, chunk: int) -> tuple[Tensor, ...]:
    """Encoder outputs of every problem as decoder-layer-1 inputs, padded to one shape across ring sizes.

    ``z`` ``(B, P, D)`` patch tokens. Returns, over the n = B * P problems: ``xv`` ``(n, 9, Dd)``
    (decoder embedding + decoder position at the cls slot and the ring's slots), ``slots``
    ``(n, 9)``, ``valid`` bool ``(n, 9)``, ``frame`` ``(n,)``, ``target`` ``(n,)``. Padding repeats the cls entry.
    """
    V = 1 + max(g.size for g in neighbour_groups())
    parts: list[list[Tensor]] = [[], [], [], [], []]
    for group in neighbour_groups():
        frame, tgt, ring = _problems(group, batch, z.device)
        slots = torch.cat([torch.zeros_like(ring[:, :1]), ring + 1], 1)  # [n, 1+m] cls slot, then ring slots
        xv = torch.cat([mae.decoder_embed(_encode(mae, z[frame[s:s + chunk, None], ring[s:s + chunk]]))
                        for s in range(0, frame.numel(), chunk)]) + mae.decoder_pos_embed[0, slots]  # [n, 1+m, Dd]
        pad = V - slots.shape[1]
        valid = torch.ones(frame.numel(), V, dtype=torch.bool, device=z.device)
        valid[:, V - pad:] = False
        slots = torch.cat([slots, slots[:, :1].expand(-1, pad)], 1)
        xv = torch.cat([xv, xv[:, :1].expand(-1, pad, -1)], 1)
        for part, t in zip(parts, (xv, slots, valid, frame, tgt)):
            part.append(t)
    return tuple(torch.cat(p) for p in parts)


@torch.no_grad()
def neighbour_reconstruction(mae: nn.Module, imgs: Tensor, *, chunk: int = CHUNK) -> tuple[Tensor, Tensor]:
    """Error map and the neighbour reconstruction of every patch (shipped path).

    Same numbers as :func:`error_map_reference` (to float32 rounding), with exact savings
    (DESIGN.md section 5): the patch embedding once per frame; decoder layer 1's LayerNorm, qkv
    and softmax sums at masked slots once per model; the last decoder layer at the target slot
    only, without forming its keys and values; the three ring sizes padded into one tensor so that
    the decoder runs in full chunks.

    Args:
        imgs: float32 ``(B, 3, 96, 96)`` in [0, 1].

    Returns:
        errors float32 ``(B, P)`` and predictions float32 ``(B, P, 192)`` (per-patch-normalised
        pixels in patchify order, each patch predicted from its ring only).
    """
    _check_images(imgs)
    check_mae(mae)
    with torch.autocast(imgs.device.type, enabled=False):
        B = imgs.shape[0]
        ms = _masked_slots(mae)
        target = mae.normalized_target(imgs)  # [B, P, 192]
        xv, slots, valid, frame, tgt = _visible_inputs(mae, mae.embed_patches(imgs), B, 32 * chunk)
        errors = imgs.new_zeros(B, NUM_PATCHES)
        preds = imgs.new_zeros(B, NUM_PATCHES, target.shape[-1])
        blocks = mae.decoder_blocks
        for s in range(0, frame.numel(), chunk):
            f, t = frame[s:s + chunk], tgt[s:s + chunk]
            x = _first_decoder_layer(blocks[0], ms, xv[s:s + chunk], slots[s:s + chunk], valid[s:s + chunk], t)
            if len(blocks) == 1:
                xt = x[torch.arange(f.numel(), device=f.device), t + 1]  # [n, Dd]
            else:
                for blk in blocks[1:-1]:
                    x = blk(x)  # [n, 1+P, Dd]
                xt = _last_decoder_layer_at(blocks[-1], x, t + 1)  # [n, Dd]
            pred = mae.decoder_pred(mae.decoder_norm(xt))  # [n, 192]
            preds[f, t] = pred
            errors[f, t] = ((pred - target[f, t]) ** 2).mean(-1)
    return errors, preds


def error_map(mae: nn.Module, imgs: Tensor, *, chunk: int = CHUNK) -> Tensor:
    """Neighbour-reconstruction error map (spec D), shipped path: float32 ``(B, 3, 96, 96)`` -> ``(B, P)``."""
    return neighbour_reconstruction(mae, imgs, chunk=chunk)[0]


# ------------------------------------------------------------------------------------------ K and selections


def dynamic_k(errors: Tensor, k_max: int, xscale: float = 1.0) -> Tensor:
    """Number of salient patches per frame: the released code's Lorenz two-step-chord rule (spec E.2).

    With the errors sorted ascending and normalised to sum 1 (``v``), ``C`` their cumulative sum
    and ``L0 = P - k_max``: ``d[j] = C[j+1] - C[j-1]`` for ``j`` in ``L0 .. P-2`` and 1 elsewhere;
    ``j*`` is the first minimiser of ``|d - xscale / P|`` and ``K = min(max(1, P - j*), k_max)``.
    Searching only ``j >= L0`` is how the code caps K. ``C[j+1] - C[j-1]`` is formed as
    ``v[j] + v[j+1]`` in float64, so that equal errors give exactly equal chords; at ``j = 0``
    (only when ``k_max = P``) the code reads ``C[-1]``, the total, and so do we. An all-zero map
    counts as all errors equal.

    Args:
        errors: float ``(B, P)``, >= 0.
        k_max: the cap, 1 <= k_max <= P.
        xscale: 1 as released; 2 is the exact 45-degree tangent and keeps fewer patches.

    Returns:
        int64 ``(B,)`` with values in [1, k_max].
    """
    if errors.ndim != 2 or errors.shape[1] < 2:
        raise ValueError(f"errors must have shape (B, P) with P >= 2, got {tuple(errors.shape)}")
    P = errors.shape[1]
    if not 1 <= int(k_max) <= P:
        raise ValueError(f"k_max must be in [1, {P}], got {k_max}")
    v = errors.detach().double().sort(dim=1).values  # [B, P] ascending
    total = v.sum(1, keepdim=True).abs()
    v = torch.where(total > 0, v / total.clamp_min(torch.finfo(torch.float64).tiny), 1.0 / P)
    L0 = P - int(k_max)
    d = torch.ones_like(v)  # [B, P]
    d[:, L0:P - 1] = v[:, L0:P - 1] + v[:, L0 + 1:P]
    if L0 == 0:
        d[:, 0] -= v.sum(1)  # C[1] - C[-1] with Python's wraparound
    j_star = (d - xscale / P).abs().argmin(1)  # first minimiser on ties
    return (P - j_star).clamp(1, int(k_max))


def fixed_k(ratio: float) -> int:
    """Fixed K of spec E.1 for a kept ratio: ``floor(144 * ratio)`` (= ``int(144 * (1 - mask_ratio))``)."""
    return games.k_max(ratio)


def _rows_ascending(errors: Tensor, chosen: Tensor, k: Tensor, k_max: int) -> Tensor:
    """Indices of the chosen patches in ascending-error order in rows ``0..K-1``, then -1: ``(B, k_max)``."""
    key = torch.where(chosen, errors, torch.full_like(errors, math.inf))
    order = torch.sort(key, dim=1, stable=True).indices[:, :k_max]  # [B, k_max]
    rows = torch.arange(k_max, device=errors.device)
    return torch.where(rows[None] < k[:, None], order, torch.full_like(order, -1))


def salient_index(errors: Tensor, k: Tensor, k_max: int) -> Tensor:
    """The K largest-error patches of every frame, in ascending-error order, padded with -1.

    ``errors`` ``(B, P)``, ``k`` int64 ``(B,)`` with ``1 <= k <= k_max`` -> int64 ``(B, k_max)``.
    Ties are broken by patch index (stable sort).
    """
    rank = torch.sort(errors, dim=1, stable=True).indices.argsort(1)  # [B, P] ascending rank of each patch
    chosen = rank >= errors.shape[1] - k[:, None]
    return _rows_ascending(errors, chosen, k, k_max)


def random_index(errors: Tensor, k: Tensor, k_max: int, generator: torch.Generator) -> Tensor:
    """K patches per frame drawn uniformly without replacement (the random-patch control).

    Draws from ``generator`` (a CPU generator, so that the draw is the same on every device), a
    fixed amount per frame whatever K is. Rows are in ascending-error order like the salient ones.
    """
    B, P = errors.shape
    noise = torch.rand(B, P, generator=generator).to(errors.device)  # [B, P]
    chosen = noise.argsort(1).argsort(1) < k[:, None]  # a uniform random K-subset per frame
    return _rows_ascending(errors, chosen, k, k_max)


def select_patches(errors: Tensor, selection: str, k_max: int, *, xscale: float = 1.0,
                   fixed: int | None = None, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Choose the patches of every frame: ``errors`` ``(B, P)`` -> index int64 ``(B, k_max)`` (-1 padded), k ``(B,)``.

    ``dynamic``: K by :func:`dynamic_k`, the K largest errors. ``fixed``: K = ``fixed`` (default
    ``k_max``), the K largest errors. ``random``: K by :func:`dynamic_k`, patches drawn from ``generator``.
    """
    if selection not in SELECTIONS:
        raise ValueError(f"saliency.selection must be one of {', '.join(SELECTIONS)}, got {selection!r}")
    B = errors.shape[0]
    if selection == "fixed":
        kf = k_max if fixed is None else int(fixed)
        if not 1 <= kf <= k_max:
            raise ValueError(f"fixed K = {kf} must be in [1, Kmax = {k_max}]")
        k = torch.full((B,), kf, dtype=torch.int64, device=errors.device)
    else:
        k = dynamic_k(errors, k_max, xscale)
    if selection == "random":
        if generator is None:
            raise ValueError("the random selection needs a seeded torch.Generator")
        return random_index(errors, k, k_max, generator), k
    return salient_index(errors, k, k_max), k


# ------------------------------------------------------------------------------------------ features


@torch.no_grad()
def selected_features(mae: nn.Module, imgs: Tensor, index: Tensor) -> Tensor:
    """Features handed to RL (spec E.4) for the selected patches of every frame.

    The encoder runs on ``[cls; selected tokens]`` only (so each token sees only the other
    selected ones), then the final LayerNorm; the fixed sin-cos position of each patch is added
    again ("addSS") and cls dropped. Frames with fewer than ``Kmax`` patches are batched with a
    key-padding mask, which gives the same numbers as running each frame on its K tokens alone.

    Args:
        imgs: float32 ``(B, 3, 96, 96)`` in [0, 1].
        index: int64 ``(B, Kmax)``, patch indices in rows ``0..K-1``, -1 after.

    Returns:
        float32 ``(B, Kmax, D)``; rows ``K..Kmax-1`` are zeros.
    """
    _check_images(imgs)
    valid = index >= 0  # [B, Kmax]
    safe = index.clamp(min=0)
    with torch.autocast(imgs.device.type, enabled=False):
        z = mae.embed_patches(imgs)  # [B, P, D]
        tok = z.gather(1, safe[..., None].expand(-1, -1, z.shape[-1]))  # [B, Kmax, D]
        h = _encode(mae, tok, valid)[:, 1:] + mae.pos_embed[0, safe + 1]  # [B, Kmax, D] position added again
    return h * valid[..., None]


# ------------------------------------------------------------------------------------------ extractor


@dataclass
class SalientFeatures:
    """Output of :class:`SalientPatchExtractor` for a batch of B frames.

    ``features`` float32 ``(B, Kmax, D)`` zero-padded; ``k`` int64 ``(B,)`` true K; ``index``
    int64 ``(B, Kmax)`` selected patches in ascending-error order, -1 padded; ``errors`` float32 ``(B, P)``.
    """

    features: Tensor
    k: Tensor
    index: Tensor
    errors: Tensor


class SalientPatchExtractor:
    """The frozen MAE as SPIRL's feature extractor: uint8 frames -> :class:`SalientFeatures`.

    Args:
        mae: an MAE with its decoder; it is put in eval mode and frozen.
        settings: selection (dynamic | fixed | random), xscale, fixed_ratio (``max_ratio`` is
            resolved by the caller into ``k_max``).
        k_max: the most patches kept per frame, in [1, 144].
        seed: seeds the random-patch control's generator.
        device: where the MAE runs.
    """

    def __init__(self, mae: nn.Module, settings: SaliencySettings, k_max: int, seed: int = 0,
                 device: str | torch.device = "cpu") -> None:
        check_mae(mae)
        if settings.selection not in SELECTIONS:
            raise ValueError(f"saliency.selection must be one of {', '.join(SELECTIONS)}, got {settings.selection!r}")
        if not 1 <= int(k_max) <= NUM_PATCHES:
            raise ValueError(f"k_max must be in [1, {NUM_PATCHES}], got {k_max}")
        self.settings = settings
        self.k_max = int(k_max)
        self.fixed = None
        if settings.selection == "fixed" and settings.fixed_ratio is not None:
            self.fixed = fixed_k(settings.fixed_ratio)
            if self.fixed > self.k_max:
                raise ValueError(f"saliency.fixed_ratio {settings.fixed_ratio} keeps {self.fixed} patches, more than "
                                 f"Kmax = {self.k_max}")
        self.device = torch.device(device)
        self.mae = mae.to(self.device).eval().requires_grad_(False)
        self.generator = torch.Generator("cpu").manual_seed(seed)

    def rng_state(self) -> Tensor:
        """State of the random-control generator (save it with a training checkpoint)."""
        return self.generator.get_state()

    def set_rng_state(self, state: Tensor) -> None:
        """Restore the random-control generator from :meth:`rng_state`."""
        self.generator.set_state(state)

    @torch.no_grad()
    def __call__(self, frames: np.ndarray | Tensor) -> SalientFeatures:
        """Frames uint8 ``(B, 96, 96, 3)`` -> :class:`SalientFeatures` (on ``device``)."""
        imgs = frames_to_images(frames, self.device)
        errors = error_map(self.mae, imgs)
        index, k = select_patches(errors, self.settings.selection, self.k_max, xscale=self.settings.xscale,
                                  fixed=self.fixed, generator=self.generator)
        return SalientFeatures(selected_features(self.mae, imgs, index), k, index, errors)


# ------------------------------------------------------------------------------------------ K statistics


def k_statistics(mae: nn.Module, frames: np.ndarray, *, xscale: float = 1.0, batch: int = 64,
                 device: str | torch.device = "cpu") -> np.ndarray:
    """Uncapped dynamic K (Kmax = 144) of every frame, as for the paper's Fig. 8.

    ``frames`` uint8 ``(N, 96, 96, 3)`` -> int64 ``(N,)``.
    """
    if len(frames) == 0:
        raise EmptyDatasetError("the frame dataset is empty; K statistics need at least one frame")
    if batch < 1:
        raise ValueError(f"--batch must be at least 1, got {batch}")
    check_mae(mae)
    mae = mae.to(device).eval()
    out = np.empty(len(frames), dtype=np.int64)
    bar = progress(total=len(frames), desc="K statistics", unit="frame")
    for s in range(0, len(frames), batch):
        imgs = frames_to_images(frames[s:s + batch], device)
        out[s:s + len(imgs)] = dynamic_k(error_map(mae, imgs), NUM_PATCHES, xscale).cpu().numpy()
        bar.update(len(imgs))
    bar.close()
    return out


def _ratio_steps(num_patches: int) -> np.ndarray:
    """For every K in 0..P, the 5%-step bin holding K/P, bins closed on the right: ``(0.05 m, 0.05 (m+1)]``."""
    k = np.arange(num_patches + 1)
    return np.maximum((K_BINS * k + num_patches - 1) // num_patches - 1, 0)


def ideal_ratio(k: np.ndarray, num_patches: int = NUM_PATCHES, coverage: float = IDEAL_COVERAGE) -> float:
    """The smallest ratio in {5%, 10%, ..., 100%} such that more than ``coverage`` of frames have K/P <= it.

    ``k`` int ``(N,)``, the uncapped K of every frame (appendix "Guidance", Fig. 8).
    """
    k = _check_k(k, num_patches)
    for m in range(1, K_BINS + 1):
        kept = int(np.count_nonzero(K_BINS * k <= m * num_patches))  # K/P <= m/20 in integers
        if kept > coverage * len(k):
            return round(m / K_BINS, 2)
    return 1.0


def _check_k(k: np.ndarray, num_patches: int) -> np.ndarray:
    k = np.asarray(k, dtype=np.int64).reshape(-1)
    if k.size == 0:
        raise EmptyDatasetError("no K values: K statistics need at least one frame")
    if k.min() < 1 or k.max() > num_patches:
        raise ValueError(f"K values must be in [1, {num_patches}], got {k.min()}..{k.max()}")
    return k


def k_histogram(k: np.ndarray, num_patches: int = NUM_PATCHES) -> pd.DataFrame:
    """Histogram of K/P in 5% bins plus the ideal maximal ratio, one row per bin.

    Columns ``bin_start, bin_end, count, frames, ideal_ratio``: a bin holds the frames with
    ``bin_start < K/P <= bin_end`` (closed on the right, so that ``bin_end`` is the ratio that
    keeps them); ``frames`` is the dataset size and ``ideal_ratio`` the ratio of :func:`ideal_ratio`,
    both repeated on every row. Counts sum to ``frames``.
    """
    k = _check_k(k, num_patches)
    counts = np.bincount(_ratio_steps(num_patches)[k], minlength=K_BINS)
    m = np.arange(K_BINS)
    return pd.DataFrame({
        "bin_start": np.round(m / K_BINS, 2), "bin_end": np.round((m + 1) / K_BINS, 2), "count": counts,
        "frames": len(k), "ideal_ratio": ideal_ratio(k, num_patches),
    })[K_HIST_COLUMNS]


def write_k_hist(path: str | Path, hist: pd.DataFrame) -> None:
    """Write a :func:`k_histogram` table as CSV, atomically."""
    with atomic_path(path) as tmp:
        hist.to_csv(tmp, index=False)


def read_k_hist(path: str | Path) -> tuple[pd.DataFrame, float]:
    """Read a K-statistics CSV: the histogram table and the ideal maximal ratio (for ``max_ratio: auto``)."""
    hist = pd.read_csv(path)
    missing = [c for c in K_HIST_COLUMNS if c not in hist.columns]
    if missing or hist.empty:
        raise ValueError(f"{path} is not a K-statistics table (spirl saliency-stats): "
                         + (f"missing columns {', '.join(missing)}" if missing else "no rows"))
    ideal = hist["ideal_ratio"].unique()
    if len(ideal) != 1 or not 0.0 < float(ideal[0]) <= 1.0:
        raise ValueError(f"{path}: ideal_ratio must be one value in (0, 1] repeated on every row")
    return hist, float(ideal[0])


def load_checked_mae(path: str | Path, *, game: str | None = None, device: str = "cpu") -> tuple[nn.Module, dict]:
    """Load an MAE checkpoint for saliency: refuse one saved without its decoder. Returns ``(mae, meta)``."""
    from spirl.mae.model import load_mae

    mae, meta = load_mae(path, game=game, map_location=device)
    if not meta.get("has_decoder", True):
        raise MissingDecoderError(f"{path} was saved without its decoder; the error map reconstructs patches, "
                                  "so it needs a checkpoint with the decoder")
    check_mae(mae)
    return mae.to(device).eval().requires_grad_(False), meta


def _run_saliency_stats(args: argparse.Namespace) -> int:
    from spirl.atari.frames import load_frames

    set_threads(args.threads)
    device = choose_device(args.device)
    if args.limit is not None and args.limit < 0:
        raise ValueError(f"--limit must be >= 0, got {args.limit}")
    frames, meta = load_frames(args.frames)
    if args.limit is not None:
        frames = frames[:args.limit]
    if len(frames) == 0:
        raise EmptyDatasetError(f"{args.frames} holds no frames; K statistics need at least one")
    mae, _ = load_checked_mae(args.mae, game=meta.get("game"), device=device)
    k = k_statistics(mae, frames, xscale=args.xscale, batch=args.batch, device=device)
    hist = k_histogram(k)
    write_k_hist(args.out, hist)
    ideal = float(hist["ideal_ratio"].iloc[0])
    print(f"K statistics of {len(k)} frames: median K {int(np.median(k))} ({np.median(k) / NUM_PATCHES:.0%}), "
          f"ideal maximal ratio {ideal:.2f} (Kmax {games.k_max(ideal)}) -> {args.out}")
    return 0


def configure_saliency_stats(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``spirl saliency-stats``."""
    parser.add_argument("--mae", required=True, help="MAE checkpoint (model.pt) saved with its decoder")
    parser.add_argument("--frames", required=True, help="frame dataset (.npz from 'spirl collect')")
    parser.add_argument("--out", required=True, help="output CSV (k_hist.csv)")
    parser.add_argument("--xscale", type=float, default=1.0, help="Lorenz-rule scale: 1 as released, 2 = 45-degree")
    parser.add_argument("--batch", type=int, default=64, help="frames per error-map batch")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N frames")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.set_defaults(func=_run_saliency_stats)
