"""The GPU check (docs/costs.md#gpu): ``scripts/gpu_check.sh`` on a CUDA machine, ``--device cpu`` to rehearse it.

It reads what ``scripts/gpu_prepare.sh`` made (``spirl.bench.device_prepare``; digests checked first) and
runs, in priority order, each step under its own time limit (``STEPS``), rewriting one JSON summary after
every step, so that a stop at any moment leaves what was measured:

1. ``run``: a short SPIRL run end to end (``spirl.rl.train.train``) with the carried MAE: steps/s, GPU
   memory and its ``eval.csv``;
2. ``agreement``: the device's error map, K and selections against the carried CPU float32 reference,
   in float32, TF32, bfloat16 and float16;
3. ``error_map``: frames/s at batch 1 and 50 per format and chunk size;
4. ``learner``: updates/s of DE-Rainbow and SPIRL, and the host-device waits of a training and an
   evaluation step (``spirl bench waits``) against ``spirl.waits.BUDGET``;
5. ``pretrain``: MAE pretraining samples/s per format;
6. ``shared``: 1, 2, 4 and 8 short SPIRL runs at once on the one GPU, each one's steps/s and memory.

The step limits plus ``SETUP_S`` fit inside ``OUTER_S``, the ``timeout`` that ``gpu_check.sh`` puts
around the whole check (tests/bench/test_device_check.py). On a CPU the steps run with the tiny inputs
of ``gpu_prepare.sh --tiny`` and the CUDA-only formats are recorded as skipped.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from spirl.bench.device_prepare import GAME, TINY_MAE, verify

OUTER_S = {"cuda": 300, "cpu": 180}  # gpu_check.sh's timeout around the whole check, seconds
SETUP_S = {"cuda": 25, "cpu": 20}  # imports, CUDA start, verifying the inputs, before the first step
# The device command's limit (gpu_check.sh's wheel install, then OUTER_S): twice that and a machine start
# fit the 15 minutes a task is lent a GPU for, so a failed first try can be fixed and run again.
DEVICE_COMMAND_S = 360
FORMATS = {"cuda": ("float32", "tf32", "bfloat16", "float16"), "cpu": ("float32", "bfloat16")}
CHUNKS = {"cuda": (144, 576, 1152, 2304, 7200), "cpu": (24, 144)}
TINY_AGENT = ["agent.hidden_size=32", "agent.proj_dim=8", "agent.attention_heads=2", "agent.attention_mlp=16"]


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

    def overrides(self) -> list[str]:
        """The settings a run of the carried MAE needs (the tiny MAE's architecture in a rehearsal)."""
        return [*TINY_AGENT, *(f"mae.{k}={v}" for k, v in TINY_MAE.items())] if self.tiny else []


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


def _frames(ctx: Context) -> np.ndarray:
    from spirl.atari.frames import load_frames

    return load_frames(ctx.prepared / "frames.npz")[0]


def step_agreement(ctx: Context, part: dict[str, Any]) -> dict[str, Any]:
    """Each format's error map, K and selections on the device against the carried CPU float32 reference."""
    import torch

    from spirl.saliency.agreement import selection_stats
    from spirl.saliency.error_map import error_map
    from spirl.saliency.patches import NUM_PATCHES, frames_to_images, load_checked_mae
    from spirl.saliency.select import dynamic_k, salient_index

    ref = torch.load(ctx.prepared / "reference.pt", weights_only=True)
    frames = _frames(ctx)[ref["frame_index"].numpy()]
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
    imgs = frames_to_images(_frames(ctx)[:batch], ctx.device)
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
        part["to_device_intact"] = _to_device_intact(ctx.device)
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

    from spirl.mae.model import MAE
    from spirl.mae.optim import build_optimizer
    from spirl.mae.pretrain import grad_scaler, pretrain_step
    from spirl.saliency.patches import frames_to_images
    from spirl.settings import MAEArch, PretrainSettings

    settings = PretrainSettings()
    imgs = frames_to_images(_frames(ctx)[:settings.batch_size], ctx.device)
    for name in ("float32", "bfloat16", "float16") if ctx.kind == "cuda" else ("float32",):
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
                procs.append((out, subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                                    text=True)))
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


def _mps_running() -> bool:
    """Whether NVIDIA's MPS daemon runs on this machine (a process named nvidia-cuda-mps-*)."""
    for comm in Path("/proc").glob("[0-9]*/comm"):
        with contextlib.suppress(OSError):
            if comm.read_text().startswith("nvidia-cuda-mps"):
                return True
    return False


@dataclass(frozen=True)
class Step:
    """One step of the check: its name, its limit in seconds per device kind, and its function."""

    name: str
    limit: dict[str, float]
    run: Callable[[Context, dict[str, Any]], dict[str, Any]]


STEPS: tuple[Step, ...] = (
    # CPU limits: the rehearsal's tiny sizes take about 25 s of CPU; the limits leave room for a loaded machine.
    Step("run", {"cuda": 75, "cpu": 40}, step_run),
    Step("agreement", {"cuda": 25, "cpu": 15}, step_agreement),
    Step("error_map", {"cuda": 40, "cpu": 15}, step_error_map),
    Step("learner", {"cuda": 35, "cpu": 25}, step_learner),
    Step("pretrain", {"cuda": 20, "cpu": 10}, step_pretrain),
    Step("shared", {"cuda": 80, "cpu": 55}, step_shared),
)


# ------------------------------------------------------------------------------------------------ runner


class StepTimeoutError(Exception):
    """A step ran past its limit."""


@contextlib.contextmanager
def _limit(seconds: float) -> Iterator[None]:
    def stop(signum: int, frame: Any) -> None:
        raise StepTimeoutError

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_check(device: str, prepared: Path, out: Path, only: list[str] | None = None) -> dict[str, Any]:
    """Run the steps in order within ``OUTER_S``, rewriting ``out`` after each; returns the summary."""
    import tempfile

    import torch

    from spirl.bench import _plain, machine

    t0 = time.perf_counter()
    kind = "cuda" if device.startswith("cuda") else "cpu"
    manifest = verify(prepared)
    ctx = Context(device, kind, prepared, Path(tempfile.mkdtemp(prefix="gpu_check_")), manifest["size"] == "tiny")
    summary: dict[str, Any] = {"device": device, "machine": machine(), "cuda": torch.version.cuda,
                               "inputs": {k: manifest[k] for k in ("size", "mae", "frames", "reference_frames",
                                                                   "git_commit", "made")},
                               "limits": {s.name: s.limit[kind] for s in STEPS}, "outer_s": OUTER_S[kind],
                               "order": [], "steps": {}}
    out.parent.mkdir(parents=True, exist_ok=True)

    def save() -> None:
        summary["seconds"] = round(time.perf_counter() - t0, 1)
        out.write_text(json.dumps(_plain(summary), indent=1, sort_keys=True, default=str))

    for step in STEPS:
        if only and step.name not in only:
            continue
        left = OUTER_S[kind] - SETUP_S[kind] / 2 - (time.perf_counter() - t0)
        limit = min(step.limit[kind], left)
        print(f"[{time.perf_counter() - t0:5.0f} s] {step.name} (limit {limit:.0f} s)", flush=True)
        if limit < 2:
            summary["steps"][step.name] = {"ok": False, "error": "no time left"}
            summary["order"].append(step.name)
            save()
            continue
        part: dict[str, Any] = {}
        s = time.perf_counter()
        try:
            with _limit(limit):
                result = step.run(ctx, part)
            record = {"ok": True, **part, **result}
        except StepTimeoutError:
            record = {"ok": False, "error": f"timed out after {limit:.0f} s", **part}
        except Exception:  # recorded; the next step runs
            record = {"ok": False, "error": "\n".join(traceback.format_exc().strip().splitlines()[-6:]), **part}
        record["seconds"] = round(time.perf_counter() - s, 1)
        summary["steps"][step.name] = record
        summary["order"].append(step.name)
        save()
        if kind == "cuda":
            torch.cuda.empty_cache()
    save()
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/gpu_check.sh", description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu (the rehearsal)")
    parser.add_argument("--prepared", type=Path, default=Path(".gpu"), help="scripts/gpu_prepare.sh's folder")
    parser.add_argument("--out", type=Path, required=True, help="the JSON summary to write")
    parser.add_argument("--only", nargs="*", default=None, help="run only these steps")
    args = parser.parse_args(argv)
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("gpu check: no GPU is visible; rehearse it with --device cpu", file=sys.stderr)
        return 2
    try:
        summary = run_check(args.device, args.prepared, args.out, args.only)
    except ValueError as err:
        print(f"gpu check: {err}", file=sys.stderr)
        return 2
    failed = [n for n, r in summary["steps"].items() if not r["ok"]]
    print(f"gpu check: {summary['seconds']:.0f} s, {'all passed' if not failed else 'FAILED: ' + ', '.join(failed)}"
          f" -> {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
