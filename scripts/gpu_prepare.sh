#!/usr/bin/env bash
# Prepare, here, everything the GPU check needs into one git-ignored folder (spirl.bench.device_prepare):
# wheels for Python 3.12 beside the GPU machine's own torch, real Frostbite frames, a paper-size MAE (pretrained
# briefly on this CPU unless --mae names one), and the CPU float32 reference of the error map; with a manifest
# of sha256 digests that the check verifies.
#   bash scripts/gpu_prepare.sh [--out .gpu] [--mae results/mae/paper/Frostbite/model.pt]   # minutes
#   bash scripts/gpu_prepare.sh --tiny --out DIR                                             # the rehearsal's
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec "${PYTHON:-python3}" scripts/gpu_prepare.py "$@"
