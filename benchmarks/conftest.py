"""Shared settings of the benchmarks (pytest-benchmark; not part of CI's run).

Run: pytest benchmarks --benchmark-json=benchmarks/results.json
then: python benchmarks/report.py benchmarks/results.json > benchmarks/RESULTS.md
Each benchmark is named "<op> | <size> | t<threads> | <impl>" through
``benchmark.group`` and ``benchmark.extra_info`` so report.py can build ratios.
"""
import cv2
import pytest
import torch

import mfif  # noqa: F401  (loads the ops)

SIZES = {"520x520": (520, 520), "1920x1080": (1080, 1920), "3840x2160": (2160, 3840)}
THREADS = [1, 2]


@pytest.fixture(params=list(SIZES), ids=list(SIZES))
def size(request):
    return request.param, SIZES[request.param]


@pytest.fixture(params=THREADS, ids=[f"t{t}" for t in THREADS])
def threads(request):
    old_torch, old_cv = torch.get_num_threads(), cv2.getNumThreads()
    torch.set_num_threads(request.param)
    cv2.setNumThreads(request.param)
    yield request.param
    torch.set_num_threads(old_torch)
    cv2.setNumThreads(old_cv)


def run(benchmark, op, size_name, threads, impl, fn, *args, rounds=None, **kwargs):
    """Benchmark fn(*args) as implementation `impl` of `op`."""
    benchmark.group = f"{op} | {size_name} | t{threads}"
    benchmark.extra_info.update(op=op, size=size_name, threads=threads, impl=impl)
    if rounds is None:
        return benchmark(fn, *args, **kwargs)
    return benchmark.pedantic(fn, args=args, kwargs=kwargs, rounds=rounds, iterations=1, warmup_rounds=1)
