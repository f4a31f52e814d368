"""Our scores in the formats other tools read, and theirs read back as published data.

Two files per campaign, both written by ``spirl aggregate`` from the tidy scores table
(``spirl.analysis.scores``):

* ``rliable/<method>.json``: each method's final per-run scores as rliable's and IRIS's
  ``{game: [score per run]}`` (raw game scores, runs in seed order), the shape of
  ``rliable``'s Atari 100k data and of ``spirl fetch-published``'s downloads;
* ``curves.csv``: the long per-evaluation table ``method, game, seed, step, score`` (score:
  the mean over the evaluation's episodes) that rliable's notebooks, openrlbenchmark and
  ``pandas.read_csv`` take as is.

``read_published(path, name)`` is the one reader of published data (``scores_with_published`` joins
files given on the command line to our scores): a ``.json`` of the first
form (``spirl.analysis.published.load_published``) or a ``.csv`` of the second, from us or from
anyone else; it returns a tidy scores table whose methods are ``published:<name>``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from spirl.analysis.published import load_published, published_frame
from spirl.analysis.scores import (
    PUBLISHED_PREFIX,
    SCORE_COLUMNS,
    StatsError,
    check_scores,
    final_scores,
    load_scores,
    write_csv,
)
from spirl.atari import games as game_table
from spirl.utils import atomic_path

CURVE_COLUMNS = ("method", "game", "seed", "step", "score")


def rliable_scores(df: pd.DataFrame, method: str, per_run: str = "mean") -> dict[str, list[float]]:
    """One method's final per-run raw scores ``{game: [score per run]}``, games in table order, runs by seed.

    ``per_run`` is the statistic over the final evaluation's episodes (``final_scores``).
    """
    runs = final_scores(check_scores(df[df["method"] == method], f"method {method}"), "final", per_run)
    if runs.empty:
        raise StatsError(f"no scores for method {method}")
    order = game_table.order_games(runs["game"])
    return {g: runs[runs["game"] == g].sort_values("seed")["score"].astype(float).tolist() for g in order}


def curves(df: pd.DataFrame) -> pd.DataFrame:
    """The long per-evaluation table ``CURVE_COLUMNS``: one row per (method, game, seed, step), episodes averaged."""
    df = check_scores(df)
    out = df.groupby(["method", "game", "seed", "step"], sort=True)["score"].mean().reset_index()
    return out.loc[:, list(CURVE_COLUMNS)]


def write_rliable(df: pd.DataFrame, out_dir: str | Path, per_run: str = "mean") -> list[Path]:
    """Write ``out_dir/<method>.json`` for every method of ``df`` (atomically); return the paths."""
    paths = []
    for method in dict.fromkeys(df["method"].astype(str)):
        if "/" in method or method.startswith("."):
            raise StatsError(f"method {method!r} cannot name a file")
        path = Path(out_dir) / f"{method}.json"
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(rliable_scores(df, method, per_run), indent=1) + "\n")
        paths.append(path)
    return paths


def write_curves(df: pd.DataFrame, path: str | Path) -> Path:
    """Write the long per-evaluation CSV (``CURVE_COLUMNS``) atomically."""
    write_csv(curves(df), path)
    return Path(path)


def _read_curves(path: Path) -> pd.DataFrame:
    """A long CSV with ``CURVE_COLUMNS`` (extra columns ignored) as a tidy scores table (one 'episode' each)."""
    try:
        raw = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise StatsError(f"{path}: not a readable CSV ({err})") from None
    missing = [c for c in CURVE_COLUMNS if c not in raw.columns]
    if missing:
        raise StatsError(f"{path}: missing column(s) {', '.join(missing)}; expected {', '.join(CURVE_COLUMNS)}")
    raw = raw.loc[:, list(CURVE_COLUMNS)].assign(episode=0)
    return check_scores(raw.loc[:, list(SCORE_COLUMNS)], str(path))


def read_published(path: str | Path, name: str | None = None) -> pd.DataFrame:
    """Published data, ours or anyone's, as a tidy scores table with methods ``published:<...>``.

    ``.json``: ``{game: [score per run]}`` (``load_published``), method ``published:<name>``
    (default: the file's stem), each run one seed at step 100,000. ``.csv``: the long
    ``method, game, seed, step, score`` table; its methods become ``published:<method>``, or
    ``published:<name>`` when ``name`` is given and the file holds one method.

    Raises:
        StatsError / PublishedDataError: an unreadable file, or ``name`` given for a file of several methods.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no published scores at {path}")
    if path.suffix.lower() != ".csv":
        return published_frame(load_published(path), name or path.stem)
    df = _read_curves(path)
    methods = list(dict.fromkeys(df["method"]))
    if name is not None:
        if len(methods) > 1:
            raise StatsError(f"{path} holds {len(methods)} methods ({', '.join(methods)}); give it without NAME=")
        df["method"] = name
    df["method"] = PUBLISHED_PREFIX + df["method"].str.removeprefix(PUBLISHED_PREFIX)
    return df


def scores_with_published(scores: str | Path | None, published: Sequence[str] = ()) -> pd.DataFrame:
    """The scores table plus published files given as ``PATH`` or ``NAME=PATH`` (``read_published``)."""
    frames = [load_scores(scores)] if scores else []
    names: set[str] = set()
    for item in published:
        name, _, path = item.partition("=") if "=" in item else ("", "", item)
        table = read_published(path, name or None)
        for method in dict.fromkeys(table["method"]):
            if method in names:
                raise StatsError(f"published name {method.removeprefix(PUBLISHED_PREFIX)!r} is given twice")
            names.add(method)
        frames.append(table)
    if not frames:
        raise StatsError("no scores given (--scores and/or --published)")
    return pd.concat(frames, ignore_index=True)
