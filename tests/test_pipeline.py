"""mfif.pipeline.liu_postprocess (Liu et al.'s post-processing) on the CPU (and CUDA when present)."""
import math

import pytest
import torch

from mfif import ops, pipeline


def inputs(B, C, H, W, device, seed=0):
    g = torch.Generator().manual_seed(seed)
    a, b = torch.rand(B, C, H, W, generator=g), torch.rand(B, C, H, W, generator=g)
    logits = torch.randn(B, 2, math.ceil(H / 2) - 7, math.ceil(W / 2) - 7, generator=g) * 3
    return logits.to(device), a.to(device), b.to(device)


@pytest.mark.parametrize("channels", [1, 3])
def test_liu_postprocess_is_the_composition_of_the_ops(device, channels):
    logits, a, b = inputs(2, channels, 70, 90, device)
    fused, decision, weights = pipeline.liu_postprocess(logits, a, b, area_ratio=0.01, radius=8, eps=0.1)
    assert fused.shape == a.shape and decision.shape == (2, 70, 90) and weights.shape == (2, 70, 90)
    assert decision.dtype == torch.bool and fused.device == a.device
    focus = ops.patch_mean(logits, (70, 90))
    expected = ops.remove_small_regions(focus > 0.5, math.ceil(0.01 * 70 * 90), 8)
    assert torch.equal(decision, expected)
    d = decision[:, None].to(a.dtype)
    w = ops.guided_filter(pipeline.to_grey(d * a + (1 - d) * b), d, 8, 0.1)
    torch.testing.assert_close(weights, w[:, 0])
    torch.testing.assert_close(fused, w * a + (1 - w) * b)


def test_liu_postprocess_picks_the_sharp_source(device):
    # scores that say "a" on the left half, "b" on the right half
    H, W = 64, 96
    logits = torch.zeros(1, 2, math.ceil(H / 2) - 7, math.ceil(W / 2) - 7)
    logits[:, 0, :, : logits.shape[-1] // 2] = 10.0
    logits[:, 1, :, logits.shape[-1] // 2:] = 10.0
    a, b = torch.full((1, 1, H, W), 0.9), torch.full((1, 1, H, W), 0.1)
    fused, decision, _ = pipeline.liu_postprocess(logits.to(device), a.to(device), b.to(device))
    assert decision[0, :, :40].all() and not decision[0, :, 56:].any()
    assert torch.allclose(fused[0, 0, :, :30].cpu(), torch.tensor(0.9), atol=1e-4)
    assert torch.allclose(fused[0, 0, :, 66:].cpu(), torch.tensor(0.1), atol=1e-4)


def test_liu_postprocess_bad_input():
    logits, a, b = inputs(1, 3, 40, 40, "cpu")
    with pytest.raises(ValueError, match="a and b must both be"):
        pipeline.liu_postprocess(logits, a, b[:, :1])
    with pytest.raises(ValueError, match="must share dtype and device"):
        pipeline.liu_postprocess(logits, a, b.double())
