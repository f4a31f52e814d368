"""Pictures of salient patch selection (the paper's Figs. 2-3), as PNG.

For a chosen frame: the frame, its neighbour reconstruction (every patch predicted from its
8 neighbours only, min-max scaled per patch for display, since the targets are per-patch
normalised), the error map (min-max scaled, nearest-upsampled x8), the Lorenz curve with the
cut of the dynamic rule, the selected patches over the frame, and fixed-ratio selections
(mask ratios 0.90 ... 0.50) side by side.

Each ``plot_*`` function draws on a given matplotlib ``ax`` and returns it, so the report can
compose its own figures; :func:`panel` and :func:`fixed_ratio_panel` compose the standard ones.
Figures are ``matplotlib.figure.Figure`` objects rendered by the Agg canvas (no pyplot state).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from torch import nn

from spirl.atari import games
from spirl.saliency.error_map import neighbour_reconstruction
from spirl.saliency.patches import GRID, NUM_PATCHES, PATCH, frames_to_images
from spirl.saliency.select import dynamic_k, fixed_k, salient_index
from spirl.utils import atomic_path, progress

# The figure script's sweep of fixed ratios (docs/method.md#step-controls): K = 14, 21, 28, 36, 43, 50, 57, 64, 72.
FIXED_MASK_RATIOS = (0.90, 0.85, 0.80, 0.75, 0.70, 0.65, 0.60, 0.55, 0.50)


def _minmax(x: np.ndarray, axis: int | None = None) -> np.ndarray:
    lo, hi = x.min(axis=axis, keepdims=True), x.max(axis=axis, keepdims=True)
    return (x - lo) / np.where(hi > lo, hi - lo, 1.0)


def reconstruction_image(mae: nn.Module, prediction: torch.Tensor | np.ndarray) -> np.ndarray:
    """Neighbour predictions ``(P, 192)`` -> a displayable image ``(96, 96, 3)`` in [0, 1].

    Each patch is min-max scaled on its own (the MAE predicts per-patch-normalised pixels, so
    only the pattern inside a patch is meaningful), then put in place with ``mae.unpatchify``.
    """
    pred = _minmax(np.asarray(torch.as_tensor(prediction).detach().cpu(), dtype=np.float32), axis=-1)
    img = mae.unpatchify(torch.from_numpy(pred)[None])[0]  # [3, 96, 96]
    return img.permute(1, 2, 0).numpy()


def plot_frame(ax: Axes, frame: np.ndarray, title: str = "frame") -> Axes:
    """The frame ``(96, 96, 3)`` uint8 (or float in [0, 1])."""
    ax.imshow(frame, interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.set_axis_off()
    return ax


def plot_reconstruction(ax: Axes, image: np.ndarray, title: str = "from neighbours") -> Axes:
    """The neighbour reconstruction of :func:`reconstruction_image`, ``(96, 96, 3)`` in [0, 1]."""
    return plot_frame(ax, np.clip(image, 0.0, 1.0), title)


def plot_error_map(ax: Axes, errors: torch.Tensor | np.ndarray, title: str = "error map",
                   cmap: str = "inferno") -> Axes:
    """The error map ``(P,)``, min-max scaled and nearest-upsampled x8 to the frame's size."""
    e = _minmax(np.asarray(torch.as_tensor(errors).detach().cpu(), dtype=np.float64)).reshape(GRID, GRID)
    ax.imshow(np.kron(e, np.ones((PATCH, PATCH))), cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.set_axis_off()
    return ax


def plot_lorenz(ax: Axes, errors: torch.Tensor | np.ndarray, k_max: int = NUM_PATCHES, xscale: float = 1.0,
                title: str = "Lorenz curve") -> Axes:
    """Lorenz curve of one error map ``(P,)`` with the cut of the dynamic rule (and the cap, if any).

    x: share of patches in ascending-error order; y: share of the total error they hold. The
    patches right of the solid line are kept; the dashed line is the cap at Kmax.
    """
    e = torch.as_tensor(errors).detach().cpu().double().reshape(1, -1)
    P = e.shape[1]
    k = int(dynamic_k(e, k_max, xscale)[0])
    v = e[0].sort().values
    curve = np.concatenate([[0.0], (v.cumsum(0) / v.sum().clamp_min(1e-300)).numpy()])
    x = np.arange(P + 1) / P
    ax.plot(x, curve, color="C0", lw=1.5, label="errors, ascending")
    ax.plot([0, 1], [0, 1], color="0.6", lw=0.8, ls=":", label="equality")
    ax.axvline((P - k) / P, color="C3", lw=1.2, label=f"cut: K = {k}")
    if k_max < P:
        ax.axvline((P - k_max) / P, color="0.3", lw=0.8, ls="--", label=f"cap: Kmax = {k_max}")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("share of patches", fontsize=8)
    ax.set_ylabel("share of error", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=6, loc="upper left")
    ax.set_title(title, fontsize=9)
    return ax


def plot_selection(ax: Axes, frame: np.ndarray, index: torch.Tensor | np.ndarray, title: str | None = None) -> Axes:
    """The frame with the selected patches outlined and every other patch dimmed.

    ``index`` int ``(Kmax,)`` patch indices, -1 entries (padding) ignored.
    """
    idx = [int(i) for i in np.asarray(torch.as_tensor(index).cpu()).reshape(-1) if i >= 0]
    keep = np.zeros((GRID, GRID), bool)
    keep.flat[idx] = True
    shade = np.kron(np.where(keep, 1.0, 0.25), np.ones((PATCH, PATCH)))[..., None]  # [96, 96, 1]
    img = frame.astype(np.float64) / (255.0 if frame.dtype == np.uint8 else 1.0)
    ax.imshow(img * shade, interpolation="nearest")
    for i in idx:
        r, c = divmod(i, GRID)
        ax.add_patch(Rectangle((c * PATCH - 0.5, r * PATCH - 0.5), PATCH, PATCH, fill=False, ec="yellow", lw=0.6))
    ax.set_title(title if title is not None else f"K = {len(idx)}", fontsize=9)
    ax.set_axis_off()
    return ax


def panel(frame: np.ndarray, errors: torch.Tensor, reconstruction: np.ndarray, *, k_max: int = NUM_PATCHES,
          xscale: float = 1.0, title: str | None = None) -> Figure:
    """One frame's row: frame, neighbour reconstruction, error map, Lorenz curve, dynamic selection.

    ``frame`` ``(96, 96, 3)`` uint8, ``errors`` ``(P,)``, ``reconstruction`` ``(96, 96, 3)`` in [0, 1].
    """
    fig = Figure(figsize=(15, 3.3), layout="constrained")
    axes = fig.subplots(1, 5)
    e = torch.as_tensor(errors).detach().cpu().reshape(1, -1)
    k = dynamic_k(e, k_max, xscale)
    plot_frame(axes[0], frame)
    plot_reconstruction(axes[1], reconstruction)
    plot_error_map(axes[2], e[0])
    plot_lorenz(axes[3], e[0], k_max, xscale)
    plot_selection(axes[4], frame, salient_index(e, k, k_max)[0], f"dynamic: K = {int(k[0])}")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def fixed_ratio_panel(frame: np.ndarray, errors: torch.Tensor, mask_ratios: tuple[float, ...] = FIXED_MASK_RATIOS,
                      title: str | None = None) -> Figure:
    """Fixed-K selections side by side, one per mask ratio: K = int(144 * (1 - mask_ratio)).

    See docs/method.md#step-controls.
    """
    fig = Figure(figsize=(1.9 * len(mask_ratios), 2.3), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(mask_ratios)))
    e = torch.as_tensor(errors).detach().cpu().reshape(1, -1)
    for ax, ratio in zip(axes, mask_ratios):
        k = fixed_k(1.0 - ratio)
        plot_selection(ax, frame, salient_index(e, torch.tensor([k]), k)[0], f"mask {ratio:.2f}: K = {k}")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def save_figure(fig: Figure, path: str | Path, dpi: int = 120) -> Path:
    """Write ``fig`` as PNG, atomically."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    return Path(path)


def visualize(mae: nn.Module, frames: np.ndarray, indices: list[int], out_dir: str | Path, *,
              max_ratio: float | None = None, xscale: float = 1.0, device: str = "cpu") -> list[Path]:
    """Write two PNGs per chosen frame into ``out_dir``: ``frame{i:05d}_panel.png`` and ``frame{i:05d}_fixed.png``.

    ``frames`` uint8 ``(N, 96, 96, 3)``. ``max_ratio`` caps the dynamic K; None leaves it
    uncapped, as the paper's figure scripts do. Returns the written paths.
    """
    k_max = NUM_PATCHES if max_ratio is None else games.k_max(max_ratio)
    bad = [i for i in indices if not 0 <= i < len(frames)]
    if bad:
        raise ValueError(f"frame index {bad[0]} is outside the dataset's {len(frames)} frames")
    if not indices:
        raise ValueError("choose at least one frame (--index)")
    out_dir = Path(out_dir)
    written = []
    for i in progress(indices, desc="visualize", unit="frame"):
        imgs = frames_to_images(frames[i:i + 1], device)
        errors, preds = neighbour_reconstruction(mae, imgs)
        recon = reconstruction_image(mae, preds[0])
        cap = "uncapped" if max_ratio is None else f"max ratio {max_ratio:g}"
        fig = panel(frames[i], errors[0], recon, k_max=k_max, xscale=xscale,
                    title=f"frame {i} ({cap}, xscale {xscale:g})")
        written.append(save_figure(fig, out_dir / f"frame{i:05d}_panel.png"))
        written.append(save_figure(fixed_ratio_panel(frames[i], errors[0], title=f"frame {i}: fixed K"),
                                   out_dir / f"frame{i:05d}_fixed.png"))
    return written
