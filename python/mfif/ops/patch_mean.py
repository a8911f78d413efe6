"""Focus map of Liu et al. 2017 from a dense score map (``torch.ops.mfif.patch_mean``)."""
from __future__ import annotations

from typing import Sequence

import torch

from ._checks import (
    HALF_DTYPES,
    cap_window,
    check_fake_devices,
    check_float_or_half,
    check_int,
    check_nonempty,
    check_op_device,
    check_rank,
)

__all__ = ["patch_mean"]


def _check_axis(n: int, full: int, patch: int, stride: int, score_dim: str, size_dim: str) -> None:
    if (n - 1) * stride >= full:
        raise ValueError(
            f"scores has {n} {score_dim} but size gives {size_dim}={full}: with stride={stride} the last "
            f"window would start at pixel {(n - 1) * stride}, outside the image "
            f"(Liu et al.'s network gives ceil({size_dim}/2) - 7 {score_dim} for patch=16, stride=2)"
        )
    if (n - 1) * stride + patch < full:
        raise ValueError(
            f"scores has {n} {score_dim}, whose windows (patch={patch}, stride={stride}) cover only "
            f"{(n - 1) * stride + patch} pixels, but size gives {size_dim}={full}; the pixels past "
            f"that would have no score"
        )


def _check_geometry(h: int, w: int, size, patch, stride, score_name: str = "", size_kind: str = "a pair"):
    """Checks an (H, W) size, patch and stride against an h x w score map; returns them as ints.

    ``score_name`` prefixes the axis names in messages ("score" -> "score rows");
    ``size_kind`` names what ``size`` may be ("None or a pair" for optional sizes).
    """
    if isinstance(size, torch.Size):
        size = tuple(size)
    if not isinstance(size, (tuple, list)) or len(size) != 2:
        raise TypeError(f"size must be {size_kind} (H, W) of ints, got {size!r}")
    height = check_int(size[0], "size[0] (H)", 1)
    width = check_int(size[1], "size[1] (W)", 1)
    stride = check_int(stride, "stride", 1)
    patch = check_int(patch, "patch", 1)
    if patch < stride:
        raise ValueError(f"patch must be >= stride ({stride}), got {patch}: the windows would leave gaps")
    prefix = f"{score_name} " if score_name else ""
    _check_axis(h, height, patch, stride, prefix + "rows", "H")
    _check_axis(w, width, patch, stride, prefix + "columns", "W")
    # beyond the image a patch or stride changes nothing (see cap_window)
    return height, width, cap_window(patch, height, width), cap_window(stride, height, width)


def patch_mean(scores: torch.Tensor, size: Sequence[int], patch: int = 16, stride: int = 2) -> torch.Tensor:
    r"""Focus map of Liu et al. 2017: the mean of the patch scores covering each pixel.

    Score :math:`s_{ij}` of the dense score map belongs to the ``patch x patch``
    window whose top-left pixel is ``(i*stride, j*stride)``; windows are cut at
    the image border. Pixel ``(y, x)`` of the result is the mean of the scores
    whose windows cover it. For the network of Liu et al. (``patch=16``,
    ``stride=2``) an ``H x W`` image gives ``h = ceil(H/2) - 7`` score rows and
    ``w = ceil(W/2) - 7`` columns.

    Logits are turned into probabilities inside the kernel (fused softmax):
    the probability used is ``softmax(scores, dim=1)[:, 0]``, i.e. channel 0 is
    the class "the first source image is in focus", as in Liu et al. (label 1
    when the first patch is the clearer one).

    Differentiable with respect to ``scores``, to any order.

    Args:
        scores: probabilities ``[h, w]`` or ``[B, h, w]``, or two-channel
            logits ``[B, 2, h, w]``; float32 or float64, or float16/bfloat16
            (computed in float32, returned in their dtype; float32 under
            :func:`torch.autocast`). A 3-d tensor is always a batch of
            probabilities.
        size: ``(H, W)``, the image size. Every window must start inside the
            image (``(h-1)*stride < H``) and every pixel must be covered
            (``(h-1)*stride + patch >= H``); likewise for ``w`` and ``W``.
        patch: window size in pixels.
        stride: distance between neighbouring windows in pixels,
            ``1 <= stride <= patch``.

    Returns:
        the focus map, ``[B, H, W]`` (``[H, W]`` for ``[h, w]`` scores), with the
        dtype of ``scores``.

    Raises:
        RuntimeError: if ``scores`` contains NaN or Inf (CPU; on CUDA the pixels
            they reach are non-finite instead: checking would need a host sync), or is on a device
            without a kernel for this op.

    Examples:
        >>> logits = torch.randn(1, 2, 253, 253)         # Liu's network on 520 x 520
        >>> patch_mean(logits, (520, 520)).shape
        torch.Size([1, 520, 520])
        >>> patch_mean(torch.ones(2, 2), (4, 4), patch=2, stride=2)
        tensor([[1., 1., 1., 1.],
                [1., 1., 1., 1.],
                [1., 1., 1., 1.],
                [1., 1., 1., 1.]])
    """
    check_float_or_half(scores, "scores")
    check_rank(scores, "scores", (2, 3, 4), "[h, w], [B, h, w] (probabilities) or [B, 2, h, w] (logits)")
    if scores.dim() == 4 and scores.shape[1] != 2:
        raise ValueError(
            f"scores with 4 dimensions must be two-channel logits [B, 2, h, w], got {tuple(scores.shape)}"
        )
    check_nonempty(scores, "scores")
    check_op_device(scores, "scores", "mfif::patch_mean")
    height, width, patch, stride = _check_geometry(scores.shape[-2], scores.shape[-1], size, patch, stride)
    if scores.dim() == 2:
        return torch.ops.mfif.patch_mean(scores.unsqueeze(0), height, width, patch, stride)[0]
    return torch.ops.mfif.patch_mean(scores, height, width, patch, stride)


@torch.library.register_fake("mfif::patch_mean")
def _patch_mean_fake(scores, height, width, patch, stride):
    return scores.new_empty((scores.shape[0], height, width))


@torch.library.register_fake("mfif::_patch_mean_backward")
def _patch_mean_backward_fake(grad, scores, patch, stride):
    check_fake_devices("_patch_mean_backward", grad=grad, scores=scores)
    return scores.new_empty(scores.shape)


def _setup_context(ctx, inputs, output):
    scores, _height, _width, patch, stride = inputs
    ctx.save_for_backward(scores)
    ctx.patch = patch
    ctx.stride = stride


def _backward(ctx, grad):
    (scores,) = ctx.saved_tensors
    grad_scores = None
    if ctx.needs_input_grad[0]:
        grad_scores = torch.ops.mfif._patch_mean_backward(grad, scores, ctx.patch, ctx.stride)
    return grad_scores, None, None, None, None


torch.library.register_autograd("mfif::patch_mean", _backward, setup_context=_setup_context)


def _backward_setup_context(ctx, inputs, output):
    grad, scores, patch, stride = inputs
    ctx.save_for_backward(grad, scores)
    ctx.patch = patch
    ctx.stride = stride


def _backward_backward(ctx, v):
    """Derivatives of the backward op, so that double backward is exact.

    The backward is ``J(l)^T A^T grad``: ``A^T`` the adjoint of the window
    means (linear, independent of the scores) and, for logits, ``J`` the
    Jacobian of ``p = softmax(l)[0] = sigmoid(l0 - l1)``, ``J^T u = (s u, -s u)``
    with ``s = p (1 - p)``. So ``d/d grad`` is ``A J v = patch_mean(s (v0 - v1))``
    and ``d/d l0 = -d/d l1 = s (1 - 2p) (v0 - v1) A^T grad``. Written with
    differentiable ops (the mfif ones have autograd), every order is exact.
    """
    grad, scores = ctx.saved_tensors
    height, width = grad.shape[-2:]
    need_grad, need_scores = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
    if scores.dim() == 3:  # probabilities: the backward is linear in grad only
        d_grad = torch.ops.mfif.patch_mean(v, height, width, ctx.patch, ctx.stride) if need_grad else None
        return d_grad, None, None, None
    work = torch.float32 if scores.dtype in HALF_DTYPES else scores.dtype
    logits, v = scores.to(work), v.to(work)
    p = torch.sigmoid(logits[:, 0] - logits[:, 1])
    s = p * (1 - p)
    dv = v[:, 0] - v[:, 1]
    d_grad = d_scores = None
    if need_grad:
        d_grad = torch.ops.mfif.patch_mean(s * dv, height, width, ctx.patch, ctx.stride).to(grad.dtype)
    if need_scores:
        # A^T grad: the backward op of probabilities (their values do not matter)
        u = torch.ops.mfif._patch_mean_backward(grad.to(work), p.detach(), ctx.patch, ctx.stride)
        t = s * (1 - 2 * p) * dv * u
        d_scores = torch.stack((t, -t), dim=1).to(scores.dtype)
    return d_grad, d_scores, None, None


torch.library.register_autograd(
    "mfif::_patch_mean_backward", _backward_backward, setup_context=_backward_setup_context
)
# Under torch.autocast the op runs in float32, like torch's softmax.
for _device in ("cpu", "cuda"):
    torch.library.register_autocast("mfif::patch_mean", _device, torch.float32)
