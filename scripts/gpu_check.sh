#!/usr/bin/env bash
# The GPU check (docs/costs.md#gpu; spirl.bench.device_check): a short SPIRL run end to end, the error map's
# agreement with the carried CPU float32 reference per format, error-map frames/s per format and chunk,
# learner updates/s and host-device waits, pretraining samples/s, and 1/2/4/8 runs sharing the GPU; in
# priority order within 300 s, one JSON summary rewritten after every step.
#
#   bash scripts/gpu_prepare.sh                          # here, once: .gpu/ (wheels, MAE, reference, frames)
#   bash scripts/gpu_check.sh "$OUT"                     # there (carry .gpu): $OUT/gpu_check.json, .log
#   bash scripts/gpu_check.sh --device cpu OUT_DIR --prepared DIR   # the CPU rehearsal (its test runs it)
#
# On the GPU machine (Python 3.12 and its own torch, nothing else of ours) the wheels of .gpu/whl are
# installed beside that torch and the project runs from this checkout. Give the device command a limit of
# DEVICE_COMMAND_S (360 s): the install, then the check's own timeout (OUTER_S).
set -uo pipefail
cd "$(dirname "$0")/.."
DEVICE=cuda PREPARED=.gpu OUT_DIR=${OUT:-gpu_check_out} EXTRA=()
while [ $# -gt 0 ]; do
  case "$1" in
    --device) DEVICE=$2; shift 2 ;;
    --prepared) PREPARED=$2; shift 2 ;;
    --only) shift; EXTRA+=(--only); while [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; do EXTRA+=("$1"); shift; done ;;
    -*) echo "gpu_check: unknown option $1" >&2; exit 2 ;;
    *) OUT_DIR=$1; shift ;;
  esac
done
mkdir -p "$OUT_DIR"
KIND=cuda
[ "$DEVICE" = cpu ] && KIND=cpu
if [ "$KIND" = cuda ]; then
  PY=python3
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/spirl-site \
    "$PREPARED"/whl/*.whl || { echo "gpu_check: installing $PREPARED/whl failed (run scripts/gpu_prepare.sh)"; exit 2; }
  export PYTHONPATH="/tmp/spirl-site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
else
  PY=${PYTHON:-python3}
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-4} CUBLAS_WORKSPACE_CONFIG=${CUBLAS_WORKSPACE_CONFIG:-:4096:8}
OUTER=$("$PY" -c "from spirl.bench.device_check import OUTER_S; print(OUTER_S['$KIND'])") || exit 2
# The summary is rewritten after every step, so a stop at the limit still leaves what was measured.
timeout -k 5 "$OUTER" "$PY" scripts/gpu_check.py --device "$DEVICE" --prepared "$PREPARED" \
  --out "$OUT_DIR/gpu_check.json" "${EXTRA[@]}" 2>&1 | tee "$OUT_DIR/gpu_check.log"
exit "${PIPESTATUS[0]}"
