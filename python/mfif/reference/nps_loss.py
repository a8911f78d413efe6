"""Reference of :func:`mfif.ops.nps_loss`: eq. 4 and 5 of Guerrero Pena et al., literally."""
from __future__ import annotations

import torch


def nps_loss(pred: torch.Tensor, target: torch.Tensor, alpha: float = 6.0, reduction: str = "mean") -> torch.Tensor:
    r"""NPS regression loss, written as in the paper; autograd gives its gradient.

    .. math::
        \varphi_\alpha(y, \hat y) = \frac{2}{e^{-\alpha |y - \hat y|} + 1} - 1, \qquad
        L = \sum_c \Big[\operatorname{mean}_p \varphi_\alpha(y_c(p), \hat y_c(p))
            + |\min y_c - \min \hat y_c| + |\max y_c - \max \hat y_c|\Big]

    The minima and maxima use ``min(dim=-1)``/``max(dim=-1)`` over the flattened
    plane, whose gradient goes to the first extreme in row-major order, the tie
    rule of :func:`mfif.ops.nps_loss`.

    Args:
        pred: estimated image :math:`\hat y`, ``[B, C, H, W]`` or ``[C, H, W]``.
        target: ground truth :math:`y`, same shape.
        alpha: steepness :math:`\alpha` of the NPS.
        reduction: ``"mean"`` or ``"sum"`` over the batch, or ``"none"``.

    Returns:
        the loss: a scalar, or ``[B]`` (a 0-dim tensor for unbatched input) for ``"none"``.

    Examples:
        >>> x = torch.rand(1, 3, 8, 8)
        >>> float(nps_loss(x, x))
        0.0
    """
    d = target - pred
    phi = 2.0 / (torch.exp(-alpha * d.abs()) + 1.0) - 1.0
    t = target.flatten(-2)
    p = pred.flatten(-2)
    per_channel = (
        phi.flatten(-2).mean(-1)
        + (t.min(dim=-1).values - p.min(dim=-1).values).abs()
        + (t.max(dim=-1).values - p.max(dim=-1).values).abs()
    )
    loss = per_channel.sum(-1)
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss
