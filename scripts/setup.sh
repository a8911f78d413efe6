#!/usr/bin/env bash
# Sets up mfif in a virtual environment (.venv, or $MFIF_VENV) on a fresh
# machine: torch (CPU build 2.13.0 unless a torch is already there), the build
# tools, and mfif itself compiled against that torch. Safe to re-run: it
# reuses the environment and rebuilds only what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${MFIF_VENV:-.venv}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
py="$venv/bin/python"
# (this workplace's pip config names local wheel folders that may be absent:
# hide only those warnings, keep pip's exit status)
pip_q() { "$py" -m pip install --quiet --disable-pip-version-check "$@" 2> >(grep -v "^WARNING: Location" >&2); }
# Ask for torch by exact version: a bare `torch` would pull a multi-GB CUDA build.
"$py" -c "import torch" 2>/dev/null || pip_q "torch==${MFIF_TORCH_VERSION:-2.13.0}"
pip_q scikit-build-core ninja "cmake>=3.25"
# No build isolation: mfif compiles against the torch installed above.
pip_q --no-build-isolation ".[test]"
"$py" -c "import mfif, torch; print(f'mfif {mfif.__version__} ready (torch {torch.__version__}, CUDA kernels: {mfif.cuda_kernels_available()})')"
