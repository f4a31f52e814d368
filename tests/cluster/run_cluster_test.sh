#!/usr/bin/env bash
# make test-cluster: run a tiny DAG through a real, throwaway one-node SLURM cluster with the
# workflow's slurm profile (snakemake-executor-plugin-slurm), check the outputs, stop the cluster.
#
# Needs root and apt (Debian/Ubuntu): installs slurmctld, slurmd and munge (~8 MB) if missing.
# Everything it starts (munged, slurmctld, slurmd) runs from a temporary directory with its own
# key, socket, state and ports, and is stopped by pid on exit; /etc/slurm/slurm.conf is linked
# to the temporary config for the duration (the executor's job-step plugin drops SLURM_CONF)
# and any file that was there is put back.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
SNAKEMAKE="${SNAKEMAKE:-$ROOT/.venv/bin/snakemake}"
START=$(date +%s)

say() { echo "test-cluster: $*"; }
die() { echo "test-cluster: error: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root (it installs and starts slurmctld, slurmd and munged)"
[ -x "$SNAKEMAKE" ] || die "no snakemake at $SNAKEMAKE (run make setup first)"

# ------------------------------------------------------------------------------------ packages
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
    command -v apt-get >/dev/null || die "slurmctld/slurmd/munged are missing and there is no apt-get to install them"
    say "installing slurmctld slurmd munge with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends slurmctld slurmd munge >/dev/null
fi
for tool in slurmctld slurmd munged sbatch squeue sinfo; do
    command -v "$tool" >/dev/null || die "$tool not found after installation"
done

# ------------------------------------------------------------------------- throwaway cluster
T="$(mktemp -d /tmp/spirl-slurm.XXXXXX)"
chmod 755 "$T"
mkdir -p "$T/state" "$T/spool" "$T/work"
PIDS=()
ETC_CONF=/etc/slurm/slurm.conf
ETC_BACKUP=""
LINKED=0

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        kill "${PIDS[i]}" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    done
    if [ "$LINKED" -eq 1 ]; then
        rm -f "$ETC_CONF"
        if [ -n "$ETC_BACKUP" ]; then mv "$ETC_BACKUP" "$ETC_CONF"; fi
    fi
    if [ "$rc" -eq 0 ]; then
        rm -rf "$T"
    else
        say "failed; logs kept in $T (slurmctld.log, slurmd.log, work/.snakemake/slurm_logs)"
    fi
    exit "$rc"
}
trap cleanup EXIT INT TERM

free_port() {
    "$ROOT/.venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("", 0)); print(s.getsockname()[1])'
}

# munge: its own key and socket, so a site's munged (if any) is left alone.
dd if=/dev/urandom of="$T/munge.key" bs=1024 count=1 status=none
chmod 400 "$T/munge.key"
munged --foreground --force --key-file="$T/munge.key" --socket="$T/munge.socket" \
    --pid-file="$T/munged.pid" --log-file="$T/munged.log" --seed-file="$T/munge.seed" >>"$T/munged.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do [ -S "$T/munge.socket" ] && break; sleep 0.1; done
[ -S "$T/munge.socket" ] || die "munged did not start (see $T/munged.log)"

NODE="$(hostname -s)"
MEM_MB=$(awk '/MemTotal/ {print int($2 / 1024 * 0.8)}' /proc/meminfo)
cat >"$T/slurm.conf" <<EOF
ClusterName=spirltest
SlurmctldHost=$NODE
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$T/munge.socket
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/slurmctld.log
SlurmdLogFile=$T/slurmd.log
# No cgroups and no systemd here: track processes by parent pid, bind no tasks.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
# No accounting database: squeue is the status command, so finished jobs must stay visible.
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MinJobAge=600
NodeName=$NODE CPUs=2 RealMemory=$MEM_MB State=UNKNOWN
PartitionName=test Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$T/slurm.conf"
mkdir -p /etc/slurm
if [ -e "$ETC_CONF" ] || [ -L "$ETC_CONF" ]; then
    ETC_BACKUP="$ETC_CONF.spirl-test-backup.$$"
    mv "$ETC_CONF" "$ETC_BACKUP"
fi
ln -s "$T/slurm.conf" "$ETC_CONF"
LINKED=1

slurmctld -D -i -f "$SLURM_CONF" >>"$T/slurmctld.out" 2>&1 &
PIDS+=($!)
slurmd -D -f "$SLURM_CONF" >>"$T/slurmd.out" 2>&1 &
PIDS+=($!)

say "waiting for the node to come up"
for _ in $(seq 120); do
    state="$(sinfo -h -n "$NODE" -o %t 2>/dev/null || true)"
    [ "$state" = "idle" ] && break
    sleep 0.5
done
[ "$state" = "idle" ] || die "the node did not become idle (state '$state'; see $T/slurmctld.log)"
say "cluster up after $(($(date +%s) - START)) s"

# --------------------------------------------------------------------------------- the DAG
# Its own working directory, so results/ of the project is left alone.
DAG_START=$(date +%s)
say "running the tiny DAG with the slurm profile"
"$SNAKEMAKE" --snakefile "$ROOT/Snakefile" --directory "$T/work" \
    --profile "$ROOT/workflow/profiles/slurm" \
    results/scores.csv results/saliency/tiny/Seaquest/k_hist.csv \
    --configfile "$ROOT/tests/cluster/config.yaml" \
    --slurm-no-account --slurm-status-command squeue \
    --slurm-init-seconds-before-status-checks 2 \
    --jobs 4 --latency-wait 10 --retries 0 >"$T/snakemake.log" 2>&1 ||
    { tail -n 40 "$T/snakemake.log"; die "snakemake failed"; }
DAG_SECONDS=$(($(date +%s) - DAG_START))

# ------------------------------------------------------------------------------- the checks
W="$T/work"
for f in results/scores.csv results/runs/de_rainbow/Seaquest/{0,1}/eval.csv results/runs/de_rainbow/Seaquest/1/run.json \
    results/runs/spirl/Seaquest/{0,1}/eval.csv results/mae/tiny/Seaquest/model.pt results/saliency/tiny/Seaquest/k_hist.csv; do
    [ -s "$W/$f" ] || die "missing output $f"
done
rows=$(($(wc -l <"$W/results/scores.csv") - 1))
[ "$rows" -ge 4 ] || die "results/scores.csv has $rows rows"
# Every non-local job must have gone through SLURM: one allocation per job in slurmctld's log.
submitted=$(grep -c "has been submitted with SLURM jobid" "$T/snakemake.log" || true)
allocated=$(grep -c "sched: Allocate JobId" "$T/slurmctld.log" || true)
[ "$submitted" -ge 7 ] || die "expected 7 SLURM jobs (collect, pretrain, saliency, 4 x train), snakemake submitted $submitted"
[ "$allocated" -ge "$submitted" ] || die "slurmctld allocated $allocated jobs for $submitted submissions"
say "ok: $submitted jobs ran through SLURM, $rows score rows; DAG ${DAG_SECONDS} s, total $(($(date +%s) - START)) s"
