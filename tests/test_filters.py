"""box_filter and guided_filter: reference, OpenCV, gradients, opcheck, bad input."""
import cv2
import numpy as np
import pytest
import torch

import mfif
from mfif import ops, reference as ref

from conftest import tol

SHAPES = [(1, 1, 1, 1), (1, 1, 7, 9), (2, 3, 31, 17), (1, 2, 5, 40), (3, 1, 64, 33)]
RADII = [0, 1, 3, 8, 50]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("radius", RADII)
@pytest.mark.parametrize("normalize", [True, False])
def test_box_filter_matches_reference(shape, radius, normalize, device, dtype):
    x = torch.randn(shape, dtype=dtype, device=device)
    rtol, atol = tol(dtype)
    scale = 1.0 if normalize else (2 * radius + 1) ** 2
    torch.testing.assert_close(
        ops.box_filter(x, radius, normalize), ref.box_filter(x, radius, normalize), rtol=rtol, atol=atol * scale
    )


def test_box_filter_any_leading_dims_and_noncontiguous(device, dtype):
    x = torch.randn(2, 3, 4, 21, 19, dtype=dtype, device=device)
    torch.testing.assert_close(ops.box_filter(x, 2), ref.box_filter(x, 2), rtol=tol(dtype)[0], atol=tol(dtype)[1])
    xt = torch.randn(2, 3, 19, 21, dtype=dtype, device=device).transpose(-1, -2)  # non-contiguous
    assert not xt.is_contiguous()
    torch.testing.assert_close(ops.box_filter(xt, 3), ref.box_filter(xt.contiguous(), 3), rtol=tol(dtype)[0], atol=tol(dtype)[1])
    x2d = torch.randn(13, 11, dtype=dtype, device=device)
    torch.testing.assert_close(ops.box_filter(x2d, 4), ref.box_filter(x2d, 4), rtol=tol(dtype)[0], atol=tol(dtype)[1])


@pytest.mark.parametrize("radius", [1, 5, 8])
def test_box_filter_matches_opencv_inside(radius):
    # OpenCV's border rules differ from He's; away from the border they agree.
    x = np.random.default_rng(0).random((90, 120), dtype=np.float32)
    ours = ops.box_filter(torch.from_numpy(x), radius).numpy()
    theirs = cv2.boxFilter(x, -1, (2 * radius + 1, 2 * radius + 1), normalize=True)
    r = radius
    np.testing.assert_allclose(ours[r:-r, r:-r], theirs[r:-r, r:-r], rtol=1e-5, atol=1e-6)
    # with a zero border, OpenCV's unnormalised sums equal ours everywhere
    sums = cv2.boxFilter(x, -1, (2 * r + 1, 2 * r + 1), normalize=False, borderType=cv2.BORDER_CONSTANT)
    np.testing.assert_allclose(ops.box_filter(torch.from_numpy(x), r, False).numpy(), sums, rtol=1e-5, atol=1e-4)


def test_box_filter_thread_count_independent():
    x = torch.randn(1, 2, 301, 257, dtype=torch.float64)
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = ops.box_filter(x, 7)
        torch.set_num_threads(2)
        two = ops.box_filter(x, 7)
    finally:
        torch.set_num_threads(old)
    assert torch.equal(one, two)


@pytest.mark.parametrize("normalize", [True, False])
def test_box_filter_gradcheck(normalize, device):
    x = torch.randn(2, 2, 9, 11, dtype=torch.float64, device=device, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: ops.box_filter(t, 3, normalize), (x,))
    assert torch.autograd.gradgradcheck(lambda t: ops.box_filter(t, 2, normalize), (x[:1, :1, :5, :6],))


def test_box_filter_opcheck(device):
    x = torch.randn(2, 3, 12, 10, device=device, requires_grad=True)
    torch.library.opcheck(torch.ops.mfif.box_filter.default, (x, 3, True))
    torch.library.opcheck(torch.ops.mfif._box_filter_backward.default, (x.detach(), 3, True))


@pytest.mark.parametrize("guide_channels", [1, 3])
@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (1, 1, 7, 9), (2, 3, 31, 17), (1, 2, 5, 40), (2, 1, 41, 30)])
@pytest.mark.parametrize("radius", [0, 1, 8, 35])
@pytest.mark.parametrize("eps", [1e-6, 0.1])
def test_guided_filter_matches_reference(guide_channels, shape, radius, eps, device, dtype):
    g = torch.rand((shape[0], guide_channels) + shape[2:], dtype=dtype, device=device)
    p = torch.rand(shape, dtype=dtype, device=device)
    out = ops.guided_filter(g, p, radius, eps)
    expected = ref.guided_filter(g.double(), p.double(), radius, eps).to(dtype)
    # a = cov/(var+eps) amplifies rounding of the inputs' statistics when eps is tiny
    atol = 1e-9 if dtype == torch.float64 else (2e-3 if eps < 1e-3 else 2e-5)
    torch.testing.assert_close(out, expected, rtol=0, atol=atol)


def test_guided_filter_unbatched_and_noncontiguous(device):
    g = torch.rand(3, 20, 30, dtype=torch.float64, device=device)
    p = torch.rand(30, 20, dtype=torch.float64, device=device).t()
    out = ops.guided_filter(g, p[None], 4, 0.01)
    assert out.shape == (1, 20, 30)
    torch.testing.assert_close(out, ref.guided_filter(g[None], p[None, None], 4, 0.01)[0])
    out2 = ops.guided_filter(g[0], p, 4, 0.01)
    assert out2.shape == (20, 30)
    torch.testing.assert_close(out2, ref.guided_filter(g[None, :1], p[None, None], 4, 0.01)[0, 0])


def _he_guided_filter_scipy(I: np.ndarray, p: np.ndarray, r: int, eps: float) -> np.ndarray:
    """He's guided filter in float64 from scipy's uniform filter and numpy's solver (valid away from borders)."""
    from scipy.ndimage import uniform_filter

    mean = lambda x: uniform_filter(x, size=2 * r + 1, mode="reflect")  # noqa: E731
    I = I.astype(np.float64)
    p = p.astype(np.float64)
    C = I.shape[2]
    mI = np.stack([mean(I[..., c]) for c in range(C)], -1)
    mp = mean(p)
    cov = np.stack([mean(I[..., c] * p) - mI[..., c] * mp for c in range(C)], -1)
    sigma = np.empty(I.shape[:2] + (C, C))
    for i in range(C):
        for j in range(C):
            sigma[..., i, j] = mean(I[..., i] * I[..., j]) - mI[..., i] * mI[..., j]
    a = np.linalg.solve(sigma + eps * np.eye(C), cov[..., None])[..., 0]
    b = mp - (a * mI).sum(-1)
    ma = np.stack([mean(a[..., c]) for c in range(C)], -1)
    return (ma * I).sum(-1) + mean(b)


@pytest.mark.parametrize("guide_channels", [1, 3])
def test_guided_filter_matches_scipy_inside(guide_channels):
    # the golden that needs only scipy (the CI's environment): OpenCV's guided filter is in the contrib wheel
    rng = np.random.default_rng(1)
    I = rng.random((80, 96, guide_channels), dtype=np.float32)
    p = (rng.random((80, 96), dtype=np.float32) * 0.2 + (np.arange(96) > 40)).astype(np.float32)
    r, eps = 5, 0.01
    theirs = _he_guided_filter_scipy(I, p, r, eps)
    guide = torch.from_numpy(I).permute(2, 0, 1)[None].contiguous()
    ours = ops.guided_filter(guide, torch.from_numpy(p)[None, None], r, eps)[0, 0].numpy()
    m = 2 * r + 1  # the border rule differs within 2r of the border
    np.testing.assert_allclose(ours[m:-m, m:-m], theirs[m:-m, m:-m], atol=1e-4)


@pytest.mark.skipif(not hasattr(cv2, "ximgproc"), reason="cv2.ximgproc is in opencv-contrib-python(-headless) only; "
                    "the scipy golden above covers the same check")
@pytest.mark.parametrize("guide_channels", [1, 3])
def test_guided_filter_matches_opencv_inside(guide_channels):
    rng = np.random.default_rng(1)
    I = rng.random((80, 96, guide_channels), dtype=np.float32)
    # a smooth image with edges, so the filter has something to preserve
    p = (rng.random((80, 96), dtype=np.float32) * 0.2 + (np.arange(96) > 40)).astype(np.float32)
    r, eps = 5, 0.01
    theirs = cv2.ximgproc.guidedFilter(I if guide_channels == 3 else I[..., 0], p, r, eps)
    guide = torch.from_numpy(I).permute(2, 0, 1)[None].contiguous()
    ours = ops.guided_filter(guide, torch.from_numpy(p)[None, None], r, eps)[0, 0].numpy()
    m = 2 * r + 1  # the border rule differs within 2r of the border
    np.testing.assert_allclose(ours[m:-m, m:-m], theirs[m:-m, m:-m], atol=1e-4)


@pytest.mark.parametrize("guide_channels", [1, 3])
def test_guided_filter_gradcheck(guide_channels, device):
    g = torch.rand(2, guide_channels, 7, 8, dtype=torch.float64, device=device, requires_grad=True)
    p = torch.rand(2, 2, 7, 8, dtype=torch.float64, device=device, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: ops.guided_filter(a, b, 2, 0.05), (g, p))
    # gradient with respect to src only
    assert torch.autograd.gradcheck(lambda b: ops.guided_filter(g.detach(), b, 3, 0.05), (p,))


def test_guided_filter_opcheck(device):
    g = torch.rand(1, 3, 10, 12, dtype=torch.float64, device=device, requires_grad=True)
    p = torch.rand(1, 2, 10, 12, dtype=torch.float64, device=device, requires_grad=True)
    torch.library.opcheck(torch.ops.mfif.guided_filter.default, (g, p, 2, 0.1))
    torch.library.opcheck(torch.ops.mfif.guided_filter.default, (g[:, :1], p, 2, 0.1))


def test_guided_filter_thread_count_independent():
    g = torch.rand(1, 3, 333, 97)
    p = torch.rand(1, 2, 333, 97)
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = ops.guided_filter(g, p, 8, 0.1)
        torch.set_num_threads(2)
        two = ops.guided_filter(g, p, 8, 0.1)
    finally:
        torch.set_num_threads(old)
    assert torch.equal(one, two)


# ---- bad input --------------------------------------------------------------

@pytest.mark.parametrize(
    "call, exc, message",
    [
        (lambda: ops.box_filter(torch.rand(5), 1), ValueError, "x must have shape"),
        (lambda: ops.box_filter(torch.ones(4, 4, dtype=torch.int32), 1), TypeError, "float32, float64, float16 or bfloat16"),
        (lambda: ops.box_filter(torch.rand(0, 4), 1), ValueError, "x is empty"),
        (lambda: ops.box_filter(torch.rand(4, 4), -1), ValueError, "radius must be >= 0"),
        (lambda: ops.box_filter(torch.rand(4, 4), 1.5), TypeError, "radius must be an int"),
        (lambda: ops.box_filter(np.ones((4, 4)), 1), TypeError, "x must be a torch.Tensor"),
        (lambda: ops.guided_filter(torch.rand(1, 2, 5, 5), torch.rand(1, 1, 5, 5), 1, 0.1), ValueError, "1 (gray) or 3"),
        (lambda: ops.guided_filter(torch.rand(1, 1, 5, 5), torch.rand(1, 1, 5, 6), 1, 0.1), ValueError, "same batch size"),
        (lambda: ops.guided_filter(torch.rand(2, 1, 5, 5), torch.rand(1, 1, 5, 5), 1, 0.1), ValueError, "same batch size"),
        (lambda: ops.guided_filter(torch.rand(1, 1, 5, 5), torch.rand(1, 1, 5, 5).double(), 1, 0.1), TypeError, "same dtype"),
        (lambda: ops.guided_filter(torch.rand(1, 1, 5, 5), torch.rand(1, 1, 5, 5), 1, 0.0), ValueError, "eps must be > 0"),
        (lambda: ops.guided_filter(torch.rand(1, 1, 5, 5), torch.rand(1, 1, 5, 5), 1, float("nan")), ValueError, "eps must be finite"),
        (lambda: ops.guided_filter(torch.rand(1, 1, 5, 5), torch.rand(1, 1, 5, 5), -2, 0.1), ValueError, "radius"),
        (lambda: ops.guided_filter(torch.rand(1, 1, 0, 5), torch.rand(1, 1, 0, 5), 1, 0.1), ValueError, "empty"),
        (lambda: ops.guided_filter(torch.rand(5, 5, 1, 1, 1), torch.rand(5, 5, 1, 1, 1), 1, 0.1), ValueError, "must both be"),
    ],
)
def test_bad_input_gives_clear_error(call, exc, message):
    with pytest.raises(exc, match=message.replace("(", r"\(").replace(")", r"\)")):
        call()


def test_nan_input_is_refused():
    x = torch.rand(1, 1, 40, 30)
    x[0, 0, 20, 10] = float("nan")
    with pytest.raises(RuntimeError, match="NaN or Inf"):
        ops.box_filter(x, 3)
    x[0, 0, 20, 10] = float("inf")
    with pytest.raises(RuntimeError, match="NaN or Inf"):
        ops.box_filter(x, 3)
    with pytest.raises(RuntimeError, match="NaN or Inf"):
        ops.guided_filter(torch.rand(1, 1, 40, 30), x, 3, 0.1)
    with pytest.raises(RuntimeError, match="NaN or Inf"):
        ops.guided_filter(x, torch.rand(1, 1, 40, 30), 3, 0.1)


@pytest.mark.skipif(mfif.cuda_kernels_available(), reason="this build has CUDA kernels")
def test_cuda_tensor_without_cuda_kernels_is_refused():
    meta_like_cuda = torch.empty(4, 4, device="meta")
    # a real CUDA tensor cannot exist here; check the device rule directly
    from mfif.ops._checks import check_device

    check_device(meta_like_cuda, "x")  # meta is allowed (used by torch.compile)

    class FakeCuda:
        device = torch.device("cuda", 0)

    with pytest.raises(RuntimeError, match="no kernels for 'cuda'.*x.cpu()"):
        check_device(FakeCuda(), "x")


def test_compile_fullgraph_chain():
    g = torch.rand(1, 3, 32, 40)
    p = torch.rand(1, 1, 32, 40)

    def chain(g, p):
        q = ops.guided_filter(g, p, 4, 0.01)
        return ops.box_filter(q * 2.0, 2)

    compiled = torch.compile(chain, fullgraph=True, backend="eager")
    torch.testing.assert_close(compiled(g, p), chain(g, p))
