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
from mfif import ops, pipeline

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
    runs = [
        lambda: ops.box_filter(x, 8),
        lambda: ops.guided_filter(x, g, 8, 1e-3),
        lambda: ops.guided_filter(g, x, 8, 1e-3),
        lambda: ops.patch_mean(logits, (123, 309)),
        lambda: ops.nps_loss(x, g.expand_as(x), reduction="none"),
        lambda: torch.ops.mfif._nps_loss_backward(torch.ones(2, device=CUDA), x, g.expand_as(x).contiguous(), 6.0),
        lambda: ops.connected_components(mask, 8),
        lambda: ops.remove_small_regions(mask, 50, 8),
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
    ]
    for call in calls:
        expected = call()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            out = call()
        graph.replay()
        torch.cuda.synchronize()
        assert torch.equal(out, expected)


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
