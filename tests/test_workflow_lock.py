"""spirl.workflow_lock: a Snakemake lock is stale only when no Snakemake process works in the directory."""

import time

from spirl.workflow_lock import is_snakemake, lock_files, runs_in, snakemake_processes, stale_lock


def test_runs_in_reads_the_working_directory_or_directory_argument(tmp_path):
    other = str(tmp_path / "other")
    assert runs_in(["python", "-m", "snakemake", "--cores", "1"], str(tmp_path), tmp_path)
    assert runs_in(["/venv/bin/snakemake", "--directory", str(tmp_path)], other, tmp_path)
    assert runs_in(["snakemake", f"--directory={tmp_path}"], other, tmp_path)
    assert not runs_in(["snakemake", "-d", other], str(tmp_path), tmp_path)  # runs elsewhere
    assert not runs_in(["python", "-m", "snakemake", "--mode", "remote"], str(tmp_path), tmp_path)  # a cluster job
    assert not runs_in(["python", "train.py"], str(tmp_path), tmp_path)


def test_only_snakemake_itself_counts_not_a_wrapper_that_names_it():
    assert is_snakemake(["/venv/bin/python3.12", "/venv/bin/snakemake", "--cores", "2"])
    assert is_snakemake(["python", "-u", "-m", "snakemake"])
    for wrapper in (["/usr/bin/time", "-v", "snakemake", "--cores", "2"], ["nice", "snakemake"],
                    ["timeout", "3h", "snakemake"], ["bash", "-c", "snakemake --cores 2"],
                    ["less", "snakemake.log"], ["python", "-c", "pass", "snakemake"], []):
        assert not is_snakemake(wrapper), wrapper


def test_the_run_itself_is_not_a_second_run(tmp_path, live_snakemake):
    """A Snakemake (here a program named snakemake) asking from within, as the Snakefile does, sees no
    other run: its own process and its ancestors (``/usr/bin/time snakemake``) are excluded."""
    out = tmp_path / "seen.txt"
    inner = ("from spirl.workflow_lock import snakemake_processes; "
             f"open({str(out)!r}, 'w').write(repr(snakemake_processes('.')))")
    run = live_snakemake(tmp_path, f"import subprocess, sys; subprocess.run([sys.executable, '-c', {inner!r}])")
    assert run.wait(timeout=60) == 0
    assert out.read_text() == "[]"


def test_a_lock_is_stale_only_without_a_live_snakemake(tmp_path, live_snakemake):
    assert lock_files(tmp_path) == [] and not stale_lock(tmp_path)
    locks = tmp_path / ".snakemake" / "locks"
    locks.mkdir(parents=True)
    (locks / "0.input.lock").write_text("x")
    assert stale_lock(tmp_path)
    # a real process running a program named snakemake, working in the directory
    proc = live_snakemake(tmp_path)
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
