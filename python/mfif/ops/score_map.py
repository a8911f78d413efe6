"""Dense score head of Liu et al. 2017 (``torch.ops.mfif.score_map``)."""
from __future__ import annotations

from typing import Sequence

import torch

from ._checks import check_float, check_nonempty, check_op_device, check_rank, check_same_device

__all__ = ["score_map"]


def score_map(fa: torch.Tensor, fb: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
              size: Sequence[int] | None = None, patch: int = 16, stride: int = 2) -> torch.Tensor:
    r"""Probability that the first source is in focus, from the two branches' features.

    The folded head of Liu et al. 2017: logits ``l = conv2d(cat([fa, fb], 1), weight, bias)``
    (no padding), then the two-class softmax, ``p = softmax(l, 1)[:, 0]``; with
    ``size`` also the focus map, :func:`mfif.ops.patch_mean` of ``p``. One op,
    computed without the 2-channel logits: ``p = sigmoid(l_0 - l_1)`` and
    ``l_0 - l_1`` is one convolution with the filter difference, done as a GEMM
    to per-offset partial scores and a shift-and-sum.

    Differentiable with respect to ``fa``, ``fb``, ``weight`` and ``bias``.

    Args:
        fa, fb: features of the first and second source, ``[B, C, h', w']``
            (Liu et al.: ``C = 256``, ``h' = ceil(H/2)``), float32 or float64,
            NCHW or channels_last (both read without copies).
        weight: ``[2, 2C, k, k]`` (Liu et al.: ``[2, 512, 8, 8]``); input channels
            ``0..C-1`` act on ``fa``; output channel 0 is "first in focus".
        bias: ``[2]`` or None.
        size: None for the probability map, or the image size ``(H, W)`` for the
            focus map (every pixel covered by a window, see :func:`patch_mean`).
        patch, stride: window size and step of the scores in pixels (used with ``size``).

    Returns:
        ``[B, h'-k+1, w'-k+1]`` probabilities, or ``[B, H, W]`` focus map if ``size``
        is given; the dtype of ``fa``.

    Raises:
        ValueError / TypeError: on shapes, dtypes or devices that do not fit
            (the message names the argument).
        RuntimeError: if an input contains NaN or Inf.

    Examples:
        >>> fa, fb = torch.rand(1, 256, 260, 260), torch.rand(1, 256, 260, 260)
        >>> w = torch.randn(2, 512, 8, 8) * 1e-3
        >>> score_map(fa, fb, w).shape                      # 520 x 520 sources
        torch.Size([1, 253, 253])
        >>> score_map(fa, fb, w, size=(520, 520)).shape
        torch.Size([1, 520, 520])
    """
    check_float(fa, "fa")
    check_float(fb, "fb")
    check_float(weight, "weight")
    check_rank(fa, "fa", (4,), "[B, C, h, w]")
    check_rank(fb, "fb", (4,), "[B, C, h, w]")
    check_rank(weight, "weight", (4,), "[2, 2C, k, k]")
    if fa.shape != fb.shape:
        raise ValueError(f"fa and fb must have the same shape, got {tuple(fa.shape)} and {tuple(fb.shape)}")
    check_nonempty(fa, "fa")
    C = fa.shape[1]
    if weight.shape[0] != 2 or weight.shape[1] != 2 * C or weight.shape[2] != weight.shape[3]:
        raise ValueError(f"weight must have shape [2, 2C, k, k] = [2, {2 * C}, k, k] for features with C={C}, "
                         f"got {tuple(weight.shape)}")
    k = weight.shape[2]
    if fa.shape[2] < k or fa.shape[3] < k:
        raise ValueError(f"features of {fa.shape[2]}x{fa.shape[3]} are smaller than the {k}x{k} kernel; "
                         f"Liu et al.'s network needs images of at least 16x16 pixels")
    tensors = [("fb", fb), ("weight", weight)]
    if bias is not None:
        check_float(bias, "bias")
        if bias.shape != (2,):
            raise ValueError(f"bias must have shape [2], got {tuple(bias.shape)}")
        tensors.append(("bias", bias))
    for name, t in tensors:
        check_same_device(fa, "fa", t, name)
        if t.dtype != fa.dtype:
            raise TypeError(f"{name} must have the dtype of fa ({fa.dtype}), got {t.dtype}; convert it with "
                            f"{name}.to(fa.dtype)")
    check_op_device(fa, "fa", "mfif::score_map")
    height = width = 0
    if size is not None:
        from .patch_mean import _check_geometry

        height, width, patch, stride = _check_geometry(fa.shape[2] - k + 1, fa.shape[3] - k + 1, size, patch, stride,
                                                       "score", "None or a pair")
    return torch.ops.mfif.score_map(fa, fb, weight, bias, height, width, patch, stride)


def _check_one_device(fa, fb, weight, bias):
    """A raw call with tensors on several devices must not reach a kernel (or the fake) at all."""
    for name, t in (("fb", fb), ("weight", weight), ("bias", bias)):
        if t is not None and t.device != fa.device:
            raise RuntimeError(f"mfif: fa is on {fa.device} but {name} is on {t.device}; put all tensors on one device")


@torch.library.register_fake("mfif::score_map")
def _score_map_fake(fa, fb, weight, bias, height, width, patch, stride):
    # Meta dispatch wins over CPU when one argument is a meta tensor: without this check a CPU
    # result of torch.empty (uninitialised memory) came back for a meta fb and a CPU fa.
    _check_one_device(fa, fb, weight, bias)
    if height > 0:
        return fa.new_empty((fa.shape[0], height, width))
    k = weight.shape[2]
    return fa.new_empty((fa.shape[0], fa.shape[2] - k + 1, fa.shape[3] - k + 1))


@torch.library.register_fake("mfif::_score_map_slope")
def _score_map_slope_fake(fa, fb, weight, bias):
    _check_one_device(fa, fb, weight, bias)
    k = weight.shape[2]
    return fa.new_empty((fa.shape[0], fa.shape[2] - k + 1, fa.shape[3] - k + 1))


def _setup_context(ctx, inputs, output):
    fa, fb, weight, bias, height, width, patch, stride = inputs
    ctx.save_for_backward(fa, fb, weight, bias)
    ctx.has_bias = bias is not None
    ctx.size = (height, width) if height > 0 else None
    ctx.patch, ctx.stride = patch, stride


def _backward(ctx, grad):
    """p = sigmoid(d), d = l0 - l1: dd = grad p (1 - p), dl0 = dd = -dl1; then the convolution's backward.

    p (1 - p) comes from ``mfif::_score_map_slope`` (computed from d, exact where the softmax
    saturates). Under ``create_graph=True`` the gradient is computed differentiably instead (through
    the pure-PyTorch reference), so that second derivatives (a gradient penalty) are right.
    """
    fa, fb, weight, bias = ctx.saved_tensors
    if torch.is_grad_enabled():  # create_graph=True
        return _differentiable_backward(ctx, grad, fa, fb, weight, bias)
    slope = torch.ops.mfif._score_map_slope(fa, fb, weight, bias)
    if ctx.size is not None:
        # the probability map's values do not enter patch_mean's adjoint, only its shape
        grad = torch.ops.mfif._patch_mean_backward(grad.contiguous(), slope, ctx.patch, ctx.stride)
    g = grad * slope
    glogits = torch.stack([g, -g], 1)
    x = torch.cat([fa, fb], 1)
    mask = [ctx.needs_input_grad[0] or ctx.needs_input_grad[1], ctx.needs_input_grad[2],
            ctx.has_bias and ctx.needs_input_grad[3]]
    gx, gw, gb = torch.ops.aten.convolution_backward(
        glogits, x, weight, [2] if ctx.has_bias else None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1, mask)
    ga = gb_ = None
    if gx is not None:
        C = fa.shape[1]
        ga, gb_ = gx[:, :C], gx[:, C:]
    return ga, gb_, gw, gb if ctx.has_bias else None, None, None, None, None


def _differentiable_backward(ctx, grad, fa, fb, weight, bias):
    from ..reference.score_map import score_map as reference_score_map

    inputs = (fa, fb, weight, bias)
    wanted = [i for i, t in enumerate(inputs) if t is not None and ctx.needs_input_grad[i]]
    with torch.enable_grad():
        out = reference_score_map(fa, fb, weight, bias, size=ctx.size, patch=ctx.patch, stride=ctx.stride)
        grads = torch.autograd.grad(out, [inputs[i] for i in wanted], grad, create_graph=True, allow_unused=True)
    result = [None] * 8
    for i, g in zip(wanted, grads):
        result[i] = g
    return tuple(result)


torch.library.register_autograd("mfif::score_map", _backward, setup_context=_setup_context)
