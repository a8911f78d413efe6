#!/usr/bin/env bash
# Download, on a machine WITH network, the wheels the GPU machine lacks (it has
# no network): kornia (+ kornia-rs) for the guided_blur baseline, PyWavelets,
# click and tqdm (the CLI and its tests), tifffile, hypothesis (+ its pure
# dependencies) and pytest-xdist (+ execnet), for CPython 3.12 on x86-64 Linux. scripts/gpu_check.sh
# installs them there with --no-index. Usage:
#   bash scripts/gpu_wheelhouse.sh [DIR]     (default build/wheelhouse, git-ignored)
# then carry DIR to the GPU machine with the working tree.
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:-build/wheelhouse}"
py="${PYTHON:-python3}"
mkdir -p "$dir"
# --no-deps: only these (torch, numpy and the rest are on the GPU machine already)
"$py" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
  --python-version 3.12 --implementation cp --abi cp312 --abi abi3 --abi none \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  --platform any -d "$dir" \
  kornia kornia-rs PyWavelets click tqdm tifffile hypothesis attrs sortedcontainers pytest-xdist execnet \
  2> >(grep -v "^WARNING: Location" >&2)
ls "$dir"
