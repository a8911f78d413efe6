"""``torch.nn.Module`` forms of mfif's ops, as torch.nn and kornia offer them.

Each module holds the op's parameters and calls the functional op in
:mod:`mfif.ops` (so the checks, kernels and gradients are those of the ops);
they have no learnable parameters and no state.

Examples:
    >>> import torch
    >>> from mfif.ops import BoxFilter, GuidedFilter, NPSLoss
    >>> x = torch.rand(1, 3, 32, 32)
    >>> BoxFilter(4)(x).shape
    torch.Size([1, 3, 32, 32])
    >>> GuidedFilter(radius=8, eps=0.1)(x, torch.rand(1, 1, 32, 32)).shape
    torch.Size([1, 1, 32, 32])
    >>> float(NPSLoss(alpha=6.0)(x, x))
    0.0
"""
from __future__ import annotations

import torch
from torch import nn

from .filters import box_filter, guided_filter
from .nps_loss import nps_loss


class BoxFilter(nn.Module):
    """:func:`mfif.ops.box_filter` as a module: the mean (or sum) over a ``(2r+1)^2`` window.

    Args:
        radius: window radius ``r >= 0``.
        normalize: mean (True) or plain window sum (False).
    """

    def __init__(self, radius: int, normalize: bool = True) -> None:
        super().__init__()
        self.radius, self.normalize = int(radius), bool(normalize)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Filter ``x`` ``[..., H, W]`` (float32/float64)."""
        return box_filter(x, self.radius, self.normalize)

    def extra_repr(self) -> str:
        return f"radius={self.radius}, normalize={self.normalize}"


class GuidedFilter(nn.Module):
    """:func:`mfif.ops.guided_filter` as a module (He, Sun and Tang, TPAMI 2013).

    Args:
        radius: window radius ``r >= 0``.
        eps: regularisation ``> 0`` (in squared units of the guide).
    """

    def __init__(self, radius: int, eps: float) -> None:
        super().__init__()
        self.radius, self.eps = int(radius), float(eps)

    def forward(self, guide: torch.Tensor, src: torch.Tensor) -> torch.Tensor:
        """Filter ``src`` ``[B, C, H, W]`` guided by ``guide`` ``[B, 1|3, H, W]``."""
        return guided_filter(guide, src, self.radius, self.eps)

    def extra_repr(self) -> str:
        return f"radius={self.radius}, eps={self.eps}"


class NPSLoss(nn.Module):
    """:func:`mfif.ops.nps_loss` as a loss module: ``NPSLoss()(pred, target)``.

    Args:
        alpha: steepness of the NPS (the paper uses 6, 8, 10).
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` over the batch, as the op.
    """

    def __init__(self, alpha: float = 6.0, reduction: str = "mean") -> None:
        super().__init__()
        self.alpha, self.reduction = float(alpha), reduction

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The loss of ``pred`` against ``target`` (gradient with respect to ``pred``)."""
        return nps_loss(pred, target, self.alpha, self.reduction)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, reduction={self.reduction!r}"


__all__ = ["BoxFilter", "GuidedFilter", "NPSLoss"]
