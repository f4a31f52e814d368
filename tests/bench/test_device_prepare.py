"""spirl.bench.device_prepare: the check's inputs are bound by digest (a whole tiny preparation runs in
tests/bench/test_device_check.py, which the check's rehearsal uses)."""

import json

import pytest

from spirl.bench.device_prepare import MANIFEST, verify
from spirl.integrity import sha256_file


def test_a_folder_without_manifest_or_with_a_missing_file_is_refused_in_one_line(tmp_path):
    with pytest.raises(ValueError, match=r"holds no manifest\.json; prepare it with scripts/gpu_prepare\.sh$"):
        verify(tmp_path)
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / MANIFEST).write_text(json.dumps({"size": "tiny", "files": {
        "a.txt": {"sha256": sha256_file(tmp_path / "a.txt"), "bytes": 1},
        "gone.pt": {"sha256": "0" * 64, "bytes": 1}}}))
    with pytest.raises(ValueError, match=r"gone\.pt is missing or differs"):
        verify(tmp_path)
