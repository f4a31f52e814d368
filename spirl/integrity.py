"""File integrity: every checkpoint file is written with its sha256 and verified before it is read.

One manifest format, ``sha256sum``'s (``<64 hex>  <file name>`` per line, names relative to the
manifest's folder, so ``sha256sum -c`` checks it too), in two shapes:

- a **checkpoint directory** (a training checkpoint ``step-XXXXXXXXX/``, a pretraining state
  ``epoch-XXXX/``) holds its files and a ``MANIFEST`` naming each one. It is written under a
  temporary name (``.tmp-<name>``), its files synced, the manifest written last, renamed into
  place, then verified *on disk*; only then are older checkpoints pruned, and the newest
  ``keep`` (2) stay, so a checkpoint found corrupt later has a complete one to fall back to
  (:func:`write_checkpoint_dir`, :func:`latest_verified`).
- a **single file** (an MAE ``model.pt``, a frame dataset ``.npz``) has a sidecar
  ``<name>.sha256`` (:func:`write_with_digest`, :func:`verify_file`). A file without a sidecar
  (copied from elsewhere, written by an older version) is read unverified, with one note once it
  has been read (:func:`note_unverified`); one that cannot be read is refused without it.

A kill at any moment leaves either the old complete state or the new one, plus at most a
``.tmp-*`` directory or a ``*.tmp`` file, which :func:`remove_stale` deletes on the next start.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from spirl.utils import atomic_path

MANIFEST = "MANIFEST"
DIGEST_SUFFIX = ".sha256"
_LINE = re.compile(r"^([0-9a-f]{64})  (\S.*)$")


class IntegrityError(ValueError):
    """A file whose content does not match its recorded sha256, or whose manifest is missing or unreadable."""


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The sha256 of a file's bytes (read in 1 MiB chunks), as 64 hex digits."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    """Flush a file (or a directory's entries) to the disk, so a power cut cannot leave it empty."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse fsync on a directory; the rename is still atomic
        pass
    finally:
        os.close(fd)


def write_manifest(manifest: Path, files: Iterable[Path]) -> None:
    """Write ``manifest`` listing the sha256 of each of ``files`` (all in the manifest's folder), synced."""
    lines = [f"{sha256_file(f)}  {f.name}" for f in sorted(files)]
    tmp = manifest.with_name(f".{manifest.name}.tmp")
    tmp.write_text("\n".join(lines) + "\n")
    _fsync(tmp)
    os.replace(tmp, manifest)


def read_manifest(manifest: Path) -> dict[str, str]:
    """``{file name: sha256}`` of a manifest.

    Raises:
        IntegrityError: the manifest is missing, empty or not in ``sha256sum`` format.
    """
    try:
        text = manifest.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise IntegrityError(f"{manifest} is missing or unreadable ({err.__class__.__name__})") from None
    entries: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        m = _LINE.match(line)
        if not m:
            raise IntegrityError(f"{manifest}:{number}: not a '<sha256>  <file>' line")
        entries[m.group(2)] = m.group(1)
    if not entries:
        raise IntegrityError(f"{manifest} lists no files")
    return entries


def verify_manifest(manifest: Path) -> None:
    """Check every file a manifest lists against its sha256.

    Raises:
        IntegrityError: naming the first file that is missing or differs (corrupt, truncated or replaced).
    """
    for name, want in read_manifest(manifest).items():
        path = manifest.parent / name
        if not path.is_file():
            raise IntegrityError(f"{path} is missing (listed in {manifest.name})")
        have = sha256_file(path)
        if have != want:
            raise IntegrityError(f"{path} does not match its sha256 in {manifest.name} (corrupt, truncated or "
                                 f"changed: {path.stat().st_size} bytes)")


# ------------------------------------------------------------------------------- checkpoint directories


def write_checkpoint_dir(root: Path, name: str, write: Callable[[Path], None], *, keep: int = 2,
                         prefix: str | None = None) -> Path:
    """Write the checkpoint ``root/name/`` with a manifest, verify it on disk, then prune older ones.

    ``write(folder)`` writes the checkpoint's files into ``folder`` (a temporary directory). The
    newest ``keep`` complete checkpoints whose names start with ``prefix`` (default: ``name`` up to
    its first ``-``) are kept; older ones are deleted only after the new one is verified.

    Raises:
        IntegrityError: the checkpoint just written does not read back as written (a failing disk).
    """
    prefix = prefix if prefix is not None else name.split("-", 1)[0] + "-"
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".tmp-{name}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    write(tmp)
    files = [p for p in tmp.iterdir() if p.is_file() and p.name != MANIFEST]
    for f in files:
        _fsync(f)
    write_manifest(tmp / MANIFEST, files)
    final = root / name
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    _fsync(root)
    verify_manifest(final / MANIFEST)  # read back from disk before anything older is given up
    for old in complete_checkpoints(root, prefix)[keep:]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def complete_checkpoints(root: Path, prefix: str) -> list[Path]:
    """Checkpoint directories ``root/<prefix>*`` that have a manifest, newest (highest name) first."""
    if not root.is_dir():
        return []
    return sorted((p for p in root.glob(f"{prefix}*") if (p / MANIFEST).is_file()), reverse=True)


def latest_verified(root: Path, prefix: str, *, what: str, log: Callable[[str], None]) -> Path | None:
    """The newest checkpoint under ``root`` whose files match their manifest, or None when there is none.

    Newer checkpoints that fail are deleted once an intact one is found, each with one line through
    ``log`` naming what was wrong and the checkpoint used instead.

    Raises:
        IntegrityError: checkpoints exist but none is intact (they are left as they are); the message
            names the newest one's fault and the remedy.
    """
    # every candidate, a manifest or not: one without is not ours to trust (an older version, a stray copy)
    found = sorted((p for p in root.glob(f"{prefix}*") if p.is_dir()), reverse=True) if root.is_dir() else []
    failed: list[tuple[Path, IntegrityError]] = []
    for path in found:
        try:
            verify_manifest(path / MANIFEST)
        except IntegrityError as err:
            failed.append((path, err))
            continue
        for bad, err in failed:
            log(f"{what} {bad} is unusable: {err}; deleted it, resuming from {path.name}")
            shutil.rmtree(bad, ignore_errors=True)
        return path
    if failed:
        raise IntegrityError(f"no intact {what} in {root}: {failed[0][1]}; delete {root} to start afresh")
    return None


def remove_stale(root: Path) -> list[Path]:
    """Delete what a killed writer left in ``root``: ``.tmp-*`` directories and ``*.tmp`` files. Returns them."""
    if not root.is_dir():
        return []
    stale = [p for p in root.iterdir() if p.name.startswith(".tmp-") or p.name.endswith(".tmp")]
    for p in stale:
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
    return stale


# ------------------------------------------------------------------------------------------ single files


def digest_path(path: str | os.PathLike[str]) -> Path:
    """The sidecar of a single file: ``model.pt`` -> ``model.pt.sha256``."""
    p = Path(path)
    return p.with_name(p.name + DIGEST_SUFFIX)


def write_with_digest(path: str | os.PathLike[str], write: Callable[[Path], None]) -> Path:
    """Write ``path`` atomically through ``write(tmp_path)``, then its sidecar ``<name>.sha256``.

    The old sidecar is removed first, so a kill between the two writes leaves a file without a
    digest (read unverified, with a note), never a file with a digest that is not its own.
    """

    target = Path(path)
    sidecar = digest_path(target)
    sidecar.unlink(missing_ok=True)
    with atomic_path(target) as tmp:
        write(tmp)
        _fsync(tmp)
        digest = sha256_file(tmp)
    with atomic_path(sidecar) as tmp:
        tmp.write_text(f"{digest}  {target.name}\n")
    return target


def verify_file(path: str | os.PathLike[str], *, what: str) -> bool:
    """Check a file against its sidecar: True when verified, False when it has none (see :func:`note_unverified`).

    Raises:
        IntegrityError: the file differs from its recorded sha256 (corrupt, truncated or replaced).
    """
    p = Path(path)
    sidecar = digest_path(p)
    if not sidecar.is_file():
        return False
    entries = read_manifest(sidecar)
    want = entries.get(p.name)
    if want is None:
        raise IntegrityError(f"{sidecar} does not list {p.name}")
    if sha256_file(p) != want:
        raise IntegrityError(f"{what} {p} does not match its sha256 in {sidecar.name} (corrupt, truncated or "
                             f"changed since it was written); write it again, or delete both files")
    return True


def note_unverified(path: str | os.PathLike[str], *, what: str) -> None:
    """One line saying that ``path`` was read without a digest (once it has been read successfully)."""
    p = Path(path)
    print(f"spirl: note: {what} {p} has no {digest_path(p).name} beside it; read unverified", file=sys.stderr)


def _not_torch(path: Path) -> str | None:
    """Why ``path`` cannot be a file ``torch.save`` wrote (a zip archive, or a legacy pickle), else None."""
    with open(path, "rb") as fh:
        head = fh.read(12)
    if not head:
        return "the file is empty"
    if not head.startswith(b"PK\x03\x04") and head[:1] != b"\x80":
        return f"not a file torch.save wrote: it starts with {head!r}"
    return None


def _reason(err: BaseException) -> str:
    """A short reason a torch file could not be read (never torch's advice to turn the safety check off)."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    if "weights only" in text.lower() or "weights_only" in text:
        return "it holds objects other than tensors and plain values"
    return f"{type(err).__name__}: {text[:120]}"


def load_torch(path: str | os.PathLike[str], *, what: str, remedy: str, map_location: object = "cpu",
               verify: bool = True, error: type[ValueError] = IntegrityError) -> object:
    """Read a torch file safely: its sidecar digest checked first (``verify``), then ``weights_only=True``.

    Raises:
        FileNotFoundError: ``path`` is not a file.
        IntegrityError: it differs from its digest.
        error: it is not a readable torch file (empty, truncated, text, or objects other than tensors and
            plain values); one line naming the file, what is wrong and ``remedy``.
    """
    import torch

    p = Path(path)
    if not p.is_file():
        where = f"{p} (a directory)" if p.is_dir() else str(p)
        raise FileNotFoundError(f"no {what} at {where}; {remedy}")
    verified = verify_file(p, what=what) if verify else True
    why = _not_torch(p)
    if why is not None:
        raise error(f"{p} is not a readable {what} ({why}); {remedy}")
    try:
        payload = torch.load(p, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises many types for a file that is not its own
        raise error(f"{p} is not a readable {what} ({_reason(err)}); {remedy}") from None
    if not verified:
        note_unverified(p, what=what)
    return payload


__all__ = [
    "DIGEST_SUFFIX",
    "MANIFEST",
    "IntegrityError",
    "complete_checkpoints",
    "digest_path",
    "latest_verified",
    "load_torch",
    "note_unverified",
    "read_manifest",
    "remove_stale",
    "sha256_file",
    "verify_file",
    "verify_manifest",
    "write_checkpoint_dir",
    "write_manifest",
]
