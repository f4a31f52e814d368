"""Experiment tracking of a training run: TensorBoard and Weights & Biases, besides the CSV logs.

The CSV logs (``train_log.csv``, ``eval.csv``) are the run's record; these are views of the same
numbers in the tools researchers already watch (``spirl.config.TrackSettings``):

* **TensorBoard** (on by default when the ``tensorboard`` package is installed): scalars in
  ``<checkpoint dir>/tb`` (``tensorboard --logdir results/.ckpt/runs``). A resumed run purges the
  points written after its checkpoint, so each curve is drawn once.
* **Weights & Biases** (opt-in: ``spirl train --track`` or a preset's ``track: {wandb: true}``, as
  CleanRL's ``--track``): the run's resolved settings and plan as its config, the same training
  and evaluation curves against ``env_step``, and its final files (``eval.csv``, ``run.json``,
  ``train_log.csv``). The W&B run lives in ``<checkpoint dir>/wandb``; its id is kept there, so a
  resumed run continues the same W&B run. ``WANDB_MODE=offline`` writes it locally for a later
  ``wandb sync`` (the tests use it: no network).

Both packages are imported only when used, so a run without them does not pay their import
(about 1 s for wandb, 3 s for TensorBoard's writer on the 2-core machine).

Tags: ``train/loss``, ``train/episode_return``, ``train/episode_length``, ``train/beta``,
``eval/mean``, ``eval/median``, ``eval/std``, ``eval/min``, ``eval/max``.
"""

from __future__ import annotations

import importlib.util
import secrets
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from spirl.config import TrackSettings

WANDB_ID_FILE = "wandb_id.txt"  # in the checkpoint directory: the W&B run a resumed run continues


def check_tracking(track: TrackSettings) -> None:
    """Refuse, before any work, W&B tracking without the ``wandb`` package (one line)."""
    if track.wandb and importlib.util.find_spec("wandb") is None:
        raise ValueError("W&B tracking (--track / track.wandb) needs the wandb package: "
                         "pip install -c requirements/lock.txt '.[track]'")


class Tracker:
    """The run's TensorBoard writer and W&B run (either may be off); ``log`` sends one step's scalars to both.

    Args:
        track: which outputs, and the W&B project/entity.
        run_dir: the run's checkpoint directory (``tb/``, ``wandb/`` and the W&B id go there).
        name: the run's name, ``method/game/seed``.
        config: the W&B config (the run's resolved settings and plan).
        step: the env step the run starts or resumes at (TensorBoard purges later points).
    """

    def __init__(self, track: TrackSettings, run_dir: Path, name: str, config: Mapping[str, Any],
                 step: int = 0) -> None:
        self.track, self.run_dir = track, Path(run_dir)
        self.writer: Any = None
        self.wandb_run: Any = None
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if track.tensorboard:
            self.writer = self._tensorboard(step)
        if track.wandb:
            self.wandb_run = self._wandb(name, config)

    def _tensorboard(self, step: int) -> Any:
        if importlib.util.find_spec("tensorboard") is None:
            print("spirl train: tensorboard is not installed; no TensorBoard scalars (CSV logs as always)",
                  file=sys.stderr)
            return None
        from torch.utils.tensorboard import SummaryWriter

        return SummaryWriter(str(self.run_dir / "tb"), purge_step=step)

    def _wandb(self, name: str, config: Mapping[str, Any]) -> Any:
        check_tracking(self.track)
        import wandb

        id_file = self.run_dir / WANDB_ID_FILE
        run_id = id_file.read_text().strip() if id_file.is_file() else secrets.token_hex(4)
        id_file.write_text(run_id + "\n")
        method = name.split("/")[0]
        run = wandb.init(project=self.track.project, entity=self.track.entity, name=name, group=method,
                         id=run_id, resume="allow", dir=str(self.run_dir), config=dict(config),
                         job_type="train", reinit="create_new")
        run.define_metric("env_step")
        run.define_metric("*", step_metric="env_step")
        return run

    def log(self, values: Mapping[str, float], step: int) -> None:
        """Record ``values`` (tag -> number, tags as in the module docstring) at env step ``step``."""
        if self.writer is not None:
            for tag, value in values.items():
                self.writer.add_scalar(tag, value, step)
        if self.wandb_run is not None:
            self.wandb_run.log({**values, "env_step": step})

    def finish(self, files: Sequence[Path] = (), summary: Mapping[str, Any] | None = None) -> None:
        """Attach the run's final ``files`` and ``summary`` to the W&B run; close both outputs."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        if self.wandb_run is not None:
            for path in files:
                if Path(path).is_file():
                    self.wandb_run.save(str(path), base_path=str(Path(path).parent), policy="now")
            for key, value in (summary or {}).items():
                self.wandb_run.summary[key] = value
            self.wandb_run.finish()
            self.wandb_run = None

    def close(self) -> None:
        """Close without final files (a run stopped early); the W&B run is marked unfinished, to be resumed."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        if self.wandb_run is not None:
            self.wandb_run.finish(exit_code=1)
            self.wandb_run = None
