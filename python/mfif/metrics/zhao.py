"""QP: the phase-congruency-based fusion metric of Zhao, Laganiere and Liu (2007)."""
from __future__ import annotations

import torch

from ._common import check_grey, gaussian_taps, separable_correlate
from .phase_congruency import phase_congruency

_FEATURE_THRESHOLD = 0.1
_C = 1e-4


def _correlation(x1, x2, xmax, xf, m1, m2, m3) -> torch.Tensor:
    """Mean over the feature pixels of ``max_k`` local correlation of feature map k with the fused one."""
    taps = gaussian_taps(11, 1.5)

    def blur(t):
        return separable_correlate(t, taps, taps, "same")

    mu_f = blur(xf)
    var_f = blur(xf * xf) - mu_f * mu_f
    best = None
    for x, m in ((x1, m1), (x2, m2), (xmax, m3)):
        x = x * m
        mu = blur(x)
        var = blur(x * x) - mu * mu
        cov = blur(x * xf) - mu * mu_f
        r = torch.where(m, (cov + _C) / (torch.sqrt(torch.abs(var * var_f)) + _C), 0.0)
        best = r if best is None else torch.maximum(best, r)
    return best.sum((1, 2)) / m3.sum((1, 2))


def qp(source_a: torch.Tensor, source_b: torch.Tensor, fused: torch.Tensor) -> torch.Tensor:
    """Zhao et al.'s phase-congruency fusion metric, the survey's QP.

    ``QP = P_p * P_M * P_m``: for the phase congruency ``p`` and the maximum and
    minimum moments ``M``, ``m`` of its covariance (see
    :func:`~mfif.metrics.phase_congruency.phase_congruency`; images on the
    0..255 scale, not rescaled), each factor is the mean over the pixels where
    ``max(p_A, p_B) > 0.1`` of the largest of the local correlation coefficients
    ``(s_XF + C) / (sqrt(|s_X^2 s_F^2|) + C)`` between the fused feature map and
    the feature maps of A, B and of the source with the larger ``p`` (each masked
    to its own ``p > 0.1``); 11x11 Gaussian windows (sigma 1.5, 'same', zero
    padding), ``C = 1e-4``. Range about 0..1, higher is better; NaN when no
    pixel of either source has ``p > 0.1``.

    Args:
        source_a, source_b, fused: grey images ``[B, H, W]`` or ``[H, W]``.

    Returns:
        ``[B]`` float64.
    """
    a, b, f = check_grey(source_a, source_b, fused)
    pc, big, small = phase_congruency(torch.cat([a, b, f]))
    n = a.shape[0]
    pa, pb, pf = pc[:n], pc[n:2 * n], pc[2 * n:]
    a_wins = pa > pb
    m1, m2 = pa > _FEATURE_THRESHOLD, pb > _FEATURE_THRESHOLD
    pmax = torch.where(a_wins, pa, pb)
    m3 = pmax > _FEATURE_THRESHOLD
    out = torch.ones(n, dtype=torch.float64, device=a.device)
    for feat in (pc, big, small):
        fa, fb, ff = feat[:n], feat[n:2 * n], feat[2 * n:]
        out = out * _correlation(fa, fb, torch.where(a_wins, fa, fb), ff, m1, m2, m3)
    return out
