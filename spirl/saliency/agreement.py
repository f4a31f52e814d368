"""How closely a reduced-precision per-frame path agrees with float32 (docs/costs.md#reduced-precision).

float32 is the reference. For the same frames and the same MAE, :func:`compare` measures what the
agent would see differently: the share of frames whose K is identical, the mean |dK|, the mean
Jaccard similarity of the selected patch sets, the largest error-map difference (relative to the
frame's largest error), the largest feature difference on the reference's selection, and the uncapped
K histogram (paper Fig. 8) with its ideal ratio. ``spirl bench saliency --precision`` prints it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from spirl.saliency.error_map import error_map
from spirl.saliency.kstats import ideal_ratio, k_histogram
from spirl.saliency.patches import NUM_PATCHES, frames_to_images
from spirl.saliency.select import dynamic_k, salient_index, selected_features

# Targets of issue 10 for a format to be offered as a default: K identical on >= 95% of frames, mean Jaccard >= 0.97,
# the same ideal ratio (docs/costs.md#reduced-precision).
TARGET_SAME_K, TARGET_JACCARD = 0.95, 0.97


def jaccard(a: Tensor, b: Tensor) -> Tensor:
    """Jaccard similarity |A & B| / |A | B| of the patch sets of two selections, per frame.

    ``a``, ``b``: int64 ``(B, k)`` patch indices padded with -1 (``salient_index``) -> float64 ``(B,)``.
    """
    P = NUM_PATCHES
    ma = torch.zeros(a.shape[0], P + 1, dtype=torch.bool, device=a.device)
    mb = torch.zeros_like(ma)
    ma.scatter_(1, torch.where(a >= 0, a, P), True)  # padding lands in the spare column P, dropped below
    mb.scatter_(1, torch.where(b >= 0, b, P), True)
    ma, mb = ma[:, :P], mb[:, :P]
    inter = (ma & mb).sum(1).double()
    union = (ma | mb).sum(1).double()
    return torch.where(union > 0, inter / union.clamp_min(1), 1.0)


@dataclass
class Agreement:
    """Agreement of one format with float32 over ``frames`` frames at the cap ``k_max`` (and uncapped)."""

    precision: str
    frames: int
    k_max: int
    same_k: float  # share of frames with identical K under the cap
    mean_abs_dk: float
    mean_jaccard: float
    min_jaccard: float
    max_error_diff: float  # max over frames of max |e - e_ref| / max e_ref of that frame
    max_feature_diff: float  # max |f - f_ref| on the reference's selection
    max_feature: float  # max |f_ref|, the scale of the above
    uncapped_same_k: float
    uncapped_mean_abs_dk: float
    ideal_ratio: float
    ideal_ratio_ref: float
    hist: list[int]  # uncapped K/P histogram in 5% bins (Fig. 8), this format and float32
    hist_ref: list[int]

    @property
    def hist_distance(self) -> float:
        """Total-variation distance between the two K histograms (0: the same, 1: disjoint)."""
        a, b = np.asarray(self.hist, float), np.asarray(self.hist_ref, float)
        return float(0.5 * np.abs(a / a.sum() - b / b.sum()).sum())

    @property
    def meets_targets(self) -> bool:
        """K identical on >= 95% of frames, mean Jaccard >= 0.97 and the same ideal ratio as float32."""
        return (self.same_k >= TARGET_SAME_K and self.mean_jaccard >= TARGET_JACCARD
                and self.ideal_ratio == self.ideal_ratio_ref)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "hist_distance": self.hist_distance, "meets_targets": self.meets_targets}


def selection_stats(errors_ref: Tensor, errors: Tensor, k_max: int, xscale: float = 1.0) -> dict[str, float]:
    """Same-K share, mean |dK| and Jaccard (mean, min) of two error maps ``(B, P)`` under the cap ``k_max``."""
    k_ref, k = dynamic_k(errors_ref, k_max, xscale), dynamic_k(errors, k_max, xscale)
    j = jaccard(salient_index(errors_ref, k_ref, k_max), salient_index(errors, k, k_max))
    return {"same_k": float((k == k_ref).double().mean()), "mean_abs_dk": float((k - k_ref).abs().double().mean()),
            "mean_jaccard": float(j.mean()), "min_jaccard": float(j.min())}


def compare(mae_ref: nn.Module, mae: nn.Module, frames: np.ndarray, k_max: int, *, precision: str,
            xscale: float = 1.0, batch: int = 50, device: str = "cpu") -> Agreement:
    """Run both MAEs on ``frames`` (uint8 ``(N, 96, 96, 3)``) and measure their agreement.

    ``mae_ref`` is the float32 MAE; ``mae`` the same weights in ``precision`` (``error_map.lowered``).
    """
    e_ref, e_low, f_diff, f_max = [], [], 0.0, 0.0
    for s in range(0, len(frames), batch):
        imgs = frames_to_images(frames[s:s + batch], device)
        a, b = error_map(mae_ref, imgs), error_map(mae, imgs)
        e_ref.append(a)
        e_low.append(b)
        index = salient_index(a, dynamic_k(a, k_max, xscale), k_max)
        fa, fb = selected_features(mae_ref, imgs, index), selected_features(mae, imgs, index)
        f_diff, f_max = max(f_diff, float((fa - fb).abs().max())), max(f_max, float(fa.abs().max()))
    ref, low = torch.cat(e_ref), torch.cat(e_low)
    rel = ((low - ref).abs().amax(1) / ref.amax(1).clamp_min(torch.finfo(torch.float32).tiny)).max()
    capped = selection_stats(ref, low, k_max, xscale)
    k_ref, k_low = dynamic_k(ref, NUM_PATCHES, xscale), dynamic_k(low, NUM_PATCHES, xscale)
    kr, kl = k_ref.cpu().numpy(), k_low.cpu().numpy()
    return Agreement(precision, len(frames), k_max, capped["same_k"], capped["mean_abs_dk"], capped["mean_jaccard"],
                     capped["min_jaccard"], float(rel), f_diff, f_max, float((k_low == k_ref).double().mean()),
                     float((k_low - k_ref).abs().double().mean()), ideal_ratio(kl), ideal_ratio(kr),
                     k_histogram(kl)["count"].tolist(), k_histogram(kr)["count"].tolist())


__all__ = ["TARGET_JACCARD", "TARGET_SAME_K", "Agreement", "compare", "jaccard", "selection_stats"]
