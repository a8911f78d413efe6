"""HFSeg / HFReg networks and the hf-seg, hf-seg-pp, hf-reg fusion methods."""
import numpy as np
import pytest
import torch

import mfif
import mfif.methods as M
from mfif.models.hourglass import HFReg, HFSeg
from synthetic_photos import astronaut_pair, psnr


@pytest.mark.parametrize("cls", [HFSeg, HFReg])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size", [(37, 50), (16, 16), (5, 7), (64, 33)])
def test_any_size(cls, channels, size):
    torch.manual_seed(0)
    net = cls(channels=channels).eval()
    a, b = torch.rand(2, channels, *size), torch.rand(2, channels, *size)
    with torch.no_grad():
        y = net(a, b)
    assert y.shape == a.shape and torch.isfinite(y).all()
    if cls is HFSeg:
        w = net.weights(a, b)
        assert w.shape == (2, *size) and (w >= 0).all() and (w <= 1).all()
        torch.testing.assert_close(y, w[:, None] * a + (1 - w[:, None]) * b)


def test_padding_does_not_leak_between_batch_items():
    torch.manual_seed(1)
    net = HFSeg().eval()
    a, b = torch.rand(2, 3, 30, 41), torch.rand(2, 3, 30, 41)
    with torch.no_grad():
        both = net.weights(a, b)
        one = net.weights(a[1:], b[1:])
    torch.testing.assert_close(both[1:], one, rtol=1e-5, atol=1e-6)


def test_bad_input_message():
    with pytest.raises(ValueError, match=r"\[B, 3, H, W\]"):
        HFSeg()(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8))
    with pytest.raises(ValueError, match="same shape"):
        M.get("hf-seg").fuse_pair(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 9))
    with pytest.raises(ValueError, match="channels"):
        HFReg(channels=2)



@pytest.mark.parametrize("name", ["hf-seg", "hf-seg-pp", "hf-reg"])
def test_shipped_weights_fuse_a_synthetic_pair(name):
    a, b, truth = astronaut_pair()
    r = M.get(name).fuse_pair(a, b)
    assert r.fused.shape == a.shape and r.weights.shape == (1, *a.shape[2:])
    assert psnr(r.fused, truth) > max(psnr(a, truth), psnr(b, truth)) + 4


def test_hf_seg_swap_commutative():
    a, b, _ = astronaut_pair(4)
    m = M.get("hf-seg")
    diff = (m.fuse_pair(a, b).fused - m.fuse_pair(b, a).fused).abs().mean()
    assert float(diff) < 1e-2  # a small 96x120 crop: edges weigh more than on Lytro (6.7e-4 there)


def test_grey_and_float64_sources():
    a, b, truth = astronaut_pair(5)
    ga, gb, gt = (mfif.pipeline.to_grey(x).double() for x in (a, b, truth))
    for name in ("hf-seg", "hf-reg"):
        r = M.get(name).fuse_pair(ga, gb)
        assert r.fused.shape == ga.shape and r.fused.dtype == torch.float64
        assert psnr(r.fused, gt) > max(psnr(ga, gt), psnr(gb, gt))


def test_hf_reg_nearest_selects_sources():
    from mfif.methods.hourglass import HFRegMethod

    a, b, _ = astronaut_pair(6)
    r = HFRegMethod(nearest=True).fuse_pair(a, b)
    from_a = (r.fused == a).all(1)
    from_b = (r.fused == b).all(1)
    assert bool((from_a | from_b).all())
    assert torch.equal(from_a & ~from_b, r.decision & ~from_b)


def test_three_frames_functional_power():
    """mfif.fuse on a 3-frame stack is f(f(x0, x1), x2) (section IV)."""
    a, b, _ = astronaut_pair(7, (64, 80))
    c = 0.5 * (a + b)
    frames = [x[0].permute(1, 2, 0).numpy() for x in (a, b, c)]
    out = mfif.fuse(frames, method="hf-seg", align=False)
    m = M.get("hf-seg")
    expect = m.fuse_pair(m.fuse_pair(a, b).fused, c).fused.clamp(0, 1)
    got = torch.as_tensor(np.asarray(out.fused, np.float32)).permute(2, 0, 1)[None]
    torch.testing.assert_close(got, expect, atol=1e-5, rtol=0)
