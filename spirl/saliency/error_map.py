"""The error map (docs/method.md#step-error-map): how badly the frozen MAE rebuilds each patch from its ring alone.

For every patch the encoder sees ``[cls; ring tokens]``, the decoder sees the mask token at
every other slot, and the error is the MSE over the patch's 192 per-patch-normalised values:
``(B, 3, 96, 96)`` images -> ``(B, 144)`` errors.

- :func:`error_map_reference`: the straightforward computation of the spec's pseudo-code
  (the MAE's own ``forward_decoder`` over all 145 slots), kept for tests and ``spirl bench saliency``.
- :func:`error_map` / :func:`neighbour_reconstruction`: the shipped path, equal to the reference to
  float32 rounding, with the exact savings of ``docs/costs.md``: decoder layer 1 at masked slots
  precomputed once per model, the last decoder layer at the target slot only.
"""

from __future__ import annotations

import copy
import functools
import sys
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from spirl.devices import to_device
from spirl.saliency.patches import (
    NUM_PATCHES,
    NeighbourGroup,
    check_images,
    check_mae,
    encode_tokens,
    neighbour_groups,
    neighbours,
)

# Problems (one target patch of one frame) per batched decoder pass: the released code's rec_idx_bc
# for the straightforward path (its speed hardly depends on it here). The shipped path's chunk is the
# device's: on a CPU small, cache-sized chunks are fastest, and 24 cuts one frame's 144 problems into 6
# full chunks; on a GPU each chunk is about 90 kernel launches, so a chunk must be large enough to fill
# the device: 1152 problems (8 frames, about 2.5 GB of temporaries for the paper MAE), so that the
# evaluation's 50 frames take 7 chunks instead of 300 (the device check measures several sizes).
CHUNK_REFERENCE = 128
CHUNKS = {"cpu": 24, "cuda": 1152}


def default_chunk(device: str | torch.device) -> int:
    """Problems per decoder pass of the shipped error map on ``device`` (``CHUNKS``; the CPU's elsewhere)."""
    return CHUNKS.get(torch.device(device).type, CHUNKS["cpu"])


def _problems(group: NeighbourGroup, batch: int, device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
    """Every (frame, target) problem of one group: frame ``(n,)``, target ``(n,)``, ring ``(n, m)``; n = B * |group|."""
    g = group.targets.numel()
    frame = torch.arange(batch, device=device).repeat_interleave(g)
    target = to_device(group.targets, device).repeat(batch)
    ring = to_device(group.rings, device).repeat(batch, 1)
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
    """Neighbour-reconstruction error map, computed straightforwardly (docs/method.md#step-error-map).

    For every patch the encoder sees ``[cls; ring tokens]``, the decoder sees its output at the
    ring's slots and the mask token everywhere else, and the MAE's own ``forward_decoder`` runs
    over all 145 slots; the error is the MSE over 192 values at the target patch. Problems are
    batched by ring size (3 groups) across frames, ``chunk`` at a time, as the released code does.

    Args:
        mae: the frozen MAE, in float32 (the reference) or cast to a reduced format (:func:`lowered`).
        imgs: float32 ``(B, 3, 96, 96)`` in [0, 1].

    Returns:
        float32 ``(B, P)``, every entry >= 0.
    """
    check_images(imgs)
    check_mae(mae)
    with torch.autocast(imgs.device.type, enabled=False):
        B = imgs.shape[0]
        z = mae.embed_patches(imgs.to(compute_dtype(mae)))  # [B, P, D]
        target = mae.normalized_target(imgs)  # [B, P, 192]
        errors = imgs.new_zeros(B, NUM_PATCHES)
        for group in neighbour_groups():
            frame, tgt, ring = _problems(group, B, imgs.device)
            for s in range(0, frame.numel(), chunk):
                f, t, r = frame[s:s + chunk], tgt[s:s + chunk], ring[s:s + chunk]
                latent = encode_tokens(mae, z[f[:, None], r])  # [n, 1+m, D]
                y = mae.forward_decoder(latent, _ids_restore(r))  # [n, P, 192], full decoder over 145 slots
                pred = y[torch.arange(f.numel(), device=f.device), t].float()  # [n, 192]
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

    key: tuple[Any, ...]  # the weights' addresses and versions (_cache_key): recomputed when they change
    x0: Tensor  # [1+P, Dd] first-layer input at every slot if it were masked
    q: Tensor  # [H, 1+P, hd] queries of those inputs, already scaled by hd**-0.5
    k: Tensor  # [H, 1+P, hd] their keys and values
    v: Tensor
    c: Tensor  # [P, H, 1+P] per target and query: the largest score over the target's masked keys
    sums: Tensor  # [P, H, 1+P, hd+1] per target: sum over its masked keys of exp(score - c) * [value, 1]


# Per model, weakly: a model that is dropped takes its entry with it, and models used in turn (a benchmark's
# formats, the agreement's float32 and reduced copies) each keep theirs instead of rebuilding it.
_SLOT_CACHE: weakref.WeakKeyDictionary[nn.Module, _MaskedSlots] = weakref.WeakKeyDictionary()


def _f32(t: Tensor | None) -> Tensor | None:
    return None if t is None else t.float()


def compute_dtype(mae: nn.Module) -> torch.dtype:
    """The format the MAE computes in: its decoder's weights' dtype (float32 unless :func:`lowered`)."""
    return mae.decoder_embed.weight.dtype


def lowered(mae: nn.Module, dtype: torch.dtype) -> nn.Module:
    """The MAE to compute in ``dtype``: ``mae`` itself for float32, else a frozen copy cast to ``dtype``.

    Weights and buffers are rounded to ``dtype`` once; images stay float32 and are cast on entry, and
    errors, predictions and features come back as float32 (docs/costs.md#reduced-precision).
    """
    if dtype == torch.float32:
        return mae
    return copy.deepcopy(mae).to(dtype).eval().requires_grad_(False)


def _cache_key(mae: nn.Module) -> tuple[Any, ...]:
    # A parameter changed in place (an optimiser step, load_state_dict) bumps its _version.
    blk = mae.decoder_blocks[0]
    ts = [mae.mask_token, mae.decoder_pos_embed, *blk.norm1.parameters(), *blk.attn.qkv.parameters()]
    return tuple((t.data_ptr(), t._version, t.device, t.dtype) for t in ts)


def _masked_slots(mae: nn.Module) -> _MaskedSlots:
    """The frame-independent part of decoder layer 1, cached per model and recomputed if its weights change."""
    key = _cache_key(mae)
    hit = _SLOT_CACHE.get(mae)
    if hit is not None and hit.key == key:
        return hit
    blk = mae.decoder_blocks[0]
    H = blk.attn.num_heads
    x0 = (mae.mask_token[0] + mae.decoder_pos_embed[0]).float()  # [1+P, Dd]
    S, Dd = x0.shape
    hd = Dd // H
    # In float32 whatever the model's format (the same ops as the modules for a float32 model): computed
    # once, and the softmax bookkeeping that reuses these stays in float32 too.
    norm, qkv = blk.norm1, blk.attn.qkv
    y = F.layer_norm(x0, norm.normalized_shape, _f32(norm.weight), _f32(norm.bias), norm.eps)
    q, k, v = F.linear(y, _f32(qkv.weight), _f32(qkv.bias)).reshape(S, 3, H, hd).permute(1, 2, 0, 3)  # 3 x [H, 1+P, hd]
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
    slots = _MaskedSlots(key, x0, q, k, v, c, sums)
    _SLOT_CACHE[mae] = slots  # the entry holds no reference to the model: it is dropped with it
    return slots


def _first_decoder_layer(blk: nn.Module, masked_slots: _MaskedSlots, inputs: Tensor, slots: Tensor, valid: Tensor,
                         target: Tensor) -> Tensor:
    """Decoder layer 1 for n problems whose visible inputs are ``inputs`` ``(n, V, Dd)`` at ``slots`` ``(n, V)``.

    ``valid`` bool ``(n, V)``: False marks padding (a copy of the cls entry, so that problems with
    3, 5 and 8 neighbours share one tensor). Queries at masked slots reuse the precomputed sums
    over masked keys and add the visible keys; queries at visible slots attend over all 145 keys
    directly. Returns ``(n, 1+P, Dd)``.
    """
    n, V, Dd = inputs.shape
    H, S = masked_slots.q.shape[0], masked_slots.q.shape[1]
    hd = Dd // H
    dt = inputs.dtype  # the model's format; the softmax bookkeeping below is float32 (no-op casts for a float32 model)
    qv, kv, vv = blk.attn.qkv(blk.norm1(inputs)).reshape(n, V, 3, H, hd).permute(2, 0, 3, 1, 4)  # 3 x [n, H, V, hd]
    qv, kv, vv = qv.float(), kv.float(), vv.float()
    # Masked-slot queries: softmax over (precomputed masked keys) + (this problem's visible keys).
    # [n, H, 1+P, V] scores minus c
    s = torch.einsum("hjd,nhkd->nhjk", masked_slots.q, kv) - masked_slots.c[target][..., None]
    # Shift each row by its largest term, as a softmax does: 0 unless a visible key outscores the masked ones.
    shift = s.amax(-1).clamp_min(0.0)  # [n, H, 1+P]
    w = torch.exp(s - shift[..., None]) * valid[:, None, None, :]  # [n, H, 1+P, V]
    vv1 = torch.cat([vv, torch.ones_like(vv[..., :1])], -1)  # [n, H, V, hd+1]: values and a 1 for the sum
    acc = masked_slots.sums[target] * torch.exp(-shift)[..., None]  # [n, H, 1+P, hd+1]
    acc.view(n * H, S, hd + 1).baddbmm_(w.reshape(n * H, S, V), vv1.reshape(n * H, V, hd + 1))
    out = acc[..., :hd] / acc[..., hd:]  # [n, H, 1+P, hd]
    # Visible-slot queries: all keys, the masked ones precomputed (padding rewrites the cls entry with itself).
    idx = slots[:, None, :, None].expand(n, H, V, hd)
    keys = masked_slots.k.expand(n, -1, -1, -1).scatter(2, idx, kv)  # [n, H, 1+P, hd]
    values = masked_slots.v.expand(n, -1, -1, -1).scatter(2, idx, vv)
    out.scatter_(2, idx, F.scaled_dot_product_attention(qv, keys, values))
    x = masked_slots.x0.expand(n, -1, -1).scatter(1, slots[..., None].expand(n, V, Dd), inputs.float())  # [n, 1+P, Dd]
    x = (x + blk.attn.proj(out.transpose(1, 2).reshape(n, S, Dd).to(dt))).to(dt)
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


def _visible_inputs(mae: nn.Module, z: Tensor, batch: int, chunk: int,
                    need: np.ndarray | None = None) -> tuple[Tensor, ...]:
    """Encoder outputs of every problem as decoder-layer-1 inputs, padded to one shape across ring sizes.

    ``z`` ``(B, P, D)`` patch tokens; ``need`` host bool ``(B, P)``: only these problems (all when None; the
    kept problems are found on the host, so a GPU is never waited for). Returns, over the n kept problems
    (n = B * P without ``need``): ``inputs`` ``(n, 9, Dd)`` (decoder embedding + decoder position at the cls
    slot and the ring's slots), ``slots`` ``(n, 9)``, ``valid`` bool ``(n, 9)``, ``frame`` ``(n,)``,
    ``target`` ``(n,)``. Padding repeats the cls entry.
    """
    V = 1 + max(g.size for g in neighbour_groups())
    layout = _layout(batch, z.device)
    keep = None
    if need is not None:
        frame_h, target_h = _host_layout(batch)
        keep = np.flatnonzero(need[frame_h, target_h])  # kept problems, in the layout's group order
    group_inputs, start = [], 0
    for frame, ring, slots in layout.groups:
        m, n = ring.shape[1], frame.numel()
        if keep is not None:
            part = keep[(keep >= start) & (keep < start + n)] - start
            sel = to_device(part, z.device)
            frame, ring, slots = frame[sel], ring[sel], slots[sel]
        start += n
        parts = [mae.decoder_embed(encode_tokens(mae, z[frame[s:s + chunk, None], ring[s:s + chunk]]))
                 for s in range(0, frame.numel(), chunk)]
        inputs = torch.cat(parts) if parts else z.new_zeros(0, 1 + m, mae.decoder_embed.out_features)
        inputs = inputs + mae.decoder_pos_embed[0, slots[:, :1 + m]]
        # [n, 9, Dd], the padding repeats cls
        group_inputs.append(torch.cat([inputs, inputs[:, :1].expand(-1, V - 1 - m, -1)], 1))
    out = (layout.slots, layout.valid, layout.frame, layout.target)
    if keep is not None:
        index = to_device(keep, z.device)
        out = tuple(t[index] for t in out)
    return (torch.cat(group_inputs), *out)


@functools.lru_cache(maxsize=128)
def _host_layout(batch: int) -> tuple[np.ndarray, np.ndarray]:
    """The layout's frame and target of every problem of a batch of ``batch`` frames, as host arrays ``(B * P,)``."""
    layout = _layout(batch, torch.device("cpu"))
    return layout.frame.numpy(), layout.target.numpy()


@dataclass(frozen=True)
class _ProblemLayout:
    """The index tensors of every problem of a batch of B frames, on one device (cached, see :func:`_layout`).

    ``groups``: per ring size, frame ``(n,)``, ring ``(n, m)`` and padded slots ``(n, 9)``; then over all
    n = B * P problems in group order: ``slots`` ``(n, 9)``, ``valid`` bool ``(n, 9)``, ``frame``, ``target`` ``(n,)``.
    """

    groups: tuple[tuple[Tensor, Tensor, Tensor], ...]
    slots: Tensor
    valid: Tensor
    frame: Tensor
    target: Tensor


@functools.lru_cache(maxsize=128)
def _layout(batch: int, device: torch.device) -> _ProblemLayout:
    """Built once per (batch size, device): no Python loops, and on a GPU no host-to-device copies, per call."""
    V = 1 + max(g.size for g in neighbour_groups())
    groups, parts = [], [[], [], [], []]
    for group in neighbour_groups():
        frame, tgt, ring = _problems(group, batch, device)
        slots = torch.cat([torch.zeros_like(ring[:, :1]), ring + 1], 1)  # [n, 1+m] cls slot, then ring slots
        pad = V - slots.shape[1]
        valid = torch.ones(frame.numel(), V, dtype=torch.bool, device=device)
        valid[:, V - pad:] = False
        slots = torch.cat([slots, slots[:, :1].expand(-1, pad)], 1)
        groups.append((frame, ring, slots))
        for part, t in zip(parts, (slots, valid, frame, tgt)):
            part.append(t)
    return _ProblemLayout(tuple(groups), *(torch.cat(p) for p in parts))


@torch.no_grad()
def neighbour_reconstruction(mae: nn.Module, imgs: Tensor, *, chunk: int | None = None, compiled: bool = False,
                             need: Tensor | np.ndarray | None = None) -> tuple[Tensor, Tensor]:
    """Error map and the neighbour reconstruction of every patch (shipped path).

    Same numbers as :func:`error_map_reference` (to float32 rounding), with exact savings
    (DESIGN.md section 5): the patch embedding once per frame; decoder layer 1's LayerNorm, qkv
    and softmax sums at masked slots once per model; the last decoder layer at the target slot
    only, without forming its keys and values; the three ring sizes padded into one tensor so that
    the decoder runs in full chunks.

    A model cast to bfloat16 or float16 (:func:`lowered`) runs every matrix product in that format;
    the softmax sums reused across problems, the scores and the error itself stay float32.
    ``compiled``: the decoder chunk through ``torch.compile`` (the same float32 arithmetic, fused:
    docs/costs.md#the-error-map); a first call compiles for tens of seconds.

    Args:
        mae: the frozen MAE (float32: exact; or :func:`lowered`).
        imgs: float32 ``(B, 3, 96, 96)`` in [0, 1].
        chunk: problems per decoder pass; by default the device's (:func:`default_chunk`).
        need: bool ``(B, P)`` (a host array, or a tensor, copied to the host): compute only these problems
            (``spirl.saliency.error_cache`` knows the others); their entries of the outputs stay 0.

    Returns:
        errors float32 ``(B, P)`` and predictions float32 ``(B, P, 192)`` (per-patch-normalised
        pixels in patchify order, each patch predicted from its ring only).
    """
    check_images(imgs)
    check_mae(mae)
    chunk = default_chunk(imgs.device) if chunk is None else int(chunk)
    with torch.autocast(imgs.device.type, enabled=False):
        B = imgs.shape[0]
        masked_slots = _masked_slots(mae)
        target = mae.normalized_target(imgs)  # [B, P, 192]
        z = mae.embed_patches(imgs.to(compute_dtype(mae)))  # [B, P, D]
        if isinstance(need, Tensor):
            need = need.cpu().numpy()
        inputs, slots, valid, frame, tgt = _visible_inputs(mae, z, B, 32 * chunk, need)
        errors = imgs.new_zeros(B, NUM_PATCHES)
        preds = imgs.new_zeros(B, NUM_PATCHES, target.shape[-1])
        for s in range(0, frame.numel(), chunk):
            f, t = frame[s:s + chunk], tgt[s:s + chunk]
            pred = _run_chunk(compiled, mae, masked_slots, inputs[s:s + chunk], slots[s:s + chunk],
                              valid[s:s + chunk], t)
            preds[f, t] = pred
            errors[f, t] = ((pred - target[f, t]) ** 2).mean(-1)
    return errors, preds


def _decoder_chunk(mae: nn.Module, masked_slots: _MaskedSlots, inputs: Tensor, slots: Tensor, valid: Tensor,
                   target: Tensor) -> Tensor:
    """The decoder for n problems (``_first_decoder_layer``'s inputs) -> float32 predictions ``(n, 192)``."""
    blocks = mae.decoder_blocks
    x = _first_decoder_layer(blocks[0], masked_slots, inputs, slots, valid, target)
    if len(blocks) == 1:
        xt = x[torch.arange(x.shape[0], device=x.device), target + 1]  # [n, Dd]
    else:
        for blk in blocks[1:-1]:
            x = blk(x)  # [n, 1+P, Dd]
        xt = _last_decoder_layer_at(blocks[-1], x, target + 1)  # [n, Dd]
    return mae.decoder_pred(mae.decoder_norm(xt)).float()  # [n, 192]


_COMPILED: dict[str, Any] = {}  # "chunk": torch.compile(_decoder_chunk), built at first use; "failed": the reason


def _run_chunk(compiled: bool, *args: Any) -> Tensor:
    """:func:`_decoder_chunk`, through ``torch.compile`` when ``compiled`` (eager, with one warning, if it cannot)."""
    if not compiled or "failed" in _COMPILED:
        return _decoder_chunk(*args)
    if "chunk" not in _COMPILED:
        # Chunks have one shape (B * 144 problems cut into pieces of one chunk size), so the graph is static.
        _COMPILED["chunk"] = torch.compile(_decoder_chunk, dynamic=False)
    try:
        return _COMPILED["chunk"](*args)
    except Exception as err:  # no C++ compiler, an unsupported platform: the eager path gives the same numbers
        _COMPILED["failed"] = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
        print(f"warning: torch.compile of the error map failed ({_COMPILED['failed'][:200]}); using the eager path",
              file=sys.stderr)
        return _decoder_chunk(*args)


def error_map(mae: nn.Module, imgs: Tensor, *, chunk: int | None = None, compiled: bool = False,
              need: Tensor | np.ndarray | None = None) -> Tensor:
    """Neighbour-reconstruction error map (docs/method.md#step-error-map), shipped: ``(B, 3, 96, 96)`` -> ``(B, P)``.

    ``need`` bool ``(B, P)``: only those errors are computed, the others are 0 (:func:`neighbour_reconstruction`).
    """
    return neighbour_reconstruction(mae, imgs, chunk=chunk, compiled=compiled, need=need)[0]
