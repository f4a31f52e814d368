"""``spirl train``: run (or resume) one method on one game with one seed and write its outputs.

``results/runs/{method}/{game}/{seed}/``: ``eval.csv`` (one row per evaluation), ``run.json``
(resolved settings, plan, versions, git commit, device, timings) and ``train_log.csv``. The
loop itself is ``spirl.rl.trainer.Trainer``; checkpoints live under ``results/.ckpt/runs/``
(``spirl.checkpoints``), and a rerun with the same arguments continues from the last one.
``run.json`` is written last: it marks a finished run, so a kill while the outputs are written leaves
a run that the same command resumes (no ``--force`` needed), and a kill after it but before the
checkpoints are removed leaves checkpoints the next command removes.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from spirl.atari import games
from spirl.checkpoints import TRAINING, CheckpointStore, default_checkpoint_dir, input_digests
from spirl.config import TrackSettings, apply_overrides, for_game, load_method
from spirl.guards import output_lock, refuse_output_in_inputs, refuse_unwritable
from spirl.outputs import refuse_existing
from spirl.rl.tracking import check_tracking
from spirl.rl.trainer import RunError, Trainer
from spirl.utils import choose_device, set_threads


def train(config: str | Path, method: str, game: str, seed: int, out: str | Path, *, mae: str | Path | None = None,
          k_hist: str | Path | None = None, pretrain_frames: int | None = None, overrides: list[str] | None = None,
          threads: int | None = None, device: str | None = None, ckpt_dir: str | Path | None = None,
          force: bool = False, stop_after_steps: int | None = None, quiet: bool = False,
          track: TrackSettings | None = None) -> dict[str, Any] | None:
    """Run (or resume) one training run and write its outputs; returns the run.json dict.

    Returns None when stopped early by ``stop_after_steps`` (as if killed after that step: nothing is
    saved for the steps after the last checkpoint; the tests of resume use it). ``track``: TensorBoard and
    W&B outputs (``spirl.rl.tracking``); None is TensorBoard only.

    Raises:
        RunError: SPIRL without an MAE (or with another game's), or a finished run in ``out`` without ``force``.
        spirl.checkpoints.CheckpointMismatchError: a checkpoint of other settings or inputs, without ``force``.
        spirl.guards.OutputBusyError: another process writes ``out``.
    """

    out = Path(out)
    ckpt = Path(ckpt_dir) if ckpt_dir is not None else default_checkpoint_dir(out)
    check_tracking(track or TrackSettings())
    refuse_output_in_inputs({"--out": out, "--ckpt-dir": ckpt}, {"--config": config, "--mae": mae, "--k-hist": k_hist})
    finished = (out / "run.json").is_file()  # written last; eval.csv without it is an unfinished run's
    if finished:
        _remove_leftovers(out, ckpt)
        if not force:
            raise RunError(f"{out} already holds a finished run (eval.csv and run.json); pass --force to run it again")
    refuse_existing([out / "eval.csv", out / "run.json"] if finished else [], force=force, dirs=[out, ckpt])
    refuse_unwritable(out, ckpt)
    settings = apply_overrides(load_method(config, method), list(overrides or []))
    plan, inputs = _plan(settings, game, mae, k_hist, pretrain_frames)
    n_threads = set_threads(threads)
    dev = choose_device(device or plan.method.budget.device)
    trainer = Trainer(plan, seed, out, ckpt, mae_path=mae, device=dev, inputs=inputs, track=track)
    with output_lock(out, "spirl train"):
        previous = CheckpointStore(ckpt, TRAINING).resume(trainer.restore, force=force)
        if previous is not None and not quiet:
            print(f"spirl train: resuming {plan.method.name}/{plan.game}/seed {seed} from {previous}", file=sys.stderr)
        trainer.start()
        if not trainer.run(stop_after_steps):
            return None
        return trainer.finish(n_threads)


def _plan(settings: Any, game: str, mae: str | Path | None, k_hist: str | Path | None,
          pretrain_frames: int | None) -> tuple[Any, dict[str, str]]:
    """The run's plan and the digests of the inputs that decide its numbers (checked against each other).

    Refuses, before any work, K statistics of another game or MAE and a run too large for this machine.
    """
    from spirl.guards import RUN_REMEDY, refuse_beyond_memory, run_memory_parts

    game = games.canonical(game)
    uses_mae = settings.agent.encoder == "spirl"
    inputs = input_digests({"MAE": mae if uses_mae else None, "K statistics": k_hist})
    ideal = None
    if k_hist is not None:
        from spirl.saliency.kstats import read_k_hist

        ideal = read_k_hist(k_hist, game=game, mae_sha256=inputs.get("MAE"))[1]
    plan = for_game(settings, game, pretrain_frames=pretrain_frames, ideal_ratio=ideal)
    refuse_beyond_memory(run_memory_parts(plan), f"{settings.name} on {game}", RUN_REMEDY)
    return plan, inputs


def _remove_leftovers(out: Path, ckpt: Path) -> None:
    """Remove the checkpoints a kill left after a run's outputs were written (under the run's lock)."""
    with output_lock(out, "spirl train"):
        removed = CheckpointStore(ckpt, TRAINING).remove_all()
    if removed:
        print(f"spirl train: removed {len(removed)} checkpoint(s) of the finished run in {ckpt}", file=sys.stderr)


