"""Box filter and guided filter (He et al. 2013) with He's border rule."""
from __future__ import annotations

import torch

from . import _checks as C


def _check_image(x: torch.Tensor, name: str) -> None:
    C.check_float_or_half(x, name)
    C.check_rank(x, name, range(2, 16), "[..., H, W]")
    C.check_nonempty(x, name)
    C.check_device(x, name)


def box_filter(x: torch.Tensor, radius: int, normalize: bool = True) -> torch.Tensor:
    r"""Box filter with He's border rule.

    Each output pixel is the sum over the part of the :math:`(2r+1)\times(2r+1)`
    window that lies inside the image, divided by that part's pixel count when
    ``normalize`` (so borders are means of fewer pixels, never zero-padded).
    Computed with running sums in double precision: the cost does not depend on
    ``radius``. Differentiable.

    Args:
        x: float tensor ``[..., H, W]`` (any leading dims, e.g. ``[B, C, H, W]``):
            float32 or float64, or float16/bfloat16 (filtered in float32, returned
            in their dtype; under :func:`torch.autocast` the result is float32).
        radius: window radius ``r >= 0``; any size: a radius past the image
            means the whole image.
        normalize: mean (True) or plain window sum (False).

    Returns:
        A tensor of the shape and dtype of ``x``.

    Raises:
        ValueError: ``x`` is empty or has fewer than two dims.
        RuntimeError: ``x`` contains NaN or Inf (CPU; on CUDA they spread into the
            result instead, since checking would need a host synchronisation).

    Examples:
        >>> x = torch.rand(1, 3, 64, 64)
        >>> mfif.ops.box_filter(x, 8).shape
        torch.Size([1, 3, 64, 64])
    """
    _check_image(x, "x")
    C.check_int(radius, "radius", 0)
    radius = C.cap_window(radius, x.shape[-2], x.shape[-1])
    return torch.ops.mfif.box_filter(x, radius, bool(normalize))


@torch.library.register_fake("mfif::box_filter")
def _box_filter_fake(x, radius, normalize):
    return torch.empty_like(x, memory_format=torch.contiguous_format)


@torch.library.register_fake("mfif::_box_filter_backward")
def _box_filter_backward_fake(grad, radius, normalize):
    return torch.empty_like(grad, memory_format=torch.contiguous_format)


def _box_filter_setup(ctx, inputs, output):
    _, ctx.radius, ctx.normalize = inputs


def _box_filter_grad(ctx, grad):
    return torch.ops.mfif._box_filter_backward(grad, ctx.radius, ctx.normalize), None, None


def _box_filter_backward_setup(ctx, inputs, output):
    _, ctx.radius, ctx.normalize = inputs


def _box_filter_backward_grad(ctx, grad):
    # the backward op is linear: its own adjoint is the forward filter
    return torch.ops.mfif.box_filter(grad, ctx.radius, ctx.normalize), None, None


torch.library.register_autograd("mfif::box_filter", _box_filter_grad, setup_context=_box_filter_setup)
torch.library.register_autograd(
    "mfif::_box_filter_backward", _box_filter_backward_grad, setup_context=_box_filter_backward_setup
)


def guided_filter(guide: torch.Tensor, src: torch.Tensor, radius: int, eps: float) -> torch.Tensor:
    r"""Guided filter of He, Sun and Tang (TPAMI 2013).

    ``q = mean_a * I + mean_b`` with ``a = cov(I, p) / (var(I) + eps)``
    (gray guide) or ``a = (Sigma + eps U)^{-1} cov(I, p)`` (colour guide, full
    3x3 covariance), all means taken with :func:`box_filter` (He's border rule).
    Statistics are accumulated in double precision, so small ``eps`` such as
    1e-6 stays accurate on flat areas. Differentiable with respect to ``guide``
    and ``src``, to any order (double backward for gradient penalties).

    Args:
        guide: ``[B, 1, H, W]`` or ``[B, 3, H, W]`` (also ``[1|3, H, W]`` or ``[H, W]``).
        src: ``[B, C, H, W]`` (also ``[C, H, W]`` or ``[H, W]``), the image to filter,
            same dtype, device, batch size and size as ``guide``. float32 or
            float64, or float16/bfloat16 (filtered in float32, returned in their
            dtype; under :func:`torch.autocast` both are cast to float32).
        radius: window radius ``r >= 0``; any size: a radius past the image
            means the whole image.
        eps: regularisation ``> 0`` (in squared units of the guide).

    Returns:
        The filtered ``src``, same shape and dtype.

    Examples:
        >>> I = torch.rand(1, 3, 64, 64); p = torch.rand(1, 1, 64, 64)
        >>> mfif.ops.guided_filter(I, p, radius=8, eps=0.1).shape
        torch.Size([1, 1, 64, 64])
    """
    C.check_float_or_half(guide, "guide")
    C.check_float_or_half(src, "src")
    if guide.dim() != src.dim() or guide.dim() not in (2, 3, 4):
        raise ValueError(
            f"guide {tuple(guide.shape)} and src {tuple(src.shape)} must both be [B, C, H, W], "
            "[C, H, W] or [H, W]"
        )
    src_shape = src.shape
    if src.dim() == 2:
        guide, src = guide[None, None], src[None, None]
    elif src.dim() == 3:
        guide, src = guide[None], src[None]
    if guide.shape[1] not in (1, 3):
        raise ValueError(f"guide must have 1 (gray) or 3 (colour) channels, got {guide.shape[1]}")
    if guide.shape[0] != src.shape[0] or guide.shape[2:] != src.shape[2:]:
        raise ValueError(
            f"guide {tuple(guide.shape)} and src {tuple(src.shape)} must have the same batch size, "
            "height and width"
        )
    guide, src = C.autocast_to_float32(guide, src)
    if guide.dtype != src.dtype:
        raise TypeError(f"guide is {guide.dtype} but src is {src.dtype}; give both the same dtype")
    C.check_nonempty(src, "src")
    C.check_nonempty(guide, "guide")
    C.check_same_device(guide, "guide", src, "src")
    C.check_device(src, "src")
    C.check_int(radius, "radius", 0)
    radius = C.cap_window(radius, src.shape[-2], src.shape[-1])
    eps = C.check_finite_scalar(eps, "eps", positive=True)
    return torch.ops.mfif.guided_filter(guide, src, radius, eps).reshape(src_shape)


@torch.library.register_fake("mfif::guided_filter")
def _guided_filter_fake(guide, src, radius, eps):
    C.check_fake_devices("guided_filter", guide=guide, src=src)
    return torch.empty_like(src, memory_format=torch.contiguous_format)


def _guided_filter_setup(ctx, inputs, output):
    guide, src, ctx.radius, ctx.eps = inputs
    ctx.save_for_backward(guide, src)


def _guided_filter_grad(ctx, grad):
    # The backward recomputes the forward as a graph of mfif box filters (each
    # differentiable through its own adjoint kernel) and lets autograd walk it:
    # exact, and as fast as the box filters themselves. Under create_graph the
    # graph starts at the saved inputs themselves, so the gradient is again a
    # differentiable function of guide, src and grad (double backward).
    from ..reference.filters import guided_filter_from_box

    guide, src = ctx.saved_tensors
    need_guide, need_src = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
    create_graph = torch.is_grad_enabled()
    with torch.enable_grad():
        if create_graph:
            g, p = guide, src
        else:
            g = guide.detach().requires_grad_(need_guide)
            p = src.detach().requires_grad_(need_src)
        # float16/bfloat16: the graph in float32, as the forward kernel computes
        work = torch.float32 if src.dtype in C.HALF_DTYPES else src.dtype
        q = guided_filter_from_box(g.to(work), p.to(work), ctx.radius, ctx.eps, box=torch.ops.mfif.box_filter)
        wrt = [t for t, need in ((g, need_guide), (p, need_src)) if need]
        grads = iter(torch.autograd.grad(q, wrt, grad.to(work), create_graph=create_graph))
    return (next(grads) if need_guide else None), (next(grads) if need_src else None), None, None


torch.library.register_autograd("mfif::guided_filter", _guided_filter_grad, setup_context=_guided_filter_setup)

# Under torch.autocast the filters run in float32, like torch's own sums
# (float64 stays float64): a guide and a source of two precisions then agree.
for _op in ("mfif::box_filter", "mfif::guided_filter"):
    for _device in ("cpu", "cuda"):
        torch.library.register_autocast(_op, _device, torch.float32)
