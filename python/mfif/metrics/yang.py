"""QY: the SSIM-based fusion metric of Yang et al. (2008)."""
from __future__ import annotations

import torch

from ._common import check_grey, gaussian_taps, separable_correlate

_C = 2e-16  # both SSIM constants in the survey's code


def _flat(x: torch.Tensor, k: int) -> torch.Tensor:
    """True where the k x k 'valid' window of x holds one value only (separable running max/min)."""
    def extreme(t, op):
        # window extremes by doubling: extremes of widths 1, 2, 4, ... then two overlapping halves
        for dim in (1, 2):
            acc, width = t, 1
            while 2 * width <= k:
                n = acc.shape[dim] - width
                acc = op(acc.narrow(dim, 0, n), acc.narrow(dim, width, n))
                width *= 2
            if width < k:  # cover k with two windows of `width` that overlap
                n = t.shape[dim] - k + 1
                acc = op(acc.narrow(dim, 0, n), acc.narrow(dim, k - width, n))
            t = acc
        return t
    return extreme(x, torch.maximum) == extreme(x, torch.minimum)


class LocalMoments:
    """Gaussian-weighted local moments of several images over 'valid' windows, computed stably.

    Moments come from ``E[x^2] - E[x]^2`` in float64 after removing the images'
    common mean, which leaves a rounding error of about 1e-12 on 8-bit data;
    windows holding a single value get exactly zero variance (and zero
    covariance) from a min/max test. Any other window of 8- or 16-bit data has a
    variance of at least ~1e-8, so the remaining relative error is tiny; without
    the test the 1e-12 noise would swamp QY's 2e-16 constants on flat areas.

    Args:
        images: ``[B, H, W]`` float64 tensors of one shape.
        taps: the 1-D factor of the separable window (odd length k, sums to 1).
    """

    def __init__(self, images, taps: list[float]):
        k = len(taps)
        h, w = images[0].shape[1:]
        if h < k or w < k:
            raise ValueError(f"images of {(h, w)} are smaller than the {k}x{k} window")
        self.taps = taps
        self.shift = sum(x.mean((1, 2), keepdim=True) for x in images) / len(images)
        self.centred = [x - self.shift for x in images]
        self.mean = [self._blur(x) for x in self.centred]
        self.flat = [_flat(x, k) for x in images]
        self.var = [torch.where(fl, 0, (self._blur(x * x) - m * m).clamp_min_(0))
                    for x, m, fl in zip(self.centred, self.mean, self.flat)]

    def _blur(self, t):
        return separable_correlate(t, self.taps, self.taps, "valid")

    def cov(self, i: int, j: int) -> torch.Tensor:
        xi, xj = self.centred[i], self.centred[j]
        c = self._blur(xi * xj) - self.mean[i] * self.mean[j]
        return torch.where(self.flat[i] | self.flat[j], 0, c)

    def ssim(self, i: int, j: int, c1: float = _C, c2: float = _C) -> torch.Tensor:
        """The SSIM map of images i and j."""
        mi, mj = self.mean[i] + self.shift, self.mean[j] + self.shift
        return ((2 * mi * mj + c1) * (2 * self.cov(i, j) + c2)
                / ((mi * mi + mj * mj + c1) * (self.var[i] + self.var[j] + c2)))


def qy(source_a: torch.Tensor, source_b: torch.Tensor, fused: torch.Tensor, threshold: float = 0.75) -> torch.Tensor:
    """Yang et al.'s structural-similarity fusion metric, the survey's QY.

    SSIM maps with a 7x7 Gaussian window (sigma 1.5, ``fspecial``), 'valid'
    filtering and both constants 2e-16, on the 0..255 grey scale. Where
    ``SSIM(A, B) >= threshold`` the score is
    ``l SSIM(A, F) + (1 - l) SSIM(B, F)`` with ``l = var_A / (var_A + var_B)``
    (0.5 where both sources are flat); elsewhere ``max(SSIM(A, F), SSIM(B, F))``.
    QY is the mean over the valid area. Local moments are computed stably (see
    :func:`local_moments`); MATLAB's own values on perfectly flat areas carry
    rounding noise, so expect differences of up to ~1e-3 on images with large
    flat (e.g. saturated) regions and agreement to ~1e-6 elsewhere. On the
    official Liu 2017 code's fused Lytro images (../shared/data/reference) the
    mean over the 20 pairs is 0.98749076 here against the survey's 0.98749980:
    the gap comes from the few hundred windows per image where both sources
    are flat, whose MATLAB value is set by rounding noise (lytro-02: 582 such
    windows, -1.2e-4 on that image).

    Args:
        source_a, source_b, fused: grey images ``[B, H, W]`` or ``[H, W]``, at least 7x7.
        threshold: the SSIM(A, B) level separating the two rules.

    Returns:
        ``[B]`` float64.

    Examples:
        >>> import torch
        >>> a = torch.rand(1, 16, 16).double() * 255
        >>> float(qy(a, a, a))
        1.0
    """
    a, b, f = check_grey(source_a, source_b, fused)
    m = LocalMoments((a, b, f), gaussian_taps(7, 1.5))
    s_ab, s_af, s_bf = m.ssim(0, 1), m.ssim(0, 2), m.ssim(1, 2)
    v = m.var[0] + m.var[1]
    lam = torch.where(v > 0, m.var[0] / torch.where(v > 0, v, 1), 0.5)
    q = torch.where(s_ab >= threshold, lam * s_af + (1 - lam) * s_bf, torch.maximum(s_af, s_bf))
    return q.mean((1, 2))
