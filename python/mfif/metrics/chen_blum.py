"""QCB: the human-perception-based fusion metric of Chen and Blum (2009)."""
from __future__ import annotations

import math

import torch

from ._common import centred_radius, check_grey, filter_centred_spectrum, rescale_255

# DoG contrast sensitivity filter of the reference code: exp(-(r/f0)^2) - a exp(-(r/f1)^2)
_F0, _F1, _A = 15.3870, 1.3456, 0.7622
# local contrast response k C^p / (h C^q + Z)
_K, _H, _P, _Q, _Z = 1.0, 1.0, 3.0, 2.0, 1e-4
_HALF = 15  # the Gaussians of the contrast are sampled on a 31x31 grid


def _gaussian_spectra(h: int, w: int, device):
    """FFTs, at the zero-padded size, of the two 31x31 Gaussians (sigma 2 and 4, 1/(2 pi s^2) scaled)."""
    r = torch.arange(-_HALF, _HALF + 1, dtype=torch.float64, device=device)
    d2 = r[:, None] ** 2 + r[None, :] ** 2
    size = (h + 2 * _HALF, w + 2 * _HALF)
    out = []
    for sigma in (2.0, 4.0):
        g = torch.exp(-d2 / (2 * sigma * sigma)) / (2 * math.pi * sigma * sigma)
        out.append(torch.fft.fft2(g, s=size))
    return out


def _contrast_response(x: torch.Tensor, spectra) -> torch.Tensor:
    """``|G1 * x / G2 * x - 1|`` ('same', zero padding, via FFT), then the k C^p / (h C^q + Z) response."""
    h, w = x.shape[1:]
    size = (h + 2 * _HALF, w + 2 * _HALF)
    fx = torch.fft.fft2(x, s=size)
    crop = (slice(None), slice(_HALF, _HALF + h), slice(_HALF, _HALF + w))
    num = torch.fft.ifft2(fx * spectra[0])[crop]
    den = torch.fft.ifft2(fx * spectra[1])[crop]
    c = torch.abs(num / den - 1)
    return _K * c**_P / (_H * c**_Q + _Z)


def _preservation(cs: torch.Tensor, cf: torch.Tensor) -> torch.Tensor:
    """``min(cs, cf) / max(cs, cf)`` (1 where both are 0)."""
    hi = torch.maximum(cs, cf)
    return torch.where(hi > 0, torch.minimum(cs, cf) / torch.where(hi > 0, hi, 1), 1.0)


def qcb(source_a: torch.Tensor, source_b: torch.Tensor, fused: torch.Tensor) -> torch.Tensor:
    """Chen and Blum's perceptual fusion metric, the survey's QCB.

    Conventions of the survey's code: each image rescaled to 0..255 and rounded;
    contrast-sensitivity filtering in the frequency domain with the DoG
    ``exp(-(r/15.387)^2) - 0.7622 exp(-(r/1.3456)^2)`` on MATLAB's ``freqspace``
    grid scaled by ``size/30`` (complex result kept); local contrast
    ``|G_2 * I / G_4 * I - 1|`` with 31x31 Gaussians (sigma 2 and 4, zero-padded
    'same' filtering); masked contrast ``C^3 / (C^2 + 1e-4)``; preservation
    ``min/max`` of source and fused contrast; saliency ``C_A^2 / (C_A^2 + C_B^2)``;
    QCB is the mean of the weighted preservation map. Range 0..1, higher is better.

    Args:
        source_a, source_b, fused: grey images ``[B, H, W]`` or ``[H, W]``.

    Returns:
        ``[B]`` float64.

    Examples:
        >>> import torch
        >>> a = torch.rand(1, 64, 64).double() * 255
        >>> round(float(qcb(a, a, a)), 6)
        1.0
    """
    a, b, f = (rescale_255(t) for t in check_grey(source_a, source_b, fused))
    h, w = a.shape[1:]
    csf = torch.exp(-(centred_radius(h, w, h / 30, w / 30, a.device) / _F0) ** 2)
    csf = csf - _A * torch.exp(-(centred_radius(h, w, h / 30, w / 30, a.device) / _F1) ** 2)
    spectra = _gaussian_spectra(h, w, a.device)
    c_a, c_b, c_f = (_contrast_response(filter_centred_spectrum(x, csf), spectra) for x in (a, b, f))
    q_af, q_bf = _preservation(c_a, c_f), _preservation(c_b, c_f)
    s_a, s_b = c_a * c_a, c_b * c_b
    total = s_a + s_b
    lam = torch.where(total > 0, s_a / torch.where(total > 0, total, 1), 0.5)
    return (lam * q_af + (1 - lam) * q_bf).mean((1, 2))
