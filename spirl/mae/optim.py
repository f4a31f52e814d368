"""The MAE's optimiser and learning-rate schedule (docs/method.md#step-pretrain, appendix Table 5).

AdamW with betas (0.9, 0.95) and weight decay on parameters with ndim >= 2 only; the learning rate
``blr * batch / 256`` warms up linearly over ``warmup_epochs`` and then follows a half-cosine to
``min_lr`` at the last epoch, set every iteration.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from spirl.config import PretrainSettings


def peak_lr(settings: PretrainSettings) -> float:
    """The absolute learning rate after warm-up: blr * batch_size / 256 (2.5e-4 at batch 64)."""
    return settings.blr * settings.batch_size / 256


def lr_at(epoch: float, settings: PretrainSettings) -> float:
    """Learning rate at a fractional epoch (epoch + iteration / iterations_per_epoch).

    Linear warm-up from 0 to ``peak_lr`` over ``warmup_epochs``, then a half-cosine from
    ``peak_lr`` down to ``min_lr``, reached at ``epoch == epochs``.
    """
    peak, warm = peak_lr(settings), settings.warmup_epochs
    if epoch < warm:
        return peak * epoch / warm
    span = settings.epochs - warm
    progress_ = min(1.0, (epoch - warm) / span) if span > 0 else 1.0
    return settings.min_lr + (peak - settings.min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress_))


def param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Two AdamW groups: ``weight_decay`` on parameters with ndim >= 2 (matrices, conv kernels, the
    cls and mask tokens), none on biases and other 1-D parameters (LayerNorm). Buffers are not parameters."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim <= 1 or name.endswith(".bias") else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def build_optimizer(model: nn.Module, settings: PretrainSettings) -> torch.optim.AdamW:
    """AdamW with the paper's betas and decay groups; the lr is set every iteration by ``lr_at``."""
    return torch.optim.AdamW(param_groups(model, settings.weight_decay), lr=peak_lr(settings),
                             betas=tuple(settings.betas))
