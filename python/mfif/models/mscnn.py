"""The unsupervised multi-scale CNN of Mustafa, Yang and Zareapoor 2019 (paper 003; its abstract only).

"Multi-scale convolutional neural network for multi-focus image fusion": a
siamese multi-scale feature extractor (multi-scale convolutions with skip
connections) applied to each source, fusion of the two feature sets, and a
multi-scale reconstruction; trained end to end without ground truth by a
structural-similarity (SSIM) loss against the sources; any input size.

What the abstract leaves open, and the choices made here (docs/wavelet.md):

- multi-scale convolution: a block of parallel convolutions reaching 3x3,
  5x5 and 7x7 (3x3 kernels of dilation 1, 2 and 3, which trains several
  times faster on a CPU than dense 5x5 and 7x7 kernels) whose outputs are
  concatenated, mixed by a 1x1 convolution, and added to the block's input
  (the skip connection);
- the extractor (shared by the two sources: siamese) works on the grey image
  at three scales (full, 1/2, 1/4; 2x2 average pooling between them), one
  block per scale;
- fusion: the two sources' features are concatenated at every scale;
- reconstruction: coarse to fine, each scale's fused features plus the
  upsampled coarser result through a multi-scale block, ending in one logit
  per pixel; the network is made exactly symmetric in its inputs by taking
  ``logit(A, B) - logit(B, A)``;
- the output: ``w = sigmoid(logit)`` and ``fused = w * A + (1 - w) * B`` on
  every colour channel (the network reconstructs the fused image through a
  per-pixel rule, so its pixels are the sources' pixels, not a regression);
- any size: the sources are padded by reflection to a multiple of 4 and the
  result cropped; colour and grey alike (the rule sees the grey images).

The SSIM loss is :func:`mfif.train.wavelet.source_ssim_loss`.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..colour import RGB_TO_GREY

__all__ = ["MSCNN", "MultiScaleBlock"]


class MultiScaleBlock(nn.Module):
    """Parallel 3x3 convolutions of dilation 1, 2, 3 (the reach of 3x3, 5x5 and 7x7 kernels at a third
    of the cost of the latter two), concatenated, mixed by 1x1, plus the input (skip)."""

    def __init__(self, channels: int, branch: int):
        super().__init__()
        self.branches = nn.ModuleList(
            nn.Conv2d(channels, branch, 3, padding=d, dilation=d, padding_mode="replicate") for d in (1, 2, 3))
        self.mix = nn.Conv2d(3 * branch, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.cat([F.relu(b(x)) for b in self.branches], 1)
        return F.relu(x + self.mix(y))


def _grey(x: torch.Tensor) -> torch.Tensor:
    if x.shape[1] == 1:
        return x
    r, g, b = RGB_TO_GREY
    return x[:, 0:1] * r + x[:, 1:2] * g + x[:, 2:3] * b


class MSCNN(nn.Module):
    """Siamese multi-scale extractor, feature fusion, multi-scale reconstruction of a fusion rule.

    Args:
        width: feature channels per source.
        branch: channels of each kernel size inside a multi-scale block.

    Examples:
        >>> net = MSCNN()
        >>> a, b = torch.rand(1, 3, 37, 50), torch.rand(1, 3, 37, 50)
        >>> net(a, b).shape
        torch.Size([1, 3, 37, 50])
    """

    SCALES = 3  # the default number of scales (full, 1/2, 1/4)

    def __init__(self, width: int = 12, branch: int = 4, scales: int = SCALES):
        super().__init__()
        if scales < 1:
            raise ValueError(f"scales must be at least 1, got {scales}")
        self.width, self.branch, self.scales = width, branch, scales
        self.stem = nn.Conv2d(1, width, 3, padding=1, padding_mode="replicate")
        self.extract = nn.ModuleList(MultiScaleBlock(width, branch) for _ in range(scales))
        self.fuse = nn.ModuleList(nn.Conv2d(2 * width + (width if s < scales - 1 else 0), width, 1)
                                  for s in range(scales))
        self.rebuild = nn.ModuleList(MultiScaleBlock(width, branch) for _ in range(scales))
        self.out = nn.Conv2d(width, 1, 3, padding=1, padding_mode="replicate")

    def features(self, grey: torch.Tensor) -> list[torch.Tensor]:
        """The siamese extractor: features of one grey source at full, 1/2 and 1/4 resolution."""
        x = F.relu(self.stem(grey * 2 - 1))
        feats = []
        for s, block in enumerate(self.extract):
            if s:
                x = F.avg_pool2d(x, 2)
            x = block(x)
            feats.append(x)
        return feats

    def _logit(self, fa: list[torch.Tensor], fb: list[torch.Tensor]) -> torch.Tensor:
        y = None
        for s in reversed(range(self.scales)):
            parts = [fa[s], fb[s]]
            if y is not None:
                parts.append(F.interpolate(y, size=fa[s].shape[-2:], mode="bilinear", align_corners=False))
            y = self.rebuild[s](F.relu(self.fuse[s](torch.cat(parts, 1))))
        return self.out(y)

    def weights(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """``[B, 1, H, W]`` weight of ``a`` per pixel (``1 - w`` when the sources swap)."""
        H, W = a.shape[-2:]
        m = 1 << (self.scales - 1)
        ph, pw = (-H) % m, (-W) % m
        ga, gb = _grey(a), _grey(b)
        if ph or pw:
            mode = "reflect" if H > ph and W > pw else "replicate"
            ga, gb = F.pad(ga, (0, pw, 0, ph), mode=mode), F.pad(gb, (0, pw, 0, ph), mode=mode)
        fa, fb = self.features(ga), self.features(gb)
        logit = self._logit(fa, fb) - self._logit(fb, fa)
        return torch.sigmoid(logit)[..., :H, :W]

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Fused image ``[B, C, H, W]`` of two sources ``[B, C, H, W]`` (C = 1 or 3) in [0, 1]."""
        w = self.weights(a, b)
        return b + w * (a - b)


def init_weights(net: nn.Module) -> None:
    """Kaiming-normal convolutions, zero biases; the blocks' 1x1 mixes start small (near-identity skips)."""
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)
    for m in net.modules():
        if isinstance(m, MultiScaleBlock):
            m.mix.weight.data.mul_(1 / math.sqrt(2 * getattr(net, "scales", MSCNN.SCALES)))
