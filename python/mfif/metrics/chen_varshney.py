"""QCV: the regional perceptual fusion metric of Chen and Varshney (2007); lower is better."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ._common import centred_radius, check_grey, filter_centred_spectrum, rescale_255, sobel

_BLOCK = 16    # local regions: non-overlapping 16x16 blocks (partial blocks zero-padded)
_ALPHA = 5.0   # saliency exponent of the survey's code


def _block_sum(x: torch.Tensor) -> torch.Tensor:
    """Sums over 16x16 blocks, the last partial blocks padded with zeros (MATLAB ``blkproc``)."""
    h, w = x.shape[-2:]
    ph, pw = -h % _BLOCK, -w % _BLOCK
    x = F.pad(x, (0, pw, 0, ph))
    hb, wb = x.shape[-2] // _BLOCK, x.shape[-1] // _BLOCK
    return x.reshape(*x.shape[:-2], hb, _BLOCK, wb, _BLOCK).sum((-3, -1))


def _mannos_sakrison(h: int, w: int, device) -> torch.Tensor:
    """``2.6 (0.0192 + 0.144 r) exp(-(0.144 r)^1.1)`` on the freqspace grid scaled by size/8."""
    r = centred_radius(h, w, h / 8, w / 8, device)
    return 2.6 * (0.0192 + 0.144 * r) * torch.exp(-((0.144 * r) ** 1.1))


def qcv(source_a: torch.Tensor, source_b: torch.Tensor, fused: torch.Tensor) -> torch.Tensor:
    """Chen and Varshney's perceptual fusion metric, the survey's QCV (lower is better).

    Conventions of the survey's code: each image rescaled to 0..255 and rounded;
    region saliency ``l_S = sum over a 16x16 block of g_S^5`` with ``g`` the Sobel
    magnitude (zero padding); the differences ``S - F`` filtered in the frequency
    domain with the Mannos-Sakrison CSF (``freqspace`` grid scaled by size/8,
    complex result kept); ``D_S`` the block mean of the squared filtered
    difference (complex square, blocks of 256 pixels with zero padding at the
    border); ``QCV = sum(l_A D_A + l_B D_B) / sum(l_A + l_B)``, real part.

    Args:
        source_a, source_b, fused: grey images ``[B, H, W]`` or ``[H, W]``.

    Returns:
        ``[B]`` float64 (0 for a fused image equal to both sources).

    Examples:
        >>> import torch
        >>> a = torch.rand(1, 32, 32).double() * 255
        >>> float(qcv(a, a, a))
        0.0
    """
    a, b, f = (rescale_255(t) for t in check_grey(source_a, source_b, fused))
    h, w = a.shape[1:]
    csf = _mannos_sakrison(h, w, a.device)
    num = torch.zeros(a.shape[0], dtype=torch.complex128, device=a.device)
    den = torch.zeros(a.shape[0], dtype=torch.float64, device=a.device)
    for s in (a, b):
        gx, gy = sobel(s)
        saliency = _block_sum(torch.sqrt(gx * gx + gy * gy) ** _ALPHA)
        diff = filter_centred_spectrum(s - f, csf)
        dist = _block_sum(diff * diff) / (_BLOCK * _BLOCK)
        num += (saliency * dist).sum((1, 2))
        den += saliency.sum((1, 2))
    return (num / den).real
