"""mfif.ops.nps_loss (NPS loss, Guerrero Pena et al. eq. 4 and 5) against its reference."""
import math

import pytest
import torch

from mfif import ops, reference as ref

from conftest import tol


def has_kernel(device):
    return device.type == "cpu" or torch._C._dispatch_has_kernel_for_dispatch_key("mfif::nps_loss", "CUDA")


@pytest.fixture
def dev(device):
    """The device, after checking the clear error where nps_loss has no kernel for it."""
    if not has_kernel(device):
        x = torch.rand(1, 1, 2, 2, device=device)
        with pytest.raises(RuntimeError, match="pred is on cuda.*no 'cuda' kernel"):
            ops.nps_loss(x, x)
        pytest.skip("nps_loss has no CUDA kernel in this build (the error was checked)")
    return device


def pair(shape, dtype, device, seed=0, scale=1.0):
    gen = torch.Generator().manual_seed(seed)
    pred = torch.rand(shape, generator=gen, dtype=torch.float64) * scale
    target = torch.rand(shape, generator=gen, dtype=torch.float64) * scale
    return pred.to(dtype=dtype, device=device), target.to(dtype=dtype, device=device)


def check_close(out, expected, dtype, factor=1.0):
    rtol, atol = tol(dtype)
    torch.testing.assert_close(out, expected.to(out.dtype), rtol=rtol * factor, atol=atol * factor)


SHAPES = [(1, 1, 1, 1), (1, 3, 1, 7), (2, 3, 5, 4), (3, 1, 17, 31), (2, 3, 70, 90), (1, 2, 129, 65)]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("alpha", [0.5, 6.0, 10.0])
def test_matches_reference(dev, dtype, shape, alpha):
    pred, target = pair(shape, dtype, dev)
    out = ops.nps_loss(pred, target, alpha, reduction="none")
    assert out.shape == (shape[0],) and out.dtype == dtype and out.device == pred.device
    check_close(out, ref.nps_loss(pred, target, alpha, reduction="none"), dtype)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("alpha", [0.5, 8.0])
def test_gradient_matches_reference(dev, dtype, shape, alpha):
    pred, target = pair(shape, dtype, dev, seed=1)
    pred.requires_grad_()
    (g,) = torch.autograd.grad(ops.nps_loss(pred, target, alpha), pred)
    (g_ref,) = torch.autograd.grad(ref.nps_loss(pred, target, alpha), pred)
    check_close(g, g_ref, dtype)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_reductions(dev, dtype, reduction):
    pred, target = pair((4, 3, 9, 11), dtype, dev, seed=2)
    per_sample = ops.nps_loss(pred, target, reduction="none")
    out = ops.nps_loss(pred, target, reduction=reduction)
    expected = {"mean": per_sample.mean(), "sum": per_sample.sum(), "none": per_sample}[reduction]
    check_close(out, expected, dtype)
    check_close(out, ref.nps_loss(pred, target, reduction=reduction), dtype)
    assert out.shape == (() if reduction != "none" else (4,))


def test_unbatched(dev, dtype):
    pred, target = pair((3, 10, 12), dtype, dev, seed=3)
    none = ops.nps_loss(pred, target, reduction="none")
    assert none.shape == ()
    check_close(none, ops.nps_loss(pred[None], target[None], reduction="none")[0], dtype)
    check_close(ops.nps_loss(pred, target), ref.nps_loss(pred, target), dtype)


@pytest.mark.parametrize("alpha", [1e-3, 50.0, 1e4, 1e30, 1e300])
def test_extreme_alpha(dev, dtype, alpha):
    """phi saturates at 1 without overflow; the gradient stays finite."""
    pred, target = pair((2, 3, 13, 8), dtype, dev, seed=4, scale=100.0)
    pred.requires_grad_()
    out = ops.nps_loss(pred, target, alpha, reduction="none")
    (g,) = torch.autograd.grad(out.sum(), pred)
    assert torch.isfinite(out).all() and torch.isfinite(g).all()
    expected = ref.nps_loss(pred.detach(), target, alpha, reduction="none")
    if torch.isfinite(expected).all():
        check_close(out, expected, dtype)


def test_formula_by_hand(dtype):
    """One 1 x 2 x 2 x 1 sample worked out from eq. 4/5."""
    pred = torch.tensor([0.0, 1.0], dtype=dtype).reshape(1, 1, 2, 1)
    target = torch.tensor([0.5, 0.25], dtype=dtype).reshape(1, 1, 2, 1)
    alpha = 6.0
    phi = lambda d: 2 / (math.exp(-alpha * abs(d)) + 1) - 1  # noqa: E731
    expected = (phi(0.5) + phi(-0.75)) / 2 + abs(0.25 - 0.0) + abs(0.5 - 1.0)
    out = ops.nps_loss(pred, target, alpha, reduction="none")
    assert out.item() == pytest.approx(expected, rel=1e-6)
    assert math.tanh(alpha * 0.5 / 2) == pytest.approx(phi(0.5), rel=1e-12)


def test_pred_equals_target(dev, dtype):
    pred, _ = pair((2, 3, 31, 17), dtype, dev, seed=5)
    pred.requires_grad_()
    out = ops.nps_loss(pred, pred.detach().clone(), reduction="none")
    assert torch.equal(out, torch.zeros_like(out))
    (g,) = torch.autograd.grad(out.sum(), pred)
    assert torch.equal(g, torch.zeros_like(g))  # sign(0) = 0 and phi'(0) = 0


def test_ties_first_occurrence(dev, dtype):
    """Equal extremes of pred: the min/max subgradient goes to the first one in row-major order."""
    pred = torch.full((1, 2, 80, 70), 0.5, dtype=dtype, device=dev)
    target = pred.clone()
    pred[0, 0, 3, 5] = pred[0, 0, 60, 2] = pred[0, 0, 79, 69] = 0.1  # min, three times
    pred[0, 0, 10, 0] = pred[0, 0, 2, 50] = 0.9  # max, twice; first in memory order: (2, 50)
    target[0, 0, 0, 0], target[0, 0, 1, 1] = 0.3, 0.7  # target min/max: pred's are 0.2 further out
    target[0, 1, 40, 40] = 0.2  # channel 1: pred is constant 0.5, target min 0.2 < 0.5
    pred.requires_grad_()
    (g,) = torch.autograd.grad(ops.nps_loss(pred, target, alpha=6.0), pred)
    (g_ref,) = torch.autograd.grad(ref.nps_loss(pred, target, alpha=6.0), pred)
    check_close(g, g_ref, dtype)
    n = 80 * 70
    d = (target - pred).detach()
    t = torch.tanh(3.0 * d.abs())
    phi_part = -torch.sign(d) * 3.0 * (1 - t * t) / n
    extra = g - phi_part
    expected = torch.zeros_like(g)
    expected[0, 0, 3, 5] = -1.0  # d|tmin - pmin|/dpmin = sign(pmin - tmin) = sign(0.1 - 0.3)
    expected[0, 0, 2, 50] = 1.0  # sign(pmax - tmax) = sign(0.9 - 0.7)
    expected[0, 1, 0, 0] = 1.0  # constant plane: first element is argmin, sign(0.5 - 0.2)
    # ... and argmax too, but max(target) == max(pred) == 0.5 there: sign(0) = 0
    check_close(extra, expected, dtype, factor=10.0)


def test_target_gets_no_gradient(dev):
    pred, target = pair((2, 3, 8, 8), torch.float64, dev, seed=6)
    pred.requires_grad_()
    target.requires_grad_()
    ops.nps_loss(pred, target).backward()
    assert pred.grad is not None and target.grad is None


def test_non_contiguous(dev, dtype):
    pred, target = pair((2, 3, 24, 20), dtype, dev, seed=7)
    pred_cl = pred.to(memory_format=torch.channels_last)
    target_t = target.transpose(2, 3).contiguous().transpose(2, 3)
    assert not pred_cl.is_contiguous() and not target_t.is_contiguous()
    check_close(
        ops.nps_loss(pred_cl, target_t, reduction="none"), ops.nps_loss(pred, target, reduction="none"), dtype
    )
    pred_cl.requires_grad_()
    (g,) = torch.autograd.grad(ops.nps_loss(pred_cl, target_t), pred_cl)
    (g_ref,) = torch.autograd.grad(ref.nps_loss(pred_cl, target_t), pred_cl)
    check_close(g, g_ref, dtype)


def test_thread_count_independent():
    pred, target = pair((3, 3, 111, 97), torch.float32, "cpu", seed=8)  # several chunks per plane
    pred.requires_grad_()
    old = torch.get_num_threads()
    results = []
    try:
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            out = ops.nps_loss(pred, target, reduction="none")
            (g,) = torch.autograd.grad(out.sum(), pred)
            results.append((out, g))
    finally:
        torch.set_num_threads(old)
    for out, g in results[1:]:
        assert torch.equal(out, results[0][0]) and torch.equal(g, results[0][1])


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (1, 1, 1, 3)], ids=str)
def test_gradcheck(dev, shape):
    pred, target = pair(shape, torch.float64, dev, seed=9)
    pred.requires_grad_()
    assert torch.autograd.gradcheck(lambda p: ops.nps_loss(p, target, 6.0, "none"), (pred,))
    assert torch.autograd.gradcheck(lambda p: ops.nps_loss(p, target, 0.7, "mean"), (pred,))


def test_opcheck(dev):
    pred, target = pair((2, 3, 5, 4), torch.float64, dev, seed=10)
    torch.library.opcheck(torch.ops.mfif.nps_loss.default, (pred.requires_grad_(), target, 6.0))
    grad = torch.rand(2, dtype=torch.float64, device=dev)
    torch.library.opcheck(torch.ops.mfif._nps_loss_backward.default, (grad, pred.detach(), target, 6.0))


# ---- bad input -------------------------------------------------------------------

def test_bad_tensors():
    x = torch.rand(2, 3, 4, 4)
    with pytest.raises(TypeError, match="pred must be a torch.Tensor"):
        ops.nps_loss(x.numpy(), x)
    with pytest.raises(TypeError, match="pred is torch.float32 but target is torch.float16"):
        ops.nps_loss(x, x.half())
    with pytest.raises(TypeError, match="target must be float32, float64, float16 or bfloat16"):
        ops.nps_loss(x, x.int())
    with pytest.raises(TypeError, match="pred must be float32, float64, float16 or bfloat16"):
        ops.nps_loss(x.int(), x)
    with pytest.raises(ValueError, match=r"pred must have shape \[B, C, H, W\] or \[C, H, W\], got \(4, 4\)"):
        ops.nps_loss(x[0, 0], x[0, 0])
    with pytest.raises(ValueError, match="target must have shape"):
        ops.nps_loss(x, x[None])
    with pytest.raises(ValueError, match=r"same shape, got \(2, 3, 4, 4\) and \(2, 3, 4, 5\)"):
        ops.nps_loss(x, torch.rand(2, 3, 4, 5))
    with pytest.raises(TypeError, match="pred is torch.float32 but target is torch.float64"):
        ops.nps_loss(x, x.double())
    with pytest.raises(ValueError, match="pred is on cpu but target is on meta"):
        ops.nps_loss(x, x.to("meta"))
    with pytest.raises(ValueError, match="pred is empty"):
        ops.nps_loss(x[:0], x[:0])
    with pytest.raises(ValueError, match="pred is empty"):
        ops.nps_loss(x[:, :, :0], x[:, :, :0])


def test_bad_alpha_and_reduction():
    x = torch.rand(2, 3, 4, 4)
    for alpha, err, msg in [
        (0.0, ValueError, "alpha must be > 0"),
        (-1.0, ValueError, "alpha must be > 0"),
        (float("nan"), ValueError, "alpha must be finite"),
        (float("inf"), ValueError, "alpha must be finite"),
        ("6", TypeError, "alpha must be a number"),
        (True, TypeError, "alpha must be a number"),
    ]:
        with pytest.raises(err, match=msg):
            ops.nps_loss(x, x, alpha=alpha)
    with pytest.raises(ValueError, match="reduction must be one of"):
        ops.nps_loss(x, x, reduction="avg")


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("where", ["pred", "target", "both"])
def test_non_finite_data(bad, where):
    pred, target = pair((2, 3, 70, 80), torch.float32, "cpu", seed=11)
    for index in [(0, 0, 0, 0), (1, 2, 69, 79), (1, 1, 33, 41)]:
        p, t = pred.clone(), target.clone()
        if where in ("pred", "both"):
            p[index] = bad
        if where in ("target", "both"):
            t[index] = bad
        name = {"pred": "pred contains", "target": "target contains", "both": "pred and target contain"}[where]
        with pytest.raises(RuntimeError, match=f"{name} NaN or Inf"):
            ops.nps_loss(p, t)
        p.requires_grad_()
        with pytest.raises(RuntimeError, match=f"{name} NaN or Inf"):
            torch.ops.mfif._nps_loss_backward(torch.ones(2), p.detach(), t, 6.0)


def test_direct_op_checks():
    x = torch.rand(2, 3, 4, 4)
    with pytest.raises(RuntimeError, match="alpha must be finite and > 0"):
        torch.ops.mfif.nps_loss(x, x, 0.0)
    with pytest.raises(RuntimeError, match=r"pred must have shape \[B, C, H, W\]"):
        torch.ops.mfif.nps_loss(x[0], x[0], 6.0)
    with pytest.raises(RuntimeError, match="pred and target must have the same shape"):
        torch.ops.mfif.nps_loss(x, x[:, :2], 6.0)
    with pytest.raises(RuntimeError, match="pred is Float but target is Double"):
        torch.ops.mfif.nps_loss(x, x.double(), 6.0)
    with pytest.raises(RuntimeError, match="grad must have shape"):
        torch.ops.mfif._nps_loss_backward(torch.ones(3), x, x, 6.0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_without_kernel_is_refused():
    x = torch.rand(1, 1, 4, 4, device="cuda")
    if has_kernel(x.device):
        pytest.skip("this build has a CUDA kernel for nps_loss")
    with pytest.raises(RuntimeError, match="pred is on cuda"):
        ops.nps_loss(x, x)
