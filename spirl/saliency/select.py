"""How many patches to keep and which (docs/method.md#step-dynamic-k), and the features handed to RL.

- :func:`dynamic_k`: the released code's Lorenz two-step-chord rule (docs/method.md#step-dynamic-k);
  :func:`fixed_k` (docs/method.md#step-controls)
  and a random-patch control (same K, random patches) complete :func:`select_patches`.
- :func:`selected_features`: the encoder on the selected tokens only (docs/method.md#step-features), padded to
  ``(Kmax, 64)`` and batched with a key-padding mask so that one pass is exact.
- :class:`SalientPatchExtractor`: uint8 frames in, :class:`SalientFeatures` out (the RL input).
- :func:`k_statistics`: the uncapped K of every frame of a dataset (paper Fig. 8).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from spirl.atari import games
from spirl.config import SaliencySettings, Selection, allowed
from spirl.devices import check_precision, set_generator_state, to_device
from spirl.saliency.error_cache import ErrorCache
from spirl.saliency.error_map import compute_dtype, error_map, lowered
from spirl.saliency.kstats import EmptyDatasetError
from spirl.saliency.patches import NUM_PATCHES, check_images, check_mae, encode_tokens, frames_to_images
from spirl.utils import progress

SELECTIONS = allowed(Selection)


def dynamic_k(errors: Tensor, k_max: int, xscale: float = 1.0) -> Tensor:
    """Number of salient patches per frame: the released code's Lorenz two-step-chord rule.

    See docs/method.md#step-dynamic-k.

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
    """Fixed K for a kept ratio (docs/method.md#step-controls): ``floor(144 * ratio)`` = ``int(144 * (1 - mask))``."""
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
    noise = to_device(torch.rand(B, P, generator=generator), errors.device)  # [B, P]
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


@torch.no_grad()
def selected_features(mae: nn.Module, imgs: Tensor, index: Tensor) -> Tensor:
    """Features handed to RL (docs/method.md#step-features) for the selected patches of every frame.

    The encoder runs on ``[cls; selected tokens]`` only (so each token sees only the other
    selected ones), then the final LayerNorm; the fixed sin-cos position of each patch is added
    again ("addSS") and cls dropped. Frames with fewer than ``Kmax`` patches are batched with a
    key-padding mask, which gives the same numbers as running each frame on its K tokens alone.

    Args:
        mae: the frozen MAE in float32, or cast to a reduced format (``error_map.lowered``): the encoder
            then runs in that format and the features are returned as float32.
        imgs: float32 ``(B, 3, 96, 96)`` in [0, 1].
        index: int64 ``(B, Kmax)``, patch indices in rows ``0..K-1``, -1 after.

    Returns:
        float32 ``(B, Kmax, D)``; rows ``K..Kmax-1`` are zeros.
    """
    check_images(imgs)
    valid = index >= 0  # [B, Kmax]
    safe = index.clamp(min=0)
    with torch.autocast(imgs.device.type, enabled=False):
        z = mae.embed_patches(imgs.to(compute_dtype(mae)))  # [B, P, D]
        tok = z.gather(1, safe[..., None].expand(-1, -1, z.shape[-1]))  # [B, Kmax, D]
        h = encode_tokens(mae, tok, valid)[:, 1:] + mae.pos_embed[0, safe + 1]  # [B, Kmax, D] position added again
    return h.float() * valid[..., None]


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
        settings: selection (dynamic | fixed | random), xscale, fixed_ratio, precision, error_cache
            (``max_ratio`` is resolved by the caller into ``k_max``).
        k_max: the most patches kept per frame, in [1, 144].
        seed: seeds the random-patch control's generator.
        device: where the MAE runs; on a GPU the frames go through a pinned buffer and the outputs
            stay on the GPU.
        allow_slow: accept bfloat16 on a CPU without bfloat16 units, with a warning (benchmarks only;
            ``spirl.devices.check_precision``).

    Raises:
        PrecisionError: ``settings.precision`` cannot run, or would run slower than float32, on ``device``.
    """

    def __init__(self, mae: nn.Module, settings: SaliencySettings, k_max: int, seed: int = 0,
                 device: str | torch.device = "cpu", *, allow_slow: bool = False) -> None:
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
        self.dtype = check_precision(settings.precision, str(self.device), allow_slow=allow_slow)
        self.mae = mae.to(self.device).eval().requires_grad_(False)
        self.compute = lowered(self.mae, self.dtype)  # the model itself in float32, else a cast copy
        self.generator = torch.Generator("cpu").manual_seed(seed)
        self.cache = ErrorCache(self.device) if settings.error_cache else None

    def rng_state(self) -> Tensor:
        """State of the random-control generator (save it with a training checkpoint)."""
        return self.generator.get_state()

    def set_rng_state(self, state: Tensor) -> None:
        """Restore the random-control generator from :meth:`rng_state`."""
        set_generator_state(self.generator, state, what="the random-control generator")

    def reset_cache(self) -> None:
        """Empty the error cache (the trainer does at every checkpoint, so that a resumed run repeats exactly)."""
        if self.cache is not None:
            self.cache.clear()

    @torch.no_grad()
    def __call__(self, frames: np.ndarray | Tensor) -> SalientFeatures:
        """Frames uint8 ``(B, 96, 96, 3)`` -> :class:`SalientFeatures` (on ``device``).

        With ``saliency.error_cache`` the frames' neighbourhoods are looked up on the host
        (``spirl.saliency.error_cache``), so frames given as a GPU tensor skip the cache.
        """
        host = frames if isinstance(frames, np.ndarray) else frames.numpy() if frames.device.type == "cpu" else None
        imgs = frames_to_images(frames, self.device)  # sent to the device there (page-locked, asynchronous)
        if self.cache is not None and host is not None:
            errors = self.cache.errors(host, lambda need: error_map(self.compute, imgs, need=need))
        else:
            errors = error_map(self.compute, imgs)
        index, k = select_patches(errors, self.settings.selection, self.k_max, xscale=self.settings.xscale,
                                  fixed=self.fixed, generator=self.generator)
        return SalientFeatures(selected_features(self.compute, imgs, index), k, index, errors)


def k_statistics(mae: nn.Module, frames: np.ndarray, *, xscale: float = 1.0, batch: int = 64,
                 device: str | torch.device = "cpu", precision: str = "float32",
                 allow_slow: bool = False, error_cache: bool = True, done: np.ndarray | None = None,
                 stop: Callable[[np.ndarray], None] | None = None) -> np.ndarray:
    """Uncapped dynamic K (Kmax = 144) of every frame, as for the paper's Fig. 8.

    ``frames`` uint8 ``(N, 96, 96, 3)`` -> int64 ``(N,)``. ``precision``/``allow_slow``: the error map's number
    format, checked as in :class:`SalientPatchExtractor`; ``error_cache``: reuse the errors of neighbourhoods
    seen before in ``frames`` (``spirl.saliency.error_cache``). ``done``: K of the first frames, counted
    before (a resumed count starts after them); ``stop``: called before each batch with K of the frames
    counted so far (it may raise to stop there, ``spirl.preempt``).
    """
    if len(frames) == 0:
        raise EmptyDatasetError("the frame dataset is empty; K statistics need at least one frame")
    if batch < 1:
        raise ValueError(f"--batch must be at least 1, got {batch}")
    check_mae(mae)
    dtype = check_precision(precision, str(device), allow_slow=allow_slow)
    mae = lowered(mae.to(device).eval(), dtype)
    out = np.empty(len(frames), dtype=np.int64)
    first = 0 if done is None else len(done)
    if done is not None:
        out[:first] = done
    cache = ErrorCache(device) if error_cache else None
    bar = progress(total=len(frames), desc="K statistics", unit="frame", initial=first)
    for s in range(first, len(frames), batch):
        if stop is not None:
            stop(out[:s])
        imgs = frames_to_images(frames[s:s + batch], device)
        if cache is None:
            errors = error_map(mae, imgs)
        else:
            errors = cache.errors(np.asarray(frames[s:s + batch]),
                                  lambda need, imgs=imgs: error_map(mae, imgs, need=need))
        out[s:s + len(imgs)] = dynamic_k(errors, NUM_PATCHES, xscale).cpu().numpy()
        bar.update(len(imgs))
    bar.close()
    return out
