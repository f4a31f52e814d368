"""Fixtures shared by several test modules."""

import pytest
import torch

from spirl.mae.model import MAE


@pytest.fixture(scope="module")
def mae() -> MAE:
    """A randomly initialised paper-size MAE, frozen (no pretrained weights are needed for exactness tests)."""
    torch.manual_seed(0)
    return MAE().eval().requires_grad_(False)
