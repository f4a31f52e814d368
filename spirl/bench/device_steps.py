"""The steps of the GPU check (``spirl.bench.device_check`` runs them, in this order, under their limits).

Each step takes a :class:`Context` and a dict it fills as it goes (what it measured so far stays when its limit
stops it) and returns its remaining figures. On a CPU the CUDA-only formats are recorded as skipped; with the
tiny inputs of ``gpu_prepare.sh --tiny`` every size is small, so that the rehearsal takes seconds.
"""

from __future__ import annotations

import contextlib
import functools
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from spirl.bench.device_prepare import GAME, TINY_MAE, TINY_OVERRIDES

FORMATS = {"cuda": ("float32", "tf32", "bfloat16", "float16"), "cpu": ("float32", "bfloat16")}
CHUNKS = {"cuda": (144, 576, 1152, 2304, 7200), "cpu": (24, 144)}
SHARED_RUN_CPU_S = 30  # CPU seconds of one tiny shared run in the rehearsal (about 8 are used)


@dataclass
class Context:
    """What every step gets: the device, its kind (``cuda``/``cpu``), the prepared folder and a scratch folder."""

    device: str
    kind: str
    prepared: Path
    work: Path
    tiny: bool

    @property
    def mae(self) -> Path:
        return self.prepared / "mae" / "model.pt"

    @functools.cached_property
    def frames(self) -> np.ndarray:
        """The carried frames ``(N, 96, 96, 3)`` uint8, read (and their digest checked) once for every step."""
        from spirl.atari.frames import load_frames

        return load_frames(self.prepared / "frames.npz")[0]

    def overrides(self) -> list[str]:
        """The settings a run of the carried MAE needs (the tiny MAE's architecture in a rehearsal)."""
        return list(TINY_OVERRIDES) if self.tiny else []


def _sync(ctx: Context) -> None:
    from spirl.bench import sync

    sync(ctx.device)


def _preset(ctx: Context, name: str, steps: int, episodes: int) -> Path:
    import yaml

    path = ctx.work / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"games": [GAME], "budget": {
        "env_steps": steps, "eval_points": 1, "eval_episodes": episodes, "checkpoint_every": steps,
        "device": ctx.device}}))
    return path


# ------------------------------------------------------------------------------------------------- steps


def step_run(ctx: Context, part: dict[str, Any]) -> dict[str, Any]:
    """A short SPIRL run end to end with the carried MAE: 3,000 steps (1,600 random) and one evaluation."""
    from spirl.rl.train import train

    steps, warm, episodes, cap = (120, 40, 2, 20) if ctx.tiny else (3000, 1600, 8, 2000)
    out = ctx.work / "run"
    info = train(_preset(ctx, "run", steps, episodes), "spirl", GAME, 0, out, mae=ctx.mae, device=ctx.device,
                 overrides=[*ctx.overrides(), f"learner.warmup_steps={warm}", f"protocol.max_episode_steps={cap}"],
                 ckpt_dir=ctx.work / "run_ckpt", quiet=True)
    assert info is not None
    return {"env_steps": steps, "steps_per_s": info["steps_per_s"], "wall_time_s": info["wall_time_s"],
            "updates": info["updates"], "gpu_peak_mb": info["gpu_peak_mb"], "device": info["device"],
            "eval_csv": (out / "eval.csv").read_text()}


def _model(mae: Any, name: str, dtype: Any) -> Any:
    """The model a format computes with: ``lowered``; for TF32 a float32 copy, so that the first decoder layer's
    cached part (cached per model) is computed with TF32 too rather than shared with float32."""
    import copy

    from spirl.saliency.error_map import lowered

    return copy.deepcopy(mae) if name == "tf32" else lowered(mae, dtype)


@contextlib.contextmanager
def _format(name: str) -> Iterator[Any]:
    """The torch dtype of a format name; ``tf32`` is float32 with TF32 matrix products, switched on for the block."""
    import torch

    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = name == "tf32"
    try:
        yield {"float32": torch.float32, "tf32": torch.float32, "bfloat16": torch.bfloat16,
               "float16": torch.float16}[name]
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def step_agreement(ctx: Context, part: dict[str, Any]) -> dict[str, Any]:
    """Each format's error map, K and selections on the device against the carried CPU float32 reference."""
    import torch

    from spirl.saliency.agreement import selection_stats
    from spirl.saliency.error_map import error_map
    from spirl.saliency.patches import NUM_PATCHES, frames_to_images, load_checked_mae
    from spirl.saliency.select import dynamic_k, salient_index

    ref = torch.load(ctx.prepared / "reference.pt", weights_only=True)
    frames = ctx.frames[ref["frame_index"].numpy()]
    mae, _ = load_checked_mae(ctx.mae, game=GAME, device=ctx.device)
    k_max, e_ref = int(ref["k_max"]), ref["errors"]
    for name in FORMATS["cuda"]:
        if name not in FORMATS[ctx.kind]:
            part[name] = {"skipped": "CUDA only"}
            continue
        with _format(name) as dtype:
            low = _model(mae, name, dtype)
            e = torch.cat([error_map(low, frames_to_images(frames[s:s + 50], ctx.device))
                           for s in range(0, len(frames), 50)]).cpu()
        k = dynamic_k(e, k_max)
        same_sets = (salient_index(e, k, k_max).sort(1).values == ref["index"].sort(1).values).all(1)
        part[name] = {"frames": len(frames), "max_error_diff": float(((e - e_ref).abs().amax(1)
                                                                       / e_ref.amax(1)).max()),
                      "identical_k": float((k == ref["k"]).float().mean()),
                      "identical_selection": float((same_sets & (k == ref["k"])).float().mean()),
                      "uncapped_identical_k": float((dynamic_k(e, NUM_PATCHES) == ref["k_uncapped"]).float().mean()),
                      **selection_stats(e_ref, e, k_max)}
    return {"mae": json.loads((ctx.prepared / "manifest.json").read_text())["mae"], "k_max": k_max}


def _rate(fn: Callable[[], Any], ctx: Context, items: int, seconds: float) -> float:
    """Items/s of ``fn`` after one warm-up call: repeated until ``seconds`` have passed (3 calls at least)."""
    fn()
    _sync(ctx)
    n, t0 = 0, time.perf_counter()
    while n < 3 or time.perf_counter() - t0 < seconds:
        fn()
        n += 1
    _sync(ctx)
    return n * items / (time.perf_counter() - t0)


def step_error_map(ctx: Context, part: dict[str, Any]) -> dict[str, Any]:
    """Error-map frames/s at batch 1 (the device's chunk) and at the evaluation batch per chunk size, per format."""
    from spirl.saliency.error_map import default_chunk, error_map
    from spirl.saliency.patches import frames_to_images, load_checked_mae

    mae, _ = load_checked_mae(ctx.mae, game=GAME, device=ctx.device)
    batch = 4 if ctx.tiny else 50
    imgs = frames_to_images(ctx.frames[:batch], ctx.device)
    seconds = 0.2 if ctx.tiny else 1.0
    for name in FORMATS[ctx.kind]:
        with _format(name) as dtype:
            low = _model(mae, name, dtype)
            row = {"batch_1": _rate(lambda low=low: error_map(low, imgs[:1]), ctx, 1, seconds)}
            for chunk in CHUNKS[ctx.kind]:
                row[f"batch_{batch}_chunk_{chunk}"] = _rate(lambda low=low, c=chunk: error_map(low, imgs, chunk=c),
                                                            ctx, batch, seconds)
            part[name] = row
    return {"default_chunk": default_chunk(ctx.device), "batch": batch}


def step_learner(ctx: Context, part: dict[str, Any]) -> dict[str, Any]:
    """Updates/s of DE-Rainbow and SPIRL at batch 32 (sampling included), and the waits of their steps."""
    from spirl.bench.waits import build_trainer, step_waits
    from spirl.waits import BUDGET

    part["to_device_intact"] = _to_device_intact(ctx.device)
    for method in ("de_rainbow", "spirl"):
        warm = 40 if ctx.tiny else 400
        tr = build_trainer(method, GAME, warm, ctx.device, ctx.tiny, ctx.work / f"learner_{method}", 30, batch=32)
        tr.start()
        while tr.step < warm + 20:
            tr._env_step()

        def update(tr: Any = tr) -> None:
            batch = tr.replay.sample(32, 0.4, reuse=True)
            tr.replay.update_priorities(batch.index, tr.learner.update(batch).priorities)

        rate = _rate(update, ctx, 1, 0.3 if ctx.tiny else 3.0)
        w = step_waits(method, game=GAME, device=ctx.device, tiny=True)
        part[method] = {"updates_per_s": rate, "waits_train_step": w["train_step"],
                        "waits_eval_per_step": w["eval_per_step"], "train_waits": w["train_waits"],
                        "eval_waits": w["eval_waits"], "budget_train_step": BUDGET["train_step"][method],
                        "budget_eval_step": BUDGET["eval_step"],
                        "within_budget": w["train_step"] <= BUDGET["train_step"][method]
                        and w["eval_per_step"] <= BUDGET["eval_step"]}
    return {"batch": 32}


def _to_device_intact(device: str) -> bool:
    """An array overwritten right after ``to_device`` reached the device with the values of the call (async copies)."""
    from spirl.devices import to_device

    a, outs = np.zeros((5, 96, 96, 3), dtype=np.uint8), []
    for n in range(8):
        a[:] = n
        outs.append(to_device(a, device).clone())
    return [int(o.float().mean()) for o in outs] == list(range(8))


def step_pretrain(ctx: Context, part: dict[str, Any]) -> dict[str, Any]:
    """Pretraining samples/s of the paper MAE (the tiny one in a rehearsal) per format, at batch 64."""
    import torch

    from spirl.config import MAEArch, Precision, PretrainSettings, allowed
    from spirl.mae.model import MAE
    from spirl.mae.optim import build_optimizer
    from spirl.mae.pretrain import grad_scaler, pretrain_step
    from spirl.saliency.patches import frames_to_images

    settings = PretrainSettings()
    imgs = frames_to_images(ctx.frames[:settings.batch_size], ctx.device)
    for name in allowed(Precision) if ctx.kind == "cuda" else ("float32",):  # the pretraining formats
        torch.manual_seed(0)
        model = MAE(MAEArch(**TINY_MAE) if ctx.tiny else MAEArch()).to(ctx.device).train()
        opt, masks = build_optimizer(model, settings), torch.Generator().manual_seed(0)
        with _format(name) as dtype:
            scaler = grad_scaler(dtype, ctx.device)
            part[name] = _rate(lambda m=model, o=opt, g=masks, d=dtype, s=scaler: pretrain_step(
                m, o, imgs, settings, g, dtype=d, scaler=s), ctx, len(imgs), 0.2 if ctx.tiny else 2.0)
    return {"batch": settings.batch_size}


def step_shared(ctx: Context, part: dict[str, Any]) -> dict[str, Any]:
    """1, 2, 4, 8 short SPIRL runs at once (``spirl train`` processes) on the one device."""
    steps, warm, cap = (60, 20, 15) if ctx.tiny else (800, 300, 300)
    preset = _preset(ctx, "shared", steps, 2)
    waves = (1, 2) if ctx.kind == "cpu" else (1, 2, 4, 8)
    for n in waves:
        procs = []
        try:
            for i in range(n):
                out = ctx.work / f"shared_{n}" / str(i)
                cmd = [sys.executable, "-m", "spirl", "train", "--config", str(preset), "--method", "spirl",
                       "--game", GAME, "--seed", str(i), "--out", str(out), "--mae", str(ctx.mae), "--device",
                       ctx.device, "--threads", "1", "--set", f"learner.warmup_steps={warm}",
                       "--set", f"protocol.max_episode_steps={cap}",
                       *(a for o in ctx.overrides() for a in ("--set", o))]
                procs.append((out, subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                                    preexec_fn=_cpu_cap(ctx))))
            t0 = time.perf_counter()
            runs = []
            for out, proc in procs:
                err = proc.communicate()[1]
                if proc.returncode:
                    why = err.strip().splitlines()[-1] if err.strip() else f"exit code {proc.returncode}"
                    raise RuntimeError(f"a shared run failed: {why}")
                info = json.loads((out / "run.json").read_text())
                runs.append({"steps_per_s": info["steps_per_s"], "gpu_peak_mb": info["gpu_peak_mb"]})
            part[f"runs_{n}"] = {"runs": runs, "wall_s": time.perf_counter() - t0,
                                 "mean_steps_per_s": float(np.mean([r["steps_per_s"] for r in runs]))}
        finally:
            for _, proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
    one = part["runs_1"]["mean_steps_per_s"]
    return {"env_steps": steps, "mps_daemon": _mps_running(),
            "speed_vs_one_run": {k: v["mean_steps_per_s"] / one for k, v in part.items()}}


def _cpu_cap(ctx: Context) -> Callable[[], None] | None:
    """In the CPU rehearsal, a shared run may use ``SHARED_RUN_CPU_S`` seconds of CPU (then SIGXCPU ends it)."""
    if ctx.kind != "cpu":
        return None

    def cap() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_CPU, (SHARED_RUN_CPU_S, SHARED_RUN_CPU_S))

    return cap


def _mps_running() -> bool:
    """Whether NVIDIA's MPS daemon runs on this machine (a process named nvidia-cuda-mps-*)."""
    for comm in Path("/proc").glob("[0-9]*/comm"):
        with contextlib.suppress(OSError):
            if comm.read_text().startswith("nvidia-cuda-mps"):
                return True
    return False


__all__ = ["CHUNKS", "FORMATS", "Context", "step_agreement", "step_error_map", "step_learner",
           "step_pretrain", "step_run", "step_shared"]
