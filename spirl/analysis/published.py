"""Published per-run scores: download on request (sha256-pinned) and load for the statistics.

The project commits none of these files. ``spirl fetch-published --published-config CONFIG --out DIR``
reads the ``published:`` list of a preset (or any YAML/JSON file with that key)::

    published:
      - name: SPR
        url: https://raw.githubusercontent.com/eloialonso/iris/<commit>/results/data/SPR.json
        sha256: 055133e22ddb1e7154bbb48b6d229e3b064ea374911158f5d5c1a92cd59e2ad3
        source: eloialonso/iris results/data (GPL-3.0; mirror of rliable's Atari 100k data)

and writes ``DIR/<name>.json`` (``DIR/<name>.csv`` for a URL ending in ``.csv``: a long per-evaluation
table, ``spirl.analysis.formats``). A download whose sha256 differs from the pinned one is
refused and nothing is left behind; a file already present with the right hash is kept.
``load_published(path)`` reads ``{game: [score per run]}`` (raw game scores), which
``published_frame`` turns into method ``published:<name>``.
"""

from __future__ import annotations

import json
import math
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from spirl.analysis.scores import PUBLISHED_PREFIX, SCORE_COLUMNS, check_scores
from spirl.atari import games as game_table
from spirl.config import ConfigError, check_published, published_file
from spirl.integrity import sha256_file
from spirl.utils import atomic_path, read_yaml


class PublishedDataError(ValueError):
    """A published-data config entry, download or file that cannot be used."""


class HashMismatchError(PublishedDataError):
    """A downloaded file whose sha256 is not the pinned one."""


@dataclass(frozen=True)
class PublishedEntry:
    """One file to fetch: its name (the method becomes ``published:<name>``), URL, pinned sha256, source."""

    name: str
    url: str
    sha256: str
    source: str = ""


def read_config(path: str | Path) -> list[PublishedEntry]:
    """The ``published:`` entries of a YAML or JSON config (an empty list gives no entries).

    The entries are checked by ``spirl.config.check_published`` (the same rule a preset's list obeys).

    Raises:
        PublishedDataError: a missing key, a malformed URL or sha256, or a repeated name.
    """
    path = Path(path)
    raw = read_yaml(path, what="config", error=PublishedDataError) or {}
    items = raw.get("published") if isinstance(raw, dict) else None
    if not isinstance(items, list):  # an empty list is fine: nothing to fetch
        raise PublishedDataError(f"{path}: no 'published:' list (entries with name, url, sha256)")
    try:
        checked = check_published(f"{path}: published", items)
    except ConfigError as err:
        raise PublishedDataError(str(err)) from None
    return [PublishedEntry(e["name"], e["url"], e["sha256"], e.get("source", "")) for e in checked]


def fetch(entry: PublishedEntry, out_dir: str | Path, *, timeout: float = 60.0) -> Path:
    """Download ``entry`` to ``out_dir/<name>.json`` (or ``.csv``) unless a file with the pinned hash is there.

    The bytes go to a temporary file that is renamed only once its sha256 matches.

    Raises:
        HashMismatchError: the download (or an existing file) has another sha256; nothing is written.
        PublishedDataError: the URL cannot be read.
    """
    target = Path(out_dir) / published_file(entry.name, entry.url)
    if target.exists():
        have = sha256_file(target)
        if have != entry.sha256:
            raise HashMismatchError(f"{target} exists with sha256 {have}, not the pinned {entry.sha256}; "
                                    f"remove it to download again")
        return target
    existed = target.parent.exists()
    try:
        with atomic_path(target) as tmp:
            try:
                with urllib.request.urlopen(entry.url, timeout=timeout) as response, open(tmp, "wb") as fh:
                    for block in iter(lambda: response.read(1 << 16), b""):
                        fh.write(block)
            except (OSError, ValueError) as err:
                raise PublishedDataError(f"{entry.name}: cannot download {entry.url} ({err})") from None
            got = sha256_file(tmp)
            if got != entry.sha256:
                raise HashMismatchError(f"{entry.name}: {entry.url} has sha256 {got}, not the pinned "
                                        f"{entry.sha256}; refused")
    finally:
        # atomic_path creates the directory; a refused download must not leave it behind either.
        if not existed and not target.exists() and target.parent.exists() and not any(target.parent.iterdir()):
            target.parent.rmdir()
    return target


def load_published(path: str | Path) -> dict[str, list[float]]:
    """Read published per-run final scores ``{game: [score per run]}`` (raw scores), games canonicalised.

    Raises:
        PublishedDataError: not that shape, or non-finite scores.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no published scores at {path}")
    try:
        raw: Any = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise PublishedDataError(f"{path}: not JSON ({err})") from None
    if not isinstance(raw, dict) or not raw:
        raise PublishedDataError(f"{path}: expected {{game: [score per run]}}")
    out: dict[str, list[float]] = {}
    for game, runs in raw.items():
        if not isinstance(runs, list) or not runs or not all(
                isinstance(s, int | float) and not isinstance(s, bool) for s in runs):
            raise PublishedDataError(f"{path}: {game}: expected a non-empty list of numbers")
        if not all(math.isfinite(s) for s in runs):
            raise PublishedDataError(f"{path}: {game}: scores contain NaN or infinity")
        canonical = game_table.canonical(game)
        if canonical in out:
            raise PublishedDataError(f"{path}: game {canonical} appears twice")
        out[canonical] = [float(s) for s in runs]
    return out


def published_frame(data: dict[str, Sequence[float]], name: str, step: int = 100_000) -> pd.DataFrame:
    """Published per-run final scores ``{game: [score per run]}`` as a tidy scores table.

    The method is ``published:<name>``; each run becomes one seed (its index) with a single
    "episode" holding the published per-run score, so a run's final score is that number.
    """
    rows = [
        (PUBLISHED_PREFIX + name, game_table.canonical(game), run, step, 0, float(score))
        for game, runs in data.items()
        for run, score in enumerate(runs)
    ]
    return check_scores(pd.DataFrame(rows, columns=list(SCORE_COLUMNS)), f"published {name}")
