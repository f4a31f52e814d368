#!/usr/bin/env bash
# The device check of issue 10 (docs/costs.md#gpu): every benchmark on CUDA, GPU-vs-CPU error-map agreement
# in each number format, and a short SPIRL run end to end; one JSON summary, in under 8 minutes on an H200.
#
#   bash scripts/gpu_wheels.sh                 # here, with registry access: .whl/ (about 5 MB)
#   bash scripts/gpu_check.sh "$OUT"           # there: writes $OUT/gpu_check.json (and gpu_check.log)
#
# The GPU machine has Python 3.12 and its own torch with CUDA and nothing else of ours: the project
# runs from this checkout (PYTHONPATH, --no-deps), the missing packages come from .whl/. A pretrained MAE
# at results/perf/mae/Frostbite/model.pt (carry it) is used for the agreement; else a random paper MAE.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT_DIR=${1:-${OUT:-gpu_check_out}}
[ $# -gt 0 ] && shift
mkdir -p "$OUT_DIR"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/spirl-site \
  .whl/*.whl || { echo "gpu_check: installing .whl/ failed (run scripts/gpu_wheels.sh first)"; exit 2; }
export PYTHONPATH="/tmp/spirl-site:$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-4}
python3 -c "import torch, gymnasium, ale_py, spirl; assert torch.cuda.is_available(), 'no GPU visible'" || exit 2
MAE_ARG=()
[ -f results/perf/mae/Frostbite/model.pt ] && MAE_ARG=(--mae results/perf/mae/Frostbite/model.pt)
# 470 s: the summary is rewritten after every step, so a stop at the limit still leaves what was measured.
timeout 470 python3 scripts/gpu_check.py --out "$OUT_DIR/gpu_check.json" "${MAE_ARG[@]}" "$@" 2>&1 \
  | tee "$OUT_DIR/gpu_check.log"
