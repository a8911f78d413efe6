"""QE: Piella and Heijmans' edge-dependent fusion quality index (2003)."""
from __future__ import annotations

import torch

from ._common import check_grey, separable_correlate

# SSIM constants (K L)^2 with K = 1e-6 and L = 255: nearly the universal image quality index
_C = (1e-6 * 255.0) ** 2
_BOX = [1.0 / 8] * 8  # the 8x8 mean window (1/8 is exact, so integer data gives exact moments)


def _mean(t: torch.Tensor) -> torch.Tensor:
    return separable_correlate(t, _BOX, _BOX, "valid")


def _ssim(mx, my, vx, vy, cxy):
    return (2 * mx * my + _C) * (2 * cxy + _C) / ((mx * mx + my * my + _C) * (vx + vy + _C))


def weighted_fusion_quality(a: torch.Tensor, b: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """Piella's weighted fusion quality index Q_W over sliding 8x8 windows, ``[B]``.

    ``Q_W = sum_w c(w) (l(w) Q0(F, A | w) + (1 - l(w)) Q0(F, B | w))`` with the
    local variances ``s_A``, ``s_B`` as saliencies (0.5 each where both are 0),
    ``l = s_A / (s_A + s_B)``, ``c = max(s_A, s_B) / sum_w max(s_A, s_B)`` and
    ``Q0`` the SSIM map with constants ``(1e-6 * 255)^2`` ('valid' windows).
    Moments are ``E[x^2] - E[x]^2`` as in the reference code: exact for integer
    data, since the 8x8 mean only divides by powers of two.
    """
    ma, mb, mf = _mean(a), _mean(b), _mean(f)
    va, vb, vf = _mean(a * a) - ma * ma, _mean(b * b) - mb * mb, _mean(f * f) - mf * mf
    s_fa = _ssim(mf, ma, vf, va, _mean(f * a) - mf * ma)
    s_fb = _ssim(mf, mb, vf, vb, _mean(f * b) - mf * mb)
    both_flat = (va + vb) == 0
    va = torch.where(both_flat, 0.5, va)
    vb = torch.where(both_flat, 0.5, vb)
    lam = va / (va + vb)
    cw = torch.maximum(va, vb)
    q = lam * s_fa + (1 - lam) * s_fb
    return (cw * q).sum((1, 2)) / cw.sum((1, 2))


def _edge_magnitude(x: torch.Tensor) -> torch.Tensor:
    # Prewitt-like responses by correlation with zero padding:
    # [1 0 -1; 1 0 -1; 1 0 -1] and [1 1 1; 0 0 0; -1 -1 -1]
    gx = separable_correlate(x, (1, 1, 1), (1, 0, -1))
    gy = separable_correlate(x, (1, 0, -1), (1, 1, 1))
    return torch.sqrt(gx * gx + gy * gy)


def qe(source_a: torch.Tensor, source_b: torch.Tensor, fused: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """Piella's edge-dependent fusion quality index, the survey's QE.

    ``QE = Q_W(A, B, F) * Q_W(A', B', F')^alpha`` where ``X'`` is the edge
    magnitude of X (Prewitt-like 3x3 responses, zero padding) and ``Q_W`` is
    :func:`weighted_fusion_quality`: 8x8 sliding windows ('valid'), local
    variances as saliency, SSIM constants ``(1e-6 * 255)^2``. Images on the
    0..255 scale, not rescaled. Range about 0..1, higher is better.

    Args:
        source_a, source_b, fused: grey images ``[B, H, W]`` or ``[H, W]``, at least 8x8.
        alpha: weight of the edge term (1 in the survey).

    Returns:
        ``[B]`` float64.

    Examples:
        >>> import torch
        >>> a = torch.rand(1, 32, 32).double() * 255
        >>> round(float(qe(a, a, a)), 6)
        1.0
    """
    a, b, f = check_grey(source_a, source_b, fused)
    if a.shape[1] < 8 or a.shape[2] < 8:
        raise ValueError(f"images of {tuple(a.shape[1:])} are smaller than QE's 8x8 window")
    q = weighted_fusion_quality(a, b, f)
    qw = weighted_fusion_quality(_edge_magnitude(a), _edge_magnitude(b), _edge_magnitude(f))
    return q * qw**alpha
