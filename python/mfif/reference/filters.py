"""Pure-PyTorch box filter and guided filter (He et al. 2013), for tests and benchmarks."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def box_filter(x: torch.Tensor, radius: int, normalize: bool = True) -> torch.Tensor:
    """Window sum (or mean) over the part of the (2r+1)^2 window inside the image.

    Written as a zero-padded convolution with a ones kernel; the mean divides by
    the same convolution of an all-ones image, i.e. the count of pixels inside.
    """
    shape = x.shape
    planes = x.reshape(-1, 1, shape[-2], shape[-1])
    k = 2 * radius + 1
    ones_kernel = torch.ones(1, 1, k, k, dtype=x.dtype, device=x.device)
    sums = F.conv2d(planes, ones_kernel, padding=radius)
    if normalize:
        count = F.conv2d(torch.ones_like(planes[:1]), ones_kernel, padding=radius)
        sums = sums / count
    return sums.reshape(shape)


def guided_filter(guide: torch.Tensor, src: torch.Tensor, radius: int, eps: float) -> torch.Tensor:
    """He et al.'s guided filter; guide [B,1,H,W] or [B,3,H,W], src [B,C,H,W]."""
    return guided_filter_from_box(guide, src, radius, eps, box=box_filter)


def guided_filter_from_box(guide, src, radius, eps, box):
    """The guided filter written over a box filter ``box(x, radius, normalize)``."""
    def mean(t):
        return box(t, radius, True)

    if guide.shape[1] == 1:
        mean_i, mean_p = mean(guide), mean(src)
        var_i = mean(guide * guide) - mean_i * mean_i
        cov_ip = mean(guide * src) - mean_i * mean_p
        a = cov_ip / (var_i + eps)
        b = mean_p - a * mean_i
        return mean(a) * guide + mean(b)
    # colour guide: a is a 3-vector per pixel and source channel
    B, C, H, W = src.shape
    mean_i = mean(guide)                                    # [B,3,H,W]
    mean_p = mean(src)                                      # [B,C,H,W]
    ii = guide[:, :, None] * guide[:, None, :]              # [B,3,3,H,W]
    sigma = mean(ii) - mean_i[:, :, None] * mean_i[:, None, :]
    ip = guide[:, :, None] * src[:, None, :]                # [B,3,C,H,W]
    cov = mean(ip) - mean_i[:, :, None] * mean_p[:, None, :]
    eye = torch.eye(3, dtype=src.dtype, device=src.device)
    sigma = sigma.permute(0, 3, 4, 1, 2) + eps * eye        # [B,H,W,3,3]
    a = torch.linalg.solve(sigma, cov.permute(0, 3, 4, 1, 2))  # [B,H,W,3,C]
    a = a.permute(0, 3, 4, 1, 2)                             # [B,3,C,H,W]
    b = mean_p - (a * mean_i[:, :, None]).sum(1)
    return (mean(a) * guide[:, :, None]).sum(1) + mean(b)
