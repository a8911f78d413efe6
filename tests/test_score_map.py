"""mfif.ops.score_map (the folded dense head of Liu et al. 2017) against its reference."""
import math

import pytest
import torch
import torch.nn.functional as F

from mfif import ops, reference as ref

from conftest import tol


def has_kernel(device):
    return device.type == "cpu" or torch._C._dispatch_has_kernel_for_dispatch_key("mfif::score_map", "CUDA")


@pytest.fixture
def dev(device):
    """The device, after checking the clear error where score_map has no kernel for it.

    On CUDA, cuDNN's TF32 rounding (its default, in the backward's convolution and in the reference's
    conv2d) is turned off for the test: the tolerances here are float32's.
    """
    if not has_kernel(device):
        x = torch.rand(1, 2, 4, 4, device=device)
        with pytest.raises(RuntimeError, match="fa is on cuda.*no 'cuda' kernel"):
            ops.score_map(x, x, torch.rand(2, 4, 2, 2, device=device))
        pytest.skip("score_map has no CUDA kernel in this build (the error was checked)")
    with torch.backends.cudnn.flags(enabled=torch.backends.cudnn.enabled, allow_tf32=False):
        yield device


def make(batch, C, hf, wf, k, dtype, device, seed=0, bias=True, scale=None):
    gen = torch.Generator().manual_seed(seed)
    fa = torch.rand(batch, C, hf, wf, generator=gen, dtype=torch.float64)
    fb = torch.rand(batch, C, hf, wf, generator=gen, dtype=torch.float64)
    scale = scale if scale is not None else 3.0 / math.sqrt(C * k * k)  # logits of a few units
    w = torch.randn(2, 2 * C, k, k, generator=gen, dtype=torch.float64) * scale
    b = torch.randn(2, generator=gen, dtype=torch.float64) if bias else None
    cast = lambda t: None if t is None else t.to(dtype=dtype, device=device)  # noqa: E731
    return cast(fa), cast(fb), cast(w), cast(b)


def check_close(out, expected, dtype):
    rtol, atol = tol(dtype)
    torch.testing.assert_close(out, expected, rtol=rtol, atol=atol)


# (C, h', w', k): Liu's head on small maps, several bands of score rows, odd
# sizes, 1x1 and 3x3 kernels, a kernel as large as the map
GEOMETRIES = [(256, 12, 11, 8), (16, 80, 21, 8), (8, 37, 45, 3), (4, 9, 6, 1), (6, 7, 7, 7), (3, 70, 9, 5)]


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("geom", GEOMETRIES, ids=lambda g: "C{}h{}w{}k{}".format(*g))
def test_probabilities_match_reference(dev, dtype, geom, batch, bias):
    C, hf, wf, k = geom
    fa, fb, w, b = make(batch, C, hf, wf, k, dtype, dev, bias=bias)
    out = ops.score_map(fa, fb, w, b)
    assert out.shape == (batch, hf - k + 1, wf - k + 1) and out.dtype == dtype and out.device == fa.device
    check_close(out, ref.score_map(fa, fb, w, b), dtype)


@pytest.mark.parametrize("size", [(37, 40), (38, 41), (31, 31), (24, 30)], ids=str)
def test_focus_map_matches_reference(dev, dtype, size):
    """Liu's geometry: images H x W, features ceil(H/2) x ceil(W/2), 8x8 head, patch 16 stride 2."""
    H, W = size
    fa, fb, w, b = make(2, 32, math.ceil(H / 2), math.ceil(W / 2), 8, dtype, dev, seed=1)
    out = ops.score_map(fa, fb, w, b, size=(H, W))
    assert out.shape == (2, H, W)
    check_close(out, ref.score_map(fa, fb, w, b, size=(H, W)), dtype)
    check_close(out, ops.patch_mean(ops.score_map(fa, fb, w, b), (H, W)), dtype)


def test_other_patch_geometry(dev, dtype):
    fa, fb, w, b = make(1, 4, 20, 17, 3, dtype, dev, seed=2)
    out = ops.score_map(fa, fb, w, b, size=(21, 19), patch=5, stride=1)
    check_close(out, ref.score_map(fa, fb, w, b, size=(21, 19), patch=5, stride=1), dtype)


def test_non_contiguous_inputs(dev, dtype):
    fa, fb, w, b = make(2, 16, 40, 50, 8, dtype, dev, seed=3)
    expected = ref.score_map(fa, fb, w, b)
    cl = lambda t: t.contiguous(memory_format=torch.channels_last)  # noqa: E731
    check_close(ops.score_map(cl(fa), cl(fb), w, b), expected, dtype)
    check_close(ops.score_map(cl(fa), fb, cl(w), b), expected, dtype)
    # views: every other channel / a column window of bigger maps, transposed weight storage
    big_a = torch.zeros(2, 32, 40, 60, dtype=dtype, device=dev)
    big_a[:, ::2, :, 5:55] = fa
    wt = w.transpose(2, 3).contiguous().transpose(2, 3)
    check_close(ops.score_map(big_a[:, ::2, :, 5:55], fb, wt, b), expected, dtype)
    bias_view = torch.stack([b, b], 1)[:, 0]
    check_close(ops.score_map(fa, fb[:, :, :, :], w, bias_view), expected, dtype)


def test_extreme_logits_saturate_cleanly(dev):
    fa, fb, w, b = make(1, 4, 12, 12, 3, torch.float32, dev, scale=200.0)
    out = ops.score_map(fa, fb, w, b)
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    torch.testing.assert_close(out, ref.score_map(fa, fb, w, b), rtol=1e-4, atol=1e-5)


def test_thread_count_independent():
    fa, fb, w, b = make(2, 64, 90, 70, 8, torch.float32, "cpu", seed=4)
    old = torch.get_num_threads()
    outs = []
    try:
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            outs.append(ops.score_map(fa, fb, w, b, size=(180, 140)))
    finally:
        torch.set_num_threads(old)
    for other in outs[1:]:
        assert torch.equal(outs[0], other)


@pytest.mark.parametrize("size", [None, (12, 10)], ids=["probs", "focus"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_gradcheck(dev, size, bias):
    fa, fb, w, b = make(2, 2, 7, 6, 3, torch.float64, dev, seed=5, bias=bias)
    inputs = [t.requires_grad_() for t in (fa, fb, w, b) if t is not None]
    fn = lambda fa, fb, w, b=None: ops.score_map(fa, fb, w, b, size=size, patch=4, stride=2)  # noqa: E731
    assert torch.autograd.gradcheck(fn, tuple(inputs), fast_mode=True)


def test_gradient_matches_reference(dev, dtype):
    H, W = 41, 36
    fa, fb, w, b = make(2, 8, math.ceil(H / 2), math.ceil(W / 2), 8, dtype, dev, seed=6)
    inputs = [t.requires_grad_() for t in (fa, fb, w, b)]
    grad = torch.rand(2, H, W, dtype=dtype, device=dev)
    got = torch.autograd.grad(ops.score_map(*inputs, size=(H, W)), inputs, grad)
    want = torch.autograd.grad(ref.score_map(*inputs, size=(H, W)), inputs, grad)
    rtol, atol = (1e-3, 1e-5) if dtype == torch.float32 else (1e-9, 1e-11)
    for g, r in zip(got, want):
        torch.testing.assert_close(g, r, rtol=rtol, atol=atol)


def test_opcheck(dev):
    fa, fb, w, b = make(2, 3, 9, 8, 3, torch.float64, dev, seed=7)
    for t in (fa, fb, w, b):
        t.requires_grad_()
    torch.library.opcheck(torch.ops.mfif.score_map.default, (fa, fb, w, b, 0, 0, 16, 2))
    torch.library.opcheck(torch.ops.mfif.score_map.default, (fa, fb, w, None, 14, 13, 4, 2))


def test_bad_input_messages():
    fa, fb, w, b = make(1, 4, 10, 10, 3, torch.float32, "cpu")
    cases = [
        ((fa[0], fb, w, b), {}, ValueError, "fa must have shape"),
        ((fa, fb[:, :, :9], w, b), {}, ValueError, "same shape"),
        ((fa, fb, w[:, :4], b), {}, ValueError, r"weight must have shape \[2, 2C, k, k\] = \[2, 8"),
        ((fa, fb, w[:1], b), {}, ValueError, "weight must have shape"),
        ((fa[:, :, :2, :2], fb[:, :, :2, :2], w, b), {}, ValueError, "smaller than the 3x3 kernel"),
        ((fa, fb, w, b[:1]), {}, ValueError, r"bias must have shape \[2\]"),
        ((fa, fb.double(), w, b), {}, TypeError, "fb must have the dtype of fa"),
        ((fa.int(), fb, w, b), {}, TypeError, "fa must be float32 or float64"),
        ((fa, fb, w, b), {"size": (14, 16)}, ValueError, "outside the image"),
        ((fa, fb, w, b), {"size": (31, 16)}, ValueError, "cover only"),
        ((fa, fb, w, b), {"size": 16}, TypeError, "size must be None or a pair"),
        ((fa, fb, w, b), {"size": (16, 16), "patch": 1}, ValueError, "patch must be >= stride"),
        ((fa[:0], fb[:0], w, b), {}, ValueError, "fa is empty"),
    ]
    for args, kwargs, exc, match in cases:
        with pytest.raises(exc, match=match):
            ops.score_map(*args, **kwargs)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
@pytest.mark.parametrize("where", ["fa", "weight", "bias"])
def test_non_finite_inputs(bad, where):
    fa, fb, w, b = make(1, 4, 40, 10, 3, torch.float32, "cpu")
    {"fa": fa, "weight": w, "bias": b}[where].view(-1)[-1] = bad
    with pytest.raises(RuntimeError, match="contain NaN or Inf"):
        ops.score_map(fa, fb, w, b)


def test_direct_op_checks():
    """torch.ops.mfif.score_map called directly (no wrapper) still refuses bad input."""
    fa, fb, w, b = make(1, 4, 10, 10, 3, torch.float32, "cpu")
    with pytest.raises(RuntimeError, match="weight must have shape"):
        torch.ops.mfif.score_map(fa, fb, w[:, :4], b, 0, 0, 16, 2)
    with pytest.raises(RuntimeError, match="must have one dtype"):
        torch.ops.mfif.score_map(fa, fb, w.double(), b, 0, 0, 16, 2)
    with pytest.raises(RuntimeError, match="height = width = 0"):
        torch.ops.mfif.score_map(fa, fb, w, b, 16, 0, 16, 2)
    with pytest.raises(RuntimeError, match="cover only"):
        torch.ops.mfif.score_map(fa, fb, w, b, 40, 40, 4, 2)
    with pytest.raises(RuntimeError, match="fa must be float32 or float64"):
        torch.ops.mfif.score_map(fa.int(), fb.int(), w.int(), None, 0, 0, 16, 2)


# ----------------------------------------------- faults found by a hostile test ---
@pytest.mark.parametrize("where", ["fa", "fb", "weight", "bias"])
def test_raw_op_refuses_mixed_devices(where):
    """One meta tensor among CPU ones: a device error, not an uninitialised CPU tensor from the fake kernel."""
    args = dict(zip(("fa", "fb", "weight", "bias"), make(1, 4, 10, 10, 3, torch.float32, "cpu")))
    args[where] = args[where].to("meta")
    other = where if where != "fa" else "fb"
    with pytest.raises(RuntimeError, match=f"is on (meta|cpu) but {other} is on .*one device"):
        torch.ops.mfif.score_map(*args.values(), 0, 0, 16, 2)
    with pytest.raises(RuntimeError, match="one device"):
        torch.ops.mfif.score_map(*args.values(), 16, 16, 16, 2)
    with pytest.raises(RuntimeError, match="one device"):
        torch.ops.mfif._score_map_slope(*args.values())


def test_all_meta_gives_the_shape():
    fa, fb, w, b = (t.to("meta") for t in make(2, 4, 10, 9, 3, torch.float32, "cpu"))
    assert torch.ops.mfif.score_map(fa, fb, w, b, 0, 0, 16, 2).shape == (2, 8, 7)
    assert torch.ops.mfif.score_map(fa, fb, w, None, 20, 18, 6, 2).shape == (2, 20, 18)


@pytest.mark.parametrize("size", [None, (12, 10)], ids=["probs", "focus"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_gradgradcheck(dev, size, bias):
    fa, fb, w, b = make(1, 2, 7, 6, 3, torch.float64, dev, seed=8, bias=bias)
    inputs = [t.requires_grad_() for t in (fa, fb, w, b) if t is not None]
    fn = lambda fa, fb, w, b=None: ops.score_map(fa, fb, w, b, size=size, patch=4, stride=2)  # noqa: E731
    assert torch.autograd.gradgradcheck(fn, tuple(inputs), fast_mode=True)


def test_gradient_penalty_matches_reference(dev, dtype):
    """A gradient penalty (create_graph=True) used to add 0: the gradient had no graph."""
    fa, fb, w, b = make(2, 4, 12, 11, 3, dtype, dev, seed=9)
    grads = []
    for fn in (ops.score_map, ref.score_map):
        inputs = [t.detach().clone().requires_grad_() for t in (fa, fb, w, b)]
        (g_fa,) = torch.autograd.grad(fn(*inputs, size=(20, 18), patch=6, stride=2).square().sum(), inputs[0],
                                      create_graph=True)
        assert g_fa.requires_grad
        penalty = g_fa.square().sum()
        grads.append(torch.autograd.grad(penalty, inputs[1:]))
    assert all(g.abs().max() > 0 for g in grads[0])
    rtol, atol = (1e-3, 1e-6) if dtype == torch.float32 else (1e-9, 1e-12)
    for got, want in zip(*grads):
        torch.testing.assert_close(got, want, rtol=rtol, atol=atol)


def test_gradient_exact_where_the_softmax_saturates(dev):
    """float32 gradients against float64 where p = 1 - 1e-8 .. 1 - 1e-3: 1 - p from a rounded p (the
    op before, and torch's softmax backward for l0) lost every digit; p (1 - p) from the logit
    difference keeps them."""
    fa = torch.linspace(0, 1, 400, device=dev).reshape(1, 1, 20, 20)
    fb = torch.rand(1, 1, 20, 20, generator=torch.Generator().manual_seed(1)).to(dev)
    w = torch.zeros(2, 2, 1, 1, device=dev)
    w[0, 0, 0, 0], w[0, 1, 0, 0], w[1, 1, 0, 0] = 11.0, 3.0, -3.0  # d = 7 + 11 fa + 6 fb - ...
    b = torch.tensor([7.0, 0.0], device=dev)
    grad = torch.rand(1, 20, 20, generator=torch.Generator().manual_seed(2)).to(dev)

    def grads(dtype):
        inputs = [t.to(dtype).requires_grad_() for t in (fa, fb, w, b)]
        return torch.autograd.grad(ops.score_map(*inputs), inputs, grad.to(dtype))  # (no TF32: see dev)

    exact = grads(torch.float64)
    for got, want in zip(grads(torch.float32), exact):
        torch.testing.assert_close(got.double(), want, rtol=2e-5, atol=0)
    # the probability map itself also stays exact there (relative to 1 - p)
    p32 = ops.score_map(fa, fb, w, b).double()
    p64 = ops.score_map(*(t.double() for t in (fa, fb, w, b)))
    assert ((p32 - p64).abs() <= 1e-7).all()


def test_slope_op_matches_the_softmax_slope(dev, dtype):
    fa, fb, w, b = make(2, 5, 13, 12, 3, dtype, dev, seed=10, scale=1.0)
    p = ref.score_map(*(t.double() for t in (fa, fb, w, b)))
    check_close(torch.ops.mfif._score_map_slope(fa, fb, w, b), (p * (1 - p)).to(dtype), dtype)
    check_close(torch.ops.mfif._score_map_slope(fa, fb, w, None),
                (lambda q: q * (1 - q))(ref.score_map(*(t.double() for t in (fa, fb, w)))).to(dtype), dtype)


def test_slope_op_checks(dev):
    fa, fb, w, b = make(1, 4, 10, 10, 3, torch.float32, dev)
    torch.library.opcheck(torch.ops.mfif._score_map_slope.default, (fa.double(), fb.double(), w.double(), b.double()))
    with pytest.raises(RuntimeError, match="weight must have shape"):
        torch.ops.mfif._score_map_slope(fa, fb, w[:, :4], b)
