"""The GPU check (spirl.bench.device_check) rehearsed on the CPU end to end, its time budget, its inputs' digests."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from spirl.bench.device_check import DEVICE_COMMAND_S, OUTER_S, SETUP_S, STEPS
from spirl.bench.device_prepare import prepare, verify
from spirl.waits import BUDGET

ROOT = Path(__file__).resolve().parents[2]
# The device tool: 600 s per command at most; 15 minutes of device time per task, a machine start
# (1-2 min) included.
COMMAND_MAX_S, LEASE_S, START_S = 600, 900, 120


def test_steps_run_in_priority_order_and_their_limits_fit_inside_the_outer_timeout():
    assert [s.name for s in STEPS] == ["run", "agreement", "error_map", "learner", "pretrain", "shared"]
    for kind in ("cuda", "cpu"):
        assert sum(s.limit[kind] for s in STEPS) + SETUP_S[kind] <= OUTER_S[kind], kind
    assert OUTER_S["cuda"] <= 5 * 60  # the five minutes
    # the install before the timeout, and room for a second try within the lease
    assert OUTER_S["cuda"] + 30 <= DEVICE_COMMAND_S <= COMMAND_MAX_S
    assert START_S + 2 * DEVICE_COMMAND_S <= LEASE_S
    script = (ROOT / "scripts" / "gpu_check.sh").read_text()
    assert "OUTER_S['$KIND']" in script and f"({DEVICE_COMMAND_S} s)" in script  # one source for the limits


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gpu") / "prepared"
    prepare(out, tiny=True, wheels=False, log=lambda *_: None)
    return out


def test_cpu_rehearsal_runs_every_step_end_to_end(prepared, tmp_path):
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_check.sh"), "--device", "cpu", str(tmp_path),
                           "--prepared", str(prepared)], capture_output=True, text=True, env=env,
                          timeout=OUTER_S["cpu"] + 120)
    summary = json.loads((tmp_path / "gpu_check.json").read_text())
    failed = {n: r.get("error") for n, r in summary["steps"].items() if not r["ok"]}
    assert proc.returncode == 0 and not failed, (failed, proc.stdout[-2000:])
    assert summary["order"] == [s.name for s in STEPS]
    assert summary["seconds"] <= OUTER_S["cpu"] and summary["inputs"]["size"] == "tiny"
    steps = summary["steps"]
    assert steps["run"]["eval_csv"].startswith("step,episodes,mean") and steps["run"]["steps_per_s"] > 0
    # the same CPU and path as the reference: exact; the CUDA-only formats are skipped, not hidden
    assert steps["agreement"]["float32"]["max_error_diff"] == 0.0
    assert steps["agreement"]["float32"]["identical_selection"] == 1.0
    assert steps["agreement"]["float16"] == {"skipped": "CUDA only"}
    assert steps["error_map"]["float32"]["batch_1"] > 0
    for method in ("de_rainbow", "spirl"):
        assert steps["learner"][method]["within_budget"]
        assert steps["learner"][method]["waits_train_step"] <= BUDGET["train_step"][method]
    assert set(steps["shared"]["speed_vs_one_run"]) == {"runs_1", "runs_2"}
    assert len(steps["shared"]["runs_2"]["runs"]) == 2
    assert (tmp_path / "gpu_check.log").is_file()


def test_a_changed_input_is_refused_before_any_step(prepared, tmp_path):
    copy = tmp_path / "prepared"
    shutil.copytree(prepared, copy)
    assert verify(copy)["size"] == "tiny"
    with open(copy / "reference.pt", "r+b") as f:
        f.seek(100)
        f.write(b"\xff" * 8)
    with pytest.raises(ValueError, match=r"reference\.pt is missing or differs"):
        verify(copy)
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_check.sh"), "--device", "cpu", str(tmp_path / "out"),
                           "--prepared", str(copy)], capture_output=True, text=True,
                          env={**os.environ, "PYTHON": sys.executable}, timeout=120)
    assert proc.returncode == 2 and "differs" in proc.stdout + proc.stderr
