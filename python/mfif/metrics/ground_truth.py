"""Full-reference scores of a fused image against a ground truth: SSIM, PSNR, MAE.

They take ``(fused, truth)``, grey ``[B, H, W]`` on the 0..255 scale (the same
grey images as the fusion metrics, see :func:`mfif.metrics.as_grey`).
"""
from __future__ import annotations

import math

import torch

from ._common import check_grey, gaussian_taps
from .yang import LocalMoments


def ssim(fused: torch.Tensor, truth: torch.Tensor, data_range: float = 255.0) -> torch.Tensor:
    """Mean SSIM of Wang et al. (2004): 11x11 Gaussian window (sigma 1.5), 'valid' windows.

    Constants ``(0.01 L)^2`` and ``(0.03 L)^2`` with ``L = data_range``;
    population (not sample) local variances, as in Wang's reference code and
    ``skimage.metrics.structural_similarity(..., gaussian_weights=True,
    use_sample_covariance=False)``.

    Args:
        fused, truth: grey images ``[B, H, W]`` or ``[H, W]``, at least 11x11.
        data_range: the value range of the data (255 for the 8-bit grey scale).

    Returns:
        ``[B]`` float64 in [-1, 1].

    Examples:
        >>> import torch
        >>> x = torch.rand(1, 32, 32).double() * 255
        >>> float(ssim(x, x))
        1.0
    """
    f, t = check_grey(fused, truth, names=("fused", "truth"))
    m = LocalMoments((f, t), gaussian_taps(11, 1.5))
    return m.ssim(0, 1, (0.01 * data_range) ** 2, (0.03 * data_range) ** 2).mean((1, 2))


def psnr(fused: torch.Tensor, truth: torch.Tensor, data_range: float = 255.0) -> torch.Tensor:
    """Peak signal-to-noise ratio ``10 log10(L^2 / MSE)`` in dB; ``inf`` for identical images.

    Args:
        fused, truth: grey images ``[B, H, W]`` or ``[H, W]``.
        data_range: the peak value ``L``.

    Returns:
        ``[B]`` float64.

    Examples:
        >>> import torch
        >>> round(float(psnr(torch.zeros(1, 4, 4), torch.ones(1, 4, 4))), 4)
        48.1308
    """
    f, t = check_grey(fused, truth, names=("fused", "truth"))
    mse = ((f - t) ** 2).mean((1, 2))
    return torch.where(mse > 0, 10 * torch.log10(data_range**2 / torch.where(mse > 0, mse, 1)), math.inf)


def mae(fused: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Mean absolute error in grey levels.

    Args:
        fused, truth: grey images ``[B, H, W]`` or ``[H, W]``.

    Returns:
        ``[B]`` float64.
    """
    f, t = check_grey(fused, truth, names=("fused", "truth"))
    return (f - t).abs().mean((1, 2))
