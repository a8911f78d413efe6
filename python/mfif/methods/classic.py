"""Image operations shared by the classic decision-map methods (``quadtree``, ``dsift``).

They follow the conventions of MATLAB's Image Processing Toolbox that the
published codes of these methods rely on (border handling, integer grey
levels), so that the fused images equal the published ones.
"""
from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..colour import RGB_TO_GREY

# CPU tensors go through OpenCV where it is much faster; the torch forms (used on CUDA) stay testable on the CPU
# by turning this off.
USE_OPENCV = True


def to_levels(x: torch.Tensor, levels: int | None) -> torch.Tensor:
    """Float in [0, 1] -> the 0..255 scale of the published codes (``double(uint8 image)``).

    With ``levels`` (255 for 8-bit sources, 65535 for 16-bit) the values are
    first rounded to that many grey levels, so 8-bit sources give exact integers.
    """
    x = x.double()
    if levels:
        return torch.floor(x * levels + 0.5) * (255.0 / levels)
    return x * 255.0


def grey_levels(x: torch.Tensor, levels: int | None) -> torch.Tensor:
    """``[B, C, H, W]`` -> ``[B, H, W]`` grey on the 0..255 scale, like ``double(rgb2gray(uint8 image))``."""
    x = x.double()
    if x.shape[1] == 3:
        r, g, b = RGB_TO_GREY
        x = x[:, 0] * r + x[:, 1] * g + x[:, 2] * b
    else:
        x = x[:, 0]
    return to_levels(x, levels)


def blend(a: torch.Tensor, b: torch.Tensor, w: torch.Tensor, levels: int | None) -> torch.Tensor:
    """``a w + b (1 - w)`` for weights in {0, 0.5, 1}, rounded like MATLAB's ``uint8()`` of the result.

    Where ``w`` is 0.5 the mean of the sources is rounded half up to ``levels``
    grey levels, so the driver's own rounding cannot land on the other side.
    """
    mean = (a.double() + b.double()) * 0.5
    if levels:
        mean = torch.floor(mean * levels + 0.5) / levels
    out = torch.where(w >= 1, a.double(), torch.where(w <= 0, b.double(), mean))
    return out.to(a.dtype)


def symmetric_pad(x: torch.Tensor, p: int) -> torch.Tensor:
    """MATLAB's ``padarray(x, [p p], 'symmetric')`` of the last two dims (mirror including the edge)."""
    if p <= min(x.shape[-2:]):  # the usual case: flipped edge strips (a gather along the rows is ~10x slower)
        x = torch.cat([x[..., :p, :].flip(-2), x, x[..., -p:, :].flip(-2)], -2)
        return torch.cat([x[..., :p].flip(-1), x, x[..., -p:].flip(-1)], -1)

    def index(n: int) -> torch.Tensor:
        i = torch.arange(-p, n + p, device=x.device) % (2 * n)
        return torch.where(i >= n, 2 * n - 1 - i, i)
    return x.index_select(-2, index(x.shape[-2])).index_select(-1, index(x.shape[-1]))


def max_filter(mask: torch.Tensor, size: int, padding: int = 0) -> torch.Tensor:
    """Binary maximum of ``[P, H, W]`` over ``size x size`` windows (outside: 0).

    ``padding`` 0 gives the ``'valid'`` windows, ``size // 2`` (odd ``size``)
    the centred ones. OpenCV's dilation on the CPU (torch's stride-1 max pooling
    is ~50x slower there), max pooling in two 1-D passes elsewhere.
    """
    if mask.device.type == "cpu" and USE_OPENCV:
        src = mask.to(torch.uint8).numpy()
        kernel = np.ones((size, size), np.uint8)
        out = []
        for plane in src:
            d = cv2.dilate(plane, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)
            if padding == 0:  # valid windows: the centred result, cut
                lo, hi = size // 2, size - 1 - size // 2
                d = d[lo:d.shape[0] - hi, lo:d.shape[1] - hi]
            out.append(d)
        return torch.from_numpy(np.stack(out)) > 0
    x = mask[:, None].to(torch.float32)
    x = F.max_pool2d(x, (size, 1), stride=1, padding=(padding, 0))
    return F.max_pool2d(x, (1, size), stride=1, padding=(0, padding))[:, 0] > 0.5


def dilate(mask: torch.Tensor, size: int) -> torch.Tensor:
    """Binary dilation of ``[P, H, W]`` by a ``size`` square (outside the image counts as 0, as imdilate)."""
    return max_filter(mask, size, padding=size // 2)


def erode(mask: torch.Tensor, size: int) -> torch.Tensor:
    """Binary erosion by a ``size`` square (outside the image counts as 1, as imerode)."""
    return ~dilate(~mask, size)


def open_close(mask: torch.Tensor, size: int) -> torch.Tensor:
    """``imclose(imopen(mask, se), se)`` with a square ``se``."""
    return erode(dilate(dilate(erode(mask, size), size), size), size)


def window_sum(x: torch.Tensor, kh: int, kw: int) -> torch.Tensor:
    """Sums of ``x`` ``[P, H, W]`` over every ``kh x kw`` window inside it (``'valid'``), in float64."""
    x = x.double()
    if x.shape[-2] < kh or x.shape[-1] < kw:
        return x.new_zeros(x.shape[:-2] + (max(0, x.shape[-2] - kh + 1), max(0, x.shape[-1] - kw + 1)))
    return F.avg_pool2d(x[:, None], (kh, kw), stride=1, divisor_override=1)[:, 0]
