"""Information-theoretic metrics: QMI (Hossny), QTE (Tsallis), QNCIE (Wang).

All three use 256-bin (joint) histograms of the grey images after each image is
rescaled to 0..255 and rounded (the toolbox's ``normalize1``; on 8-bit data
whose range is narrower than 0..255 this is a one-to-one relabelling, so the
histogram-based values do not change).
"""
from __future__ import annotations

import torch

from ._common import check_grey, entropy, joint_histogram, rescale_255


def _mi_terms(x: torch.Tensor, f: torch.Tensor):
    """``(I(x;f), H(x), H(f))`` in bits from the 256x256 joint histogram."""
    p = joint_histogram(x, f)
    hx = entropy(p.sum(2), 1)
    hf = entropy(p.sum(1), 1)
    hxf = entropy(p, (1, 2))
    return hx + hf - hxf, hx, hf


def qmi(source_a: torch.Tensor, source_b: torch.Tensor, fused: torch.Tensor) -> torch.Tensor:
    """Normalised mutual information of Hossny et al. (2008), the survey's QMI.

    ``QMI = 2 * (I(A;F) / (H(A) + H(F)) + I(B;F) / (H(B) + H(F)))`` with entropies in
    bits from 256-bin histograms of the images rescaled to 0..255 and rounded.
    Range 0..2, higher is better.

    Args:
        source_a, source_b, fused: grey images ``[B, H, W]`` or ``[H, W]`` (0..255 scale).

    Returns:
        ``[B]`` float64.

    Examples:
        >>> import torch
        >>> a = torch.randint(0, 256, (1, 32, 32)).double()
        >>> round(float(qmi(a, a, a)), 12)
        2.0
    """
    a, b, f = (rescale_255(t) for t in check_grey(source_a, source_b, fused))
    i_af, h_a, h_f = _mi_terms(a, f)
    i_bf, h_b, _ = _mi_terms(b, f)
    return 2 * (i_af / (h_a + h_f) + i_bf / (h_b + h_f))


def qte(source_a: torch.Tensor, source_b: torch.Tensor, fused: torch.Tensor, q: float = 1.85) -> torch.Tensor:
    """Tsallis-entropy fusion metric (Cvejic et al. 2006), QTE.

    ``QTE = I_q(A;F) + I_q(B;F)`` with the Tsallis mutual information
    ``I_q(X;F) = (1 - sum_xf p(x,f)^q / (p(x)^(q-1) p(f)^(q-1))) / (1 - q)`` of order
    ``q`` (1.85 in Cvejic et al.) over 256-bin histograms of the images rescaled
    to 0..255. Higher is better. No survey reference values exist for it.

    Args:
        source_a, source_b, fused: grey images ``[B, H, W]`` or ``[H, W]``.
        q: the Tsallis order (not 1).

    Returns:
        ``[B]`` float64.
    """
    if q == 1:
        raise ValueError("q must differ from 1 (q = 1 is Shannon mutual information: use qmi)")
    a, b, f = (rescale_255(t) for t in check_grey(source_a, source_b, fused))

    def tsallis(x):
        p = joint_histogram(x, f)
        px = p.sum(2, keepdim=True)
        pf = p.sum(1, keepdim=True)
        denom = (px * pf).clamp_min(1e-300) ** (q - 1)
        s = torch.where(p > 0, p**q / denom, 0).sum((1, 2))
        return (1 - s) / (1 - q)

    return tsallis(a) + tsallis(b)


def _ncc(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Nonlinear correlation coefficient: mutual information in units of log2(256)."""
    i, _, _ = _mi_terms(x, y)
    return i / 8.0


def qncie(source_a: torch.Tensor, source_b: torch.Tensor, fused: torch.Tensor) -> torch.Tensor:
    """Nonlinear correlation information entropy of Wang et al. (2008), QNCIE.

    The 3x3 matrix ``R`` of nonlinear correlation coefficients between A, B and F
    (``NCC = I(X;Y) / log2(256)``, 256-bin histograms, 1 on the diagonal) has
    eigenvalues ``l_i``; ``QNCIE = 1 + sum_i (l_i / 3) log_256(l_i / 3)``.
    Range 0..1, higher is better.

    Args:
        source_a, source_b, fused: grey images ``[B, H, W]`` or ``[H, W]``.

    Returns:
        ``[B]`` float64.
    """
    a, b, f = (rescale_255(t) for t in check_grey(source_a, source_b, fused))
    n_ab, n_af, n_bf = _ncc(a, b), _ncc(a, f), _ncc(b, f)
    one = torch.ones_like(n_ab)
    R = torch.stack([torch.stack([one, n_ab, n_af], -1),
                     torch.stack([n_ab, one, n_bf], -1),
                     torch.stack([n_af, n_bf, one], -1)], -2)
    lam = torch.linalg.eigvalsh(R).clamp_min(0) / 3
    return 1 + torch.where(lam > 0, lam * torch.log2(torch.where(lam > 0, lam, 1)), 0).sum(-1) / 8.0
