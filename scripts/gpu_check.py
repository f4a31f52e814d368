"""The device check of issue 10 on one CUDA GPU, writing one JSON summary (run through scripts/gpu_check.sh).

Steps, each with its own time limit so that the whole check stays under about 8 minutes on an H200;
a step that fails or times out is recorded in the summary (its error's last lines) and the next one runs:

1. every benchmark on CUDA with ``--json`` (``spirl bench env|pretrain|saliency|train|stats|run``), the
   error map at the evaluation batch (50) in float32, bfloat16 and float16, compiled and eager;
2. error-map agreement of the GPU in each format with the CPU's float32 (``spirl.saliency.agreement``):
   on the pretrained Frostbite MAE when ``--mae`` names one, else on a randomly initialised paper MAE;
3. a short SPIRL run end to end on the GPU: collect frames, pretrain a small schedule, ``spirl train``
   a few thousand steps with the paper's evaluation protocol on fewer episodes.

    python3 scripts/gpu_check.py --out $OUT/gpu_check.json [--mae results/perf/mae/Frostbite/model.pt]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

# (name, spirl bench arguments, seconds allowed)
BENCHES: list[tuple[str, list[str], int]] = [
    ("env", ["env", "--quick"], 60),
    ("pretrain_float32", ["pretrain", "--device", "cuda", "--iters", "12"], 90),
    ("pretrain_bfloat16", ["pretrain", "--device", "cuda", "--iters", "12", "--precision", "bfloat16",
                           "--loss-updates", "60"], 90),
    ("pretrain_float16", ["pretrain", "--device", "cuda", "--iters", "12", "--precision", "float16",
                          "--loss-updates", "60"], 90),
    ("saliency_float32", ["saliency", "--device", "cuda", "--compile"], 150),
    ("saliency_bfloat16", ["saliency", "--device", "cuda", "--compile", "--precision", "bfloat16"], 150),
    ("saliency_float16", ["saliency", "--device", "cuda", "--compile", "--precision", "float16"], 150),
    ("train", ["train", "--device", "cuda", "--fill", "1000", "--steps", "200"], 150),
    ("stats", ["stats", "--quick"], 60),
    ("run_spirl_float32", ["run", "--device", "cuda", "--method", "spirl", "--game", "Frostbite"], 150),
    ("run_spirl_bfloat16", ["run", "--device", "cuda", "--method", "spirl", "--game", "Frostbite",
                            "--precision", "bfloat16"], 150),
    ("run_de_rainbow", ["run", "--device", "cuda", "--method", "de_rainbow", "--game", "Frostbite"], 120),
]


def _spirl(args: list[str], timeout: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "-m", "spirl", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=env)


def _tail(text: str, n: int = 12) -> str:
    return "\n".join(text.strip().splitlines()[-n:])


def bench(name: str, args: list[str], timeout: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    try:
        proc = _spirl(["bench", *args, "--json"], timeout)
    except subprocess.TimeoutExpired as err:
        return {"ok": False, "error": f"timed out after {timeout} s", "output": _tail(str(err.stdout or ""))}
    out = {"ok": proc.returncode == 0, "seconds": round(time.perf_counter() - t0, 1)}
    lines = proc.stdout.strip().splitlines()
    try:
        out["result"] = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        out["ok"] = False
    if not out["ok"]:
        out["output"] = _tail(proc.stdout + "\n" + proc.stderr)
    else:
        out["printed"] = _tail(proc.stdout, 40).split("\n")[:-1]
    return out


def agreement(mae_path: str | None, n_frames: int) -> dict[str, Any]:
    """GPU error maps in each format against the CPU's float32 ones, on the same frames and weights."""
    import torch

    from spirl.atari import games
    from spirl.bench.saliency import benchmark_frames
    from spirl.mae.model import MAE
    from spirl.saliency.agreement import selection_stats
    from spirl.saliency.error_map import error_map, lowered
    from spirl.saliency.kstats import ideal_ratio
    from spirl.saliency.patches import frames_to_images, load_checked_mae
    from spirl.saliency.select import dynamic_k

    if mae_path:
        cpu, meta = load_checked_mae(mae_path, device="cpu")
        game, described = meta["game"], f"{mae_path} ({meta['game']})"
    else:
        torch.manual_seed(0)
        cpu, game, described = MAE().eval().requires_grad_(False), "Frostbite", "randomly initialised paper MAE"
    k_max = games.k_max(games.get(game).max_ratio)
    frames = benchmark_frames(n_frames, game, seed=1)
    ref = torch.cat([error_map(cpu, frames_to_images(frames[s:s + 25])) for s in range(0, len(frames), 25)])
    out: dict[str, Any] = {"mae": described, "frames": len(frames), "k_max": k_max}
    gpu = copy.deepcopy(cpu).to("cuda")
    for name, dtype in (("float32", torch.float32), ("bfloat16", torch.bfloat16), ("float16", torch.float16)):
        model = lowered(gpu, dtype)
        e = torch.cat([error_map(model, frames_to_images(frames[s:s + 50], "cuda")) for s in range(0, len(frames), 50)])
        e = e.cpu()
        rel = ((e - ref).abs().amax(1) / ref.amax(1)).max().item()
        k_ref, k = dynamic_k(ref, 144).numpy(), dynamic_k(e, 144).numpy()
        out[name] = {**selection_stats(ref, e, k_max), "max_error_diff": rel,
                     "uncapped_same_k": float((k == k_ref).mean()), "ideal_ratio": ideal_ratio(k),
                     "ideal_ratio_cpu_float32": ideal_ratio(k_ref)}
    return out


def short_run(steps: int, timeout: int) -> dict[str, Any]:
    """Collect, pretrain (2 epochs) and train SPIRL on Frostbite for ``steps`` steps on the GPU."""
    import yaml

    work = Path(tempfile.mkdtemp(prefix="gpu_check_"))
    preset = {"games": ["Frostbite"], "budget": {"env_steps": steps, "eval_points": 2, "eval_episodes": 10,
                                                 "checkpoint_every": steps // 2, "device": "cuda"}}
    (work / "preset.yaml").write_text(yaml.safe_dump(preset))
    t0 = time.perf_counter()
    log: dict[str, Any] = {}
    for name, args in (
        ("collect", ["collect", "--game", "Frostbite", "--frames", "2000", "--out", str(work / "frames.npz")]),
        ("pretrain", ["pretrain", "--frames", str(work / "frames.npz"), "--out", str(work / "mae" / "model.pt"),
                      "--device", "cuda", "--set", "pretrain.epochs=2", "--set", "pretrain.warmup_epochs=1"]),
        ("train", ["train", "--config", str(work / "preset.yaml"), "--method", "spirl", "--game", "Frostbite",
                   "--seed", "0", "--out", str(work / "run"), "--mae", str(work / "mae" / "model.pt"),
                   "--device", "cuda", "--set", "protocol.max_episode_steps=4000"]),
    ):
        s = time.perf_counter()
        proc = _spirl(args, timeout)
        log[name] = {"ok": proc.returncode == 0, "seconds": round(time.perf_counter() - s, 1),
                     "output": _tail(proc.stdout + "\n" + proc.stderr, 6)}
        if proc.returncode:
            return {"ok": False, "steps": log}
    info = json.loads((work / "run" / "run.json").read_text())
    return {"ok": True, "steps": log, "seconds": round(time.perf_counter() - t0, 1), "env_steps": steps,
            "steps_per_s": info["steps_per_s"], "wall_time_s": info["wall_time_s"], "device": info["device"],
            "eval_csv": (work / "run" / "eval.csv").read_text()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="the JSON summary to write")
    parser.add_argument("--mae", default=None, help="a pretrained MAE for the agreement (model.pt)")
    parser.add_argument("--agreement-frames", type=int, default=200)
    parser.add_argument("--run-steps", type=int, default=3000)
    parser.add_argument("--only", nargs="*", default=None, help="run only these steps (bench names, agreement, run)")
    args = parser.parse_args()
    import torch

    summary: dict[str, Any] = {"started": time.strftime("%Y-%m-%d %H:%M:%S"), "cuda": torch.cuda.is_available(),
                               "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
                               "torch": torch.__version__, "python": sys.version.split()[0], "benches": {}}
    t0 = time.perf_counter()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)

    def save() -> None:
        summary["seconds"] = round(time.perf_counter() - t0, 1)
        out.write_text(json.dumps(summary, indent=1, sort_keys=True, default=str))

    for name, bench_args, timeout in BENCHES:
        if args.only is None or name in args.only:
            print(f"[{time.perf_counter() - t0:5.0f} s] bench {name}", flush=True)
            summary["benches"][name] = bench(name, bench_args, timeout)
            save()
    for name, fn in (("agreement", lambda: agreement(args.mae, args.agreement_frames)),
                     ("run", lambda: short_run(args.run_steps, 240))):
        if args.only is None or name in args.only:
            print(f"[{time.perf_counter() - t0:5.0f} s] {name}", flush=True)
            try:
                summary[name] = fn()
            except Exception:  # recorded, and the summary is still written
                summary[name] = {"ok": False, "error": _tail(traceback.format_exc())}
            save()
    save()
    failed = [n for n, b in summary["benches"].items() if not b["ok"]]
    failed += [n for n in ("agreement", "run") if n in summary and summary[n].get("ok") is False]
    print(f"gpu check: {summary['seconds']:.0f} s, {'all passed' if not failed else 'FAILED: ' + ', '.join(failed)}"
          f" -> {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
