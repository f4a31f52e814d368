"""The tidy scores table: every run's ``eval.csv`` -> ``results/scores.csv`` -> per-run scores -> matrices.

Protocol (Agarwal et al. 2021, rliable): **runs are the unit**. A run's score is the mean over
the episodes of its *final* evaluation (the harness reports the final evaluation,
``docs/method.md#step-evaluation``), human-normalised with the game table.

* ``results/scores.csv`` (``spirl aggregate``): one row per evaluation episode, columns
  ``method, game, seed, step, episode, score``; published per-run files join it as methods
  named ``published:<name>``.
* :func:`score_matrices`: rliable's data contract, ``{method: array[runs, games]}`` with one
  row per run and one column per game, in the order ``ScoreMatrices.games``.
"""

from __future__ import annotations

import glob
import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from spirl.atari import games as game_table
from spirl.integrity import sha256_file
from spirl.utils import atomic_path

SCORE_COLUMNS = ("method", "game", "seed", "step", "episode", "score")


EVAL_COLUMNS = ("step", "episodes", "mean", "median", "std", "min", "max", "scores")


PUBLISHED_PREFIX = "published:"


class StatsError(ValueError):
    """Scores that cannot give the statistic asked for; the message says why."""


def kind_of(method: str) -> str:
    """``published`` for methods loaded from published per-run data, ``reproduced`` for the harness's runs."""
    return "published" if str(method).startswith(PUBLISHED_PREFIX) else "reproduced"


def find_eval_files(inputs: Iterable[str | Path]) -> list[Path]:
    """Expand run directories, globs and ``eval.csv`` paths into a sorted list of ``eval.csv`` files.

    A directory contributes every ``eval.csv`` below it; a glob its matches; a file itself.

    Raises:
        FileNotFoundError: an input matches nothing.
    """
    found: list[Path] = []
    for item in inputs:
        text = str(item)
        path = Path(text)
        if path.is_dir():
            matches = sorted(path.rglob("eval.csv"))
        elif path.is_file():
            matches = [path]
        else:
            matches = sorted(Path(p) for p in glob.glob(text, recursive=True))
            matches = [m for p in matches for m in (sorted(p.rglob("eval.csv")) if p.is_dir() else [p])]
        if not matches:
            raise FileNotFoundError(f"no eval.csv found at {text!r}")
        found += matches
    return sorted(dict.fromkeys(p.resolve() for p in found))


def run_identity(eval_path: Path) -> tuple[str, str, int]:
    """(method, game, seed) of the run that wrote ``eval_path``.

    Read from ``run.json`` beside it when present, else from the path
    ``.../{method}/{game}/{seed}/eval.csv``. The game is returned in its canonical spelling.
    """
    run_json = eval_path.parent / "run.json"
    if run_json.is_file():
        try:
            meta = json.loads(run_json.read_text())
            method, game, seed = meta["method"], meta["game"], meta["seed"]
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise StatsError(f"{run_json}: not a run description with method, game and seed ({err})") from None
    else:
        parts = eval_path.parts
        if len(parts) < 4:
            raise StatsError(f"{eval_path}: no run.json and the path is not .../method/game/seed/eval.csv")
        method, game, seed = parts[-4], parts[-3], parts[-2]
    if isinstance(seed, bool) or not (isinstance(seed, int) or str(seed).isdigit()):
        raise StatsError(f"{eval_path}: seed {seed!r} is not a non-negative integer")
    return str(method), game_table.canonical(str(game)), int(seed)


def _known(name: str) -> bool:
    try:
        game_table.canonical(name)
    except game_table.UnknownGameError:
        return False
    return True


def check_against_run(eval_path: Path, ev: pd.DataFrame) -> None:
    """Refuse an ``eval.csv`` that contradicts its own ``run.json`` (another run's, or edited).

    ``run.json`` records the sha256 of the ``eval.csv`` it finished with (``eval_csv_sha256``) and the
    plan's evaluation steps and episodes; a run folder whose path names another game than its run.json
    is refused too. A folder without ``run.json`` is read from its path alone.

    Raises:
        StatsError: one line naming the file and what contradicts its record.
    """
    run_json = eval_path.parent / "run.json"
    if not run_json.is_file():
        return
    meta = json.loads(run_json.read_text())
    parts = eval_path.parts
    if len(parts) >= 4 and _known(parts[-3]) and game_table.canonical(parts[-3]) != meta.get("game"):
        raise StatsError(f"{eval_path}: the folder names {parts[-3]} but its run.json is a run of {meta.get('game')}")
    want = meta.get("eval_csv_sha256")
    if want is not None and sha256_file(eval_path) != want:
        raise StatsError(f"{eval_path} is not the eval.csv its run.json finished with (sha256 differs: another "
                         f"run's, or changed since); run the run again or restore its eval.csv")
    plan = meta.get("plan") or {}
    if plan.get("eval_steps") and [int(s) for s in ev["step"]] != [int(s) for s in plan["eval_steps"]]:
        raise StatsError(f"{eval_path}: evaluation steps {ev['step'].tolist()} are not its run.json's "
                         f"{plan['eval_steps']}")


def read_eval_csv(path: str | Path) -> pd.DataFrame:
    """Read one run's ``eval.csv`` and check it (columns, episode counts, summary columns against the scores).

    Returns the table with an extra column ``values``: the episode scores as a list of floats.
    """
    path = Path(path)
    try:
        df = pd.read_csv(path, dtype={"scores": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise StatsError(f"{path}: not a readable CSV ({err})") from None
    missing = [c for c in EVAL_COLUMNS if c not in df.columns]
    if missing:
        raise StatsError(f"{path}: missing column(s) {', '.join(missing)}; expected {', '.join(EVAL_COLUMNS)}")
    if df.empty:
        raise StatsError(f"{path}: no evaluation rows")
    for column in ("step", "episodes"):
        numbers = pd.to_numeric(df[column], errors="coerce")
        bad = ~(np.isfinite(numbers) & (numbers % 1 == 0) & (numbers >= 0))
        if bad.any():
            raise StatsError(f"{path}: {column} {str(df[column][bad].iloc[0])!r} is not a whole non-negative number")
    values = []
    for row in df.itertuples(index=False):
        try:
            scores = [float(s) for s in str(row.scores).split(";")]
        except ValueError:
            raise StatsError(f"{path}: step {row.step}: scores {row.scores!r} are not ';'-joined numbers") from None
        if len(scores) != int(row.episodes):
            raise StatsError(f"{path}: step {row.step}: {len(scores)} scores but episodes = {row.episodes}")
        if not all(math.isfinite(s) for s in scores):
            raise StatsError(f"{path}: step {row.step}: scores contain NaN or infinity")
        if not math.isclose(float(np.mean(scores)), float(row.mean), rel_tol=1e-6, abs_tol=1e-6):
            raise StatsError(f"{path}: step {row.step}: column mean {row.mean} is not the mean of the scores")
        values.append(scores)
    if df["step"].duplicated().any():
        raise StatsError(f"{path}: an evaluation step appears twice")
    df = df.copy()
    df["values"] = values
    return df


def aggregate_runs(inputs: Iterable[str | Path]) -> pd.DataFrame:
    """Tidy scores table of every run found in ``inputs``: one row per evaluation episode.

    Columns ``method, game, seed, step, episode, score``; ``episode`` counts from 0 in
    environment order. Sorted by method, game, seed, step, episode.

    Raises:
        StatsError: a malformed ``eval.csv`` or the same (method, game, seed) found twice.
    """
    frames = []
    seen: dict[tuple[str, str, int], Path] = {}
    for path in find_eval_files(inputs):
        ident = run_identity(path)
        if ident in seen:
            raise StatsError(f"run {ident} appears twice: {seen[ident]} and {path}")
        seen[ident] = path
        method, game, seed = ident
        ev = read_eval_csv(path)
        check_against_run(path, ev)
        rows = [
            (method, game, seed, int(step), episode, score)
            for step, scores in zip(ev["step"], ev["values"])
            for episode, score in enumerate(scores)
        ]
        frames.append(pd.DataFrame(rows, columns=list(SCORE_COLUMNS)))
    df = pd.concat(frames, ignore_index=True)
    return df.sort_values(list(SCORE_COLUMNS[:5]), kind="stable").reset_index(drop=True)


def write_scores(df: pd.DataFrame, path: str | Path) -> None:
    """Write a scores table atomically (CSV)."""
    with atomic_path(path) as tmp:
        df.loc[:, list(SCORE_COLUMNS)].to_csv(tmp, index=False)


def check_scores(df: pd.DataFrame, where: str = "scores") -> pd.DataFrame:
    """Validate a tidy scores table and return it with canonical game names and proper dtypes.

    Raises:
        StatsError: missing columns, NaN scores or unknown games.
    """
    missing = [c for c in SCORE_COLUMNS if c not in df.columns]
    if missing:
        raise StatsError(f"{where}: missing column(s) {', '.join(missing)}; expected {', '.join(SCORE_COLUMNS)}")
    if df.empty:
        raise StatsError(f"{where}: the scores table is empty")
    df = df.loc[:, list(SCORE_COLUMNS)].copy()
    df["score"] = pd.to_numeric(df["score"], errors="coerce")
    bad = df[~np.isfinite(df["score"].to_numpy(dtype=float))]
    if len(bad):
        first = bad.iloc[0]
        raise StatsError(f"{where}: {len(bad)} score(s) are NaN or not numbers, e.g. method {first.method}, "
                         f"game {first.game}, seed {first.seed}, step {first.step}")
    df["method"] = df["method"].astype(str)
    df["game"] = df["game"].map({g: game_table.canonical(str(g)) for g in df["game"].unique()})
    for column in ("seed", "step", "episode"):  # whole non-negative numbers: 400.7 is not read as 400
        numbers = pd.to_numeric(df[column], errors="coerce")
        bad = ~(np.isfinite(numbers.to_numpy(dtype=float)) & (numbers % 1 == 0) & (numbers >= 0))
        if bad.any():
            raise StatsError(f"{where}: {column} {df[column][bad].iloc[0]} is not a whole non-negative number")
        df[column] = numbers.astype(np.int64)
    dup = df.duplicated(list(SCORE_COLUMNS[:5]))
    if dup.any():
        first = df[dup].iloc[0]
        raise StatsError(f"{where}: {int(dup.sum())} duplicated episode row(s), e.g. method {first.method}, "
                         f"game {first.game}, seed {first.seed}, step {first.step}, episode {first.episode}")
    return df


def load_scores(path: str | Path) -> pd.DataFrame:
    """Read and validate ``results/scores.csv``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no scores table at {path}")
    return check_scores(pd.read_csv(path), str(path))


def final_scores(df: pd.DataFrame, step: int | str = "final", per_run: str = "mean") -> pd.DataFrame:
    """One score per run: the mean (or median) over the episodes of one evaluation.

    Args:
        df: tidy scores table (``SCORE_COLUMNS``).
        step: ``"final"`` (each run's last evaluation; every run of a method must end at the
            same step) or an evaluation step that every run has.
        per_run: ``mean`` (the paper's 100K tables) or ``median`` (its 400K columns, docs/method.md#step-evaluation).

    Returns:
        Columns ``method, game, seed, step, score, episodes``, one row per run.
    """
    if per_run not in ("mean", "median"):
        raise StatsError(f"per_run must be 'mean' or 'median', got {per_run!r}")
    keys = ["method", "game", "seed"]
    if step == "final":
        last = df.groupby(keys)["step"].transform("max")
        chosen = df[df["step"] == last]
        ends = chosen.groupby("method")["step"].unique()
        for method, steps in ends.items():
            if len(steps) > 1:
                listed = ", ".join(map(str, sorted(steps)))
                raise StatsError(f"runs of method {method} end at different steps ({listed}); "
                                 f"an unfinished run? give an explicit step")
    else:
        step = int(step)
        chosen = df[df["step"] == step]
        have = set(map(tuple, chosen[keys].drop_duplicates().to_numpy().tolist()))
        lacking = [k for k in map(tuple, df[keys].drop_duplicates().to_numpy().tolist()) if k not in have]
        if lacking:
            raise StatsError(f"{len(lacking)} run(s) have no evaluation at step {step}, e.g. {lacking[0]}")
    out = chosen.groupby([*keys, "step"], sort=True)["score"].agg([per_run, "size"]).reset_index()
    return out.rename(columns={per_run: "score", "size": "episodes"})


def human_normalise(scores: pd.DataFrame, column: str = "score") -> pd.Series:
    """Human-normalised ``column``: (score - random) / (human - random), from the game table.

    Raises:
        StatsError: a game without usable random and human scores.
    """
    scale: dict[str, tuple[float, float]] = {}
    for game in scores["game"].unique():
        g = game_table.get(game)
        if g.human is None or g.random is None or not math.isfinite(g.human - g.random) or g.human == g.random:
            raise StatsError(f"game {g.id} has no usable human and random scores; it cannot be human-normalised")
        scale[game] = (g.random, g.human - g.random)
    random = scores["game"].map({k: v[0] for k, v in scale.items()}).to_numpy(dtype=float)
    span = scores["game"].map({k: v[1] for k, v in scale.items()}).to_numpy(dtype=float)
    out = (scores[column].to_numpy(dtype=float) - random) / span
    return pd.Series(out, index=scores.index, name="hns")


class ScoreMatrices(dict):
    """``{method: array[runs, games]}`` (rliable's contract) plus the column order and the runs.

    Attributes:
        games: the game of each column.
        seeds: ``{method: {game: [seed of each row]}}``.
        normalised: whether the entries are human-normalised scores.
    """

    def __init__(self, matrices: dict[str, np.ndarray], games: Sequence[str],
                 seeds: dict[str, dict[str, list[int]]], normalised: bool) -> None:
        super().__init__(matrices)
        self.games = tuple(games)
        self.seeds = seeds
        self.normalised = normalised


def score_matrices(df: pd.DataFrame, step: int | str = "final", *, games: Sequence[str] | None = None,
                   methods: Sequence[str] | None = None, normalised: bool = True,
                   per_run: str = "mean") -> ScoreMatrices:
    """Per-run final scores as ``{method: array[runs, games]}``.

    Row ``r`` of a method's matrix is its ``r``-th run by seed on each game (runs of different
    games are not paired; the stratified bootstrap resamples each column on its own).

    Args:
        df: tidy scores table.
        step: see ``final_scores``.
        games: the columns, in order; default every game of the selected methods (table order).
        methods: which methods; default all, in order of appearance.
        normalised: human-normalise (default) or keep raw game scores.
        per_run: ``mean`` or ``median`` over the evaluation's episodes.

    Raises:
        StatsError: a method lacks a game, or has different numbers of runs on different games.
    """
    df = check_scores(df)
    if methods is None:
        methods = list(dict.fromkeys(df["method"]))
    unknown = [m for m in methods if m not in set(df["method"])]
    if unknown:
        present = ", ".join(sorted(set(df["method"])))
        raise StatsError(f"no scores for method(s) {', '.join(unknown)}; present: {present}")
    runs = final_scores(df[df["method"].isin(methods)], step, per_run)
    if normalised:
        runs["score"] = human_normalise(runs)
    games = game_table.order_games(runs["game"]) if games is None else [game_table.canonical(g) for g in games]
    matrices: dict[str, np.ndarray] = {}
    seeds: dict[str, dict[str, list[int]]] = {}
    for method in methods:
        mine = runs[runs["method"] == method]
        lacking = [g for g in games if g not in set(mine["game"])]
        if lacking:
            raise StatsError(f"method {method} has no runs on {', '.join(lacking)}; "
                             f"choose games that every method has (games=...)")
        cols, seeds[method] = [], {}
        for g in games:
            cell = mine[mine["game"] == g].sort_values("seed")
            cols.append(cell["score"].to_numpy(dtype=float))
            seeds[method][g] = cell["seed"].tolist()
        counts = {g: len(c) for g, c in zip(games, cols)}
        if len(set(counts.values())) > 1:
            detail = ", ".join(f"{g}: {n}" for g, n in counts.items())
            raise StatsError(f"method {method} has different numbers of runs per game ({detail}); "
                             f"rliable needs a full runs x games matrix")
        matrices[method] = np.stack(cols, axis=1)  # [runs, games]
    return ScoreMatrices(matrices, games, seeds, normalised)


def curve_matrices(df: pd.DataFrame, *, methods: Sequence[str] | None = None,
                   normalised: bool = True) -> tuple[dict[str, np.ndarray], dict[str, list[int]], list[str]]:
    """Scores at every evaluation step: ``{method: array[runs, games, steps]}``.

    Returns:
        (matrices, steps of each method, games). Every run of a method must have the same steps.
    """
    df = check_scores(df)
    methods = list(dict.fromkeys(df["method"])) if methods is None else list(methods)
    out: dict[str, np.ndarray] = {}
    steps_of: dict[str, list[int]] = {}
    all_games: list[str] = []
    for method in methods:
        mine = df[df["method"] == method]
        per_eval = mine.groupby(["game", "seed", "step"])["score"].mean().reset_index()
        if normalised:
            per_eval["score"] = human_normalise(per_eval)
        steps = sorted(per_eval["step"].unique())
        games = game_table.order_games(per_eval["game"])
        grid = per_eval.pivot_table(index=["game", "seed"], columns="step", values="score")
        if grid.isna().to_numpy().any():
            raise StatsError(f"method {method}: runs were evaluated at different steps; "
                             f"sample-efficiency curves need one step grid")
        counts = grid.groupby(level="game").size()
        if counts.nunique() > 1:
            raise StatsError(f"method {method} has different numbers of runs per game "
                             f"({', '.join(f'{g}: {n}' for g, n in counts.items())})")
        cube = np.stack([grid.loc[g].to_numpy() for g in games], axis=1)  # [runs, games, steps]
        out[method], steps_of[method] = cube, [int(s) for s in steps]
        all_games = list(dict.fromkeys([*all_games, *games]))
    return out, steps_of, all_games


def write_csv(df: pd.DataFrame, path: str | Path) -> None:
    """Write a table as CSV without its index, atomically."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)
