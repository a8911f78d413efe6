"""mfif.pipeline.equalize_exposure and the hourglass methods' ``equalize`` option."""
import math

import pytest
import torch
import torch.nn.functional as F

import mfif.methods as M
from mfif.methods.hourglass import HFSegMethod
from mfif.pipeline import equalize_exposure
from synthetic_photos import psnr


def _blurred(x: torch.Tensor, k: int = 9) -> torch.Tensor:
    w = torch.ones(x.shape[1], 1, k, k, dtype=x.dtype) / (k * k)
    return F.conv2d(F.pad(x, [k // 2] * 4, mode="reflect"), w, groups=x.shape[1])


def scene(h: int = 160, w: int = 192, seed: int = 0) -> torch.Tensor:
    """A smooth colour background with textured patches: flat areas and edges, like a photograph."""
    g = torch.Generator().manual_seed(seed)
    y, x = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    base = torch.stack([0.5 + 0.2 * torch.sin(3 * x + c) * torch.cos(2 * y - c) for c in (0.0, 1.0, 2.0)])
    img = base.clone()
    for _ in range(6):
        y0, x0 = int(torch.randint(0, h - 40, (1,), generator=g)), int(torch.randint(0, w - 40, (1,), generator=g))
        img[:, y0:y0 + 32, x0:x0 + 32] = torch.rand(3, 32, 32, generator=g) * 0.6 + 0.2
    return img[None].clamp(0, 1)


def focus_pair(truth: torch.Tensor, gain_a: float, gain_b: float):
    """``a`` sharp on the left half, ``b`` on the right, each with its gain."""
    mask = torch.zeros_like(truth[:, :1])
    mask[..., : truth.shape[-1] // 2] = 1
    blur = _blurred(truth)
    a = (mask * truth + (1 - mask) * blur) * gain_a
    b = ((1 - mask) * truth + mask * blur) * gain_b
    return a.clamp(0, 1), b.clamp(0, 1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_recovers_the_gains_of_a_focus_pair(dtype):
    truth = scene().to(dtype)
    a, b = focus_pair(truth, 1.03, 0.98)
    a0, b0 = a.clone(), b.clone()
    x, y = equalize_exposure(a, b)
    assert torch.equal(a, a0) and torch.equal(b, b0)  # inputs untouched
    assert x.dtype == dtype and y.shape == b.shape
    target = math.sqrt(1.03 * 0.98)  # both moved to the geometric mean of the two gains
    assert abs(float((x / a.clamp_min(1e-6))[a > 0.05].median()) * 1.03 - target) < 1e-3
    assert abs(float((y / b.clamp_min(1e-6))[b > 0.05].median()) * 0.98 - target) < 1e-3


def test_each_batch_item_has_its_own_gain_and_equal_sources_stay():
    t = scene(seed=1)
    a = torch.cat([t, t])
    b = torch.cat([t * 1.05, t])
    x, y = equalize_exposure(a, b)
    torch.testing.assert_close(x[1:], a[1:])
    torch.testing.assert_close(y[1:], b[1:])
    torch.testing.assert_close(x[:1], y[:1], rtol=1e-5, atol=1e-6)


def test_swapping_the_sources_swaps_the_results():
    a, b = focus_pair(scene(seed=2), 1.02, 0.99)
    x, y = equalize_exposure(a, b)
    y2, x2 = equalize_exposure(b, a)
    torch.testing.assert_close(x, x2, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(y, y2, rtol=1e-5, atol=1e-6)


def test_not_an_exposure_difference_is_left_alone():
    t = scene(seed=3) * 0.5 + 0.1
    x, y = equalize_exposure(t, 1.6 * t)  # 60 % brighter: other lighting or another scene, not flicker
    assert torch.equal(x, t) and torch.equal(y, (1.6 * t).clamp(0, 1))
    dark = torch.zeros(1, 3, 64, 64)
    x, y = equalize_exposure(dark, dark + 0.01)  # nothing usable
    assert torch.equal(x, dark) and torch.equal(y, dark + 0.01)


def test_small_grey_frames():
    a = torch.rand(1, 1, 20, 30, generator=torch.Generator().manual_seed(4)) * 0.5 + 0.25
    x, y = equalize_exposure(a, a * 1.02)
    assert abs(float(y.mean() / x.mean()) - 1) < 1e-3


def test_hf_seg_equalize_removes_a_gain_mismatch():
    truth = scene(seed=5)
    a, b = focus_pair(truth, 1.03, 0.97)
    plain = HFSegMethod(equalize=False).fuse_pair(a, b).fused
    eq = M.get("hf-seg").fuse_pair(a, b).fused  # equalize is the default
    assert psnr(eq, truth) > psnr(plain, truth) + 1
    # equal exposures: the option changes almost nothing
    a, b = focus_pair(truth, 1.0, 1.0)
    torch.testing.assert_close(M.get("hf-seg").fuse_pair(a, b).fused, HFSegMethod(equalize=False).fuse_pair(a, b).fused,
                               atol=2e-3, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_sources(dtype):
    truth = scene(seed=6)
    a, b = focus_pair(truth, 1.03, 0.98)
    x, y = equalize_exposure(a.to(dtype), b.to(dtype))
    x32, y32 = equalize_exposure(a, b)
    assert x.dtype == dtype and y.dtype == dtype
    torch.testing.assert_close(x.float(), x32, atol=1e-2, rtol=0)
    torch.testing.assert_close(y.float(), y32, atol=1e-2, rtol=0)
