"""The ops at the edges of their arguments: huge radii, patches and strides,
mixed devices on the raw ops, and second derivatives (gradgradcheck)."""
import pytest
import torch
from torch.autograd import gradcheck, gradgradcheck

from mfif import ops, reference as ref

# ---- radius, patch and stride up to the int64 limit -------------------------

HUGE = [2**31, 2**62, 2**62 + 5, 2**63 - 2, 2**63 - 1]


@pytest.mark.parametrize("radius", HUGE)
@pytest.mark.parametrize("normalize", [True, False])
def test_box_filter_huge_radius_is_the_whole_image(radius, normalize, device):
    x = torch.rand(2, 3, 5, 7, dtype=torch.float64, device=device)
    whole = ref.box_filter(x, 7, normalize)  # radius 7 already covers a 5 x 7 image
    torch.testing.assert_close(ops.box_filter(x, radius, normalize), whole)
    torch.testing.assert_close(torch.ops.mfif.box_filter(x, radius, normalize), whole)
    torch.testing.assert_close(torch.ops.mfif._box_filter_backward(x, radius, normalize),
                               torch.ops.mfif._box_filter_backward(x, 7, normalize))


@pytest.mark.parametrize("radius", HUGE)
@pytest.mark.parametrize("guide_channels", [1, 3])
def test_guided_filter_huge_radius_is_the_whole_image(radius, guide_channels, device):
    g = torch.rand(1, guide_channels, 6, 4, dtype=torch.float64, device=device)
    p = torch.rand(1, 2, 6, 4, dtype=torch.float64, device=device)
    whole = ref.guided_filter(g, p, 6, 0.01)
    torch.testing.assert_close(ops.guided_filter(g, p, radius, 0.01), whole)
    torch.testing.assert_close(torch.ops.mfif.guided_filter(g, p, radius, 0.01), whole)


def test_python_ints_past_int64_are_capped():
    x = torch.rand(1, 1, 4, 9, dtype=torch.float64)
    torch.testing.assert_close(ops.box_filter(x, 2**64 + 3), ref.box_filter(x, 9))
    torch.testing.assert_close(ops.guided_filter(x, x, 10**30, 0.1), ref.guided_filter(x, x, 9, 0.1))


@pytest.mark.parametrize("patch, stride", [(2**40, 1), (2**62, 2), (2**63 - 1, 3), (2**63 - 1, 2**63 - 1), (2**80, 2**70)])
def test_patch_mean_huge_patch_or_stride(patch, stride, device):
    # one score per axis for huge strides, three for small ones: every window covers the rest of the image
    n = 1 if stride > 10 else 3
    scores = torch.rand(2, n, n, dtype=torch.float64, device=device)
    expected = ref.patch_mean(scores, (10, 11), patch=11, stride=min(stride, 11))
    torch.testing.assert_close(ops.patch_mean(scores, (10, 11), patch=patch, stride=stride), expected)
    if patch < 2**63:
        got = torch.ops.mfif.patch_mean(scores, 10, 11, patch, stride)
        torch.testing.assert_close(got, expected)
        grad = torch.rand(2, 10, 11, dtype=torch.float64, device=device)
        s = scores.clone().requires_grad_()
        (ref.patch_mean(s, (10, 11), patch=11, stride=min(stride, 11)) * grad).sum().backward()
        torch.testing.assert_close(torch.ops.mfif._patch_mean_backward(grad, scores, patch, stride), s.grad)


def test_patch_mean_huge_stride_with_several_scores_is_an_argument_error():
    # (n - 1) * stride overflows int64: must still be refused, not wrap around
    scores = torch.rand(1, 3, 3)
    with pytest.raises(RuntimeError, match="last window would start outside height=10"):
        torch.ops.mfif.patch_mean(scores, 10, 10, 2**63 - 1, 2**62)
    with pytest.raises(ValueError, match="outside the image"):
        ops.patch_mean(scores, (10, 10), patch=2**64, stride=2**62)


# ---- the raw ops check devices themselves -----------------------------------

def _meta(*shape, dtype=torch.float32):
    return torch.empty(*shape, device="meta", dtype=dtype)


RAW_MIXED = [
    ("guided_filter", lambda: torch.ops.mfif.guided_filter(_meta(1, 1, 5, 5), torch.rand(1, 1, 5, 5), 1, 0.1)),
    ("guided_filter", lambda: torch.ops.mfif.guided_filter(torch.rand(1, 3, 5, 5), _meta(1, 2, 5, 5), 1, 0.1)),
    ("_patch_mean_backward",
     lambda: torch.ops.mfif._patch_mean_backward(_meta(1, 4, 4), torch.rand(1, 2, 2), 2, 2)),
    ("_patch_mean_backward",
     lambda: torch.ops.mfif._patch_mean_backward(torch.rand(1, 4, 4), _meta(1, 2, 2), 2, 2)),
    ("nps_loss", lambda: torch.ops.mfif.nps_loss(_meta(1, 1, 4, 4), torch.rand(1, 1, 4, 4), 6.0)),
    ("nps_loss", lambda: torch.ops.mfif.nps_loss(torch.rand(1, 1, 4, 4), _meta(1, 1, 4, 4), 6.0)),
    ("_nps_loss_backward",
     lambda: torch.ops.mfif._nps_loss_backward(_meta(1), torch.rand(1, 1, 4, 4), torch.rand(1, 1, 4, 4), 6.0)),
    ("_nps_loss_backward",
     lambda: torch.ops.mfif._nps_loss_backward(torch.rand(1), torch.rand(1, 1, 4, 4), _meta(1, 1, 4, 4), 6.0)),
]


@pytest.mark.parametrize("op, call", RAW_MIXED, ids=[f"{op}-{i}" for i, (op, _) in enumerate(RAW_MIXED)])
def test_raw_ops_refuse_meta_mixed_with_cpu(op, call):
    with pytest.raises(RuntimeError, match=f"mfif: {op} got tensors on different devices.*meta.*cpu|cpu.*meta"):
        call()


def test_raw_liu_fusion_fake_refuses_mixed_devices():
    if not hasattr(torch.ops.mfif, "_liu_fusion"):
        pytest.skip("this build predates mfif::_liu_fusion")
    with pytest.raises(RuntimeError, match="different devices"):
        torch.ops.mfif._liu_fusion(_meta(1, 4, 4, dtype=torch.bool), torch.rand(1, 1, 4, 4), torch.rand(1, 1, 4, 4), 1, 0.1)


def test_raw_ops_on_meta_alone_still_give_shapes():
    assert torch.ops.mfif.guided_filter(_meta(1, 3, 5, 5), _meta(1, 2, 5, 5), 1, 0.1).shape == (1, 2, 5, 5)
    assert torch.ops.mfif.nps_loss(_meta(2, 1, 4, 4), _meta(2, 1, 4, 4), 6.0).shape == (2,)


# ---- second derivatives -----------------------------------------------------

@pytest.mark.parametrize("guide_channels", [1, 3])
def test_guided_filter_double_backward(guide_channels, device):
    g = torch.rand(1, guide_channels, 6, 7, dtype=torch.float64, device=device, requires_grad=True)
    p = torch.rand(1, 2, 6, 7, dtype=torch.float64, device=device, requires_grad=True)
    assert gradgradcheck(lambda a, b: ops.guided_filter(a, b, 2, 0.05), (g, p))
    assert gradgradcheck(lambda a: ops.guided_filter(a, p.detach(), 1, 0.05), (g,))
    assert gradgradcheck(lambda b: ops.guided_filter(g.detach(), b, 3, 0.05), (p,))


def test_guided_filter_gradient_penalty_matches_reference():
    g = torch.rand(1, 3, 9, 8, dtype=torch.float64, requires_grad=True)
    p = torch.rand(1, 1, 9, 8, dtype=torch.float64, requires_grad=True)

    def penalty(fn):
        (gg,) = torch.autograd.grad(fn(g, p, 2, 0.02).square().sum(), g, create_graph=True)
        return torch.autograd.grad(gg.square().sum(), (g, p))

    for ours, theirs in zip(penalty(ops.guided_filter), penalty(ref.guided_filter)):
        torch.testing.assert_close(ours, theirs)


@pytest.mark.parametrize("logits", [False, True])
@pytest.mark.parametrize("geom", [(4, 2), (5, 3), (3, 1)])
def test_patch_mean_double_backward(logits, geom, device):
    patch, stride = geom
    h, w = 4, 5
    size = ((h - 1) * stride + patch, (w - 1) * stride + patch - 1)
    shape = (2, 2, h, w) if logits else (2, h, w)
    s = (torch.randn(shape) if logits else torch.rand(shape)).to(torch.float64).to(device).requires_grad_()
    fn = lambda t: ops.patch_mean(t, size, patch=patch, stride=stride)  # noqa: E731
    assert gradcheck(fn, (s,))
    assert gradgradcheck(fn, (s,))


def test_patch_mean_backward_op_has_autograd():
    # the raw backward op itself: derivatives with respect to grad and (logit) scores
    s = torch.randn(1, 2, 3, 4, dtype=torch.float64, requires_grad=True)
    grad = torch.rand(1, 7, 9, dtype=torch.float64, requires_grad=True)
    assert gradcheck(lambda g, t: torch.ops.mfif._patch_mean_backward(g, t, 3, 2), (grad, s))
    assert gradgradcheck(lambda g, t: torch.ops.mfif._patch_mean_backward(g, t, 3, 2), (grad, s))


@pytest.mark.parametrize("alpha", [0.5, 6.0, 10.0])
def test_nps_loss_double_backward(alpha, device):
    torch.manual_seed(3)
    pred = torch.rand(2, 3, 5, 6, dtype=torch.float64, device=device, requires_grad=True)
    target = torch.rand(2, 3, 5, 6, dtype=torch.float64, device=device)
    fn = lambda p: ops.nps_loss(p, target, alpha=alpha, reduction="none")  # noqa: E731
    assert gradgradcheck(fn, (pred,))
    # a gradient penalty: its gradient equals the reference's (autograd of eq. 4-5)
    def penalty(loss_fn):
        (g,) = torch.autograd.grad(loss_fn(pred, target, alpha=alpha), pred, create_graph=True)
        return torch.autograd.grad(g.square().sum(), pred)[0]

    torch.testing.assert_close(penalty(ops.nps_loss), penalty(ref.nps_loss))


def test_nps_loss_double_backward_has_a_graph():
    pred = torch.rand(1, 1, 4, 4, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(ops.nps_loss(pred, torch.rand(1, 1, 4, 4, dtype=torch.float64)), pred,
                               create_graph=True)
    assert g.requires_grad and g.grad_fn is not None
