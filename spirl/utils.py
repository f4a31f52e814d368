"""Small shared helpers: atomic writes, devices, threads, versions, progress bars."""

from __future__ import annotations

import contextlib
import functools
import glob
import json
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from spirl.devices import select_device
from spirl.progress import ProgressRecorder


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    A reader therefore sees either the old file or the complete new one, never half of it. A
    temporary file of the same target that a killed writer left behind is deleted first.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in target.parent.glob(f".{glob.escape(target.name)}.*.tmp"):
        stale.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp makes 0600; outputs should honour the umask
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


@functools.cache
def _unique_key_loader() -> tuple[type, type]:
    """A PyYAML SafeLoader that refuses a mapping key given twice (YAML itself keeps the last), and its error."""
    import yaml

    class DuplicateKeyError(yaml.constructor.ConstructorError):
        pass

    class UniqueKeyLoader(yaml.SafeLoader):
        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                try:
                    first = seen.get(key)
                except TypeError:  # an unhashable key; the base class reports it
                    break
                if first is not None:
                    raise DuplicateKeyError(None, None, f"{key!r} is defined twice (lines {first} and {line}); "
                                            "YAML would keep only the last, so keep one", key_node.start_mark)
                seen[key] = line
            return super().construct_mapping(node, deep=deep)

    return UniqueKeyLoader, DuplicateKeyError


def read_yaml(path: str | os.PathLike[str], *, what: str, error: type[ValueError] = ValueError) -> Any:
    """Parse a YAML (or JSON) file, refusing a missing file, bad syntax or a key given twice with one line.

    The one reader of presets, method files, study files and published-data lists.

    Raises:
        FileNotFoundError: ``no {what} at PATH``.
        error: ``PATH:LINE: ...`` for a syntax error or a duplicate key; pass the caller's own ValueError subclass.
    """
    import yaml

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no {what} at {p}" + (" (it is a directory)" if p.is_dir() else ""))
    try:
        text = p.read_text()
    except UnicodeDecodeError:
        raise error(f"{p}: not a text file, so not a {what} (YAML/JSON)") from None
    loader, duplicate = _unique_key_loader()
    try:
        return yaml.load(text, Loader=loader)  # a SafeLoader subclass
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"{p}:{mark.line + 1}" if mark is not None else str(p)
        problem = err.problem or err.context or "syntax error"
        if isinstance(err, duplicate):
            raise error(f"{where}: {problem}") from None
        raise error(f"{where}: not valid YAML ({problem})") from None
    except yaml.YAMLError as err:
        raise error(f"{p}: not valid YAML/JSON ({err})") from None


def choose_device(requested: str = "auto") -> str:
    """Return ``"cuda"`` when a GPU is present and ``requested`` is ``auto``, else ``requested`` (checked).

    See ``spirl.devices.select_device``, which this calls.
    """

    return select_device(requested)


def set_threads(threads: int | None) -> int:
    """Honour a rule's ``threads`` (``torch.set_num_threads``); return the count in force."""
    import torch

    if threads is not None and threads > 0:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch global generators; on a GPU also ask for deterministic kernels.

    CPU kernels are already deterministic for a fixed thread count, and the switch costs seconds
    at start-up (it imports torch's compiler stack), so it is only thrown where it matters.
    """
    import random

    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.use_deterministic_algorithms(True, warn_only=True)


def versions() -> dict[str, str]:
    """Versions of Python and of every package whose behaviour affects the numbers."""
    from importlib import metadata

    out = {"python": platform.python_version(), "platform": platform.platform()}
    for pkg in ("spirl", "torch", "numpy", "gymnasium", "ale-py", "pandas", "rliable", "snakemake"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def git_commit(cwd: str | os.PathLike[str] | None = None) -> str:
    """The current git commit of the project (``+dirty`` if the tree has changes), or ``unknown``."""
    here = Path(cwd) if cwd else Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here, capture_output=True, text=True, timeout=10,
        ).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def progress(iterable: Iterable[Any] | None = None, *, total: int | None = None, desc: str = "",
             unit: str = "it", initial: int = 0) -> Any:
    """A tqdm progress bar on a terminal; off a terminal (logs, CI, Snakemake), one-line progress records.

    ``initial``: units already done (a resumed step). The records, their cadence and their fields
    are ``spirl.progress``'s (docs/monitoring.md).
    """
    if not sys.stderr.isatty():
        return ProgressRecorder(iterable, total=total, desc=desc, unit=unit, initial=initial)
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, unit=unit, initial=initial, dynamic_ncols=True, leave=False)


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MiB."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
