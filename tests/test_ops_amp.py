"""float16 / bfloat16 input and torch.autocast: the ops compute in float32
inside and return the input's dtype (float32 under autocast)."""
import pytest
import torch

from mfif import ops, reference as ref

HALF = [torch.float16, torch.bfloat16]
# one rounding of a float32 result to the half type, relative
ROUND = {torch.float16: 2e-3, torch.bfloat16: 1.6e-2}


def _close_to_float32(got, want32, dtype):
    assert got.dtype == dtype
    torch.testing.assert_close(got.float(), want32.to(dtype).float(), rtol=ROUND[dtype], atol=ROUND[dtype])


@pytest.mark.parametrize("dtype", HALF)
def test_filters_take_half_types(dtype, device):
    x = torch.rand(2, 3, 17, 12, device=device).to(dtype)
    g = torch.rand(2, 3, 17, 12, device=device).to(dtype)
    _close_to_float32(ops.box_filter(x, 3), ref.box_filter(x.float(), 3), dtype)
    _close_to_float32(ops.box_filter(x, 2, normalize=False), ref.box_filter(x.float(), 2, False), dtype)
    _close_to_float32(ops.guided_filter(g, x, 2, 0.01), ref.guided_filter(g.float(), x.float(), 2, 0.01), dtype)
    _close_to_float32(ops.guided_filter(g[:, :1], x, 2, 0.01),
                      ref.guided_filter(g[:, :1].float(), x.float(), 2, 0.01), dtype)


@pytest.mark.parametrize("dtype", HALF)
def test_patch_mean_and_nps_loss_take_half_types(dtype, device):
    logits = torch.randn(2, 2, 5, 6, device=device).to(dtype)
    probs = torch.rand(2, 5, 6, device=device).to(dtype)
    for s in (logits, probs):
        _close_to_float32(ops.patch_mean(s, (12, 14), patch=4, stride=2),
                          ref.patch_mean(s.float(), (12, 14), patch=4, stride=2), dtype)
    pred, target = torch.rand(2, 3, 6, 5, device=device).to(dtype), torch.rand(2, 3, 6, 5, device=device).to(dtype)
    _close_to_float32(ops.nps_loss(pred, target, reduction="none"),
                      ref.nps_loss(pred.float(), target.float(), reduction="none"), dtype)


@pytest.mark.parametrize("dtype", HALF)
def test_half_gradients_follow_the_float32_ones(dtype, device):
    x32 = torch.rand(1, 2, 9, 8, device=device)
    x = x32.to(dtype).requires_grad_()
    xr = x.detach().float().requires_grad_()
    w = torch.rand(1, 2, 9, 8, device=device)
    (ops.box_filter(x, 2).float() * w).sum().backward()
    (ref.box_filter(xr, 2) * w).sum().backward()
    _close_to_float32(x.grad, xr.grad, dtype)

    g = torch.rand(1, 1, 9, 8, device=device).to(dtype).requires_grad_()
    gr = g.detach().float().requires_grad_()
    (ops.guided_filter(g, x.detach(), 2, 0.05).float() * w).sum().backward()
    (ref.guided_filter(gr, x.detach().float(), 2, 0.05) * w).sum().backward()
    assert g.grad.dtype == dtype
    torch.testing.assert_close(g.grad.float(), gr.grad, rtol=0.05, atol=0.05)


def test_box_filter_inside_a_bfloat16_autocast_model():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1))
    x = torch.rand(2, 3, 16, 20)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        feat = model(x)
        assert feat.dtype == torch.bfloat16
        out = ops.box_filter(feat, 2)
        q = ops.guided_filter(x[:, :1], feat, 2, 0.01)  # float32 guide, bfloat16 source
        loss = ops.nps_loss(feat, torch.rand_like(feat.float()))
        pm = ops.patch_mean(feat[:, :2], (19, 23), patch=4, stride=1)
    assert out.dtype == q.dtype == loss.dtype == pm.dtype == torch.float32
    torch.testing.assert_close(out, ref.box_filter(feat.float(), 2))
    torch.testing.assert_close(q, ref.guided_filter(x[:, :1], feat.float(), 2, 0.01), rtol=1e-4, atol=1e-5)
    (out.sum() + q.sum() + loss + pm.sum()).backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


def test_autocast_keeps_float64():
    x = torch.rand(1, 1, 8, 8, dtype=torch.float64)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert ops.box_filter(x, 1).dtype == torch.float64
        assert ops.guided_filter(x, x, 1, 0.1).dtype == torch.float64


@pytest.mark.parametrize("dtype", HALF)
def test_opcheck_half(dtype):
    x = torch.rand(1, 2, 7, 9).to(dtype).requires_grad_()
    g = torch.rand(1, 3, 7, 9).to(dtype).requires_grad_()
    torch.library.opcheck(torch.ops.mfif.box_filter.default, (x, 2, True))
    torch.library.opcheck(torch.ops.mfif.guided_filter.default, (g, x, 2, 0.1))
    s = torch.randn(1, 2, 3, 4).to(dtype).requires_grad_()
    torch.library.opcheck(torch.ops.mfif.patch_mean.default, (s, 7, 9, 3, 2))
    p, t = torch.rand(2, 1, 5, 5).to(dtype).requires_grad_(), torch.rand(2, 1, 5, 5).to(dtype)
    torch.library.opcheck(torch.ops.mfif.nps_loss.default, (p, t, 6.0))
