"""The CPU kernels' instruction sets: a portable x86-64-v2 baseline, AVX2 + FMA
kernels chosen at run time, the same results from both, and no instruction
above x86-64-v2 outside the dispatched kernels (scripts/check_isa.py)."""
import os
import platform
import shutil
import subprocess
import sys

import pytest
import torch

import mfif
from mfif import ops, reference as ref

ROOT = os.path.join(os.path.dirname(__file__), "..")
X86 = platform.machine().lower() in ("x86_64", "amd64")


def _cpu_flags() -> set:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def _isa(monkeypatch, value):
    if value is None:
        monkeypatch.delenv("MFIF_CPU_ISA", raising=False)
    else:
        monkeypatch.setenv("MFIF_CPU_ISA", value)
    return torch.ops.mfif._cpu_isa()


def test_the_chosen_path_follows_the_cpu_and_the_override(monkeypatch):
    flags = _cpu_flags()
    expected = "avx2" if X86 and {"avx2", "fma"} <= flags else "baseline"
    if X86 and not flags:
        pytest.skip("cannot read the CPU flags")
    assert _isa(monkeypatch, None) == expected
    assert _isa(monkeypatch, "baseline") == "baseline"
    assert _isa(monkeypatch, "anything else") == expected


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_both_paths_give_the_same_result(monkeypatch, dtype):
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 67, 131, generator=gen, dtype=dtype)
    g3 = torch.rand(2, 3, 67, 131, generator=gen, dtype=dtype)
    calls = [
        lambda: ops.box_filter(x, 5),
        lambda: ops.box_filter(x, 40, normalize=False),
        lambda: torch.ops.mfif._box_filter_backward(x, 3, True),
        lambda: ops.guided_filter(g3, x, 4, 0.01),
        lambda: ops.guided_filter(g3[:, :1], x, 9, 0.01),
    ]
    results = {}
    for isa in ("baseline", None):
        chosen = _isa(monkeypatch, isa)
        results[chosen] = [call() for call in calls]
    if len(results) == 1:
        pytest.skip("this CPU runs the baseline kernels only (checked against the reference elsewhere)")
    rtol, atol = (1e-5, 1e-6) if dtype == torch.float32 else (1e-12, 1e-13)
    for base, fast in zip(results["baseline"], results["avx2"]):
        torch.testing.assert_close(base, fast, rtol=rtol, atol=atol)
    # and the baseline path is right on its own
    torch.testing.assert_close(results["baseline"][0], ref.box_filter(x, 5), rtol=rtol, atol=atol)


@pytest.mark.skipif(not X86 or shutil.which("objdump") is None, reason="needs x86-64 and objdump (binutils)")
def test_no_instruction_above_x86_64_v2_outside_the_dispatched_kernels():
    lib = mfif._extension.LIBRARY_PATH
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "check_isa.py"), lib],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
