"""QG: the gradient-based edge-preservation metric Q^AB/F of Xydeas and Petrovic (2000)."""
from __future__ import annotations

import math

import torch

from ._common import check_grey, sobel

# (Gamma_g, kappa_g, sigma_g, Gamma_a, kappa_a, sigma_a) of the sigmoids
CORRECTED_CONSTANTS = (0.9994, -15.0, 0.5, 0.9879, -22.0, 0.8)  # Xydeas-Petrovic's values, used by the survey
TOOLBOX_CONSTANTS = (1.0, -10.0, 0.5, 1.0, -20.0, 0.75)         # Zheng Liu's original metricXydeas.m


def _edges(x: torch.Tensor):
    gx, gy = sobel(x)
    strength = torch.sqrt(gx * gx + gy * gy)
    # atan, not atan2 (orientation modulo pi), with 1e-5 where the x-gradient is 0
    orientation = torch.atan(gy / torch.where(gx == 0, 1e-5, gx))
    return strength, orientation


def qg(source_a: torch.Tensor, source_b: torch.Tensor, fused: torch.Tensor,
       constants: str | tuple = "corrected") -> torch.Tensor:
    """Xydeas-Petrovic edge preservation Q^AB/F, the survey's QG.

    Conventions (those of the survey's MATLAB code): Sobel responses by
    correlation with zero padding (``filter2(..., 'same')``); strength
    ``g = sqrt(gx^2 + gy^2)``; orientation ``atan(gy / gx)`` with gx = 0 replaced
    by 1e-5; relative strength ``min(g_S, g_F) / max(g_S, g_F)`` (1e-5 in place of
    a zero denominator); relative orientation ``1 - |a_S - a_F| / (pi / 2)``;
    edge preservation ``Q = Gg / (1 + exp(kg (G - Dg))) * Ga / (1 + exp(ka (A - Da)))``;
    ``QG = sum(Q_AF g_A + Q_BF g_B) / sum(g_A + g_B)`` over every pixel. Range 0..1.

    Args:
        source_a, source_b, fused: grey images ``[B, H, W]`` or ``[H, W]``.
        constants: ``"corrected"`` (0.9994, -15, 0.5; 0.9879, -22, 0.8, the
            values of Xydeas and Petrovic, which the survey's reference numbers use),
            ``"toolbox"`` (1, -10, 0.5; 1, -20, 0.75, those of the original
            toolbox file of Zheng Liu, which also used the orientation term
            ``| |a_S - a_F| - pi/2 | * 2 / pi``; this option uses that term too, so
            it reproduces the original file) or a 6-tuple ``(Gg, kg, Dg, Ga, ka, Da)``
            (with the survey's orientation term).

    Returns:
        ``[B]`` float64.

    Examples:
        >>> import torch
        >>> a = torch.rand(1, 32, 32).double() * 255
        >>> round(float(qg(a, a, a)), 4)   # a perfect copy: both sigmoids at G = A = 1
        0.9748
    """
    original_orientation = constants == "toolbox"
    if isinstance(constants, str):
        table = {"corrected": CORRECTED_CONSTANTS, "toolbox": TOOLBOX_CONSTANTS}
        if constants not in table:
            raise ValueError(f"constants must be 'corrected', 'toolbox' or a 6-tuple, got {constants!r}")
        constants = table[constants]
    if len(constants) != 6:
        raise ValueError(f"constants must have 6 values (Gg, kg, Dg, Ga, ka, Da), got {len(constants)}")
    tg, kg, dg, ta, ka, da = (float(c) for c in constants)
    a, b, f = check_grey(source_a, source_b, fused)
    g_f, o_f = _edges(f)
    num = torch.zeros(a.shape[0], dtype=torch.float64, device=a.device)
    den = torch.zeros_like(num)
    for s in (a, b):
        g_s, o_s = _edges(s)
        stronger = g_s > g_f
        rel_g = torch.where(stronger, g_f / torch.where(g_s == 0, 1e-5, g_s), g_s / torch.where(g_f == 0, 1e-5, g_f))
        if original_orientation:
            rel_o = torch.abs(torch.abs(o_s - o_f) - math.pi / 2) / (math.pi / 2)
        else:
            rel_o = 1 - torch.abs(o_s - o_f) / (math.pi / 2)
        q = tg / (1 + torch.exp(kg * (rel_g - dg))) * ta / (1 + torch.exp(ka * (rel_o - da)))
        num += (q * g_s).sum((1, 2))
        den += g_s.sum((1, 2))
    return num / den
