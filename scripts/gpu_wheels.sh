#!/usr/bin/env bash
# Fetch, on a machine with package-registry access, the wheels scripts/gpu_check.sh installs on a CUDA
# machine that has Python 3.12 and its own torch but none of our other dependencies (no network there).
#   bash scripts/gpu_wheels.sh            # -> .whl/ (git-ignored), about 5 MB
# The versions are requirements/lock.txt's. numpy, scipy, pandas, statsmodels, pyyaml, tqdm, psutil,
# matplotlib and torch are taken from that machine's own image.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
DEST=.whl
mkdir -p "$DEST"
lock() { grep -i "^$1==" requirements/lock.txt | head -1; }
PLATFORMS=(--python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64
           --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64)
for pkg in gymnasium ale-py farama-notifications arch; do
  "$PY" -m pip download -q --no-deps --only-binary=:all: "${PLATFORMS[@]}" -d "$DEST" "$(lock "$pkg")"
done
# rliable is published as a source archive only: build its (pure Python) wheel here.
"$PY" -m pip download -q --no-deps --no-binary=:all: -d "$DEST/src" "$(lock rliable)"
"$PY" -m pip wheel -q --no-deps --no-build-isolation -w "$DEST" "$DEST"/src/rliable-*.tar.gz
rm -rf "$DEST/src"
ls -l "$DEST"
