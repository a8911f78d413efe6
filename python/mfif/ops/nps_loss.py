"""NPS regression loss of Guerrero Pena et al. (``torch.ops.mfif.nps_loss``)."""
from __future__ import annotations

import torch

from ._checks import (
    HALF_DTYPES,
    autocast_to_float32,
    check_fake_devices,
    check_finite_scalar,
    check_float_or_half,
    check_nonempty,
    check_op_device,
    check_rank,
    check_same_device,
)

__all__ = ["nps_loss"]

_REDUCTIONS = ("mean", "sum", "none")


def nps_loss(pred: torch.Tensor, target: torch.Tensor, alpha: float = 6.0, reduction: str = "mean") -> torch.Tensor:
    r"""NPS loss (eq. 4 and 5 of Guerrero Pena et al., "Multiple sources hourglass network").

    .. math::
        \varphi_\alpha(d) = \frac{2}{e^{-\alpha |d|} + 1} - 1 = \tanh(\alpha |d| / 2), \qquad
        L = \sum_c \Big[\operatorname{mean}_p \varphi_\alpha(y_c(p) - \hat y_c(p))
            + |\min y_c - \min \hat y_c| + |\max y_c - \max \hat y_c|\Big]

    per sample, with :math:`\hat y` = ``pred`` and :math:`y` = ``target``. The
    kernel makes one pass over every channel plane (forward and backward), with
    a stable :math:`\varphi` that never overflows.

    Gradient: with respect to ``pred`` only, to any order; ``target`` is treated as a constant
    (its gradient is ``None`` even if it requires grad). The min/max terms have
    a subgradient: the whole gradient of :math:`\min \hat y_c` goes to the
    first element, in row-major order of the plane, equal to the minimum
    (likewise for the maximum), and :math:`\operatorname{sign}(0) = 0`, so
    equal extremes give no gradient. :math:`\varphi` has slope 0 at
    :math:`d = 0`.

    Args:
        pred: estimated image :math:`\hat y`, ``[B, C, H, W]`` or ``[C, H, W]``;
            float32 or float64, or float16/bfloat16 (computed in float32, the loss
            returned in their dtype; float32 under :func:`torch.autocast`).
        target: ground truth :math:`y`, same shape, dtype and device as ``pred``.
        alpha: steepness :math:`\alpha > 0` of the NPS (the paper uses 6, 8, 10).
            Values above 1e30 (float32) or 1e300 (float64) act as that bound,
            where :math:`\varphi` is already 1 for every :math:`|d| > 10^{-28}`.
        reduction: ``"mean"`` (over the batch), ``"sum"`` or ``"none"``.

    Returns:
        a scalar for ``"mean"``/``"sum"``; for ``"none"`` the per-sample losses
        ``[B]`` (a 0-dim tensor for unbatched ``[C, H, W]`` input).

    Raises:
        RuntimeError: if ``pred`` or ``target`` contains NaN or Inf (CPU; on CUDA
            the loss is then non-finite instead: checking would need a host sync).

    Examples:
        >>> pred, target = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
        >>> nps_loss(pred, target, alpha=6.0, reduction="none").shape
        torch.Size([2])
        >>> float(nps_loss(target, target))
        0.0
    """
    check_float_or_half(pred, "pred")
    check_float_or_half(target, "target")
    check_rank(pred, "pred", (3, 4), "[B, C, H, W] or [C, H, W]")
    check_rank(target, "target", (3, 4), "[B, C, H, W] or [C, H, W]")
    if pred.shape != target.shape:
        raise ValueError(
            f"pred and target must have the same shape, got {tuple(pred.shape)} and {tuple(target.shape)}"
        )
    pred, target = autocast_to_float32(pred, target)
    if pred.dtype != target.dtype:
        raise TypeError(f"pred is {pred.dtype} but target is {target.dtype}; give both one dtype")
    check_same_device(pred, "pred", target, "target")
    check_op_device(pred, "pred", "mfif::nps_loss")
    check_nonempty(pred, "pred")
    alpha = check_finite_scalar(alpha, "alpha", positive=True)
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    unbatched = pred.dim() == 3
    if unbatched:
        pred, target = pred.unsqueeze(0), target.unsqueeze(0)
    loss = torch.ops.mfif.nps_loss(pred, target, alpha)
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss[0] if unbatched else loss


@torch.library.register_fake("mfif::nps_loss")
def _nps_loss_fake(pred, target, alpha):
    check_fake_devices("nps_loss", pred=pred, target=target)
    return pred.new_empty((pred.shape[0],))


@torch.library.register_fake("mfif::_nps_loss_backward")
def _nps_loss_backward_fake(grad, pred, target, alpha):
    check_fake_devices("_nps_loss_backward", grad=grad, pred=pred, target=target)
    return pred.new_empty(pred.shape)


def _setup_context(ctx, inputs, output):
    pred, target, alpha = inputs
    ctx.save_for_backward(pred, target)
    ctx.alpha = alpha


def _backward(ctx, grad):
    pred, target = ctx.saved_tensors
    grad_pred = None
    if ctx.needs_input_grad[0]:
        grad_pred = torch.ops.mfif._nps_loss_backward(grad, pred, target, ctx.alpha)
    return grad_pred, None, None


torch.library.register_autograd("mfif::nps_loss", _backward, setup_context=_setup_context)


def _backward_setup_context(ctx, inputs, output):
    grad, pred, target, alpha = inputs
    ctx.save_for_backward(grad, pred, target)
    ctx.alpha = alpha


def _backward_backward(ctx, v):
    """Derivatives of the backward op, so that double backward is exact.

    The backward is linear in ``grad``: ``d/d grad_b = sum(v * backward(1))``
    over sample b. With respect to ``pred`` only the NPS term has a second
    derivative (the min/max subgradients are piecewise constant):
    ``phi''(|d|) = -alpha^2 / 2 * t (1 - t^2)``, ``t = tanh(alpha |d| / 2)``,
    scaled by ``grad_b / (H W)``. ``target`` is a constant, as in the forward.
    """
    grad, pred, target = ctx.saved_tensors
    need_grad, need_pred = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
    d_grad = d_pred = None
    if need_grad:
        unit = torch.ops.mfif._nps_loss_backward(torch.ones_like(grad), pred, target, ctx.alpha)
        d_grad = (unit * v).flatten(1).sum(1).to(grad.dtype)
    if need_pred:
        work = torch.float32 if pred.dtype in HALF_DTYPES else pred.dtype
        # the kernels' cap on alpha (phi is already 1 for |d| > 1e-28 there)
        alpha = min(ctx.alpha, 1e300 if work == torch.float64 else 1e30)
        half_x = alpha * (target.to(work) - pred.to(work)).abs() / 2
        t = torch.tanh(half_x)
        sech2 = torch.cosh(half_x).reciprocal().square()  # 1 - t^2 without cancellation
        phi2 = -(alpha * t) * (alpha * sech2) / 2
        scale = grad.to(work) / (pred.shape[-2] * pred.shape[-1])
        d_pred = (scale[:, None, None, None] * phi2 * v.to(work)).to(pred.dtype)
    return d_grad, d_pred, None, None


torch.library.register_autograd("mfif::_nps_loss_backward", _backward_backward, setup_context=_backward_setup_context)
# Under torch.autocast the loss runs in float32, like torch's own losses.
for _device in ("cpu", "cuda"):
    torch.library.register_autocast("mfif::nps_loss", _device, torch.float32)
