"""The wavelet-domain CNN of Li, Yuan and Fan 2019 (paper 001's title method, its reference 5).

"Multifocus image fusion using wavelet domain based deep CNN": the sources are
decomposed by a DWT, a CNN learns the mapping from the sources' low- and
high-frequency sub-bands to those of the all-in-focus image (the fusion rules
of the sub-bands), and the inverse DWT gives the fused image.

The transform is a one-level 2-D Haar DWT written as a fixed filter bank
(2x2 stride-2 convolutions; the inverse is the transposed convolution, Haar
being orthonormal), so the network trains end to end through it; it equals
``pywt.dwt2(x, "haar", mode="symmetric")`` to float precision at any size
(tests/test_wavelet_cnn.py). Odd sizes get one replicated row/column (what
symmetric extension is for a 2-tap filter), cropped after the inverse.

Design choices the paper leaves open (docs/wavelet.md):

- the CNN maps the sources' sub-bands to the fused ones as a learned
  per-coefficient *rule*: four maps ``w`` in [0, 1] (one per sub-band LL, H,
  V, D) and ``fused = w * A + (1 - w) * B`` in each sub-band, so the fused
  coefficients are always made of the sources' (no hallucinated detail);
- the rule is computed from the grey sub-bands of both sources (8 inputs)
  and applied to every colour channel, so one network serves grey and colour;
- it is exactly symmetric in the sources: the logit is ``g(A, B) - g(B, A)``,
  so swapping the inputs turns ``w`` into ``1 - w`` and the result is the same;
- ``g``: 3x3 convolutions at half resolution with dilations 1, 2, 4, 8, 1 (a
  receptive field of 35 sub-band = 70 image pixels), ReLU, a 1x1 output;
- trained on the synthetic pairs with their truth, L1 between the fused and
  the truth's sub-bands.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..colour import RGB_TO_GREY

__all__ = ["haar_forward", "haar_inverse", "WaveletCNN", "DILATIONS"]

DILATIONS = (1, 2, 4, 8, 1)
_S = 0.5  # 1/sqrt(2) per axis


def _bank(dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """The four 2x2 analysis kernels ``[4, 1, 2, 2]`` in pywt's order (cA, cH, cV, cD)."""
    lo = torch.tensor([1.0, 1.0])
    hi = torch.tensor([1.0, -1.0])  # pywt haar: detail = (x[2k] - x[2k+1]) / sqrt(2)
    k = [torch.outer(lo, lo), torch.outer(hi, lo), torch.outer(lo, hi), torch.outer(hi, hi)]  # rows x cols
    return (torch.stack(k)[:, None] * _S).to(dtype=dtype, device=device)


def haar_forward(x: torch.Tensor) -> torch.Tensor:
    """One-level 2-D Haar DWT of ``[B, C, H, W]`` -> ``[B, C, 4, ceil(H/2), ceil(W/2)]`` (cA, cH, cV, cD).

    Equals ``pywt.dwt2(x, "haar", mode="symmetric")`` (odd sizes: the last row/column is repeated).

    Examples:
        >>> haar_forward(torch.rand(1, 3, 5, 8)).shape
        torch.Size([1, 3, 4, 3, 4])
    """
    B, C, H, W = x.shape
    if H % 2 or W % 2:
        x = F.pad(x, (0, W % 2, 0, H % 2), mode="replicate")
    y = F.conv2d(x.reshape(B * C, 1, *x.shape[-2:]), _bank(x.dtype, x.device), stride=2)
    return y.reshape(B, C, 4, *y.shape[-2:])


def haar_inverse(bands: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Inverse of :func:`haar_forward`: ``[B, C, 4, h, w]`` -> ``[B, C, height, width]``."""
    B, C = bands.shape[:2]
    x = F.conv_transpose2d(bands.reshape(B * C, 4, *bands.shape[-2:]), _bank(bands.dtype, bands.device), stride=2)
    return x.reshape(B, C, *x.shape[-2:])[..., :height, :width]


def _grey(x: torch.Tensor) -> torch.Tensor:
    if x.shape[1] == 1:
        return x
    r, g, b = RGB_TO_GREY
    return x[:, 0:1] * r + x[:, 1:2] * g + x[:, 2:3] * b


class WaveletCNN(nn.Module):
    """Sources' Haar sub-bands -> per-sub-band fusion weights -> fused sub-bands -> inverse Haar.

    Args:
        width: feature channels of the rule network.
        dilations: dilation of each 3x3 layer.

    Examples:
        >>> net = WaveletCNN()
        >>> a, b = torch.rand(2, 3, 33, 40), torch.rand(2, 3, 33, 40)
        >>> net(a, b).shape
        torch.Size([2, 3, 33, 40])
    """

    def __init__(self, width: int = 24, dilations: tuple[int, ...] = DILATIONS):
        super().__init__()
        self.width, self.dilations = width, tuple(dilations)
        layers, c = [], 8
        for d in self.dilations:
            layers += [nn.Conv2d(c, width, 3, padding=d, dilation=d, padding_mode="replicate"), nn.ReLU(inplace=True)]
            c = width
        layers.append(nn.Conv2d(width, 4, 1))
        self.g = nn.Sequential(*layers)
        # the sub-bands' scale: LL of a [0, 1] image is in [0, 2]; details are mostly a few hundredths
        self.register_buffer("scale", torch.tensor([1.0, 8.0, 8.0, 8.0]).view(1, 4, 1, 1), persistent=False)
        self.register_buffer("shift", torch.tensor([1.0, 0.0, 0.0, 0.0]).view(1, 4, 1, 1), persistent=False)

    def _rule_input(self, bands: torch.Tensor) -> torch.Tensor:
        return (bands[:, 0] - self.shift) * self.scale  # [B, 4, h, w]

    def weights(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """``[B, 4, h, w]`` weight of ``a`` per sub-band coefficient (``1 - w`` when ``a``, ``b`` swap)."""
        sa, sb = self._rule_input(haar_forward(_grey(a))), self._rule_input(haar_forward(_grey(b)))
        logit = self.g(torch.cat([sa, sb], 1)) - self.g(torch.cat([sb, sa], 1))
        return torch.sigmoid(logit)

    def fuse_bands(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(fused sub-bands [B, C, 4, h, w], weights [B, 4, h, w])``."""
        w = self.weights(a, b)[:, None]
        A, Bb = haar_forward(a), haar_forward(b)
        return Bb + w * (A - Bb), w[:, 0]

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Fused image ``[B, C, H, W]`` of two sources ``[B, C, H, W]`` (C = 1 or 3) in [0, 1]."""
        bands, _ = self.fuse_bands(a, b)
        return haar_inverse(bands, a.shape[-2], a.shape[-1])

    @property
    def receptive_field(self) -> int:
        """Image pixels a weight depends on along one axis (two per sub-band coefficient)."""
        return 2 * (1 + 2 * sum(self.dilations)) + 2


def init_weights(net: nn.Module) -> None:
    """Kaiming-normal convolutions with zero biases (ReLU network)."""
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            m.weight.data.mul_(1 / math.sqrt(2))  # the antisymmetric difference doubles the variance
            nn.init.zeros_(m.bias)
