#!/usr/bin/env bash
# Fetch, on a machine with package-registry access, the wheels the GPU check installs on a CUDA machine
# that has Python 3.12 and its own torch but none of our other dependencies (no network there).
#   bash scripts/gpu_wheels.sh [DEST]     # DEST defaults to .gpu/whl (scripts/gpu_prepare.sh calls it)
# The versions are requirements/lock.txt's. absl-py (rliable imports it) and typing_extensions (gymnasium
# needs a newer one than an image may have) are carried too; numpy, scipy, pandas, statsmodels, pyyaml,
# tqdm, psutil, matplotlib, cloudpickle and torch are taken from that machine's own image.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
DEST=${1:-.gpu/whl}
mkdir -p "$DEST"
lock() { grep -i "^$1==" requirements/lock.txt | head -1; }
PLATFORMS=(--python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64
           --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64)
for pkg in gymnasium ale-py farama-notifications arch absl-py typing_extensions; do
  spec=$(lock "$pkg")
  [ -n "$spec" ] || { echo "gpu_wheels: $pkg is not pinned in requirements/lock.txt" >&2; exit 2; }
  "$PY" -m pip download -q --no-deps --only-binary=:all: "${PLATFORMS[@]}" -d "$DEST" "$spec"
done
# rliable is published as a source archive only: build its (pure Python) wheel here.
"$PY" -m pip download -q --no-deps --no-binary=:all: -d "$DEST/src" "$(lock rliable)"
"$PY" -m pip wheel -q --no-deps --no-build-isolation -w "$DEST" "$DEST"/src/rliable-*.tar.gz
rm -rf "$DEST/src"
ls -l "$DEST"
