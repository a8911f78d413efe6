"""Property-based tests: every op against its pure-PyTorch reference on random
shapes (odd, 1xN, 1x1), dtypes, memory layouts (non-contiguous, channels_last)
and parameters at their limits (radius, patch and stride up to int64 and past
the image), with first and second derivatives.

Budget: ``MFIF_FUZZ=ci`` (the default) runs a fixed, derandomized set of cases
(deterministic CI); ``MFIF_FUZZ=long`` runs 5,000 random cases per op (for
releases); ``MFIF_FUZZ_EXAMPLES=N`` overrides the count of either.
"""
import os

import pytest
import torch
from hypothesis import HealthCheck, given, settings, strategies as st

from mfif import ops, reference as ref

_COMMON = dict(deadline=None, database=None, print_blob=True,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("mfif-ci", max_examples=300, derandomize=True, **_COMMON)
settings.register_profile("mfif-long", max_examples=5000, derandomize=False, **_COMMON)
_MODE = os.environ.get("MFIF_FUZZ", "ci")
if _MODE not in ("ci", "long"):
    raise ValueError(f"MFIF_FUZZ must be 'ci' or 'long', got {_MODE!r}")
_PROFILE = settings.get_profile(f"mfif-{_MODE}")
_EXAMPLES = int(os.environ.get("MFIF_FUZZ_EXAMPLES", "0"))
FUZZ = settings(_PROFILE, max_examples=_EXAMPLES) if _EXAMPLES else _PROFILE

F64, F32 = torch.float64, torch.float32
HALF = (torch.float16, torch.bfloat16)
# float64 twice: the derivative checks run in float64
DTYPES = st.sampled_from([F64, F64, F32, torch.float16, torch.bfloat16])
HUGE = st.sampled_from([2**31, 2**62, 2**63 - 2, 2**63 - 1])
LAYOUTS = st.sampled_from(["contiguous", "transposed", "strided", "channels_last"])


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors: one thread avoids OpenMP start-up costs (results do not depend on it)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def close(got, want, dtype, scale=1.0):
    """got (any dtype) against a float64 reference computed from the same input values."""
    assert got.dtype == dtype and got.shape == want.shape
    if dtype == F64:
        rtol, atol = 1e-9, 1e-11
    elif dtype == F32:
        rtol, atol = 1e-4, 1e-5
    else:  # one rounding to the half type of a float32 result
        rtol = atol = 2e-3 if dtype == torch.float16 else 1.6e-2
    torch.testing.assert_close(got.double(), want.double(), rtol=rtol, atol=atol * scale)


def laid_out(t, layout):
    """The values of t in another memory layout."""
    if layout == "transposed":
        return t.transpose(-1, -2).contiguous().transpose(-1, -2)
    if layout == "strided":
        big = torch.zeros(*t.shape[:-1], 2 * t.shape[-1], dtype=t.dtype)
        big[..., ::2] = t
        return big[..., ::2]
    if layout == "channels_last" and t.dim() == 4:
        return t.contiguous(memory_format=torch.channels_last)
    return t


def rand(draw, shape, dtype, low=0.0, high=1.0, layout=None):
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**31)))
    t = (torch.rand(shape, generator=gen, dtype=F64) * (high - low) + low).to(dtype)
    return laid_out(t, layout or draw(LAYOUTS))


def as_zero(g, like):
    return torch.zeros_like(like) if g is None else g


def check_derivatives(fn, ref_fn, inputs, second=True, rtol=1e-7, atol=1e-9):
    """Vector-Jacobian products of fn and ref_fn (float64) agree; with second, so
    do the derivatives of <vjp, v> with respect to the inputs and the vector."""
    xs = [x.detach().clone().requires_grad_() for x in inputs]
    out = fn(*xs)
    gen = torch.Generator().manual_seed(out.numel())
    w = torch.rand(out.shape, generator=gen, dtype=F64).requires_grad_()
    vs = [torch.rand(x.shape, generator=gen, dtype=F64) for x in xs]
    results = []
    for f in (fn, ref_fn):
        ys = [x.detach().clone().requires_grad_() for x in inputs]
        g = torch.autograd.grad(f(*ys), ys, w, create_graph=second)
        res = [t.detach() for t in g]
        if second:
            dot = sum((gi * vi).sum() for gi, vi in zip(g, vs))
            gg = torch.autograd.grad(dot, ys + [w], allow_unused=True)
            res += [as_zero(t, like).detach() for t, like in zip(gg, ys + [w])]
        results.append(res)
    for got, want in zip(*results):
        torch.testing.assert_close(got, want, rtol=rtol, atol=atol)


# ---- box_filter ---------------------------------------------------------------

@st.composite
def image_shape(draw, max_side=12, lead=True):
    H = draw(st.sampled_from([1, 1, 2, 3]) | st.integers(1, max_side))
    W = draw(st.sampled_from([1, 1, 2, 5]) | st.integers(1, max_side))
    dims = draw(st.lists(st.integers(1, 3), min_size=0 if lead else 2, max_size=2))
    return (*dims, H, W)


@FUZZ
@given(st.data())
def test_fuzz_box_filter(data):
    draw = data.draw
    shape, dtype = draw(image_shape()), draw(DTYPES)
    radius = draw(st.integers(0, 14) | HUGE)
    normalize = draw(st.booleans())
    x = rand(draw, shape, dtype, -1, 1)
    r_ref = min(radius, max(shape[-2:]) + 2)  # past the image every radius is the same
    want = ref.box_filter(x.double(), r_ref, normalize)
    close(ops.box_filter(x, radius, normalize), want, dtype, 1 if normalize else (2 * min(r_ref, 12) + 1) ** 2)
    if dtype == F64:
        check_derivatives(lambda t: ops.box_filter(t, radius, normalize),
                          lambda t: ref.box_filter(t, r_ref, normalize), [x])


# ---- guided_filter (grey and colour guide) ---------------------------------------

@FUZZ
@given(st.data())
def test_fuzz_guided_filter(data):
    draw = data.draw
    B, C = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    CG = draw(st.sampled_from([1, 3]))
    H, W = draw(image_shape(max_side=9, lead=False))[-2:]
    dtype = draw(DTYPES)
    radius = draw(st.integers(0, 6) | HUGE)
    # eps bounded below so that float32 rounding is not amplified past the tolerance
    eps = draw(st.floats(1e-3 if dtype == F64 else 3e-2, 1.0))
    guide = rand(draw, (B, CG, H, W), dtype)
    src = rand(draw, (B, C, H, W), dtype)
    r_ref = min(radius, max(H, W) + 2)
    want = ref.guided_filter(guide.double(), src.double(), r_ref, eps)
    scale = 1.0 if dtype == F64 else 10.0
    close(ops.guided_filter(guide, src, radius, eps), want, dtype, scale)
    if dtype == F64:
        check_derivatives(lambda g, p: ops.guided_filter(g, p, radius, eps),
                          lambda g, p: ref.guided_filter(g, p, r_ref, eps), [guide, src],
                          second=draw(st.integers(0, 3)) == 0, rtol=1e-6, atol=1e-7)


# ---- patch_mean ----------------------------------------------------------------

@st.composite
def patch_geometry(draw):
    """(h, w, H, W, patch, stride) that cover every pixel, at times with a huge patch or stride."""
    if draw(st.integers(0, 9)) == 0:  # a huge stride: one window per axis
        stride = draw(HUGE)
        patch = draw(st.sampled_from([stride, 2**63 - 1]))
        return 1, 1, draw(st.integers(1, 9)), draw(st.integers(1, 9)), patch, stride
    stride = draw(st.integers(1, 4))
    patch = draw(st.integers(stride, 7) | HUGE)
    h, w = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    extra = min(patch, 7)
    H = (h - 1) * stride + draw(st.integers(1, extra))
    W = (w - 1) * stride + draw(st.integers(1, extra))
    return h, w, H, W, patch, stride


@FUZZ
@given(st.data())
def test_fuzz_patch_mean(data):
    draw = data.draw
    h, w, H, W, patch, stride = draw(patch_geometry())
    dtype, B, logits = draw(DTYPES), draw(st.integers(1, 2)), draw(st.booleans())
    scores = rand(draw, (B, 2, h, w), dtype, -6, 6) if logits else rand(draw, (B, h, w), dtype)
    # past the image patch and stride change nothing: the reference uses other caps
    p_ref = min(patch, max(H, W) + 3)
    s_ref = min(stride, p_ref)
    want = ref.patch_mean(scores.double(), (H, W), patch=p_ref, stride=s_ref)
    close(ops.patch_mean(scores, (H, W), patch=patch, stride=stride), want, dtype)
    if dtype == F64:
        check_derivatives(lambda s: ops.patch_mean(s, (H, W), patch=patch, stride=stride),
                          lambda s: ref.patch_mean(s, (H, W), patch=p_ref, stride=s_ref), [scores])


# ---- connected components and remove_small_regions -----------------------------------

@FUZZ
@given(st.data())
def test_fuzz_connected_components(data):
    draw = data.draw
    H, W = draw(image_shape(max_side=16, lead=False))[-2:]
    shape = (H, W) if draw(st.booleans()) else (draw(st.integers(1, 3)), H, W)
    density = draw(st.sampled_from([0.0, 0.2, 0.5, 0.8, 1.0]))
    mask = laid_out(rand(draw, shape, F64, layout="contiguous") < density, draw(LAYOUTS))
    connectivity = draw(st.sampled_from([4, 8]))
    min_area = draw(st.integers(0, H * W + 2) | st.sampled_from([2**31, 2**63 - 1]))
    torch.testing.assert_close(ops.connected_components(mask, connectivity),
                               ref.connected_components(mask.contiguous(), connectivity))
    want = ref.remove_small_regions(mask.contiguous(), min(min_area, H * W + 1), connectivity)
    assert torch.equal(ops.remove_small_regions(mask, min_area, connectivity), want)


# ---- nps_loss ---------------------------------------------------------------------

@FUZZ
@given(st.data())
def test_fuzz_nps_loss(data):
    draw = data.draw
    shape = draw(image_shape(max_side=9, lead=False))
    shape = shape[-3:] if draw(st.integers(0, 4)) == 0 else shape  # at times unbatched [C, H, W]
    dtype = draw(DTYPES)
    alpha = draw(st.floats(0.05, 30.0) | st.sampled_from([1e-6, 1e3, 1e8]))
    reduction = draw(st.sampled_from(["mean", "sum", "none"]))
    layout = draw(LAYOUTS)
    pred, target = rand(draw, shape, dtype, -1, 1, layout), rand(draw, shape, dtype, -1, 1, layout)
    want = ref.nps_loss(pred.double(), target.double(), alpha, reduction)
    close(ops.nps_loss(pred, target, alpha, reduction), want, dtype, 10.0)
    if dtype == F64 and alpha <= 30:  # second derivatives: alpha^2 scales them
        check_derivatives(lambda p: ops.nps_loss(p, target, alpha, reduction),
                          lambda p: ref.nps_loss(p, target, alpha, reduction), [pred], rtol=1e-6, atol=1e-8)


# ---- score_map (forward and first derivative) ------------------------------------------

@FUZZ
@given(st.data())
def test_fuzz_score_map(data):
    draw = data.draw
    B, C, k = draw(st.integers(1, 2)), draw(st.integers(1, 6)), draw(st.integers(1, 4))
    hf, wf = draw(st.integers(k, k + 6)), draw(st.integers(k, k + 6))
    dtype = draw(st.sampled_from([F64, F32]))
    layout = draw(LAYOUTS)
    fa, fb = rand(draw, (B, C, hf, wf), dtype, 0, 1, layout), rand(draw, (B, C, hf, wf), dtype, 0, 1, layout)
    weight = rand(draw, (2, 2 * C, k, k), dtype, -1, 1, "contiguous") * (3.0 / (C * k * k) ** 0.5)
    bias = rand(draw, (2,), dtype, -1, 1, "contiguous") if draw(st.booleans()) else None
    size = None
    if draw(st.booleans()):
        h, w = hf - k + 1, wf - k + 1
        stride = draw(st.integers(1, 3))
        patch = draw(st.integers(stride, 5))
        size = ((h - 1) * stride + draw(st.integers(1, patch)), (w - 1) * stride + draw(st.integers(1, patch)))
        kw = dict(size=size, patch=patch, stride=stride)
    else:
        kw = {}
    inputs = [t for t in (fa, fb, weight, bias) if t is not None]

    def call(fn, ts):
        it = iter(ts)
        a, b, wt = next(it), next(it), next(it)
        return fn(a, b, wt, next(it) if bias is not None else None, **kw)

    # the tolerances of tests/test_score_map.py
    ftol = (1e-4, 1e-5) if dtype == F32 else (1e-10, 1e-12)
    gtol = (1e-3, 1e-5) if dtype == F32 else (1e-9, 1e-11)
    torch.testing.assert_close(call(ops.score_map, inputs), call(ref.score_map, inputs), rtol=ftol[0], atol=ftol[1])
    xs = [t.detach().clone().requires_grad_() for t in inputs]
    ys = [t.detach().clone().requires_grad_() for t in inputs]
    out = call(ops.score_map, xs)
    grad = rand(draw, out.shape, dtype, 0, 1, "contiguous")
    for g, r in zip(torch.autograd.grad(out, xs, grad), torch.autograd.grad(call(ref.score_map, ys), ys, grad)):
        torch.testing.assert_close(g, r, rtol=gtol[0], atol=gtol[1])
