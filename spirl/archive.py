"""One shareable archive of a run's or an MAE's final files, with their settings and digests.

A pretrained MAE costs hours and a run days; ``export_mae`` / ``export_run`` pack their final files
into one ``.tar.gz`` another user can ``import_archive`` into their own results folder:

* ``manifest.json`` (first member): ``format`` (``ARCHIVE_FORMAT``), ``kind`` (``mae`` or ``run``),
  ``game``, the ``architecture`` (the MAE's ``MAEArch``; a run's ``agent`` and ``mae`` sections),
  the ``settings`` (an MAE's architecture and pretraining; a run's resolved settings), ``method`` /
  ``seed`` for a run, ``files`` (name -> sha256 and bytes), and the exporting versions;
* ``files/<name>``: an MAE's ``model.pt`` and ``pretrain.csv``; a run's ``eval.csv``, ``run.json``,
  ``train_log.csv`` and trained network ``final.pt``.

Export verifies each file against its ``.sha256`` sidecar where it has one and reads the MAE or
network back. Import verifies every file against the manifest before anything is written, refuses
another game or architecture than the one asked for in one line, and writes each file atomically,
a checkpoint with its sidecar, so the harness verifies it again on every load, and ``imported.json``
beside them: the manifest and the archive's own sha256, where the files came from.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from spirl.checkpoints import default_checkpoint_dir
from spirl.integrity import sha256_file, write_with_digest
from spirl.utils import atomic_path, versions

ARCHIVE_FORMAT = "spirl-archive/1"
MANIFEST = "manifest.json"
IMPORT_RECORD = "imported.json"  # written beside the imported files: the archive's sha256 and manifest
# The files of each kind: name -> required. Nothing else is packed or unpacked (no path from an archive is trusted).
FILES = {
    "mae": {"model.pt": True, "pretrain.csv": False},
    "run": {"eval.csv": True, "run.json": True, "train_log.csv": False, "final.pt": True},
}
CHECKPOINTS = {"model.pt", "final.pt"}  # written with a .sha256 sidecar on import


class ArchiveError(ValueError):
    """An archive that cannot be written or used: missing files, a digest mismatch, another game or architecture."""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _pack(out: Path, manifest: dict[str, Any], files: dict[str, Path]) -> Path:
    """Write the archive atomically: the manifest, then each file under ``files/``."""
    blobs = {name: path.read_bytes() for name, path in files.items()}
    manifest = {**manifest, "files": {n: {"sha256": _sha256(b), "bytes": len(b)} for n, b in blobs.items()},
                "versions": versions()}
    with atomic_path(out) as tmp, tarfile.open(tmp, "w:gz") as tar:
        for name, data in [(MANIFEST, json.dumps(manifest, indent=1).encode()),
                           *((f"files/{n}", b) for n, b in blobs.items())]:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644  # no dates: the same files, the same archive
            tar.addfile(info, io.BytesIO(data))
    return out


def export_mae(model: str | Path, out: str | Path) -> Path:
    """Pack an MAE checkpoint (``results/mae/{variant}/{game}/model.pt``) and its ``pretrain.csv`` into ``out``."""
    from spirl.mae.checkpoint import load_mae

    model = Path(model)
    if not model.is_file():
        raise FileNotFoundError(f"no MAE checkpoint at {model}")
    _, meta = load_mae(model)  # checks its digest; refuses a file that is not an MAE checkpoint
    files = {"model.pt": model}
    if (model.parent / "pretrain.csv").is_file():
        files["pretrain.csv"] = model.parent / "pretrain.csv"
    extra = meta.get("extra", {})
    manifest = {"format": ARCHIVE_FORMAT, "kind": "mae", "game": meta["game"], "architecture": asdict(meta["arch"]),
                "settings": {"mae": asdict(meta["arch"]), "pretrain": extra.get("pretrain")},
                "has_decoder": meta["has_decoder"]}
    return _pack(Path(out), manifest, files)


def export_run(run_dir: str | Path, out: str | Path, network: str | Path | None = None) -> Path:
    """Pack a finished run (``eval.csv``, ``run.json``, ``train_log.csv``) and its trained network into ``out``.

    ``network``: the ``final.pt``; by default where ``spirl train`` left it (``trained_network_path``).
    """
    from spirl.integrity import load_torch
    from spirl.rl.policy_attention import trained_network_path

    run_dir = Path(run_dir)
    missing = [n for n in ("eval.csv", "run.json") if not (run_dir / n).is_file()]
    if missing:
        raise ArchiveError(f"{run_dir} is not a finished run: no {' or '.join(missing)}")
    info = json.loads((run_dir / "run.json").read_text())
    final = Path(network) if network else trained_network_path(run_dir, info)
    if not final.is_file():
        raise ArchiveError(f"the run's trained network {final} is missing; give it with --network")
    # load_torch checks the file's digest first
    payload = load_torch(final, what="trained network", remedy="give the run's final.pt with --network")
    if (payload.get("method"), payload.get("game"), payload.get("seed")) != (info["method"], info["game"],
                                                                             info["seed"]):
        raise ArchiveError(f"{final} is the network of {payload.get('method')}/{payload.get('game')}/seed "
                           f"{payload.get('seed')}, not of the run in {run_dir}")
    files = {"eval.csv": run_dir / "eval.csv", "run.json": run_dir / "run.json", "final.pt": final}
    if (run_dir / "train_log.csv").is_file():
        files["train_log.csv"] = run_dir / "train_log.csv"
    settings = info["settings"]
    manifest = {"format": ARCHIVE_FORMAT, "kind": "run", "game": info["game"], "method": info["method"],
                "seed": info["seed"], "architecture": run_architecture(settings), "settings": settings}
    return _pack(Path(out), manifest, files)


def run_architecture(settings: dict[str, Any]) -> dict[str, Any]:
    """What a trained network's shape depends on: the agent's settings and, for SPIRL, the MAE's."""
    arch = {"agent": settings["agent"]}
    if settings["agent"].get("encoder") == "spirl":
        arch["mae"] = settings["mae"]
    return arch


def read_archive(path: str | Path) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The manifest and the verified file contents of an archive (nothing is written).

    Raises:
        ArchiveError: not an archive of this format, an unexpected or missing member, or a file whose sha256
            differs from the manifest's.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no archive at {path}")
    try:
        with tarfile.open(path, "r:gz") as tar:
            members = {m.name: m for m in tar.getmembers() if m.isfile()}
            if MANIFEST not in members:
                raise ArchiveError(f"{path} has no {MANIFEST}: not a spirl archive")
            manifest = json.loads(tar.extractfile(members[MANIFEST]).read())  # type: ignore[union-attr]
            kind = manifest.get("kind") if isinstance(manifest, dict) else None
            if manifest.get("format") != ARCHIVE_FORMAT or kind not in FILES:
                raise ArchiveError(f"{path}: format {manifest.get('format')!r} kind {kind!r}; expected "
                                   f"{ARCHIVE_FORMAT} of an mae or a run")
            listed = manifest.get("files", {})
            names = {n.removeprefix("files/") for n in members if n != MANIFEST}
            allowed = FILES[kind]
            stray = sorted((names | set(listed)) - set(allowed))
            lacking = sorted(n for n, needed in allowed.items() if needed and n not in listed)
            if stray or lacking or names != set(listed):
                raise ArchiveError(f"{path}: files {sorted(names)} do not match the manifest's {sorted(listed)} "
                                   f"for a {kind} archive (needs {', '.join(n for n, r in allowed.items() if r)})")
            blobs = {n: tar.extractfile(members[f"files/{n}"]).read() for n in listed}  # type: ignore[union-attr]
    except (tarfile.TarError, OSError, EOFError, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ArchiveError(f"{path} is not a readable spirl archive (truncated or corrupt?): {err}") from None
    for name, data in blobs.items():
        if _sha256(data) != listed[name]["sha256"]:
            raise ArchiveError(f"{path}: {name} does not match its sha256 in the manifest (corrupt or altered)")
    return manifest, blobs


def check_expected(manifest: dict[str, Any], *, game: str | None = None,
                   architecture: dict[str, Any] | None = None) -> None:
    """Refuse, in one line, an archive of another game or another architecture than the one expected."""
    from spirl.atari.games import canonical

    what = f"{manifest['kind']} archive"
    if game is not None and canonical(game) != manifest["game"]:
        raise ArchiveError(f"the {what} holds {manifest['game']}, not {canonical(game)}")
    if architecture is not None:
        have = _flat(manifest["architecture"])
        want = _flat(architecture)
        diffs = [f"{k}={have.get(k)!r} (wanted {want.get(k)!r})" for k in sorted(set(have) | set(want))
                 if have.get(k) != want.get(k)]
        if diffs:
            raise ArchiveError(f"the {what} has another architecture: {'; '.join(diffs[:4])}"
                               + (f" and {len(diffs) - 4} more" if len(diffs) > 4 else ""))


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def import_archive(path: str | Path, out: str | Path, *, game: str | None = None,
                   architecture: dict[str, Any] | None = None,
                   force: bool = False) -> tuple[dict[str, Any], list[Path]]:
    """Verify an archive and write its files: an MAE's into ``out`` (a ``results/mae/{variant}/{game}`` folder),
    a run's into ``out`` (``results/runs/{method}/{game}/{seed}``) and its network into the run's checkpoint folder.

    Returns:
        (manifest, the paths written).

    Raises:
        ArchiveError: see ``read_archive`` and ``check_expected``.
        FileExistsError: a file that would be written exists, without ``force``.
    """

    manifest, blobs = read_archive(path)
    check_expected(manifest, game=game, architecture=architecture)
    out = Path(out)
    targets = {n: (default_checkpoint_dir(out) / n if n == "final.pt" else out / n) for n in blobs}
    targets[IMPORT_RECORD] = out / IMPORT_RECORD
    blobs = {**blobs, IMPORT_RECORD: json.dumps({"archive": str(path), "archive_sha256": sha256_file(path),
                                                 "manifest": manifest}, indent=1).encode()}
    existing = [str(p) for p in targets.values() if p.exists()]
    if existing and not force:
        raise FileExistsError(f"{existing[0]} already exists; pass --force to replace it")
    for name, target in targets.items():
        target.parent.mkdir(parents=True, exist_ok=True)
        data = blobs[name]
        if name in CHECKPOINTS:
            write_with_digest(target, lambda tmp, data=data: tmp.write_bytes(data))
        else:
            with atomic_path(target) as tmp:
                tmp.write_bytes(data)
    if manifest["kind"] == "mae":
        from spirl.mae.checkpoint import load_mae

        load_mae(targets["model.pt"], game=manifest["game"])  # it reads back, verified by its new sidecar
    return manifest, list(targets.values())
