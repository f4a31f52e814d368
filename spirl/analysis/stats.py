"""Scores table, per-run final scores and rliable aggregates with stratified-bootstrap CIs.

Protocol (Agarwal et al. 2021, rliable): **runs are the unit**. A run's score is
the mean over the episodes of its *final* evaluation (spec G: the harness reports
the final evaluation), human-normalised with the game table. Aggregates (IQM,
median, mean, optimality gap), performance profiles and probability of improvement
come with 95% stratified-bootstrap confidence intervals: each bootstrap sample
redraws the runs of every game with replacement, games are never resampled.

The data contract is rliable's: ``{method: array[runs, games]}`` (one row per run,
one column per game, in the order ``ScoreMatrices.games``). Everything else here is
tidy ``pandas`` tables around it:

* ``results/scores.csv`` (``spirl aggregate``): one row per evaluation episode,
  columns ``method, game, seed, step, episode, score``;
* ``reports/stats/`` (``spirl stats``): ``aggregates.csv``, ``profiles.csv``,
  ``poi.csv``, ``curves.csv``.

rliable 1.2 draws its bootstrap indices from NumPy's *global* generator
(``np.random.choice`` in ``StratifiedBootstrap.update_indices``), not from the
``random_state`` it is handed, so a fixed seed has to be set on the global generator;
``seeded_global_rng`` does that and restores the previous state afterwards.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from spirl.atari import games as game_table
from spirl.utils import atomic_path, progress

SCORE_COLUMNS = ("method", "game", "seed", "step", "episode", "score")
EVAL_COLUMNS = ("step", "episodes", "mean", "median", "std", "min", "max", "scores")
PUBLISHED_PREFIX = "published:"
METRICS = ("IQM", "median", "mean", "optimality_gap")
POI_COLUMNS = ("x", "y", "estimate", "lower", "upper", "runs_x", "runs_y", "games", "reps")
CURVE_COLUMNS = ("method", "kind", "step", "metric", "estimate", "lower", "upper", "runs", "games")
DEFAULT_TAUS = np.linspace(0.0, 2.0, 81)  # performance-profile thresholds, human-normalised


class StatsError(ValueError):
    """Scores that cannot give the statistic asked for; the message says why."""


def kind_of(method: str) -> str:
    """``published`` for methods loaded from published per-run data, ``reproduced`` for the harness's runs."""
    return "published" if str(method).startswith(PUBLISHED_PREFIX) else "reproduced"


# ============================================================================== scores table (spirl aggregate)


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
    try:
        seed = int(seed)
    except (TypeError, ValueError):
        raise StatsError(f"{eval_path}: seed {seed!r} is not an integer") from None
    return str(method), game_table.canonical(str(game)), seed


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
    df["seed"] = df["seed"].astype(int)
    df["step"] = df["step"].astype(int)
    df["episode"] = df["episode"].astype(int)
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


# ============================================================================== per-run scores and matrices


def final_scores(df: pd.DataFrame, step: int | str = "final", per_run: str = "mean") -> pd.DataFrame:
    """One score per run: the mean (or median) over the episodes of one evaluation.

    Args:
        df: tidy scores table (``SCORE_COLUMNS``).
        step: ``"final"`` (each run's last evaluation; every run of a method must end at the
            same step) or an evaluation step that every run has.
        per_run: ``mean`` (the paper's 100K tables) or ``median`` (its 400K columns, spec G).

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


def order_games(names: Iterable[str]) -> list[str]:
    """Games in the game table's order."""
    names = set(names)
    return [g for g in game_table.GAMES if g in names]


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
    games = order_games(runs["game"]) if games is None else [game_table.canonical(g) for g in games]
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
        games = order_games(per_eval["game"])
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


# ============================================================================== rliable aggregates


@contextlib.contextmanager
def seeded_global_rng(seed: int) -> Iterator[None]:
    """Seed NumPy's global generator for the block (rliable draws its resamples from it), then restore it."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def _check_for_ci(method: str, matrix: np.ndarray) -> None:
    if matrix.ndim < 2 or matrix.shape[1] == 0:
        raise StatsError(f"method {method}: expected an array [runs, games], got shape {matrix.shape}")
    if matrix.shape[0] < 2:
        raise StatsError(f"method {method} has {matrix.shape[0]} run per game; a bootstrap confidence interval "
                         f"needs at least two runs")
    if not np.all(np.isfinite(matrix)):
        raise StatsError(f"method {method}: the score matrix contains NaN or infinity")


def metric_functions() -> dict[str, Callable[[np.ndarray], float]]:
    """rliable's aggregate estimators by name (IQM = 25% trimmed mean over all runs x games)."""
    from rliable import metrics

    return {
        "IQM": metrics.aggregate_iqm,
        "median": metrics.aggregate_median,
        "mean": metrics.aggregate_mean,
        "optimality_gap": metrics.aggregate_optimality_gap,
    }


def aggregate_estimates(matrices: dict[str, np.ndarray], *, reps: int = 2000, seed: int = 0,
                        confidence: float = 0.95, metrics: Sequence[str] = METRICS) -> pd.DataFrame:
    """IQM, median, mean and optimality gap of each method with stratified-bootstrap CIs (rliable).

    Each method is bootstrapped with the global generator seeded by ``seed``, so its interval
    does not depend on which other methods are in the table.

    Returns:
        Tidy table ``method, kind, metric, estimate, lower, upper, runs, games, reps``.
    """
    from rliable import library

    funcs = metric_functions()
    unknown = [m for m in metrics if m not in funcs]
    if unknown:
        raise StatsError(f"unknown metric(s) {', '.join(unknown)}; choose from {', '.join(funcs)}")

    def all_metrics(scores: np.ndarray) -> np.ndarray:
        return np.array([funcs[m](scores) for m in metrics])

    rows = []
    for method, matrix in matrices.items():
        _check_for_ci(method, matrix)
        with seeded_global_rng(seed):
            point, interval = library.get_interval_estimates(
                {method: matrix}, all_metrics, reps=reps, confidence_interval_size=confidence)
        for i, metric in enumerate(metrics):
            rows.append({
                "method": method, "kind": kind_of(method), "metric": metric, "estimate": float(point[method][i]),
                "lower": float(interval[method][0, i]), "upper": float(interval[method][1, i]),
                "runs": matrix.shape[0], "games": matrix.shape[1], "reps": reps,
            })
    return pd.DataFrame(rows)


def _score_distribution(scores: np.ndarray, taus: np.ndarray) -> np.ndarray:
    """Fraction of runs x games with score > tau, for every tau at once: [taus]."""
    return np.mean(scores[..., None] > taus, axis=(0, 1))


def performance_profiles(matrices: dict[str, np.ndarray], *, taus: np.ndarray | None = None, reps: int = 2000,
                         seed: int = 0, confidence: float = 0.95) -> pd.DataFrame:
    """Run-score performance profiles (fraction of runs above tau) with stratified-bootstrap CIs.

    Returns:
        Tidy table ``method, kind, tau, fraction, lower, upper``.
    """
    from rliable import library

    taus = DEFAULT_TAUS if taus is None else np.asarray(taus, dtype=float)
    rows = []
    for method, matrix in matrices.items():
        _check_for_ci(method, matrix)
        with seeded_global_rng(seed):
            profile, ci = library.create_performance_profile(
                {method: matrix}, taus, custom_profile_func=_score_distribution, reps=reps,
                confidence_interval_size=confidence)
        for j, tau in enumerate(taus):
            rows.append({"method": method, "kind": kind_of(method), "tau": float(tau),
                         "fraction": float(profile[method][j]), "lower": float(ci[method][0, j]),
                         "upper": float(ci[method][1, j])})
    return pd.DataFrame(rows)


# ============================================================================== probability of improvement


def _improvement_per_game(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """P(X > Y) + 0.5 P(X = Y) per game from the Mann-Whitney U statistic of X.

    Args:
        x: [..., runs_x, games]; y: [..., runs_y, games] (leading axes broadcast, e.g. bootstrap samples).
    Returns:
        [..., games]: U_x / (runs_x * runs_y), with U_x from average ranks as scipy computes it, so the
        values are exact multiples of 1 / (2 runs_x runs_y).
    """
    from scipy.stats import rankdata

    n_x, n_y = x.shape[-2], y.shape[-2]
    lead = np.broadcast_shapes(x.shape[:-2], y.shape[:-2])
    xy = np.concatenate([np.broadcast_to(x, (*lead, *x.shape[-2:])),
                         np.broadcast_to(y, (*lead, *y.shape[-2:]))], axis=-2)  # [..., runs_x + runs_y, games]
    ranks = rankdata(xy, method="average", axis=-2)
    u_x = ranks[..., :n_x, :].sum(axis=-2) - n_x * (n_x + 1) / 2  # [..., games]
    return u_x / (n_x * n_y)


def probability_of_improvement(scores_x: np.ndarray, scores_y: np.ndarray) -> float:
    """Average over games of P(X_m > Y_m) (ties count half): rliable's statistic, vectorised.

    Args:
        scores_x: [runs_x, games]; scores_y: [runs_y, games], same games in the same order.
    """
    _check_pair(scores_x, scores_y)
    per_game = _improvement_per_game(np.asarray(scores_x, float), np.asarray(scores_y, float))
    return float(np.mean(per_game))


def _check_pair(x: np.ndarray, y: np.ndarray) -> None:
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise StatsError(f"probability of improvement needs [runs, games] arrays over the same games, "
                         f"got shapes {x.shape} and {y.shape}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise StatsError("probability of improvement: the scores contain NaN or infinity")


def stratified_indices(random_state: np.random.RandomState, runs: Sequence[int], games: int,
                       reps: int) -> list[np.ndarray]:
    """Bootstrap row indices for several score matrices, drawn in rliable's order.

    rliable's ``StratifiedIndependentBootstrap`` draws, for every replicate, one
    ``choice(runs_i, (runs_i, games))`` per matrix in turn; drawing the same calls from
    ``random_state`` gives the same resamples as rliable under ``np.random.seed``.

    Returns:
        One array [reps, runs_i, games] per matrix.
    """
    out = [np.empty((reps, n, games), dtype=np.int64) for n in runs]
    for r in range(reps):
        for i, n in enumerate(runs):
            out[i][r] = random_state.choice(n, (n, games), replace=True)
    return out


def percentile_interval(samples: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of 1-D ``samples``, with arch's percentile levels (as rliable uses them)."""
    alpha = (1.0 - confidence) / 2
    lower, upper = np.percentile(samples, [100 * alpha, 100 * (1.0 - alpha)])
    return float(lower), float(upper)


def probability_of_improvement_interval(scores_x: np.ndarray, scores_y: np.ndarray, *, reps: int = 2000,
                                        random_state: np.random.RandomState | int = 0, confidence: float = 0.95,
                                        chunk: int = 256) -> tuple[float, float, float]:
    """Probability of improvement of X over Y with its stratified-bootstrap CI, vectorised.

    The same statistic and resamples as ``rliable.library.get_interval_estimates({k: [x, y]},
    metrics.probability_of_improvement, reps=reps)`` run after ``np.random.seed(random_state)``,
    computed for all replicates and games at once (rliable runs one scipy test per game per replicate).

    Args:
        scores_x: [runs_x, games]; scores_y: [runs_y, games].
        random_state: a ``RandomState`` (consumed) or an int seed.
        chunk: replicates evaluated per vectorised step (bounds memory).
    Returns:
        (estimate, lower, upper).
    """
    x, y = np.asarray(scores_x, float), np.asarray(scores_y, float)
    _check_pair(x, y)
    for name, m in (("X", x), ("Y", y)):
        if m.shape[0] < 2:
            raise StatsError(f"probability of improvement: {name} has {m.shape[0]} run per game; a bootstrap "
                             f"confidence interval needs at least two runs")
    rs = random_state if isinstance(random_state, np.random.RandomState) else np.random.RandomState(random_state)
    games = x.shape[1]
    idx_x, idx_y = stratified_indices(rs, [x.shape[0], y.shape[0]], games, reps)
    samples = np.empty(reps)
    for start in range(0, reps, chunk):
        sl = slice(start, start + chunk)
        xb = np.take_along_axis(x[None], idx_x[sl], axis=1)  # [chunk, runs_x, games]
        yb = np.take_along_axis(y[None], idx_y[sl], axis=1)  # [chunk, runs_y, games]
        # Rows are contiguous over games, so the mean sums in the order np.mean of a list would.
        samples[sl] = np.mean(np.ascontiguousarray(_improvement_per_game(xb, yb)), axis=1)
    lower, upper = percentile_interval(samples, confidence)
    return probability_of_improvement(x, y), lower, upper


def parse_pairs(pairs: Sequence[str] | None, methods: Sequence[str]) -> list[tuple[str, str]]:
    """Parse ``a:b`` pairs (method names may contain ``:``, as ``published:SPR`` does); default every pair in order."""
    methods = list(methods)
    if not pairs:
        return [(a, b) for i, a in enumerate(methods) for b in methods[i + 1:]]
    out = []
    for text in pairs:
        cuts = [(text[:i], text[i + 1:]) for i, ch in enumerate(text) if ch == ":"]
        match = [(a, b) for a, b in cuts if a in methods and b in methods]
        if len(match) != 1:
            raise StatsError(f"pair {text!r} is not 'X:Y' with two of the methods {', '.join(methods)}")
        out.append(match[0])
    return out


def improvement_table(df: pd.DataFrame, pairs: Sequence[tuple[str, str]], *, reps: int = 2000, seed: int = 0,
                      confidence: float = 0.95) -> pd.DataFrame:
    """Probability of improvement of X over Y for each pair, on the games both have (human-normalised).

    Returns:
        Tidy table ``x, y, estimate, lower, upper, runs_x, runs_y, games, reps``.
    """
    rows = []
    if not pairs:
        return pd.DataFrame(columns=list(POI_COLUMNS))
    per_method = final_scores(check_scores(df))
    for a, b in progress(pairs, desc="probability of improvement", unit="pair"):
        common = set(per_method.loc[per_method["method"] == a, "game"]) & set(
            per_method.loc[per_method["method"] == b, "game"])
        if not common:
            raise StatsError(f"methods {a} and {b} share no game")
        games = order_games(common)
        m = score_matrices(df, games=games, methods=[a, b])
        est, lo, hi = probability_of_improvement_interval(m[a], m[b], reps=reps, random_state=seed,
                                                          confidence=confidence)
        rows.append({"x": a, "y": b, "estimate": est, "lower": lo, "upper": hi, "runs_x": m[a].shape[0],
                     "runs_y": m[b].shape[0], "games": ";".join(games), "reps": reps})
    return pd.DataFrame(rows)


# ============================================================================== sample-efficiency curves


def sample_efficiency_curves(df: pd.DataFrame, *, reps: int = 2000, seed: int = 0, confidence: float = 0.95,
                             methods: Sequence[str] | None = None) -> pd.DataFrame:
    """IQM of human-normalised scores at each evaluation step, with stratified-bootstrap CIs.

    Returns:
        Tidy table ``method, kind, step, metric, estimate, lower, upper, runs, games``.
    """
    from rliable import library, metrics

    cubes, steps_of, _ = curve_matrices(df, methods=methods)
    rows = []
    for method, cube in cubes.items():
        _check_for_ci(method, cube)

        def iqm_per_step(scores: np.ndarray) -> np.ndarray:
            return np.array([metrics.aggregate_iqm(scores[..., j]) for j in range(scores.shape[-1])])

        with seeded_global_rng(seed):
            point, ci = library.get_interval_estimates({method: cube}, iqm_per_step, reps=reps,
                                                       confidence_interval_size=confidence)
        for j, step in enumerate(steps_of[method]):
            rows.append({"method": method, "kind": kind_of(method), "step": step, "metric": "IQM",
                         "estimate": float(point[method][j]), "lower": float(ci[method][0, j]),
                         "upper": float(ci[method][1, j]), "runs": cube.shape[0], "games": cube.shape[1]})
    return pd.DataFrame(rows)


# ============================================================================== CLI


def _write_csv(df: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)


def _aggregate_cmd(args: argparse.Namespace) -> int:
    df = aggregate_runs(args.runs)
    write_scores(df, args.out)
    runs = df.groupby(["method", "game", "seed"]).ngroups
    print(f"spirl aggregate: {runs} runs, {len(df)} episode scores -> {args.out}")
    return 0


def configure_aggregate(parser: argparse.ArgumentParser) -> None:
    """``spirl aggregate --runs DIR|GLOB|eval.csv ... --out results/scores.csv``."""
    parser.add_argument("--runs", nargs="+", required=True,
                        help="run directories (searched for eval.csv), globs, or eval.csv files")
    parser.add_argument("--out", required=True, help="tidy scores CSV to write (atomically)")
    parser.set_defaults(func=_aggregate_cmd)


def scores_with_published(scores: str | Path | None, published: Sequence[str] = ()) -> pd.DataFrame:
    """The scores table plus published per-run files given as ``PATH`` or ``NAME=PATH`` (name = file stem)."""
    from spirl.analysis.published import load_published

    frames = [load_scores(scores)] if scores else []
    names: set[str] = set()
    for item in published:
        name, _, path = item.partition("=") if "=" in item else ("", "", item)
        name = name or Path(path).stem
        if name in names:
            raise StatsError(f"published name {name!r} is given twice")
        names.add(name)
        frames.append(published_frame(load_published(path), name))
    if not frames:
        raise StatsError("no scores given (--scores and/or --published)")
    return pd.concat(frames, ignore_index=True)


def run_stats(df: pd.DataFrame, out: str | Path, *, reps: int = 2000, seed: int = 0,
              pairs: Sequence[str] | None = None, confidence: float = 0.95) -> dict[str, pd.DataFrame]:
    """Write ``aggregates.csv``, ``profiles.csv``, ``poi.csv`` and ``curves.csv`` under ``out``.

    Each method is aggregated over its own games (the ``games`` column says how many).
    """
    out = Path(out)
    df = check_scores(df)
    methods = list(dict.fromkeys(df["method"]))
    aggregates, profiles = [], []
    for method in progress(methods, desc="bootstrap aggregates and profiles", unit="method"):
        m = score_matrices(df, methods=[method])
        agg = aggregate_estimates(m, reps=reps, seed=seed, confidence=confidence)
        agg["game_list"] = ";".join(m.games)
        aggregates.append(agg)
        profiles.append(performance_profiles(m, reps=reps, seed=seed, confidence=confidence))
    ours = [m for m in methods if kind_of(m) == "reproduced"]
    curves = (sample_efficiency_curves(df, reps=reps, seed=seed, confidence=confidence, methods=ours) if ours
              else pd.DataFrame(columns=list(CURVE_COLUMNS)))
    tables = {
        "aggregates": pd.concat(aggregates, ignore_index=True),
        "profiles": pd.concat(profiles, ignore_index=True),
        "poi": improvement_table(df, parse_pairs(pairs, methods), reps=reps, seed=seed, confidence=confidence),
        "curves": curves,
    }
    for name, table in tables.items():
        _write_csv(table, out / f"{name}.csv")
    return tables


def _stats_cmd(args: argparse.Namespace) -> int:
    df = scores_with_published(args.scores, args.published or [])
    tables = run_stats(df, args.out, reps=args.reps, seed=args.seed, pairs=args.pairs)
    iqm = tables["aggregates"].query("metric == 'IQM'")
    for row in iqm.itertuples():
        print(f"{row.method:<28} IQM {row.estimate:.3f} [{row.lower:.3f}, {row.upper:.3f}]  "
              f"({row.runs} runs x {row.games} games)")
    print(f"spirl stats: wrote aggregates.csv, profiles.csv, poi.csv, curves.csv to {args.out}")
    return 0


def configure_stats(parser: argparse.ArgumentParser) -> None:
    """``spirl stats --scores results/scores.csv --out reports/stats/ [--reps N] [--pairs a:b ...]``."""
    parser.add_argument("--scores", help="tidy scores CSV from 'spirl aggregate'")
    parser.add_argument("--published", nargs="*", metavar="[NAME=]PATH",
                        help="published per-run JSON files ({game: [score per run]}), added as published:NAME")
    parser.add_argument("--out", required=True, help="directory for aggregates/profiles/poi/curves CSVs")
    parser.add_argument("--reps", type=int, default=2000, help="bootstrap replicates (default 2000)")
    parser.add_argument("--seed", type=int, default=0, help="random state of the bootstrap (default 0)")
    parser.add_argument("--pairs", nargs="*", metavar="X:Y",
                        help="probability of improvement of X over Y (default: every pair of methods)")
    parser.set_defaults(func=_stats_cmd)
