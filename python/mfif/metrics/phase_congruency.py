"""Phase congruency (Kovesi's PC_2 measure with log-Gabor filters), as the survey's QP uses it.

A re-implementation from Kovesi's published description ("Image features from
phase congruency", Videre 1999; "Phase congruency detects corners and edges",
DICTA 2003) with the parameters and the variant of the fusion-metric toolbox:
4 scales, 6 orientations, smallest wavelength 3, scale factor 2.1,
sigma_on_f 0.55, angular spread ratio 1.2, noise threshold k = 2 (divided by
1.7 for PC_2), frequency-spread cut-off 0.5 with gain 10, and the orientation
weighting and moments of the phase-congruency covariance.
"""
from __future__ import annotations

import functools
import math

import numpy as np
import torch

_NSCALE, _NORIENT = 4, 6
_MIN_WAVELENGTH, _MULT, _SIGMA_ON_F, _DTHETA_ON_SIGMA = 3.0, 2.1, 0.55, 1.2
_K, _CUTOFF, _G, _EPS = 2.0, 0.5, 10.0, 1e-4


def _axis(n: int) -> torch.Tensor:
    """Normalised frequency coordinates in +/-0.5 (odd sizes: symmetric, divided by n - 1)."""
    if n % 2:
        return (torch.arange(n, dtype=torch.float64) - (n - 1) / 2) / (n - 1)
    return (torch.arange(n, dtype=torch.float64) - n / 2) / n


def _filter_bank(rows: int, cols: int):
    """Log-Gabor filters ``[NORIENT, NSCALE, rows, cols]`` (0 frequency at the corner) and noise sums.

    Returns:
        ``(filters, em_n, sum_an2, sum_aiaj)``: the filters; per orientation the
        sum of the squared smallest-scale filter; per orientation the sums over
        pixels of the squared spatial filters and of their cross products between scales.
    """
    x = _axis(cols)[None, :].expand(rows, cols)
    y = _axis(rows)[:, None].expand(rows, cols)
    radius = torch.sqrt(x * x + y * y)
    radius[rows // 2, cols // 2] = 1.0  # avoid log(0); the DC value is zeroed below
    theta = torch.atan2(-y, x)
    radius = torch.fft.ifftshift(radius)
    theta = torch.fft.ifftshift(theta)
    # low-pass (radius 0.45, order 15) that keeps the filters away from the spectrum's corners
    lx = (torch.arange(1, cols + 1, dtype=torch.float64) - (cols // 2 + 1)) / cols
    ly = (torch.arange(1, rows + 1, dtype=torch.float64) - (rows // 2 + 1)) / rows
    lr = torch.sqrt(lx[None, :] ** 2 + ly[:, None] ** 2)
    lowpass = torch.fft.fftshift(1.0 / (1.0 + (lr / 0.45) ** 30))
    radial = []
    for s in range(_NSCALE):
        fo = 1.0 / (_MIN_WAVELENGTH * _MULT**s)
        lg = torch.exp(-(torch.log(radius / fo) ** 2) / (2 * math.log(_SIGMA_ON_F) ** 2)) * lowpass
        lg[0, 0] = 0.0
        radial.append(lg)
    theta_sigma = math.pi / _NORIENT / _DTHETA_ON_SIGMA
    sin_t, cos_t = torch.sin(theta), torch.cos(theta)
    filters = torch.empty(_NORIENT, _NSCALE, rows, cols, dtype=torch.float64)
    for o in range(_NORIENT):
        angle = o * math.pi / _NORIENT
        ds = sin_t * math.cos(angle) - cos_t * math.sin(angle)
        dc = cos_t * math.cos(angle) + sin_t * math.sin(angle)
        spread = torch.exp(-torch.atan2(ds, dc).abs() ** 2 / (2 * theta_sigma**2))
        for s in range(_NSCALE):
            filters[o, s] = radial[s] * spread
    em_n = (filters[:, 0] ** 2).sum((-2, -1))
    spatial = torch.fft.ifft2(filters).real * math.sqrt(rows * cols)
    sum_an2 = (spatial**2).sum((1, 2, 3))
    sum_aiaj = torch.zeros(_NORIENT, dtype=torch.float64)
    for si in range(_NSCALE - 1):
        for sj in range(si + 1, _NSCALE):
            sum_aiaj += (spatial[:, si] * spatial[:, sj]).sum((-2, -1))
    return filters, em_n, sum_an2, sum_aiaj


@functools.lru_cache(maxsize=4)
def _device_filters(rows: int, cols: int, dtype: torch.dtype, device: torch.device):
    """:func:`_filter_bank` with the filters in the response precision on ``device``, cached per size.

    Only this form is kept (about 24 H W values), so a call does not copy the bank.
    """
    filters, em_n, sum_an2, sum_aiaj = _filter_bank(rows, cols)
    return filters.to(device=device, dtype=dtype), em_n.to(device), sum_an2.to(device), sum_aiaj.to(device)


def _median(x: torch.Tensor) -> torch.Tensor:
    """MATLAB's median over the last dim (mean of the two middle values for even counts)."""
    lower, upper = _middle_values(x)
    return 0.5 * (lower + upper)


def _median_2d(x: torch.Tensor) -> torch.Tensor:
    """MATLAB's median of each ``[H, W]`` map of ``x`` ``[B, H, W]``, in float64, ``[B]``.

    On the CPU by ``numpy.partition`` (both middle values in one selection, no
    index tensor: about twice as fast as ``torch.kthvalue`` here).
    """
    flat = x.reshape(x.shape[0], -1)
    n = flat.shape[1]
    if flat.device.type != "cpu":
        return _median(flat.to(torch.float64))
    mid = np.partition(flat.numpy(), [(n - 1) // 2, n // 2], axis=1)[:, [(n - 1) // 2, n // 2]]
    return torch.from_numpy(mid.astype(np.float64)).mean(1)


def _middle_values(x: torch.Tensor):
    """The two middle values over the last dim (the same value twice for odd counts)."""
    n = x.shape[-1]
    upper = torch.kthvalue(x, n // 2 + 1, dim=-1, keepdim=True).values
    if n % 2:
        return upper[..., 0], upper[..., 0]
    # the lower middle value: the largest value below `upper`, or `upper` itself when tied
    below = x < upper
    lower = torch.where(below, x, -torch.inf).amax(-1, keepdim=True)
    lower = torch.where(below.sum(-1, keepdim=True) >= n // 2, lower, upper)
    return lower[..., 0], upper[..., 0]


def phase_congruency(img: torch.Tensor, response_dtype: torch.dtype = torch.float64):
    """Phase congruency and the maximum / minimum moments of its covariance.

    Args:
        img: ``[B, H, W]`` float64 (grey levels, any scale).
        response_dtype: precision of the filter responses and of the per-pixel
            maps built from them (the FFTs and the per-scale passes, most of the
            cost): float64, or float32 for about 1.7x the speed at a relative
            error of ~1e-6 in the result. The moments are returned in float64.

    Returns:
        ``(pc, M, m)``, each ``[B, H, W]``: phase congruency in [0, 1], the
        maximum moment (edge strength) and the minimum moment (corner strength).
    """
    if img.dim() != 3:
        raise ValueError(f"img must be [B, H, W], got shape {tuple(img.shape)}")
    # one image at a time on the CPU: the per-scale responses of a batch overflow the caches
    if img.device.type == "cpu" and img.shape[0] > 1:
        parts = [_phase_congruency(img[i:i + 1], response_dtype) for i in range(img.shape[0])]
        return tuple(torch.cat(t) for t in zip(*parts))
    return _phase_congruency(img, response_dtype)


def _phase_congruency(img: torch.Tensor, response_dtype: torch.dtype):
    """See :func:`phase_congruency`."""
    B, rows, cols = img.shape
    if response_dtype not in (torch.float32, torch.float64):
        raise TypeError(f"response_dtype must be torch.float32 or torch.float64, got {response_dtype}")
    complex_dtype = torch.complex64 if response_dtype == torch.float32 else torch.complex128
    filters, em_n, sum_an2, sum_aiaj = _device_filters(rows, cols, response_dtype, img.device)
    spectrum = torch.fft.fft2(img.to(response_dtype))[:, None]  # [B, 1, H, W]
    # work buffers reused by every orientation: fresh large CPU allocations cost page faults
    product = torch.empty(B, _NSCALE, rows, cols, dtype=complex_dtype, device=img.device)
    eo = torch.empty_like(product)
    parts = torch.empty(2, B, _NSCALE, rows, cols, dtype=response_dtype, device=img.device)
    even, odd = parts[0], parts[1]
    amp = torch.empty_like(even)
    # the per-pixel maps below stay in the response precision (their inputs carry its rounding anyway)
    total_energy = torch.zeros(B, rows, cols, dtype=response_dtype, device=img.device)
    total_sum_an = torch.zeros_like(total_energy)
    covx2, covy2, covxy = (torch.zeros_like(total_energy) for _ in range(3))
    for o in range(_NORIENT):
        torch.mul(spectrum, filters[o][None], out=product)
        torch.fft.ifft2(product, out=eo)  # [B, S, H, W]: even + i odd responses
        # one strided copy into contiguous even / odd maps: every later pass is then vectorised
        parts.copy_(torch.view_as_real(eo).movedim(-1, 0))
        torch.mul(even, even, out=amp).addcmul_(odd, odd)
        # noise: Rayleigh fit to the median squared amplitude at the smallest scale
        mean_e2n = -_median_2d(amp[:, 0]) / math.log(0.5)
        amp.sqrt_()
        sum_an, max_an = amp.sum(1), amp.amax(1)
        sum_e, sum_o = even.sum(1), odd.sum(1)
        x_energy = torch.hypot(sum_e, sum_o).add_(_EPS)
        mean_e, mean_o = sum_e / x_energy, sum_o / x_energy
        # sum_s (E mE + O mO) in closed form; only |E mO - O mE| needs every scale
        energy = sum_e * mean_e
        energy.addcmul_(sum_o, mean_o)
        cross = torch.mul(even, mean_o[:, None], out=amp)
        cross.addcmul_(odd, mean_e[:, None], value=-1).abs_()
        energy -= cross.sum(1)
        noise_power = mean_e2n / em_n[o]
        tau = torch.sqrt((2 * noise_power * sum_an2[o] + 4 * noise_power * sum_aiaj[o]) / 2)
        threshold = (tau * math.sqrt(math.pi / 2) + _K * torch.sqrt((2 - math.pi / 2) * tau * tau)) / 1.7
        energy.sub_(threshold.to(response_dtype).view(B, 1, 1)).clamp_(min=0)
        # weight = 1 / (1 + exp((cutoff - width) g)) with width = sum_an / (max_an + eps) / nscale
        weight = torch.sigmoid_((sum_an / (max_an + _EPS)).sub_(_CUTOFF * _NSCALE).mul_(_G / _NSCALE))
        weighted = energy.mul_(weight)
        total_sum_an += sum_an
        total_energy += weighted
        # 0 where no filter responds at all (a constant image), where MATLAB would give NaN
        pc_o2 = torch.where(sum_an > 0, weighted / torch.where(sum_an > 0, sum_an, 1), 0).square_()
        angle = o * math.pi / _NORIENT
        covx2.add_(pc_o2, alpha=math.cos(angle) ** 2)
        covy2.add_(pc_o2, alpha=math.sin(angle) ** 2)
        covxy.add_(pc_o2, alpha=math.cos(angle) * math.sin(angle))
    pc = total_energy.double() / (total_sum_an.double() + _EPS)
    covx2 = covx2.double() / (_NORIENT / 2)
    covy2 = covy2.double() / (_NORIENT / 2)
    covxy = covxy.double() / _NORIENT
    denom = torch.sqrt(covxy * covxy + (covx2 - covy2) ** 2) + _EPS
    return pc, (covy2 + covx2 + denom) / 2, (covy2 + covx2 - denom) / 2
