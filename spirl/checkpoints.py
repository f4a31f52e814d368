"""The one checkpoint store: where a resumable job keeps its state, and how it resumes from it.

Two kinds of job resume from checkpoints, with the same names, errors and rules:

- :data:`TRAINING` (``spirl train``): ``results/.ckpt/runs/{method}/{game}/{seed}/step-XXXXXXXXX/``
  holding ``replay.npz`` and ``state.pt``;
- :data:`PRETRAINING` (``spirl pretrain``): ``<out dir>/.ckpt/<out stem>/epoch-XXXX/`` holding ``state.pt``.

A kind's manifest must name exactly its files.

A checkpoint is a folder written by :func:`spirl.integrity.write_checkpoint_dir` (temporary name,
synced, ``MANIFEST`` of sha256 last, renamed, verified on disk, the two newest kept). ``state.pt``
holds only tensors and plain values (numpy arrays packed as tensors), read with ``weights_only``.

**The fall-back rule** (:meth:`CheckpointStore.resume`): candidates are tried newest first. A
candidate whose manifest is missing, incomplete (it must name every file of its kind) or does not
match its files, or whose state cannot be read or restored *for any reason* (a torch error, a
replay with NaN priorities, another format), is passed over for the one before it; once one
restores, the newer ones are deleted with one line each. Only when none restores is the job
refused, naming the newest one's fault and the folder to delete.

**Input binding.** A state records the sha256 of every input that decides the job's numbers
(the MAE, the K statistics, the settings, the frames: ``inputs``). A checkpoint made with other
inputs is never resumed and never passed over: :class:`CheckpointMismatchError` names the input
and both digests, and ``force`` (``--force``) starts the job over instead.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from spirl.integrity import (
    MANIFEST,
    IntegrityError,
    load_torch,
    remove_stale,
    sha256_file,
    verify_manifest,
    write_checkpoint_dir,
)

_ARRAY, _SCALAR = "__numpy_array__", "__numpy_scalar__"


class CheckpointError(ValueError):
    """A checkpoint (or a model file) that cannot be used; the message names the file. The base of all below."""


class UnusableCheckpointError(CheckpointError):
    """One checkpoint that cannot be read or restored (damaged, incomplete, another format): the store falls back."""


class NoIntactCheckpointError(CheckpointError):
    """Checkpoints exist but none can be restored; the message names the newest one's fault and the remedy."""


class CheckpointMismatchError(CheckpointError):
    """A checkpoint (or a model) made with other inputs, settings or for another run: never resumed silently."""


@dataclass(frozen=True)
class Kind:
    """One kind of checkpoint: its name in messages, its folder prefix, index width and the files it must have."""

    what: str
    prefix: str
    width: int
    files: tuple[str, ...]
    format: str
    command: str

    def folder(self, index: int) -> str:
        """``step-000000100`` / ``epoch-0003``."""
        return f"{self.prefix}{index:0{self.width}d}"


TRAINING = Kind("training checkpoint", "step-", 9, ("replay.npz", "state.pt"), "spirl-train-checkpoint-3",
                "spirl train")
PRETRAINING = Kind("pretraining state", "epoch-", 4, ("state.pt",), "spirl-pretrain-state/2", "spirl pretrain")


def default_checkpoint_dir(out: str | Path, kind: Kind = TRAINING) -> Path:
    """Where a job's checkpoints live by default, outside its declared outputs.

    Training (``out`` is a run folder): ``results/runs/M/G/S`` -> ``results/.ckpt/runs/M/G/S``; another
    folder ``OUT`` -> ``OUT/.ckpt``. Pretraining (``out`` is the model file): ``DIR/model.pt`` -> ``DIR/.ckpt/model``.
    """
    path = Path(out)
    if kind is PRETRAINING:
        return path.parent / ".ckpt" / path.stem
    parts = path.parts
    for i in range(len(parts) - 1):
        if parts[i] == "results" and parts[i + 1] == "runs":
            return Path(*parts[:i], "results", ".ckpt", "runs", *parts[i + 2:])
    return path / ".ckpt"


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in d.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def settings_differences(saved: dict[str, Any], current: dict[str, Any],
                         ignore: tuple[str, ...] = ("budget.device",)) -> list[str]:
    """``key: checkpoint X vs this run Y`` for every flattened setting that differs (``ignore``d keys skipped)."""
    a, b = _flatten(saved), _flatten(current)
    keys = sorted((a.keys() | b.keys()) - set(ignore))
    return [f"{k}: checkpoint {a.get(k)!r} vs this run {b.get(k)!r}" for k in keys if a.get(k) != b.get(k)]


def input_differences(saved: dict[str, str | None], current: dict[str, str | None]) -> list[str]:
    """``MAE sha256 <saved> in the checkpoint, <current> given`` for every bound input that differs."""
    keys = sorted(saved.keys() | current.keys())
    return [f"{k} sha256 {saved.get(k)} in the checkpoint, {current.get(k)} given" for k in keys
            if saved.get(k) != current.get(k)]


def refuse_other_job(path: Path, kind: Kind, saved: dict[str, Any], current: dict[str, Any]) -> None:
    """The one mismatch rule: refuse a checkpoint whose bound ``inputs`` (digests) or ``settings`` differ.

    ``saved`` and ``current`` are ``{"inputs": {name: sha256}, "settings": {...}}`` (settings nested, device
    ignored).

    Raises:
        CheckpointMismatchError: one line naming every difference, both digests or values (``--force`` starts over).
    """
    diffs = input_differences(saved.get("inputs") or {}, current["inputs"])
    diffs += settings_differences(saved.get("settings") or {}, current["settings"])
    if diffs:
        raise CheckpointMismatchError(f"{kind.what} {path} was made with other inputs or settings "
                                      f"({'; '.join(diffs)}); give those, or start over with --force (under "
                                      f"Snakemake: delete {Path(path).parent})")


def input_digests(paths: dict[str, str | Path | None]) -> dict[str, str]:
    """``{name: sha256}`` of the given input files (``None`` skipped): what a checkpoint and ``run.json`` bind."""
    return {name: sha256_file(path) for name, path in paths.items() if path is not None and Path(path).is_file()}


def pack(obj: Any) -> Any:
    """Numpy arrays and scalars as tensors and plain values, so ``torch.load(weights_only=True)`` reads them back."""
    import torch  # here, so that reading the layout (spirl status) does not load torch

    if isinstance(obj, np.ndarray):
        return {_ARRAY: torch.from_numpy(np.ascontiguousarray(obj).copy())}
    if isinstance(obj, np.generic):
        return {_SCALAR: obj.dtype.str, "value": obj.item()}
    if isinstance(obj, dict):
        return {k: pack(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(pack(v) for v in obj)
    return obj


def unpack(obj: Any) -> Any:
    """The inverse of :func:`pack`."""
    if isinstance(obj, dict):
        if _ARRAY in obj and len(obj) == 1:
            return obj[_ARRAY].numpy()
        if _SCALAR in obj and len(obj) == 2:
            return np.dtype(obj[_SCALAR]).type(obj["value"])
        return {k: unpack(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(unpack(v) for v in obj)
    return obj


class CheckpointStore:
    """The checkpoints of one job of one :class:`Kind` under ``root``.

    Args:
        root: the job's checkpoint folder (``default_checkpoint_dir`` or ``--ckpt-dir``).
        kind: :data:`TRAINING` or :data:`PRETRAINING`.
        log: where the one-line notes go (fall-backs, starting over); stderr by default.
    """

    def __init__(self, root: str | Path, kind: Kind, log: Callable[[str], None] | None = None) -> None:
        self.root, self.kind = Path(root), kind
        self.log = log if log is not None else self._note

    def _note(self, msg: str) -> None:
        print(f"{self.kind.command}: {msg}", file=sys.stderr, flush=True)

    def save(self, index: int, state: dict[str, Any], extra: Callable[[Path], None] | None = None) -> Path:
        """Write ``root/<prefix><index>/``: ``state.pt`` (``state`` packed, with the kind's format) and what
        ``extra(folder)`` writes (the replay); verified on disk, the two newest kept.

        Raises:
            spirl.integrity.DiskFullError: the disk filled up; the message names the folder and the kept checkpoint.
        """
        import torch

        body = pack({**state, "format": self.kind.format})

        def write(folder: Path) -> None:
            if extra is not None:
                extra(folder)
            torch.save(body, folder / "state.pt")

        return write_checkpoint_dir(self.root, self.kind.folder(index), write, keep=2, prefix=self.kind.prefix,
                                    what=self.kind.what)

    def read_state(self, path: Path, map_location: Any = "cpu") -> dict[str, Any]:
        """The state of checkpoint ``path`` after its manifest is verified complete and intact.

        Raises:
            UnusableCheckpointError: the manifest is missing, incomplete or does not match; the state is not
                readable or of another format.
        """
        try:
            verify_manifest(path / MANIFEST, required=self.kind.files)
        except IntegrityError as err:
            raise UnusableCheckpointError(str(err)) from None
        file = path / "state.pt"
        state = load_torch(file, what=self.kind.what, verify=False, error=UnusableCheckpointError,
                           map_location=map_location, remedy="damaged, or written by another version")
        if not isinstance(state, dict) or state.get("format") != self.kind.format:
            found = state.get("format") if isinstance(state, dict) else type(state).__name__
            raise UnusableCheckpointError(f"{file} is a checkpoint of format {found!r}, not {self.kind.format!r}")
        return unpack(state)

    def candidates(self) -> list[Path]:
        """Every checkpoint folder, a manifest or not, newest (highest index) first."""
        if not self.root.is_dir():
            return []
        return sorted((p for p in self.root.glob(f"{self.kind.prefix}*") if p.is_dir()), reverse=True)

    def resume(self, restore: Callable[[Path, dict[str, Any]], None], *, force: bool = False,
               map_location: Any = "cpu") -> Path | None:
        """Restore the newest usable checkpoint through ``restore(path, state)``; its path, or None when there is none.

        What a kill left half-written is removed first. ``restore`` raises :class:`CheckpointMismatchError` for a
        checkpoint of other inputs or settings: refused (re-raised), or with ``force`` every checkpoint is deleted
        and None returned (the job starts over). Any other failure falls back to the checkpoint before.

        Raises:
            CheckpointMismatchError: the checkpoint was made with other inputs and ``force`` is False.
            NoIntactCheckpointError: checkpoints exist but none restores (they are left as they are).
        """
        remove_stale(self.root)
        failed: list[tuple[Path, str]] = []
        for path in self.candidates():
            try:
                restore(path, self.read_state(path, map_location))
            except CheckpointMismatchError as err:
                if not force:
                    raise
                self.log(f"{err}; starting over as --force asks (deleted {self.root})")
                self.remove_all()
                return None
            except (KeyboardInterrupt, MemoryError):
                raise
            except Exception as err:  # any failure to read or restore: fall back (module docstring)
                failed.append((path, _one_line(err)))
                continue
            for bad, why in failed:
                self.log(f"{self.kind.what} {bad} is unusable: {why}; deleted it, resuming from {path.name}")
                shutil.rmtree(bad, ignore_errors=True)
            return path
        if failed:
            raise NoIntactCheckpointError(f"no intact {self.kind.what} in {self.root}: {failed[0][1]}; "
                                          f"delete {self.root} to start afresh")
        return None

    def remove_all(self) -> list[Path]:
        """Delete every checkpoint of this kind (once the job's outputs are written). Returns them."""
        found = list(self.root.glob(f"{self.kind.prefix}*")) if self.root.is_dir() else []
        for old in found:
            shutil.rmtree(old, ignore_errors=True)
        return found

    def newest_written(self) -> tuple[Path, int, float] | None:
        """The newest checkpoint that has its manifest: ``(folder, index, time written)``, else None.

        Not verified, nothing deleted: for reading a job's progress (``spirl status``) cheaply while it runs.
        """
        for path in self.candidates():
            try:
                return path, int(path.name[len(self.kind.prefix):]), (path / MANIFEST).stat().st_mtime
            except (OSError, ValueError):  # replaced by the next checkpoint while we looked, or not ours
                continue
        return None


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return text if isinstance(err, (CheckpointError, IntegrityError)) else f"{type(err).__name__}: {text}"


__all__ = [
    "PRETRAINING",
    "TRAINING",
    "CheckpointError",
    "CheckpointMismatchError",
    "CheckpointStore",
    "Kind",
    "NoIntactCheckpointError",
    "UnusableCheckpointError",
    "default_checkpoint_dir",
    "input_differences",
    "input_digests",
    "pack",
    "refuse_other_job",
    "settings_differences",
    "unpack",
]
