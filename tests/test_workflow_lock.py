"""spirl.workflow_lock: a Snakemake lock is stale only when no Snakemake process works in the directory."""

import subprocess
import sys
import time

from spirl.workflow_lock import lock_files, runs_in, snakemake_processes, stale_lock


def test_runs_in_reads_the_working_directory_or_directory_argument(tmp_path):
    other = str(tmp_path / "other")
    assert runs_in(["python", "-m", "snakemake", "--cores", "1"], str(tmp_path), tmp_path)
    assert runs_in(["/venv/bin/snakemake", "--directory", str(tmp_path)], other, tmp_path)
    assert runs_in(["snakemake", f"--directory={tmp_path}"], other, tmp_path)
    assert not runs_in(["snakemake", "-d", other], str(tmp_path), tmp_path)  # runs elsewhere
    assert not runs_in(["python", "-m", "snakemake", "--mode", "remote"], str(tmp_path), tmp_path)  # a cluster job
    assert not runs_in(["python", "train.py"], str(tmp_path), tmp_path)


def test_a_lock_is_stale_only_without_a_live_snakemake(tmp_path):
    assert lock_files(tmp_path) == [] and not stale_lock(tmp_path)
    locks = tmp_path / ".snakemake" / "locks"
    locks.mkdir(parents=True)
    (locks / "0.input.lock").write_text("x")
    assert stale_lock(tmp_path)
    # a real process whose command line names snakemake, working in the directory
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "snakemake"], cwd=tmp_path)
    try:
        deadline = time.time() + 30
        while proc.pid not in snakemake_processes(tmp_path):
            assert time.time() < deadline, "the process was not seen"
            time.sleep(0.05)
        assert not stale_lock(tmp_path)
    finally:
        proc.kill()
        proc.wait()
    assert stale_lock(tmp_path)
