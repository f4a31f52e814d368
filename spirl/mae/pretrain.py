"""MAE pretraining on a random-policy frame dataset (docs/method.md#step-pretrain, appendix Table 5).

``spirl pretrain --frames results/frames/MsPacman.npz --out results/mae/paper/MsPacman/model.pt``

The paper's schedule by default: AdamW (0.9, 0.95), weight decay 0.05 on parameters with
ndim >= 2 (the cls and mask tokens included), lr = blr * batch / 256 = 2.5e-4 set every
iteration (linear warm-up over 5 epochs, then half-cosine to ``min_lr`` = 0 at the last
epoch), batch 64, 50 epochs of floor(N / 64) batches drawn with replacement, mask ratio 0.75,
loss over all 144 patches against per-patch-normalised targets (released code, docs/method.md#choice-10).
fp32 throughout by default, so CPU runs are bit-for-bit repeatable; ``pretrain.precision`` bfloat16 or
float16 (CUDA, with a GradScaler, as the released code's AMP) runs the forward pass under autocast.

After every epoch a resumable state (weights, optimizer, epoch, the sampler's and the
masks' generators, the loss log) is written, with its sha256, to ``<out dir>/.ckpt/<out stem>/epoch-XXXX/``
(or ``--ckpt-dir``; ``spirl.checkpoints``, ``spirl.mae.pretrain_state``), outside the declared outputs; a
restarted run resumes from it and ends with the same weights as an uninterrupted one. The state is
bound to the frames' sha256 and the settings: other ones are refused (``--force`` starts over).
``model.pt`` and ``pretrain.csv`` are written atomically at the end, then the state is removed.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spirl import preempt
from spirl.atari.frames import load_frames
from spirl.atari.games import canonical
from spirl.checkpoints import PRETRAINING, CheckpointStore, default_checkpoint_dir, input_digests, refuse_other_job
from spirl.config import (
    ConfigError,
    MAEArch,
    MethodSettings,
    PretrainSettings,
    apply_overrides,
    check_pretrain,
    validate_sections,
)
from spirl.devices import check_precision, to_device
from spirl.guards import (
    output_lock,
    pretrain_memory_parts,
    refuse_beyond_memory,
    refuse_output_in_inputs,
    refuse_unwritable,
)
from spirl.mae.checkpoint import describe, save_mae
from spirl.mae.model import MAE, frames_to_images, validate_arch
from spirl.mae.optim import build_optimizer, lr_at
from spirl.mae.pretrain_state import bound_settings, csv_text, log
from spirl.outputs import refuse_existing
from spirl.utils import atomic_write_text, choose_device, git_commit, progress, seed_everything, set_threads, versions

SET_SECTIONS = ("mae", "pretrain")


# ---------------------------------------------------------------------------------------------
# Settings


def apply_set(arch: MAEArch, pretrain: PretrainSettings, pairs: list[str]) -> tuple[MAEArch, PretrainSettings]:
    """Apply ``--set section.key=value`` overrides to the two sections pretraining reads.

    Values are parsed and type-checked by ``spirl.config.apply_overrides`` (YAML scalars coerced to
    the dataclass field's type), so ``pretrain.epochs=2``, ``mae.decoder_depth=1`` or
    ``pretrain.betas=[0.9,0.999]`` work and a wrong key names the allowed ones.

    Raises:
        ValueError: a malformed pair, a section other than ``mae``/``pretrain``, an unknown key, a bad value.
    """

    for pair in pairs:
        section = pair.split("=", 1)[0].split(".", 1)[0]
        if "=" in pair and "." in pair.split("=", 1)[0] and section not in SET_SECTIONS:
            allowed = [f"{name}.{key}" for name, obj in (("mae", arch), ("pretrain", pretrain)) for key in asdict(obj)]
            raise ConfigError(f"--set {pair!r}: pretraining only reads mae.* and pretrain.* settings; "
                              f"allowed: {', '.join(allowed)}")
    settings = apply_overrides(MethodSettings(mae=arch, pretrain=pretrain), list(pairs))
    return settings.mae, settings.pretrain


def validate_settings(settings: PretrainSettings, num_patches: int = 144) -> None:
    """Refuse pretraining settings that cannot run, with one sentence naming the setting.

    The ranges live on ``PretrainSettings``' fields and the rules in ``spirl.config.check_pretrain``.

    Raises:
        ValueError: a field out of its range (epochs, batch size, lr, warm-up, decay, betas, mask
            ratio), a ``min_lr`` above the peak lr, or a mask ratio that hides every patch.
    """

    validate_sections("", {"pretrain": asdict(settings)})
    check_pretrain(settings, num_patches)


# ---------------------------------------------------------------------------------------------
# One iteration


def pretrain_step(model: MAE, optimizer: torch.optim.Optimizer, imgs: torch.Tensor, settings: PretrainSettings,
                  mask_rng: torch.Generator, *, dtype: torch.dtype = torch.float32,
                  scaler: torch.amp.GradScaler | None = None) -> torch.Tensor:
    """One update on a batch of images (B, 3, 96, 96) in [0, 1]: masked forward, backward, AdamW step.

    ``dtype`` other than float32 runs the forward pass under ``torch.autocast`` in that format (weights,
    gradients and the optimizer stay float32); ``scaler`` (float16) scales the loss as CUDA AMP does.
    Returns the batch loss (a detached scalar, left on the device so the loop does not synchronise).
    """
    with torch.autocast(imgs.device.type, dtype=dtype, enabled=dtype != torch.float32):
        loss, _, _ = model(imgs, settings.mask_ratio, mask_rng, settings.loss_all)
    optimizer.zero_grad(set_to_none=True)
    if scaler is None:
        loss.backward()
        optimizer.step()
    else:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    return loss.detach().float()


def grad_scaler(dtype: torch.dtype, device: str) -> torch.amp.GradScaler | None:
    """A GradScaler for float16 (as the released code's CUDA AMP), else None."""
    return torch.amp.GradScaler(torch.device(device).type) if dtype == torch.float16 else None


def iterations_per_epoch(n_frames: int, batch_size: int) -> int:
    """floor(N / batch): 781 for 50K frames, 78 for 5K at batch 64 (``drop_last``)."""
    return n_frames // batch_size


# ---------------------------------------------------------------------------------------------
# The loop


def _resolve_game(game: str | None, meta: dict[str, Any], frames_path: str | os.PathLike[str]) -> str:
    stored = meta.get("game")
    if game is None and stored is None:
        raise ValueError(f"{os.fspath(frames_path)!r} does not name its game in its metadata; pass --game")
    if game is not None and stored is not None and canonical(game) != canonical(stored):
        raise ValueError(f"--game {canonical(game)} was given but {os.fspath(frames_path)!r} holds "
                         f"{canonical(stored)} frames")
    return canonical(game if game is not None else stored)


@dataclass
class _Data:
    """The checked pretraining set: uint8 frames ``(N, S, S, C)``, their metadata and game, batches per epoch."""

    frames: np.ndarray
    meta: dict[str, Any]
    game: str
    iters: int
    copies: dict[str, torch.Tensor] = field(default_factory=dict)

    def on(self, device: str) -> torch.Tensor:
        """The frames as a uint8 tensor on ``device``: the array itself on a CPU; on a GPU copied there once
        (1.4 GB for 50K frames), so that each batch is gathered there instead of copied from the host."""
        if torch.device(device).type == "cpu":
            return torch.from_numpy(self.frames)
        if device not in self.copies:
            self.copies[device] = torch.from_numpy(self.frames).to(device)
        return self.copies[device]


@dataclass
class _Run:
    """Everything one pretraining owns: the model, its optimiser, the two generators and the loss log."""

    model: MAE
    optimizer: torch.optim.AdamW
    sampler_rng: torch.Generator  # which frames form each batch
    mask_rng: torch.Generator  # which patches each sample hides
    device: str
    rows: list[dict[str, float]] = field(default_factory=list)
    start_epoch: int = 0
    dtype: torch.dtype = torch.float32  # autocast format of the forward pass (pretrain.precision)
    scaler: torch.amp.GradScaler | None = None  # float16 only


def _load_data(frames_path: str | os.PathLike[str], arch: MAEArch, settings: PretrainSettings,
               game: str | None) -> _Data:
    """Load the frames and refuse a set that does not fit the architecture or holds less than one batch."""

    frames, meta = load_frames(frames_path)  # uint8 (N, H, W, C)
    game = _resolve_game(game, meta, frames_path)
    expected = (arch.img_size, arch.img_size, arch.in_chans)
    if frames.ndim != 4 or tuple(frames.shape[1:]) != expected:
        raise ValueError(f"{os.fspath(frames_path)!r} holds frames of shape {tuple(frames.shape[1:])}, "
                         f"the MAE takes {expected}")
    iters = iterations_per_epoch(len(frames), settings.batch_size)
    if iters < 1:
        raise ValueError(f"{os.fspath(frames_path)!r} has {len(frames)} frames, fewer than one batch of "
                         f"{settings.batch_size}")
    return _Data(frames, meta, game, iters)


def _new_run(arch: MAEArch, settings: PretrainSettings, seed: int, device: str,
             dtype: torch.dtype = torch.float32) -> _Run:
    """A fresh model initialised from the seeded global RNG, its optimiser and two seeded generators."""

    seed_everything(seed)
    model = MAE(arch).to(device)
    sampler_seed, mask_seed = (int(s) for s in np.random.SeedSequence(seed).generate_state(2))
    return _Run(model, build_optimizer(model, settings), torch.Generator().manual_seed(sampler_seed),
                torch.Generator().manual_seed(mask_seed), device, dtype=dtype, scaler=grad_scaler(dtype, device))


def _resume(run: _Run, state: dict[str, Any], bound: dict[str, Any], path: Path) -> None:
    """Continue ``run`` from the saved ``state`` of ``path``; refuse one of other frames or settings.

    Raises:
        CheckpointMismatchError: the state was made from other frames or settings (``--force`` starts over).
    """
    refuse_other_job(path, PRETRAINING, state, bound)
    run.model.load_state_dict(state["model"])
    run.optimizer.load_state_dict(state["optimizer"])
    run.sampler_rng.set_state(state["sampler_rng"].cpu())
    run.mask_rng.set_state(state["mask_rng"].cpu())
    run.rows = list(state["rows"])
    run.start_epoch = int(state["epoch"])
    if run.scaler is not None and state.get("scaler") is not None:
        run.scaler.load_state_dict(state["scaler"])


def _train_epoch(run: _Run, data: _Data, settings: PretrainSettings, epoch: int, bar: Any) -> dict[str, float]:
    """One epoch of ``data.iters`` batches drawn with replacement; returns its ``pretrain.csv`` row."""
    run.model.train()
    started = time.perf_counter()
    frames_t = data.on(run.device)  # on a GPU, the whole set is there: batches are gathered on the device
    batches = torch.randint(len(data.frames), (data.iters, settings.batch_size), generator=run.sampler_rng)
    batches = to_device(batches, frames_t.device)  # drawn on the host (the same on every device), sent at once
    loss_sum = torch.zeros((), device=run.device)
    lr = 0.0
    for it in range(data.iters):
        preempt.check(f"{epoch} of {settings.epochs} epochs are saved (epoch {epoch + 1} is dropped); the same command "
                      f"resumes from epoch {epoch + 1}")
        lr = lr_at(epoch + it / data.iters, settings)
        for group in run.optimizer.param_groups:
            group["lr"] = lr
        imgs = frames_to_images(frames_t[batches[it]], run.device, size=run.model.arch.img_size)  # (B, 3, S, S)
        loss_sum += pretrain_step(run.model, run.optimizer, imgs, settings, run.mask_rng, dtype=run.dtype,
                                  scaler=run.scaler)
        bar.update(1)
    loss = float(loss_sum) / data.iters  # the one synchronisation of the epoch
    if not math.isfinite(loss):
        raise RuntimeError(f"the pretraining loss of {data.game} became {loss} in epoch {epoch + 1}; "
                           "lower pretrain.blr")
    wall = time.perf_counter() - started
    return {"epoch": epoch + 1, "loss": loss, "lr": lr, "wall_time_s": wall,
            "samples_per_s": data.iters * settings.batch_size / wall}


def _state_payload(run: _Run, bound: dict[str, Any], epoch: int) -> dict[str, Any]:
    return {**bound, "epoch": epoch, "model": run.model.state_dict(),
            "optimizer": run.optimizer.state_dict(), "sampler_rng": run.sampler_rng.get_state(),
            "mask_rng": run.mask_rng.get_state(), "rows": run.rows,
            "scaler": None if run.scaler is None else run.scaler.state_dict()}


def _finish(run: _Run, data: _Data, settings: PretrainSettings, seed: int, threads: int,
            frames_path: str | os.PathLike[str], out_path: Path, bound: dict[str, Any]) -> dict[str, Any]:
    """Write ``pretrain.csv`` then ``model.pt`` (last: its presence marks a finished pretraining)."""

    extra = {
        "pretrain": asdict(settings),
        "epoch": settings.epochs,
        "loss": run.rows[-1]["loss"],
        "seed": seed,
        "frames": {"path": os.fspath(frames_path), "n": len(data.frames), "seed": data.meta.get("seed"),
                   "sha256": bound["inputs"].get("frames"), "format_version": data.meta.get("format_version")},
        "iterations_per_epoch": data.iters,
        "device": run.device,
        "threads": threads,
        "wall_time_s": sum(r["wall_time_s"] for r in run.rows),
        "versions": versions(),
        "git_commit": git_commit(),
    }
    atomic_write_text(out_path.parent / "pretrain.csv", csv_text(run.rows))
    save_mae(out_path, run.model.cpu(), game=data.game, extra=extra)
    return extra


def _tidy(root: Path, named: bool) -> None:
    """Remove the finished run's states; the default location's empty folders too (a named one is left)."""
    CheckpointStore(root, PRETRAINING).remove_all()
    if not named:
        for empty in (root, root.parent):
            try:
                empty.rmdir()
            except OSError:
                break


def pretrain(
    frames_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    arch: MAEArch | None = None,
    settings: PretrainSettings | None = None,
    *,
    seed: int = 0,
    device: str = "auto",
    threads: int | None = None,
    game: str | None = None,
    ckpt_dir: str | os.PathLike[str] | None = None,
    force: bool = False,
    stop_after_epochs: int | None = None,
) -> dict[str, Any] | None:
    """Pretrain an MAE on ``frames_path`` and write ``out_path`` (model) and ``pretrain.csv`` beside it.

    Args:
        frames_path: ``.npz`` frame dataset (``spirl.atari.frames.load_frames``): uint8 (N, 96, 96, 3) and metadata.
        out_path: the model checkpoint to write (``spirl.mae.checkpoint.save_mae`` format, decoder included).
        arch, settings: the MAE and its schedule; the paper's by default.
        seed: seeds the initialisation, the batch sampler and the masks (two separate generators).
        device: ``auto`` (GPU when present), ``cpu`` or ``cuda``.
        threads: torch threads (``spirl.utils.set_threads``); None keeps the current count.
        game: the game, any spelling; by default the dataset's. Must agree with the dataset's.
        ckpt_dir: where the resumable state lives; default ``default_checkpoint_dir(out_path, PRETRAINING)``.
        force: overwrite an existing ``out_path``; start over from a state of other frames or settings.
        stop_after_epochs: stop (as if interrupted) once this many epochs are complete, leaving only
            the resumable state; for tests and for splitting a long run across jobs.

    Returns:
        The ``extra`` dict stored in the model (settings, final loss, timings, versions), or None when
        stopped early by ``stop_after_epochs``.

    Raises:
        FileExistsError: ``out_path`` exists and ``force`` is False.
        ValueError: bad settings, a dataset that does not fit the architecture, or a game mismatch.
        spirl.checkpoints.CheckpointError: a state of other frames or settings (without ``force``), or none intact.
        RuntimeError: the loss became NaN or infinite.
    """

    arch = arch if arch is not None else MAEArch()
    settings = settings if settings is not None else PretrainSettings()
    out_path = Path(out_path)
    # before any work: an input in the way is refused even with force, as is a directory; an output without it
    state_root = Path(ckpt_dir if ckpt_dir is not None else default_checkpoint_dir(out_path, PRETRAINING))
    refuse_output_in_inputs({"--out": out_path, "--ckpt-dir": state_root}, {"--frames": frames_path})
    if out_path.is_file() and CheckpointStore(state_root, PRETRAINING).candidates():
        with output_lock(out_path, "spirl pretrain"):  # a kill after model.pt, before the states were removed
            removed = CheckpointStore(state_root, PRETRAINING).remove_all()
        log(f"removed {len(removed)} state(s) of the finished pretraining in {state_root}")
    finished = out_path.is_file()  # model.pt is written last: pretrain.csv alone is an unfinished run's
    refuse_existing([out_path, out_path.parent / "pretrain.csv"] if finished else [out_path], force=force,
                    dirs=[state_root])
    refuse_unwritable(out_path, state_root)
    validate_arch(arch)
    validate_settings(settings, (arch.img_size // arch.patch_size) ** 2)
    refuse_beyond_memory(pretrain_memory_parts(arch, settings.batch_size), f"a pretraining batch of "
                         f"{settings.batch_size:,}", "lower pretrain.batch_size")
    data = _load_data(frames_path, arch, settings, game)
    device = choose_device(device)
    dtype = check_precision(settings.precision, device, what="pretrain.precision")
    n_threads = set_threads(threads)
    run = _new_run(arch, settings, seed, device, dtype)
    bound = {"inputs": input_digests({"frames": frames_path}),
             "settings": bound_settings(arch, settings, seed, data.game)}
    with output_lock(out_path, "spirl pretrain"):
        return _pretrain_locked(run, data, settings, bound, state_root, out_path, frames_path, seed=seed,
                                threads=n_threads, force=force, named=ckpt_dir is not None,
                                stop_after_epochs=stop_after_epochs)


def _pretrain_locked(run: _Run, data: _Data, settings: PretrainSettings, bound: dict[str, Any], state_root: Path,
                     out_path: Path, frames_path: str | os.PathLike[str], *, seed: int, threads: int, force: bool,
                     named: bool, stop_after_epochs: int | None) -> dict[str, Any] | None:
    """The pretraining loop, under the output's lock: resume, train epoch by epoch, write the outputs."""

    store = CheckpointStore(state_root, PRETRAINING, log=log)
    arch, device, dtype = run.model.arch, run.device, run.dtype
    state = store.resume(lambda path, st: _resume(run, st, bound, path), force=force, map_location=device)
    if state is not None:
        log(f"resuming {data.game} from epoch {run.start_epoch}/{settings.epochs} ({state_root})")
    else:
        log(f"{describe(arch)}; {data.game}, {len(data.frames)} frames, {settings.epochs} epochs x {data.iters} "
            f"batches of {settings.batch_size} on {device} with {threads} thread(s)"
            + ("" if dtype == torch.float32 else f", forward pass in {settings.precision} (autocast)"))

    bar = progress(total=settings.epochs * data.iters, desc=f"pretrain {data.game}", unit="batch",
                   initial=run.start_epoch * data.iters)
    try:
        for epoch in range(run.start_epoch, settings.epochs):
            run.rows.append(_train_epoch(run, data, settings, epoch, bar))
            row = run.rows[-1]
            bar.set_postfix(loss=f"{row['loss']:.4f}")
            log(f"{data.game} epoch {epoch + 1}/{settings.epochs} loss {row['loss']:.4f} lr {row['lr']:.3g} "
                f"{row['samples_per_s']:.1f} samples/s")
            store.save(epoch + 1, _state_payload(run, bound, epoch + 1))
            if stop_after_epochs is not None and epoch + 1 >= stop_after_epochs and epoch + 1 < settings.epochs:
                log(f"stopping after epoch {epoch + 1} as asked; rerun to resume")
                return None
    finally:
        bar.close()

    extra = _finish(run, data, settings, seed, threads, frames_path, out_path, bound)
    _tidy(state_root, named=named)
    log(f"wrote {out_path} and {out_path.parent / 'pretrain.csv'} (final loss {extra['loss']:.4f})")
    return extra




__all__ = [
    "apply_set",
    "iterations_per_epoch",
    "pretrain",
    "pretrain_step",
    "validate_settings",
]
