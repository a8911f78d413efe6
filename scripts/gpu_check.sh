#!/usr/bin/env bash
# The GPU checks of mfif as one prepared command, for a machine WITH a GPU
# (H100/H200: Python 3.12, torch 2.11.0+cu130, nvcc, CMake, ninja, pytest
# preinstalled, no network). Writes everything to $OUT (default ./gpu-check-out):
#   summary.txt           each step, its time and exit status
#   build.log, build17.log  CUDA build with C++20 (used) and a C++17 compile check
#   pytest.log, junit.xml the tests on CUDA (GPU_CHECK_FULL=1: the whole suite)
#   memcheck.log, racecheck.log  compute-sanitizer on the CUDA tests
#   bench_cuda.md/.json   benchmarks/bench_cuda.py --quick
# Budget: about 8 minutes in all (each step has its own timeout). Exit status:
# non-zero if any step failed.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/gpu-check-out}"
mkdir -p "$OUT"
py="${PYTHON:-python3}"
jobs="$(nproc)"
status=0
t0=$(date +%s)
step() {  # step NAME TIMEOUT_S LOGFILE COMMAND...
  local name=$1 limit=$2 log=$3
  shift 3
  local s=$(date +%s)
  limit=$(( limit * ${GPU_CHECK_TIME_SCALE:-1} ))  # e.g. 5 for a dry run on a slow machine without a GPU
  timeout "$limit" "$@" > "$OUT/$log" 2>&1
  local rc=$?
  echo "$(printf '%-10s' "$name") rc=$rc  $(( $(date +%s) - s ))s  (total $(( $(date +%s) - t0 ))s)  -> $log" \
    | tee -a "$OUT/summary.txt"
  [ $rc -eq 0 ] || status=1
  return $rc
}
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  "$py" -c "import sys, torch; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda)"
  command -v nvcc && nvcc --version | tail -1
} > "$OUT/machine.txt" 2>&1
cat "$OUT/machine.txt" > "$OUT/summary.txt"

# 1. build: a development build beside the sources (python/mfif), C++20 as by
#    default; meanwhile a C++17 configure + build in its own directory (torch
#    2.11 needs only C++17) to check that both standards compile.
configure() {  # BUILD_DIR [extra cmake args]: the command line of a configure + build
  echo "cmake -S . -B $1 -G Ninja -DPython_EXECUTABLE=$(command -v "$py") -DMFIF_CUDA=ON ${*:2} && cmake --build $1 -j $jobs"
}
export TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-9.0}"
step build 240 build.log bash -c "$(configure build/gpu)" || {
  echo "build failed: see build.log" | tee -a "$OUT/summary.txt"
  exit 1
}
step build17 240 build17.log bash -c "$(configure build/gpu17 -DCMAKE_CXX_STANDARD=17 -DMFIF_OUTPUT_DIR=$PWD/build/gpu17/stage)" &
build17=$!

# 2. the tests on CUDA: every test parametrised with device=cuda, tests/test_cuda.py
#    (CUDA vs CPU kernels) and the guard test that fails when a GPU machine
#    tests a build without CUDA kernels. The CPU tests are CI's; set
#    GPU_CHECK_FULL=1 to run the whole suite here too. A test file that cannot
#    be imported there (e.g. click, which that machine lacks, for the CLI
#    tests) is reported as an error without stopping the others.
export PYTHONPATH="$PWD/python${PYTHONPATH:+:$PYTHONPATH}"
select=(-k "cuda or gpu")
[ "${GPU_CHECK_FULL:-0}" = 1 ] && select=()
step pytest 240 pytest.log "$py" -m pytest -q -ra -p no:cacheprovider --continue-on-collection-errors --junitxml="$OUT/junit.xml" tests "${select[@]}"
wait "$build17" || status=1

# 3. compute-sanitizer on the CUDA tests (no caching allocator, so that an
#    access past a tensor's end is caught; graph capture needs the allocator,
#    so those tests are left out here)
sanitizer="$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -1)"
if [ -n "$sanitizer" ]; then
  pick="not graph and not 1000x1000 and not 4x300x517 and not float64"
  PYTORCH_NO_CUDA_MEMORY_CACHING=1 step memcheck 100 memcheck.log "$sanitizer" --tool memcheck \
    --error-exitcode 1 --print-limit 50 "$py" -m pytest -q -x -p no:cacheprovider tests/test_cuda.py -k "$pick"
  PYTORCH_NO_CUDA_MEMORY_CACHING=1 step racecheck 50 racecheck.log "$sanitizer" --tool racecheck \
    --error-exitcode 1 --print-limit 50 "$py" -m pytest -q -x -p no:cacheprovider tests/test_cuda.py \
    -k "nps or (ccl and 37x53) or deterministic or liu_stage"
else
  echo "compute-sanitizer not found: memcheck/racecheck NOT run" | tee -a "$OUT/summary.txt"
  status=1
fi

# 4. benchmarks (graph replays, CUDA events)
step bench 120 bench.log "$py" benchmarks/bench_cuda.py --quick --out "$OUT/bench_cuda.md" --json "$OUT/bench_cuda.json"
echo "done in $(( $(date +%s) - t0 ))s, status $status" | tee -a "$OUT/summary.txt"
exit $status
