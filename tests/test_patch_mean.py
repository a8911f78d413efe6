"""mfif.ops.patch_mean (focus map of Liu et al. 2017) against its references."""
import math

import numpy as np
import pytest
import torch

from mfif import ops, reference as ref

from conftest import tol


def liu(n):
    """Score rows of Liu et al.'s network (patch 16, stride 2) for n pixel rows."""
    return math.ceil(n / 2) - 7


def n_scores(full, patch, stride):
    """Smallest score count that covers `full` pixels."""
    return math.ceil(max(full - patch, 0) / stride) + 1


def loop_patch_mean(scores, size, patch, stride):
    """Literal per-score loop: add each score to its (cut) window, count, divide."""
    s = np.asarray(scores, dtype=np.float64)
    acc = np.zeros(size)
    cnt = np.zeros(size)
    for i in range(s.shape[0]):
        for j in range(s.shape[1]):
            acc[i * stride:i * stride + patch, j * stride:j * stride + patch] += s[i, j]
            cnt[i * stride:i * stride + patch, j * stride:j * stride + patch] += 1
    return acc / cnt


def has_kernel(device):
    return device.type == "cpu" or torch._C._dispatch_has_kernel_for_dispatch_key("mfif::patch_mean", "CUDA")


@pytest.fixture
def dev(device):
    """The device, after checking the clear error where patch_mean has no kernel for it."""
    if not has_kernel(device):
        with pytest.raises(RuntimeError, match="scores is on cuda.*no 'cuda' kernel"):
            ops.patch_mean(torch.rand(1, 2, 2, device=device), (4, 4), 2, 2)
        pytest.skip("patch_mean has no CUDA kernel in this build (the error was checked)")
    return device


def make_scores(kind, batch, h, w, dtype, device, seed=0):
    gen = torch.Generator().manual_seed(seed)
    if kind == "logits":
        x = torch.randn(batch, 2, h, w, generator=gen, dtype=torch.float64) * 3
    else:
        x = torch.rand(batch, h, w, generator=gen, dtype=torch.float64)
    return x.to(dtype=dtype, device=device)


def check_close(out, expected, dtype):
    rtol, atol = tol(dtype)
    torch.testing.assert_close(out, expected.to(out.dtype), rtol=rtol, atol=atol)


# (H, W, patch, stride): Liu's geometry, odd sizes, stride not dividing patch,
# stride 1, patch == stride, long windows (running-sum paths), tiny images
GEOMETRIES = [
    (31, 37, 16, 2),
    (33, 20, 16, 2),
    (20, 17, 5, 3),
    (9, 11, 3, 1),
    (12, 10, 4, 4),
    (45, 50, 36, 2),
    (40, 23, 22, 1),
    (1, 1, 1, 1),
    (2, 3, 2, 1),
    (7, 5, 7, 7),
]


@pytest.mark.parametrize("kind", ["probs", "logits"])
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("geom", GEOMETRIES, ids=lambda g: "H{}W{}p{}s{}".format(*g))
def test_matches_reference(dev, dtype, geom, batch, kind):
    H, W, patch, stride = geom
    h, w = n_scores(H, patch, stride), n_scores(W, patch, stride)
    scores = make_scores(kind, batch, h, w, dtype, dev)
    out = ops.patch_mean(scores, (H, W), patch, stride)
    assert out.shape == (batch, H, W) and out.dtype == dtype and out.device == scores.device
    check_close(out, ref.patch_mean(scores, (H, W), patch, stride), dtype)


@pytest.mark.parametrize("size", [(520, 520), (521, 519), (31, 47)], ids=str)
@pytest.mark.parametrize("kind", ["probs", "logits"])
def test_liu_sizes(dev, dtype, size, kind):
    H, W = size
    scores = make_scores(kind, 2, liu(H), liu(W), dtype, dev, seed=1)
    out = ops.patch_mean(scores, size)  # defaults: patch 16, stride 2
    check_close(out, ref.patch_mean(scores, size), dtype)


@pytest.mark.parametrize(
    "geom", GEOMETRIES + [(31, 33, 16, 2), (16, 17, 16, 2)], ids=lambda g: "H{}W{}p{}s{}".format(*g)
)
def test_matches_literal_loop(dev, geom):
    H, W, patch, stride = geom
    h, w = n_scores(H, patch, stride), n_scores(W, patch, stride)
    scores = make_scores("probs", 1, h, w, torch.float64, dev, seed=2)[0]
    out = ops.patch_mean(scores, (H, W), patch, stride)
    expected = loop_patch_mean(scores.cpu().numpy(), (H, W), patch, stride)
    np.testing.assert_allclose(out.cpu().numpy(), expected, rtol=1e-12, atol=1e-14)


def test_unbatched_and_softmax_channel(dev, dtype):
    H, W = 31, 29
    logits = make_scores("logits", 1, liu(H), liu(W), dtype, dev)
    probs = torch.softmax(logits, dim=1)[:, 0]
    out_logits = ops.patch_mean(logits, (H, W))
    out_unbatched = ops.patch_mean(probs[0], (H, W))
    assert out_unbatched.shape == (H, W)
    check_close(out_unbatched, out_logits[0], dtype)
    # channel 0 is "first source in focus": a large l0 - l1 gives probability ~1
    sure = torch.zeros(1, 2, liu(H), liu(W), dtype=dtype, device=dev)
    sure[:, 0] = 30.0
    assert torch.all(ops.patch_mean(sure, (H, W)) > 1 - 1e-6)
    assert torch.all(ops.patch_mean(sure.flip(1), (H, W)) < 1e-6)


def test_extreme_logits(dev, dtype):
    """Huge finite logits saturate to 0/1 without NaN (no overflow in the fused softmax)."""
    H, W = 40, 36
    logits = make_scores("logits", 2, liu(H), liu(W), dtype, dev) * 1e4
    out = ops.patch_mean(logits, (H, W))
    assert torch.isfinite(out).all()
    check_close(out, ref.patch_mean(logits, (H, W)), dtype)


def test_constant_scores(dev, dtype):
    out = ops.patch_mean(torch.full((2, liu(57), liu(38)), 0.25, dtype=dtype, device=dev), (57, 38))
    check_close(out, torch.full_like(out, 0.25), dtype)


@pytest.mark.parametrize("kind", ["probs", "logits"])
def test_non_contiguous(dev, dtype, kind):
    H, W = 41, 35
    h, w = liu(H), liu(W)
    if kind == "probs":
        base = make_scores("probs", 2, w, h, dtype, dev)
        scores = base.transpose(1, 2)  # [2, h, w], not contiguous
    else:
        base = make_scores("logits", 2, h, 2 * w, dtype, dev)
        scores = base[..., ::2]  # every other column
    assert not scores.is_contiguous()
    out = ops.patch_mean(scores, (H, W))
    check_close(out, ops.patch_mean(scores.contiguous(), (H, W)), dtype)
    check_close(out, ref.patch_mean(scores, (H, W)), dtype)


def test_thread_count_independent():
    H, W = 301, 255
    logits = make_scores("logits", 3, liu(H), liu(W), torch.float32, "cpu").requires_grad_()
    probs = make_scores("probs", 2, n_scores(H, 30, 1), n_scores(W, 30, 1), torch.float32, "cpu")
    grad = torch.rand(3, H, W, generator=torch.Generator().manual_seed(5))
    old = torch.get_num_threads()
    results = []
    try:
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            out = ops.patch_mean(logits, (H, W))
            (g,) = torch.autograd.grad(out, logits, grad)
            results.append((out, g, ops.patch_mean(probs, (H, W), 30, 1)))
    finally:
        torch.set_num_threads(old)
    for other in results[1:]:
        for a, b in zip(results[0], other):
            assert torch.equal(a, b)


@pytest.mark.parametrize(
    "geom", [(13, 15, 5, 2), (12, 14, 4, 2), (9, 8, 3, 1), (40, 21, 38, 1), (29, 31, 16, 2)],
    ids=lambda g: "H{}W{}p{}s{}".format(*g),
)
@pytest.mark.parametrize("kind", ["probs", "logits"])
def test_gradcheck(dev, geom, kind):
    H, W, patch, stride = geom
    scores = make_scores(kind, 2, n_scores(H, patch, stride), n_scores(W, patch, stride), torch.float64, dev)
    scores.requires_grad_()
    assert torch.autograd.gradcheck(lambda s: ops.patch_mean(s, (H, W), patch, stride), (scores,))


@pytest.mark.parametrize(
    "geom", [(37, 44, 16, 2), (150, 23, 16, 2), (100, 40, 34, 1), (90, 31, 7, 3)],
    ids=lambda g: "H{}W{}p{}s{}".format(*g),
)
def test_gradient_matches_reference(dev, dtype, geom):
    """Also several bands of score rows in the backward, with short and long windows."""
    H, W, patch, stride = geom
    h, w = n_scores(H, patch, stride), n_scores(W, patch, stride)
    logits = make_scores("logits", 2, h, w, dtype, dev).requires_grad_()
    grad = torch.rand(2, H, W, dtype=dtype, device=dev)
    (g,) = torch.autograd.grad(ops.patch_mean(logits, (H, W), patch, stride), logits, grad)
    (g_ref,) = torch.autograd.grad(ref.patch_mean(logits, (H, W), patch, stride), logits, grad)
    check_close(g, g_ref, dtype)


@pytest.mark.parametrize("kind", ["probs", "logits"])
def test_opcheck(dev, kind):
    scores = make_scores(kind, 2, n_scores(13, 5, 2), n_scores(12, 5, 2), torch.float64, dev).requires_grad_()
    torch.library.opcheck(torch.ops.mfif.patch_mean.default, (scores, 13, 12, 5, 2))
    grad = torch.rand(2, 13, 12, dtype=torch.float64, device=dev)
    torch.library.opcheck(torch.ops.mfif._patch_mean_backward.default, (grad, scores.detach(), 5, 2))


# ---- bad input -------------------------------------------------------------------

def test_bad_scores():
    good = torch.rand(1, 12, 12)
    with pytest.raises(TypeError, match="scores must be a torch.Tensor"):
        ops.patch_mean(good.numpy(), (30, 30))
    with pytest.raises(TypeError, match="scores must be float32, float64, float16 or bfloat16"):
        ops.patch_mean(good.to(torch.float8_e4m3fn), (30, 30))
    with pytest.raises(TypeError, match="scores must be float32, float64, float16 or bfloat16"):
        ops.patch_mean((good * 10).int(), (30, 30))
    with pytest.raises(ValueError, match=r"scores must have shape .*got \(12,\)"):
        ops.patch_mean(good[0, 0], (30, 30))
    with pytest.raises(ValueError, match="scores must have shape"):
        ops.patch_mean(good[None, None], (30, 30))
    with pytest.raises(ValueError, match=r"two-channel logits \[B, 2, h, w\], got \(1, 3, 12, 12\)"):
        ops.patch_mean(torch.rand(1, 3, 12, 12), (30, 30))
    with pytest.raises(ValueError, match="scores is empty"):
        ops.patch_mean(torch.rand(0, 12, 12), (30, 30))
    with pytest.raises(ValueError, match="scores is empty"):
        ops.patch_mean(torch.rand(1, 0, 12), (30, 30))


def test_bad_size_and_geometry():
    scores = torch.rand(1, 8, 9)  # Liu: H in {29, 30}, W in {31, 32}
    ops.patch_mean(scores, (29, 31))
    ops.patch_mean(scores, (30, 32))
    with pytest.raises(ValueError, match="cover only 30 pixels, but size gives H=31"):
        ops.patch_mean(scores, (31, 32))
    with pytest.raises(ValueError, match="cover only 32 pixels, but size gives W=33"):
        ops.patch_mean(scores, (30, 33))
    with pytest.raises(ValueError, match="scores has 8 rows but size gives H=14.*outside the image"):
        ops.patch_mean(scores, (14, 32))
    with pytest.raises(ValueError, match="scores has 9 columns but size gives W=16"):
        ops.patch_mean(scores, (30, 16))
    with pytest.raises(TypeError, match="size must be a pair"):
        ops.patch_mean(scores, 30)
    with pytest.raises(TypeError, match="size must be a pair"):
        ops.patch_mean(scores, (30, 32, 1))
    with pytest.raises(TypeError, match=r"size\[0\] \(H\) must be an int"):
        ops.patch_mean(scores, (30.0, 32))
    with pytest.raises(ValueError, match=r"size\[1\] \(W\) must be >= 1"):
        ops.patch_mean(scores, (30, 0))
    with pytest.raises(ValueError, match=r"patch must be >= stride \(4\), got 3"):
        ops.patch_mean(scores, (30, 32), patch=3, stride=4)
    with pytest.raises(ValueError, match="stride must be >= 1"):
        ops.patch_mean(scores, (30, 32), patch=3, stride=0)
    with pytest.raises(TypeError, match="patch must be an int"):
        ops.patch_mean(scores, (30, 32), patch=16.0)


@pytest.mark.parametrize("geom", [(60, 41, 16, 2), (45, 50, 36, 2), (20, 17, 5, 3)], ids=str)
@pytest.mark.parametrize("kind", ["probs", "logits"])
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_scores(kind, bad, geom):
    H, W, patch, stride = geom
    h, w = n_scores(H, patch, stride), n_scores(W, patch, stride)
    for pos in [(0, 0), (h - 1, w - 1), (h // 2, w // 3)]:
        scores = make_scores(kind, 2, h, w, torch.float32, "cpu")
        index = (1, 1) + pos if kind == "logits" else (1,) + pos
        scores[index] = bad
        with pytest.raises(RuntimeError, match="scores contains NaN or Inf"):
            ops.patch_mean(scores, (H, W), patch, stride)


def test_direct_op_checks():
    """torch.ops.mfif.* called directly (no wrapper) still refuses bad input."""
    with pytest.raises(RuntimeError, match="scores must have shape"):
        torch.ops.mfif.patch_mean(torch.rand(1, 3, 4, 4), 8, 8, 2, 2)
    with pytest.raises(RuntimeError, match="cover only"):
        torch.ops.mfif.patch_mean(torch.rand(1, 4, 4), 9, 8, 2, 2)
    with pytest.raises(RuntimeError, match="outside height"):
        torch.ops.mfif.patch_mean(torch.rand(1, 4, 4), 6, 8, 2, 2)
    with pytest.raises(RuntimeError, match="patch >= stride >= 1"):
        torch.ops.mfif.patch_mean(torch.rand(1, 4, 4), 8, 8, 1, 2)
    with pytest.raises(RuntimeError, match="scores must be float32, float64, float16 or bfloat16"):
        torch.ops.mfif.patch_mean(torch.ones(1, 4, 4, dtype=torch.int32), 8, 8, 2, 2)
    with pytest.raises(RuntimeError, match="grad has batch 2 but scores has 1"):
        torch.ops.mfif._patch_mean_backward(torch.rand(2, 8, 8), torch.rand(1, 4, 4), 2, 2)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_without_kernel_is_refused():
    scores = torch.rand(1, 4, 4, device="cuda")
    if has_kernel(scores.device):
        pytest.skip("this build has a CUDA kernel for patch_mean")
    with pytest.raises(RuntimeError, match="scores is on cuda"):
        ops.patch_mean(scores, (8, 8), 2, 2)
