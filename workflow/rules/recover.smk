# Recovery after a power cut or `kill -9` of the whole workflow (docs/reliability.md#stale-lock).
#
# Snakemake locks the working directory with files in .snakemake/locks/ and removes them when it
# ends; killed, it cannot, and the next run stops with a LockException until `snakemake --unlock`.
# The lock is stale when no Snakemake process holds it. So every main Snakemake process of this
# workflow holds an OS lock (flock) on .snakemake/spirl-main.lock for as long as it lives; the
# kernel releases it when the process ends, however it ends. A run that gets that flock knows no
# other run of this workflow is alive in this directory, so lock files it finds are stale: it
# removes them, with one line, before Snakemake locks the directory itself (after parsing this
# file). A run that does not get the flock stops at once with one line naming the live run (its
# PID and host, which the holder writes into the lock file), before Snakemake could mistake the
# live run's jobs for incomplete files. As a
# second guard for a Snakemake started from an older checkout (which holds no flock), nothing is
# removed while another Snakemake process on this machine runs in the same directory.
# Cluster jobs (which parse this file too), --nolock runs and the database persistence backend
# are left alone.

import fcntl
import os
import socket
import sys

_MAIN_FLOCK = None  # the open lock file: this process holds its flock until it exits


def _other_snakemake_here(here: str) -> bool:
    """True when another Snakemake process on this machine runs in ``here`` (not this one or its family)."""
    import psutil

    me = psutil.Process()
    family = {me.pid, *(p.pid for p in me.parents()), *(p.pid for p in me.children(recursive=True))}
    for proc in psutil.process_iter(["pid", "cmdline", "cwd"]):
        try:
            cmd = " ".join(proc.info["cmdline"] or [])
            if proc.info["pid"] in family or "snakemake" not in cmd or "--mode" in cmd:
                continue
            if proc.info["cwd"] and os.path.realpath(proc.info["cwd"]) == here:
                return True
        except (psutil.Error, OSError):
            continue
    return False


def _dry_run(argv: list[str]) -> bool:
    """True for ``snakemake -n`` (it takes no lock and may look at a live run; workflow.dryrun is unset here)."""
    return any(a in ("--dry-run", "--dryrun", "--just-print") or (a.startswith("-") and not a.startswith("--")
                                                                  and "n" in a[1:]) for a in argv)


def recover_stale_lock() -> None:
    """Take this workflow's flock in the working directory; holding it, remove Snakemake lock files left by a
    killed run (they are stale: no run of this workflow holds the flock). See the comment above."""
    global _MAIN_FLOCK
    settings = getattr(workflow, "execution_settings", None)
    backend = getattr(getattr(workflow, "workflow_settings", None), "persistence_backend", None)
    if not workflow.is_main_process or (settings is not None and not settings.lock) or \
            (backend is not None and backend.name != "FILE") or _dry_run(sys.argv[1:]):
        return
    here = os.path.realpath(os.getcwd())
    meta = os.path.join(here, ".snakemake")
    os.makedirs(meta, exist_ok=True)
    handle = open(os.path.join(meta, "spirl-main.lock"), "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # another run of this workflow is alive here: say so, and touch nothing
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        print(f"spirl: another Snakemake run of this workflow is active in {here} ({holder}); wait for it to "
              "end, or stop it", file=sys.stderr)
        raise SystemExit(1)
    handle.seek(0)
    handle.truncate()
    handle.write(f"PID {os.getpid()} on host {socket.gethostname()}\n")
    handle.flush()
    _MAIN_FLOCK = handle
    locks = os.path.join(meta, "locks")
    stale = sorted(os.listdir(locks)) if os.path.isdir(locks) else []
    if not stale or _other_snakemake_here(here):
        return
    for name in stale:
        try:
            os.remove(os.path.join(locks, name))
        except OSError:
            pass
    print(f"spirl: removed the stale Snakemake lock a killed run left in {here} (no Snakemake process holds it)",
          file=sys.stderr)


recover_stale_lock()
