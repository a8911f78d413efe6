"""The install guards: wrong torch at import time, isolated builds without torch."""
import os
import shutil
import subprocess
import sys

import pytest
import torch

import mfif
from mfif import _extension

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_ops_are_registered():
    for name in ["patch_mean", "connected_components", "remove_small_regions", "box_filter",
                 "guided_filter", "nps_loss", "window_argmin"]:
        assert hasattr(torch.ops.mfif, name), name
        assert callable(getattr(mfif.ops, name)), name
        assert callable(getattr(mfif.reference, name)), name


def test_torch_version_mismatch_is_a_clear_import_error(monkeypatch):
    from mfif import _build_info

    monkeypatch.setattr(_build_info, "TORCH_VERSION", "1.0.0")
    with pytest.raises(ImportError, match=r"compiled against torch 1\.0\.0 .*no-build-isolation"):
        _extension._check_torch_version()


def test_missing_library_is_a_clear_import_error(monkeypatch, tmp_path):
    monkeypatch.setattr(_extension, "_PKG_DIR", str(tmp_path))
    with pytest.raises(ImportError, match="libmfif_ops.so.*not in"):
        _extension._find_library()


@pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake is not installed")
def test_build_without_torch_explains_the_fix(tmp_path):
    # a Python without torch stands for pip's isolated build environment
    bare = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    result = subprocess.run(
        ["cmake", "-S", ROOT, "-B", str(tmp_path / "build"), f"-DPython_EXECUTABLE={bare}/bin/python",
         "-DMFIF_CUDA=OFF"],
        capture_output=True, text=True,
    )
    assert result.returncode != 0
    out = result.stdout + result.stderr
    assert "cannot import torch" in out
    assert "--no-build-isolation" in out


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU on this machine")
def test_gpu_machine_tests_a_cuda_build():
    # A GPU machine must not silently test a CPU-only build.
    assert mfif.cuda_kernels_available(), "this machine has a GPU but mfif was built without CUDA kernels"


OPS_WITH_KERNELS = ["patch_mean", "_patch_mean_backward", "connected_components", "remove_small_regions",
                    "box_filter", "_box_filter_backward", "guided_filter", "nps_loss", "_nps_loss_backward"]


@pytest.mark.skipif(not mfif.cuda_kernels_available(), reason="this build of mfif has no CUDA kernels")
def test_cuda_build_registers_a_cuda_kernel_for_every_op():
    # runs without a GPU too: CI compiles the CUDA build on a machine without one
    missing = [op for op in OPS_WITH_KERNELS + ["_liu_fusion"]  # the fused Liu stage is CUDA only
               if not torch._C._dispatch_has_kernel_for_dispatch_key(f"mfif::{op}", "CUDA")]
    assert not missing, f"no CUDA kernel for {missing}"


def test_every_op_has_a_cpu_kernel():
    missing = [op for op in OPS_WITH_KERNELS + ["window_argmin"]  # window_argmin: CPU only (torch elsewhere)
               if not torch._C._dispatch_has_kernel_for_dispatch_key(f"mfif::{op}", "CPU")]
    assert not missing, f"no CPU kernel for {missing}"
