"""spirl.bench.device_prepare: the check's inputs are bound by digest (a whole tiny preparation runs in
tests/bench/test_device_check.py, which the check's rehearsal uses)."""

import hashlib
import json

import pytest

from spirl.bench.device_prepare import MANIFEST, sha256, verify


def test_sha256_of_a_file(tmp_path):
    f = tmp_path / "x.bin"
    f.write_bytes(b"spirl" * 300_000)  # more than one 1 MiB block
    assert sha256(f) == hashlib.sha256(b"spirl" * 300_000).hexdigest()


def test_a_folder_without_manifest_or_with_a_missing_file_is_refused_in_one_line(tmp_path):
    with pytest.raises(ValueError, match=r"holds no manifest\.json; prepare it with scripts/gpu_prepare\.sh$"):
        verify(tmp_path)
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / MANIFEST).write_text(json.dumps({"size": "tiny", "files": {
        "a.txt": {"sha256": sha256(tmp_path / "a.txt"), "bytes": 1}, "gone.pt": {"sha256": "0" * 64, "bytes": 1}}}))
    with pytest.raises(ValueError, match=r"gone\.pt is missing or differs"):
        verify(tmp_path)
