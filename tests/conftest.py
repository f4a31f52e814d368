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


CORRUPTIONS = ("flip50", "flip90", "truncate", "empty", "garbage")


def corrupt_file(path: Path, how: str) -> None:
    """Damage a file as a failing disk or a stray tool would: 16 flipped bytes at 50% or 90% of it,
    cut to half its size, emptied, or replaced by text of the same size."""
    data = bytearray(path.read_bytes())
    if how.startswith("flip"):
        at = len(data) * int(how[4:]) // 100
        for i in range(at, min(at + 16, len(data))):
            data[i] ^= 0xFF
    elif how == "truncate":
        data = data[: len(data) // 2]
    elif how == "empty":
        data = bytearray()
    elif how == "garbage":
        data = bytearray((b"not a checkpoint, just text\n" * (len(data) // 28 + 1))[: len(data)])
    else:
        raise ValueError(how)
    path.write_bytes(bytes(data))


@pytest.fixture(scope="session")
def corrupt() -> Callable[[Path, str], None]:
    """``corrupt(path, how)`` with ``how`` one of ``CORRUPTIONS`` (see :func:`corrupt_file`)."""
    return corrupt_file
