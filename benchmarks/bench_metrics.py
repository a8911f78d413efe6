"""The survey's metrics on one 520x520 Lytro-sized pair (issue 5: all of them under 1 s on the CPU).

Each metric alone, and "all" = mfif.metrics.evaluate_grey with the eight survey
metrics plus QTE, on grey float64 tensors (the conversion from files is not
timed). Run: pytest benchmarks/bench_metrics.py --benchmark-json=...
"""
import numpy as np
import pytest
import torch

from mfif import metrics as M

from conftest import run


def _pair(size=520, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (size + 4, size + 4)).astype(np.float64)
    smooth = sum(base[i:i + size, j:j + size] for i in range(5) for j in range(5)) / 25
    a = np.rint(smooth)
    b = a.copy()
    b[:, size // 2:] = np.rint(smooth[:, size // 2:] * 0.6 + 50)
    f = np.where(np.arange(size)[None, :] < size // 2, a, np.maximum(a, b))
    return [torch.from_numpy(x)[None] for x in (a, b, f)]


@pytest.mark.parametrize("metric", list(M.METRICS) + ["all"])
def test_metrics_520(benchmark, threads, metric):
    a, b, f = _pair()
    if metric == "all":
        fn = lambda: M.evaluate_grey(a, b, f)  # noqa: E731
    else:
        fn = lambda: M.METRICS[metric][0](a, b, f)  # noqa: E731
    run(benchmark, f"metrics {metric}", "520x520", threads, "mfif", fn, rounds=3)
