"""The torch-free CPU path (mfif.fusion.cpu_files): same result as the torch driver, no torch in the command."""
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

import mfif
from mfif import io, synthetic
from mfif.fusion import api, cpu_files
from mfif.methods.pyramid import PyramidStack


def breathing_stack(tmp_path, n=4, ext=".png", dtype=np.uint8, grey=False):
    """Frames of one scene, each scaled a little about the centre and blurred differently (focus breathing)."""
    sharp = synthetic.dead_leaves(160, 200, seed=3)
    if grey:
        sharp = sharp[..., 0]
    paths = []
    for i in range(n):
        s = 1 + 0.01 * (i - n // 2)
        M = cv2.getRotationMatrix2D((100, 80), 0.0, s)
        f = cv2.warpAffine(sharp, M, (200, 160), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
        f = cv2.GaussianBlur(f, (0, 0), 0.5 + abs(i - 1.3))
        paths.append(str(tmp_path / f"f{i}{ext}"))
        io.write_image(paths[-1], io.from_float(f, dtype))
    return paths


@pytest.mark.parametrize("ext, dtype, grey", [(".png", np.uint8, False), (".tif", np.uint16, False),
                                              (".png", np.uint8, True)])
def test_same_result_as_the_torch_driver(tmp_path, ext, dtype, grey):
    paths = breathing_stack(tmp_path, ext=ext, dtype=dtype, grey=grey)
    job, _ = cpu_files.plan(paths, None, "cpu")
    assert job is not None
    fast = cpu_files.fuse_files(job, align="on")
    slow = api.fuse(paths, device="cpu", align="on")
    assert fast.alignment.resampled.sum() == len(paths) - 1
    assert fast.fused.dtype == dtype and fast.fused.shape == slow.fused.shape
    assert np.array_equal(fast.fused, slow.fused) and np.array_equal(fast.index, slow.index)
    assert fast.align_note == slow.align_note and fast.method == slow.method == "pyramid"


def test_mfif_fuse_takes_the_torch_free_path_when_it_can(tmp_path, monkeypatch):
    paths = breathing_stack(tmp_path, n=3)
    called = []
    real = cpu_files.fuse_files
    monkeypatch.setattr(cpu_files, "fuse_files", lambda *a, **k: called.append(1) or real(*a, **k))
    mfif.fuse(paths, device="cpu")                    # a stack: pyramid, the CPU path
    mfif.fuse(paths, method=PyramidStack(energy_radius=2), device="cpu")
    assert len(called) == 2
    mfif.fuse(paths, device="cpu", tile=64)           # tiles too
    assert len(called) == 3
    mfif.fuse(paths, method="focus", device="cpu")    # another method: the torch driver
    assert len(called) == 3


@pytest.mark.parametrize("kwargs", [dict(method="gff"), dict(device="cuda"), dict(transform=lambda t, i: t),
                                    dict(dtype="torch.float64")])
def test_plan_leaves_other_jobs_to_the_torch_driver(tmp_path, kwargs):
    paths = breathing_stack(tmp_path, n=3)
    job, handed_on = cpu_files.plan(paths, kwargs.pop("method", None), kwargs.pop("device", "cpu"), **kwargs)
    assert job is None and len(handed_on) == 3


@pytest.mark.parametrize("ext, dtype", [(".png", np.uint8), (".tif", np.uint16)])
def test_tiles_equal_the_whole_and_the_torch_driver(tmp_path, ext, dtype):
    paths = breathing_stack(tmp_path, n=3, ext=ext, dtype=dtype)
    job, _ = cpu_files.plan(paths, None, "cpu", tile=64)
    assert job.n_tiles == 12  # 160x200 in tiles of 64 (on the 8-px grid of 3 levels)
    done = []
    tiled = cpu_files.fuse_files(job, align="on", progress=done.append, spill_dir=str(tmp_path))
    assert tiled.tiles == 12 and sum(done) == 12 * 3
    assert not [f for f in os.listdir(tmp_path) if f.startswith("mfif-spill-")]  # the spilled frames are gone
    whole = mfif.fuse(paths, device="cpu", align="on", tile=None)
    torch_tiled = api.fuse(paths, device="cpu", align="on", tile=64)
    # equal to rounding (OpenCV's vector loops and scalar row tails round differently at tile edges)
    for other in (whole, torch_tiled):
        diff = np.abs(tiled.fused.astype(np.int32) - other.fused)
        assert diff.max() <= 1 and (diff > 0).mean() < 1e-3
        assert np.array_equal(tiled.index, other.index)


def test_bad_stacks_get_the_same_clear_errors(tmp_path):
    paths = breathing_stack(tmp_path, n=3)
    small = str(tmp_path / "small.png")
    io.write_image(small, np.zeros((10, 10, 3), np.uint8))
    with pytest.raises(mfif.fusion.StackError, match="same size"):
        cpu_files.plan(paths + [small], None, "cpu")
    with pytest.raises(mfif.fusion.StackError, match="at least two"):
        cpu_files.plan(paths[:1], None, "cpu")


def test_the_command_fuses_a_cpu_stack_without_loading_torch(tmp_path):
    paths = breathing_stack(tmp_path, n=3)
    out, depth = str(tmp_path / "fused.png"), str(tmp_path / "depth.png")
    # sys.argv[0] is what the console script sets: mfif starts as the command
    code = ("import sys; sys.argv = ['mfif', 'fuse', *sys.argv[1:]]\n"
            "from mfif.cli import main\n"
            "try:\n    main()\nexcept SystemExit as e:\n    assert e.code in (0, None), e.code\n"
            "print('torch loaded:', 'torch' in sys.modules)\n")
    # the mfif this test process imported (the source tree, or the installed package in CI)
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(mfif.__file__))))
    r = subprocess.run([sys.executable, "-c", code, *paths, "-o", out, "--depth-map", depth],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "torch loaded: False" in r.stdout, r.stdout
    assert "with pyramid on cpu" in r.stdout
    assert io.read_image(out).shape == (160, 200, 3) and io.read_image(depth).shape == (160, 200)
    # a pair's default (liu2017) needs torch: it is loaded then, and the job still works
    r = subprocess.run([sys.executable, "-c", code, *paths[:2], "-o", out, "--method", "gff"],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "torch loaded: True" in r.stdout and "with gff on cpu" in r.stdout


def test_default_device_is_the_cpu_unless_a_cuda_build_sees_a_gpu(monkeypatch):
    import torch

    from mfif import _build_info

    monkeypatch.setattr(_build_info, "WITH_CUDA", False)
    assert cpu_files._cpu_requested(None)
    monkeypatch.setattr(_build_info, "WITH_CUDA", True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert cpu_files._cpu_requested(None)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert not cpu_files._cpu_requested(None)  # CUDA when available: the torch driver
    assert cpu_files._cpu_requested("cpu") and not cpu_files._cpu_requested("cuda:0")
