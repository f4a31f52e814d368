"""spirl.integrity: manifests, checkpoint directories with fall-back, single files with a sidecar digest."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest
import torch

from spirl.integrity import (
    MANIFEST,
    DiskFullError,
    IntegrityError,
    digest_path,
    load_torch,
    remove_stale,
    sha256_file,
    verify_file,
    verify_manifest,
    write_checkpoint_dir,
    write_with_digest,
)
from tests.conftest import CORRUPTIONS


def _write(folder: Path, step: int) -> None:
    (folder / "state.bin").write_bytes(bytes(range(256)) * (step + 1))
    (folder / "other.txt").write_text(f"step {step}\n")


def _series(root: Path, steps: list[int]) -> list[Path]:
    return [write_checkpoint_dir(root, f"step-{s:04d}", lambda d, s=s: _write(d, s)) for s in steps]


def test_manifest_is_sha256sum_format(tmp_path):
    (path,) = _series(tmp_path, [1])
    assert sorted(p.name for p in path.iterdir()) == [MANIFEST, "other.txt", "state.bin"]
    done = subprocess.run(["sha256sum", "-c", MANIFEST], cwd=path, capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.count(": OK") == 2


def test_the_two_newest_checkpoints_are_kept(tmp_path):
    _series(tmp_path, [1, 2, 3])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step-0002", "step-0003"]


def test_missing_or_damaged_manifests_and_files_are_refused(tmp_path):
    (path,) = _series(tmp_path, [1])
    (path / "other.txt").unlink()
    with pytest.raises(IntegrityError, match=r"other\.txt is missing"):
        verify_manifest(path / MANIFEST)
    (path / MANIFEST).write_text("not a digest line\n")
    with pytest.raises(IntegrityError, match="not a '<sha256>  <file>' line"):
        verify_manifest(path / MANIFEST)
    (path / MANIFEST).unlink()
    with pytest.raises(IntegrityError, match="missing or unreadable"):
        verify_manifest(path / MANIFEST)


def test_a_manifest_cut_short_is_incomplete_for_its_kind(tmp_path):
    (path,) = _series(tmp_path, [1])
    lines = (path / MANIFEST).read_text().splitlines()
    (path / MANIFEST).write_text(lines[0] + "\n")  # still parses, lists one file of two
    verify_manifest(path / MANIFEST)  # what it lists is intact...
    with pytest.raises(IntegrityError, match=r"does not list state\.bin .*must list exactly other\.txt, state\.bin"):
        verify_manifest(path / MANIFEST, required=("other.txt", "state.bin"))  # ...but it is not complete


def test_a_full_disk_is_named_and_the_last_intact_checkpoint_kept(tmp_path):
    (older,) = _series(tmp_path, [1])

    def write_to_full_disk(folder: Path) -> None:  # /dev/full: every write fails with ENOSPC, as a full disk does
        (folder / "state.pt").symlink_to("/dev/full")
        torch.save({"weights": torch.zeros(10_000)}, folder / "state.pt")

    with pytest.raises(DiskFullError, match=rf"the disk is full: writing checkpoint {tmp_path}/step-0002 failed "
                                            rf"\(.*\); the last intact one, {older}, is kept; free space"):
        write_checkpoint_dir(tmp_path, "step-0002", write_to_full_disk)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step-0001"]  # the half-written folder is gone


def test_what_a_kill_leaves_is_removed(tmp_path):
    (tmp_path / ".tmp-step-0003").mkdir()
    (tmp_path / ".tmp-step-0003" / "state.bin").write_bytes(b"half")
    (tmp_path / ".state.pt.abc123.tmp").write_bytes(b"")  # what spirl.utils.atomic_path leaves
    _series(tmp_path, [1])
    assert sorted(p.name for p in remove_stale(tmp_path)) == [".state.pt.abc123.tmp", ".tmp-step-0003"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step-0001"]


def test_an_atomic_write_removes_the_temporary_file_a_killed_write_left(tmp_path):
    from spirl.utils import atomic_write_text

    (tmp_path / ".out.txt.x1y2z3.tmp").write_bytes(b"")
    atomic_write_text(tmp_path / "out.txt", "hello")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


@pytest.mark.parametrize("how", CORRUPTIONS)
def test_a_single_file_is_checked_against_its_sidecar(tmp_path, corrupt, how, capsys):
    path = write_with_digest(tmp_path / "model.pt", lambda tmp: torch.save({"w": torch.arange(1000.0)}, tmp))
    assert digest_path(path).is_file() and verify_file(path, what="model")
    corrupt(path, how)
    with pytest.raises(IntegrityError, match=r"model .*model\.pt does not match its sha256 in model\.pt\.sha256"):
        load_torch(path, what="model", remedy="write it again")


def test_a_file_without_sidecar_is_read_unverified_with_one_note(tmp_path, capsys):
    torch.save({"w": torch.ones(3)}, tmp_path / "copied.pt")
    assert torch.equal(load_torch(tmp_path / "copied.pt", what="model", remedy="-")["w"], torch.ones(3))
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no copied.pt.sha256 beside it; read unverified" in err[0]


@pytest.mark.parametrize(("content", "reason"), [
    (b"", "the file is empty"),
    (b"hello, I am a text file renamed .pt\n", "not a file torch.save wrote: it starts with b'hello, I am '"),
    (b"PK\x03\x04 the start of a zip archive, cut short", "PytorchStreamReader"),
])
def test_a_file_that_is_not_a_torch_file_is_one_clear_line(tmp_path, content, reason):
    path = tmp_path / "model.pt"
    path.write_bytes(content)
    with pytest.raises(IntegrityError) as err:
        load_torch(path, what="MAE checkpoint", remedy="pass a model.pt", verify=False)
    text = str(err.value)
    assert reason in text and "pass a model.pt" in text and "\n" not in text and "weights_only" not in text


def test_objects_other_than_tensors_are_not_unpickled(tmp_path):
    torch.save({"f": Path("/x")}, tmp_path / "x.pt")  # a pickled class: weights_only refuses it
    with pytest.raises(IntegrityError, match="objects other than tensors and plain values"):
        load_torch(tmp_path / "x.pt", what="checkpoint", remedy="-", verify=False)


def test_sha256_of_a_file_read_in_blocks(tmp_path):
    f = tmp_path / "x.bin"
    f.write_bytes(b"spirl" * 300_000)  # more than one 1 MiB block
    assert sha256_file(f) == hashlib.sha256(b"spirl" * 300_000).hexdigest()
