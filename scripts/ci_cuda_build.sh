#!/usr/bin/env bash
# CI step: compile the CUDA kernels (no GPU needed) against the CUDA 13.0
# build of torch 2.14.1 and check that mfif imports with a CUDA kernel
# registered for every op. Everything heavy lives in a cache OUTSIDE the clone
# (default ~/.cache/mfif-ci, or $MFIF_CI_CACHE), reused between runs:
#   venv-cuda/  torch 2.14.1 (CUDA, ~5.4 GB) and the build tools
#   src/        a copy of the sources; only changed files are rewritten, so
#   build/      the persistent build directory rebuilds only what changed
# Usage: ci_cuda_build.sh [prepare|build|all]  (prepare: only the venv, which
# .ci/run starts in the background while the CPU tests run; default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-all}"
cache="${MFIF_CI_CACHE:-$HOME/.cache/mfif-ci}"
venv="$cache/venv-cuda"
py="$venv/bin/python"
mkdir -p "$cache"
pip_q() { "$py" -m pip install --quiet --disable-pip-version-check "$@" 2> >(grep -v "^WARNING: Location" >&2); }
if [ "$what" != build ]; then
  [ -x "$py" ] || python3 -m venv "$venv"
  "$py" -c "import torch, sys; sys.exit(torch.__version__ != '2.14.1+cu130')" 2>/dev/null || pip_q "torch==2.14.1"
  "$py" -c "import scikit_build_core, ninja, cmake, numpy" 2>/dev/null || pip_q scikit-build-core ninja "cmake>=3.25" numpy
  # mfif's runtime dependencies (import mfif needs them; a no-op when present)
  mapfile -t deps < <(python3 -c "import tomllib; print('\\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))")
  pip_q "${deps[@]}"
fi
[ "$what" != prepare ] || exit 0

# A fixed source path keeps the CMake cache valid across fresh clones;
# files whose content is unchanged keep their old copy (and mtime), so ninja only
# recompiles what this commit changed.
python3 - "$cache/src" <<'PY'
import filecmp, os, shutil, subprocess, sys
dst = sys.argv[1]
files = set(subprocess.run(["git", "ls-files"], check=True, capture_output=True,
                           text=True).stdout.split())
files = {f for f in files if os.path.isfile(f)}
for f in files:
    target = os.path.join(dst, f)
    if not (os.path.exists(target) and filecmp.cmp(f, target, shallow=False)):
        os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
        shutil.copy2(f, target)
for root, _, names in os.walk(dst):  # files no longer in the clone
    for n in names:
        rel = os.path.relpath(os.path.join(root, n), dst)
        if rel not in files and not rel.startswith(("python/mfif/_build_info", "build/")):
            os.remove(os.path.join(root, n))
PY
MFIF_CUDA=ON TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-9.0}" \
  pip_q --no-build-isolation --no-deps --force-reinstall "$cache/src" \
  --config-settings=build-dir="$cache/build"

# Import from outside the source tree (the installed package) and check the
# registrations; the machine has no GPU, so nothing is run on one.
cd "$cache"
"$py" - <<'PY'
import torch
import mfif

ops = ["patch_mean", "_patch_mean_backward", "score_map", "_score_map_slope", "connected_components",
       "remove_small_regions", "box_filter", "_box_filter_backward", "guided_filter", "nps_loss",
       "_nps_loss_backward", "_liu_fusion"]
missing = [op for op in ops if not torch._C._dispatch_has_kernel_for_dispatch_key(f"mfif::{op}", "CUDA")]
assert mfif.cuda_kernels_available(), "mfif was built without CUDA kernels"
assert not missing, f"no CUDA kernel registered for: {missing}"
print(f"CUDA build OK: torch {torch.__version__}, CUDA kernels registered for {len(ops)} ops ({mfif.__file__})")
PY
