"""The CUDA kernels against the CPU kernels (CCL bit for bit), determinism,
streams, CUDA-graph capture of the Liu post-processing chain, non-finite input.

The op test files also run their reference tests on CUDA (the ``device``
fixture of conftest.py); this file adds the CPU-vs-CUDA comparisons.
Everything here needs a GPU and a CUDA build of mfif; a GPU machine testing a
CPU-only build fails tests/test_build.py::test_gpu_machine_tests_a_cuda_build.
"""
import math

import pytest
import torch
import torch.nn.functional as F

import mfif
from mfif import ops, pipeline, reference as ref

pytestmark = pytest.mark.skipif(
    not (torch.cuda.is_available() and mfif.cuda_kernels_available()), reason="needs a GPU and a CUDA build of mfif"
)

CUDA = torch.device("cuda")


def gen(seed):
    return torch.Generator().manual_seed(seed)


def close(cuda_out, cpu_out, dtype, rtol32=1e-5, atol32=1e-5):
    """CUDA and CPU kernels add in different orders (both in double): close, not equal."""
    rtol, atol = (rtol32, atol32) if dtype == torch.float32 else (1e-11, 1e-11)
    torch.testing.assert_close(cuda_out.cpu(), cpu_out, rtol=rtol, atol=atol)


def noisy_mask(shape, seed, salt=0.05):
    g = gen(seed)
    *batch, H, W = shape
    x = torch.rand((math.prod(batch), 1, H, W), generator=g)
    x = F.avg_pool2d(x, 7, stride=1, padding=3, count_include_pad=False)
    mask = (x > x.median()) ^ (torch.rand(x.shape, generator=g) < salt)
    return mask.reshape(shape)


# ------------------------------------------------------------------ filters ---
@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (2, 3, 31, 17), (1, 1, 5, 300), (1, 2, 257, 3), (3, 1, 64, 65)])
@pytest.mark.parametrize("radius", [0, 1, 8, 40, 1000])
@pytest.mark.parametrize("normalize", [True, False])
def test_box_filter_cuda_matches_cpu(shape, radius, normalize, dtype):
    x = torch.randn(shape, generator=gen(1), dtype=dtype)
    scale = 1.0 if normalize else (2 * radius + 1)
    close(ops.box_filter(x.to(CUDA), radius, normalize), ops.box_filter(x, radius, normalize), dtype,
          atol32=1e-5 * scale)
    g = torch.randn(shape, generator=gen(2), dtype=dtype)
    close(torch.ops.mfif._box_filter_backward(g.to(CUDA), radius, normalize),
          torch.ops.mfif._box_filter_backward(g, radius, normalize), dtype, atol32=1e-5 * scale)


@pytest.mark.parametrize("guide_channels", [1, 3])
@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (2, 1, 41, 30), (1, 3, 19, 70), (2, 2, 64, 64)])
@pytest.mark.parametrize("radius", [0, 1, 8, 35])
@pytest.mark.parametrize("eps", [1e-6, 0.1])
def test_guided_filter_cuda_matches_cpu(guide_channels, shape, radius, eps, dtype):
    g = torch.rand((shape[0], guide_channels) + shape[2:], generator=gen(3), dtype=dtype)
    p = torch.rand(shape, generator=gen(4), dtype=dtype)
    atol32 = 2e-3 if eps < 1e-3 else 2e-5  # a = cov/(var+eps) amplifies rounding of the float32 a and b
    close(ops.guided_filter(g.to(CUDA), p.to(CUDA), radius, eps), ops.guided_filter(g, p, radius, eps), dtype,
          rtol32=0, atol32=atol32)


@pytest.mark.parametrize("guide_channels", [1, 3])
def test_guided_filter_cuda_gradient_matches_cpu(guide_channels):
    g = torch.rand(2, guide_channels, 23, 19, generator=gen(5), dtype=torch.float64)
    p = torch.rand(2, 2, 23, 19, generator=gen(6), dtype=torch.float64)
    w = torch.rand(2, 2, 23, 19, generator=gen(7), dtype=torch.float64)
    grads = []
    for device in ("cpu", CUDA):
        gi, pi = g.to(device).requires_grad_(), p.to(device).requires_grad_()
        (ops.guided_filter(gi, pi, 3, 0.05) * w.to(device)).sum().backward()
        grads.append((gi.grad.cpu(), pi.grad.cpu()))
    for cuda_grad, cpu_grad in zip(grads[1], grads[0]):
        torch.testing.assert_close(cuda_grad, cpu_grad, rtol=1e-9, atol=1e-10)


# --------------------------------------------------------------- patch_mean ---
@pytest.mark.parametrize("geom", [(520, 520, 16, 2), (61, 47, 16, 2), (30, 33, 7, 3), (9, 64, 1, 1), (40, 41, 40, 5)])
@pytest.mark.parametrize("kind", ["probs", "logits"])
def test_patch_mean_cuda_matches_cpu(geom, kind, dtype):
    H, W, patch, stride = geom
    h, w = math.ceil(max(H - patch, 0) / stride) + 1, math.ceil(max(W - patch, 0) / stride) + 1
    shape = (2, h, w) if kind == "probs" else (2, 2, h, w)
    scores = (torch.rand(shape, generator=gen(8)) if kind == "probs" else torch.randn(shape, generator=gen(8)) * 4)
    scores = scores.to(dtype)
    close(ops.patch_mean(scores.to(CUDA), (H, W), patch, stride), ops.patch_mean(scores, (H, W), patch, stride),
          dtype)
    grad = torch.randn(2, H, W, generator=gen(9), dtype=dtype)
    close(torch.ops.mfif._patch_mean_backward(grad.to(CUDA), scores.to(CUDA), patch, stride),
          torch.ops.mfif._patch_mean_backward(grad, scores, patch, stride), dtype, atol32=1e-4)


# ---------------------------------------------------------------- score_map ---
def head_inputs(B, C, hf, wf, k, dtype, seed, channels_last=False, scale=3.0):
    g = gen(seed)
    fa, fb = torch.rand(B, C, hf, wf, generator=g, dtype=dtype), torch.rand(B, C, hf, wf, generator=g, dtype=dtype)
    w = torch.randn(2, 2 * C, k, k, generator=g, dtype=dtype) * (scale / math.sqrt(C * k * k))
    b = torch.randn(2, generator=g, dtype=dtype)
    if channels_last:
        fa, fb = (t.contiguous(memory_format=torch.channels_last) for t in (fa, fb))
    return fa, fb, w, b


# (B, C, h', w', k): Liu's head (C=256, k=8), odd sizes, k=1, a map of one kernel, and a map whose partial
# scores need several bands of the CUDA kernel (600 x 1000 x 64 offsets > 2^25 values)
HEADS = [(1, 256, 40, 37, 8), (2, 16, 33, 70, 8), (3, 5, 9, 12, 1), (1, 4, 7, 7, 7), (1, 2, 600, 1000, 8)]


@pytest.mark.parametrize("head", HEADS, ids=lambda g: "B{}C{}h{}w{}k{}".format(*g))
@pytest.mark.parametrize("layout", ["nchw", "channels_last"])
def test_score_map_cuda_matches_cpu(head, layout, dtype):
    fa, fb, w, b = head_inputs(*head, dtype, seed=30, channels_last=layout == "channels_last")
    cuda_in = [t.to(CUDA) for t in (fa, fb, w, b)]
    # GEMMs of up to 2C k^2 products in another order (cuBLAS, no TF32 for at::mm by default)
    close(ops.score_map(*cuda_in), ops.score_map(fa, fb, w, b), dtype, rtol32=1e-4, atol32=1e-5)
    close(torch.ops.mfif._score_map_slope(*cuda_in), torch.ops.mfif._score_map_slope(fa, fb, w, b), dtype,
          rtol32=1e-4, atol32=1e-5)
    close(ops.score_map(*cuda_in[:3]), ops.score_map(fa, fb, w), dtype, rtol32=1e-4, atol32=1e-5)
    H, W = 2 * head[2], 2 * head[3] - 1  # images whose features are h' x w' (Liu: ceil(H/2)), patch 16, stride 2
    if head[4] == 8:
        close(ops.score_map(*cuda_in, size=(H, W)), ops.score_map(fa, fb, w, b, size=(H, W)), dtype,
              rtol32=1e-4, atol32=1e-5)
        if dtype == torch.float64:
            exact = ref.score_map(fa, fb, w, b, size=(H, W))
            torch.testing.assert_close(ops.score_map(*cuda_in, size=(H, W)).cpu(), exact, rtol=1e-10, atol=1e-12)


def test_score_map_cuda_gradient_matches_cpu_and_reference():
    fa, fb, w, b = head_inputs(2, 6, 21, 18, 8, torch.float64, seed=31)
    grad = torch.rand(2, 41, 35, generator=gen(32), dtype=torch.float64)
    grads = {}
    for name, fn, device in (("cpu", ops.score_map, "cpu"), ("cuda", ops.score_map, CUDA),
                             ("reference", ref.score_map, "cpu")):
        inputs = [t.to(device).requires_grad_() for t in (fa, fb, w, b)]
        grads[name] = [g.cpu() for g in torch.autograd.grad(fn(*inputs, size=(41, 35)), inputs, grad.to(device))]
    for got, cpu, want in zip(grads["cuda"], grads["cpu"], grads["reference"]):
        torch.testing.assert_close(got, cpu, rtol=1e-9, atol=1e-12)
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-12)


def test_score_map_cuda_gradcheck_and_gradgradcheck():
    fa, fb, w, b = (t.to(CUDA).requires_grad_() for t in head_inputs(1, 2, 7, 6, 3, torch.float64, seed=33))
    for size in (None, (12, 10)):
        fn = lambda fa, fb, w, b: ops.score_map(fa, fb, w, b, size=size, patch=4, stride=2)  # noqa: E731
        assert torch.autograd.gradcheck(fn, (fa, fb, w, b))
        assert torch.autograd.gradgradcheck(fn, (fa, fb, w, b), fast_mode=True)


def test_score_map_cuda_non_finite_gives_nan():
    fa, fb, w, b = (t.to(CUDA) for t in head_inputs(1, 3, 12, 12, 3, torch.float32, seed=34))
    fa[0, 1, 5, 5] = float("inf")
    out = ops.score_map(fa, fb, w, b)
    assert torch.isnan(out[0, 3:6, 3:6]).all() and torch.isfinite(out).sum() == out.numel() - 9
    bad_bias = torch.tensor([float("nan"), 0.0], device=CUDA)
    assert torch.isnan(ops.score_map(fa.nan_to_num(0.0), fb, w, bad_bias)).all()


def test_score_map_cuda_refuses_mixed_devices():
    fa, fb, w, b = head_inputs(1, 2, 9, 9, 3, torch.float32, seed=35)
    for where in range(4):
        args = [t.to(CUDA) for t in (fa, fb, w, b)]
        args[where] = args[where].cpu()
        with pytest.raises(RuntimeError, match="one device"):
            torch.ops.mfif.score_map(*args, 0, 0, 16, 2)
        with pytest.raises(RuntimeError, match="one device"):
            torch.ops.mfif._score_map_slope(*args)


def test_liu2017_uses_the_cuda_score_map(monkeypatch):
    """dense_scores on CUDA takes the fused op, not the pure-PyTorch fallback (reference.score_map)."""
    from mfif import reference
    from mfif.methods.liu2017 import METHOD

    def no_fallback(*args, **kwargs):
        raise AssertionError("liu2017 fell back to reference.score_map on CUDA")

    monkeypatch.setattr(reference, "score_map", no_fallback)
    a, b = torch.rand(1, 1, 64, 80, generator=gen(36)), torch.rand(1, 1, 64, 80, generator=gen(37))
    cpu = METHOD.scores(a, b)
    cuda = METHOD.scores(a.to(CUDA), b.to(CUDA))
    assert cuda.device.type == "cuda"
    # the branch's convolutions differ (cuDNN, TF32 by default): close, not equal
    diff = (cuda.cpu() - cpu).abs()
    assert diff.max() < 1e-2 and diff.mean() < 1e-3


# ----------------------------------------------------------------- nps_loss ---
@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (2, 3, 70, 90), (1, 2, 300, 257), (4, 1, 5, 9)])
@pytest.mark.parametrize("alpha", [0.5, 6.0, 1e4])
def test_nps_loss_cuda_matches_cpu(shape, alpha, dtype):
    pred = torch.rand(shape, generator=gen(10), dtype=dtype)
    target = torch.rand(shape, generator=gen(11), dtype=dtype)
    close(ops.nps_loss(pred.to(CUDA), target.to(CUDA), alpha, "none"), ops.nps_loss(pred, target, alpha, "none"),
          dtype)
    grad = torch.rand(shape[0], generator=gen(12), dtype=dtype)
    close(torch.ops.mfif._nps_loss_backward(grad.to(CUDA), pred.to(CUDA), target.to(CUDA), alpha),
          torch.ops.mfif._nps_loss_backward(grad, pred, target, alpha), dtype)


def test_nps_loss_cuda_ties_go_to_the_first_extreme():
    pred = torch.full((1, 1, 300, 300), 0.5, dtype=torch.float64)
    target = pred.clone()
    for y, x in [(290, 3), (5, 299), (150, 150)]:  # min three times; the first in memory order is (5, 299)
        pred[0, 0, y, x] = 0.1
    target[0, 0, 0, 0] = 0.3
    grad = torch.ones(1, dtype=torch.float64)
    cuda = torch.ops.mfif._nps_loss_backward(grad.to(CUDA), pred.to(CUDA), target.to(CUDA), 6.0).cpu()
    cpu = torch.ops.mfif._nps_loss_backward(grad, pred, target, 6.0)
    torch.testing.assert_close(cuda, cpu, rtol=1e-11, atol=1e-12)
    assert cuda[0, 0, 5, 299] < -0.5 and cuda[0, 0, 290, 3] > -0.5  # the whole -1 went to (5, 299)


# ---------------------------------------------------------------------- CCL ---
CCL_SHAPES = [(1, 1), (1, 300), (300, 1), (2, 2), (37, 53), (3, 31, 29), (1000, 1000), (4, 300, 517), (2, 1, 1)]


@pytest.mark.parametrize("shape", CCL_SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("connectivity", [4, 8])
def test_ccl_cuda_is_bit_identical_to_cpu(shape, connectivity):
    masks = [noisy_mask(shape, 13), torch.rand(shape, generator=gen(14)) < 0.5,
             torch.rand(shape, generator=gen(15)) < 0.9, torch.zeros(shape, dtype=torch.bool),
             torch.ones(shape, dtype=torch.bool)]
    for mask in masks:
        cuda = ops.connected_components(mask.to(CUDA), connectivity)
        assert cuda.dtype == torch.int32 and cuda.device.type == "cuda"
        assert torch.equal(cuda.cpu(), ops.connected_components(mask, connectivity))
        for min_area in (2, 5, 40, 10**9):
            rsr = ops.remove_small_regions(mask.to(CUDA), min_area, connectivity)
            assert torch.equal(rsr.cpu(), ops.remove_small_regions(mask, min_area, connectivity)), min_area


def test_ccl_cuda_long_regions():
    """A spiral-like snake (one region that crosses every row) and full rows."""
    snake = torch.zeros(501, 333, dtype=torch.bool)
    snake[::2] = True
    snake[1::4, -1] = True
    snake[3::4, 0] = True
    for connectivity in (4, 8):
        cuda = ops.connected_components(snake.to(CUDA), connectivity).cpu()
        assert torch.equal(cuda, ops.connected_components(snake, connectivity))
        assert cuda.max() == 1
        assert torch.equal(ops.remove_small_regions(snake.to(CUDA), 1000, connectivity).cpu(),
                           ops.remove_small_regions(snake, 1000, connectivity))


# ------------------------------------------------------------- determinism ---
def test_cuda_ops_are_deterministic():
    x = torch.rand(2, 3, 123, 301, device=CUDA)
    g = torch.rand(2, 1, 123, 301, device=CUDA)
    logits = torch.randn(2, 2, 55, 148, device=CUDA)
    mask = noisy_mask((2, 400, 300), 16).to(CUDA)
    feats = torch.rand(2, 64, 49, 63, device=CUDA)
    head_w, head_b = torch.randn(2, 128, 8, 8, device=CUDA) * 0.02, torch.randn(2, device=CUDA)
    runs = [
        lambda: ops.box_filter(x, 8),
        lambda: ops.guided_filter(x, g, 8, 1e-3),
        lambda: ops.guided_filter(g, x, 8, 1e-3),
        lambda: ops.patch_mean(logits, (123, 309)),
        lambda: ops.nps_loss(x, g.expand_as(x), reduction="none"),
        lambda: torch.ops.mfif._nps_loss_backward(torch.ones(2, device=CUDA), x, g.expand_as(x).contiguous(), 6.0),
        lambda: ops.connected_components(mask, 8),
        lambda: ops.remove_small_regions(mask, 50, 8),
        lambda: ops.score_map(feats, feats.flip(2), head_w, head_b, size=(97, 125)),
    ]
    for run in runs:
        first = run()
        for _ in range(3):
            assert torch.equal(run(), first)


# ------------------------------------------------------ non-finite input ---
def test_cuda_non_finite_input_gives_non_finite_output():
    """No host check on CUDA (it would need a sync): NaN/Inf show in the result instead."""
    x = torch.rand(1, 1, 40, 30, device=CUDA)
    x[0, 0, 20, 10] = float("nan")
    assert torch.isnan(ops.box_filter(x, 3)[0, 0, 20, 10])
    assert torch.isnan(ops.guided_filter(torch.rand_like(x), x, 3, 0.1)[0, 0, 20, 10])
    logits = torch.randn(1, 2, 13, 13, device=CUDA)
    logits[0, 1, 6, 6] = float("inf")
    assert torch.isnan(ops.patch_mean(logits, (40, 40))).any()
    pred = torch.rand(1, 1, 8, 8, device=CUDA)
    pred[0, 0, 3, 3] = float("inf")
    assert not torch.isfinite(ops.nps_loss(pred, torch.rand_like(pred)))


# ------------------------------------------------- streams, devices, graphs ---
def test_cuda_ops_run_on_the_current_stream():
    x = torch.rand(1, 3, 200, 300, device=CUDA)
    mask = noisy_mask((200, 300), 17).to(CUDA)
    expected = (ops.box_filter(x, 5), ops.connected_components(mask, 8))
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        got = (ops.box_filter(x, 5), ops.connected_components(mask, 8))
    torch.cuda.current_stream().wait_stream(side)
    assert all(torch.equal(a, b) for a, b in zip(got, expected))


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two GPUs")
def test_cuda_ops_on_the_second_gpu():
    x = torch.rand(1, 1, 50, 60)
    torch.testing.assert_close(ops.box_filter(x.to("cuda:1"), 4).cpu(), ops.box_filter(x, 4))


def liu_inputs(B, H, W, seed):
    g = gen(seed)
    a, b = torch.rand(B, 3, H, W, generator=g), torch.rand(B, 3, H, W, generator=g)
    logits = torch.randn(B, 2, math.ceil(H / 2) - 7, math.ceil(W / 2) - 7, generator=g) * 3
    return logits, a, b


@pytest.mark.parametrize("size", [(64, 80), (520, 520)])
def test_liu_postprocess_cuda_matches_cpu(size):
    logits, a, b = (t.double() for t in liu_inputs(2, *size, seed=18))
    cpu = pipeline.liu_postprocess(logits, a, b)
    cuda = pipeline.liu_postprocess(logits.to(CUDA), a.to(CUDA), b.to(CUDA))
    assert torch.equal(cuda[1].cpu(), cpu[1])  # the decision maps
    for got, expected in ((cuda[0], cpu[0]), (cuda[2], cpu[2])):
        torch.testing.assert_close(got.cpu(), expected, rtol=1e-9, atol=1e-10)


def test_liu_postprocess_is_captured_in_a_cuda_graph():
    logits, a, b = (t.to(CUDA) for t in liu_inputs(2, 130, 150, seed=19))
    static = [t.clone() for t in (logits, a, b)]
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # warm up (allocator, lazy init) outside the capture
        pipeline.liu_postprocess(*static)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = pipeline.liu_postprocess(*static)
    for seed in (20, 21):
        new = [t.to(CUDA) for t in liu_inputs(2, 130, 150, seed=seed)]
        for s, n in zip(static, new):
            s.copy_(n)
        graph.replay()
        expected = pipeline.liu_postprocess(*new)
        assert torch.equal(out[1], expected[1])
        assert torch.equal(out[0], expected[0]) and torch.equal(out[2], expected[2])


def test_every_cuda_op_is_captured_in_a_cuda_graph():
    x = torch.rand(2, 1, 64, 70, device=CUDA, dtype=torch.float64)
    mask = noisy_mask((2, 64, 70), 22).to(CUDA)
    logits = torch.randn(2, 2, 25, 28, device=CUDA, dtype=torch.float64)
    grad = torch.ones(2, device=CUDA, dtype=torch.float64)
    fa = torch.rand(2, 8, 20, 18, device=CUDA, dtype=torch.float64)
    weight = torch.randn(2, 16, 8, 8, device=CUDA, dtype=torch.float64) * 0.05
    bias = torch.randn(2, device=CUDA, dtype=torch.float64)  # read on the device: no sync in the capture
    calls = [
        lambda: torch.ops.mfif.box_filter(x, 3, True),
        lambda: torch.ops.mfif._box_filter_backward(x, 3, True),
        lambda: torch.ops.mfif.guided_filter(x, x * 0.5, 3, 0.01),
        lambda: torch.ops.mfif.patch_mean(logits, 64, 70, 16, 2),
        lambda: torch.ops.mfif._patch_mean_backward(x[:, 0], logits, 16, 2),
        lambda: torch.ops.mfif.connected_components(mask, 8),
        lambda: torch.ops.mfif.remove_small_regions(mask, 20, 4),
        lambda: torch.ops.mfif.nps_loss(x, x * 0.5, 6.0),
        lambda: torch.ops.mfif._nps_loss_backward(grad, x, x * 0.5, 6.0),
        lambda: torch.ops.mfif.score_map(fa, fa * 0.5, weight, bias, 0, 0, 16, 2),
        lambda: torch.ops.mfif.score_map(fa, fa * 0.5, weight, bias, 40, 36, 16, 2),
        lambda: torch.ops.mfif._score_map_slope(fa, fa * 0.5, weight, None),
    ]
    for k, call in enumerate(calls):
        expected = call()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            out = call()
        graph.replay()
        torch.cuda.synchronize()
        if k < len(calls) - 3:
            assert torch.equal(out, expected)
        else:  # score_map's GEMM is cuBLAS's, which may pick another algorithm inside a capture
            torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("dtype_", [torch.float32, torch.float64], ids=["float32", "float64"])
def test_fused_liu_stage_matches_the_composed_ops(channels, dtype_):
    g = gen(23)
    a = torch.rand(2, channels, 97, 130, generator=g, dtype=dtype_).to(CUDA)
    b = torch.rand(2, channels, 97, 130, generator=g, dtype=dtype_).to(CUDA)
    decision = noisy_mask((2, 97, 130), 24).to(CUDA)
    fused, weights = torch.ops.mfif._liu_fusion(decision, a, b, 8, 0.1)
    d = decision[:, None].to(dtype_)
    w = ops.guided_filter(pipeline.to_grey(d * a + (1 - d) * b), d, 8, 0.1)
    atol = 1e-5 if dtype_ == torch.float32 else 1e-12
    torch.testing.assert_close(weights, w[:, 0], rtol=0, atol=atol)
    torch.testing.assert_close(fused, w * a + (1 - w) * b, rtol=0, atol=atol)
    # with gradients wanted, liu_postprocess takes the composed (differentiable) path
    logits = torch.randn(2, 2, 42, 58, generator=g, dtype=dtype_).to(CUDA)
    a.requires_grad_()
    out, _, _ = pipeline.liu_postprocess(logits, a, b)
    out.sum().backward()
    assert a.grad is not None and torch.isfinite(a.grad).all()
