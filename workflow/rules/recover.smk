# Recovery after a power cut or `kill -9` of the whole workflow (docs/reliability.md#stale-lock).
#
# Snakemake locks the working directory with files in .snakemake/locks/ and removes them when it
# ends; killed, it cannot, and the next run stops with a LockException until `snakemake --unlock`.
# The lock is stale when no Snakemake process holds it. So every main Snakemake process of this
# workflow holds an OS lock (flock) on .snakemake/spirl-main.lock for as long as it lives; the
# kernel releases it when the process ends, however it ends. A run that gets that flock knows no
# other run of this workflow is alive in this directory, so lock files it finds are stale: it
# removes them, with one line, before Snakemake locks the directory itself (after parsing this
# file). A run that does not get the flock leaves them, and Snakemake refuses as it should. As a
# second guard for a Snakemake started from an older checkout (which holds no flock), nothing is
# removed while another Snakemake process on this machine runs in the same directory.
# Cluster jobs (which parse this file too), --nolock runs and the database persistence backend
# are left alone.

import fcntl
import os
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


def recover_stale_lock() -> None:
    """Take this workflow's flock in the working directory; holding it, remove Snakemake lock files left by a
    killed run (they are stale: no run of this workflow holds the flock). See the comment above."""
    global _MAIN_FLOCK
    settings = getattr(workflow, "execution_settings", None)
    backend = getattr(getattr(workflow, "workflow_settings", None), "persistence_backend", None)
    if not workflow.is_main_process or (settings is not None and not settings.lock) or \
            (backend is not None and backend.name != "FILE"):
        return
    here = os.path.realpath(os.getcwd())
    meta = os.path.join(here, ".snakemake")
    os.makedirs(meta, exist_ok=True)
    handle = open(os.path.join(meta, "spirl-main.lock"), "a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return  # another run of this workflow is alive here: its lock is not stale
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
