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

import torch

_NSCALE, _NORIENT = 4, 6
_MIN_WAVELENGTH, _MULT, _SIGMA_ON_F, _DTHETA_ON_SIGMA = 3.0, 2.1, 0.55, 1.2
_K, _CUTOFF, _G, _EPS = 2.0, 0.5, 10.0, 1e-4


def _axis(n: int) -> torch.Tensor:
    """Normalised frequency coordinates in +/-0.5 (odd sizes: symmetric, divided by n - 1)."""
    if n % 2:
        return (torch.arange(n, dtype=torch.float64) - (n - 1) / 2) / (n - 1)
    return (torch.arange(n, dtype=torch.float64) - n / 2) / n


@functools.lru_cache(maxsize=8)
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


def _median(x: torch.Tensor) -> torch.Tensor:
    """MATLAB's median over the last dim (mean of the two middle values for even counts)."""
    n = x.shape[-1]
    upper = torch.kthvalue(x, n // 2 + 1, dim=-1).values
    if n % 2:
        return upper
    return 0.5 * (torch.kthvalue(x, n // 2, dim=-1).values + upper)


def phase_congruency(img: torch.Tensor):
    """Phase congruency and the maximum / minimum moments of its covariance.

    Args:
        img: ``[B, H, W]`` float64 (grey levels, any scale).

    Returns:
        ``(pc, M, m)``, each ``[B, H, W]``: phase congruency in [0, 1], the
        maximum moment (edge strength) and the minimum moment (corner strength).
    """
    B, rows, cols = img.shape
    filters, em_n, sum_an2, sum_aiaj = (t.to(img.device) for t in _filter_bank(rows, cols))
    spectrum = torch.fft.fft2(img)
    total_energy = torch.zeros_like(img)
    total_sum_an = torch.zeros_like(img)
    covx2, covy2, covxy = (torch.zeros_like(img) for _ in range(3))
    for o in range(_NORIENT):
        eo = torch.view_as_real(torch.fft.ifft2(spectrum[:, None] * filters[o][None]))  # [B, S, H, W, 2]
        even, odd = eo[..., 0], eo[..., 1]
        amp2_small = even[:, 0] ** 2 + odd[:, 0] ** 2
        amp = torch.hypot(even, odd)
        sum_an = amp.sum(1)
        max_an = amp.amax(1)
        sum_e, sum_o = even.sum(1), odd.sum(1)
        x_energy = torch.sqrt(sum_e * sum_e + sum_o * sum_o) + _EPS
        mean_e, mean_o = sum_e / x_energy, sum_o / x_energy
        # sum_s (E mE + O mO) in closed form; only |E mO - O mE| needs every scale
        energy = sum_e * mean_e + sum_o * mean_o
        energy -= (even * mean_o[:, None] - odd * mean_e[:, None]).abs_().sum(1)
        # noise: Rayleigh fit to the median squared amplitude at the smallest scale
        mean_e2n = -_median(amp2_small.reshape(B, -1)) / math.log(0.5)
        noise_power = mean_e2n / em_n[o]
        tau = torch.sqrt((2 * noise_power * sum_an2[o] + 4 * noise_power * sum_aiaj[o]) / 2)
        threshold = (tau * math.sqrt(math.pi / 2) + _K * torch.sqrt((2 - math.pi / 2) * tau * tau)) / 1.7
        energy = torch.clamp(energy - threshold.view(B, 1, 1), min=0)
        width = sum_an / (max_an + _EPS) / _NSCALE
        weight = 1.0 / (1.0 + torch.exp((_CUTOFF - width) * _G))
        weighted = weight * energy
        total_sum_an += sum_an
        total_energy += weighted
        # 0 where no filter responds at all (a constant image), where MATLAB would give NaN
        pc_o = torch.where(sum_an > 0, weighted / torch.where(sum_an > 0, sum_an, 1), 0)
        angle = o * math.pi / _NORIENT
        cx, cy = pc_o * math.cos(angle), pc_o * math.sin(angle)
        covx2 += cx * cx
        covy2 += cy * cy
        covxy += cx * cy
    pc = total_energy / (total_sum_an + _EPS)
    covx2 = covx2 / (_NORIENT / 2)
    covy2 = covy2 / (_NORIENT / 2)
    covxy = covxy / _NORIENT
    denom = torch.sqrt(covxy * covxy + (covx2 - covy2) ** 2) + _EPS
    return pc, (covy2 + covx2 + denom) / 2, (covy2 + covx2 - denom) / 2
