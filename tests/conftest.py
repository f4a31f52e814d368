"""Fixtures shared by several test modules."""

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from spirl.mae.model import MAE

DATA = Path(__file__).resolve().parent / "data"


def _checksums(folder: Path) -> dict[str, str]:
    sums = folder / "SHA256SUMS"
    assert sums.is_file(), f"test data manifest {sums} is missing (see tests/data/SOURCES.md)"
    return {name: sha for sha, name in (line.split() for line in sums.read_text().splitlines() if line.strip())}


@pytest.fixture(scope="session")
def reference_file() -> Callable[[str], Path]:
    """``reference_file("SPR.json")``: a published per-run file of ``tests/data/atari100k``, sha256 checked.

    A missing or altered file fails the test (never a skip): the regressions on published data must run.
    """
    folder = DATA / "atari100k"
    sums = _checksums(folder)

    def get(name: str) -> Path:
        path = folder / name
        assert name in sums, f"{name} is not listed in {folder / 'SHA256SUMS'}"
        assert path.is_file(), f"test data {path} is missing (see tests/data/SOURCES.md)"
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert digest == sums[name], f"{path} has sha256 {digest}, expected {sums[name]} (tests/data/SOURCES.md)"
        return path

    get.sha256 = sums  # type: ignore[attr-defined]
    return get


@pytest.fixture(scope="module")
def mae() -> MAE:
    """A randomly initialised paper-size MAE, frozen (no pretrained weights are needed for exactness tests)."""
    torch.manual_seed(0)
    return MAE().eval().requires_grad_(False)
