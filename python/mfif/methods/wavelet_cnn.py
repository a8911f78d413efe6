"""``wavelet-cnn``: the wavelet-domain CNN of Li, Yuan and Fan 2019 (paper 001's title method).

The sources' Haar sub-bands go through a trained CNN that gives, per sub-band coefficient, the
weight of each source; the fused sub-bands are inverted to the image (see
:mod:`mfif.models.wavelet_cnn`). Weights: ``mfif/weights/wavelet_cnn.pt`` (``mfif train
wavelet-cnn``). The reported weight map is the low-band weight, each coefficient covering its 2x2
pixels.

Examples:
    >>> import torch, mfif
    >>> a, b = torch.rand(1, 3, 41, 50), torch.rand(1, 3, 41, 50)
    >>> mfif.methods.get("wavelet-cnn").fuse_pair(a, b).fused.shape
    torch.Size([1, 3, 41, 50])
"""
from __future__ import annotations

import torch

from .pair_network import PairNetworkMethod

__all__ = ["WaveletCNNMethod", "METHOD"]


class WaveletCNNMethod(PairNetworkMethod):
    """The ``wavelet-cnn`` method (``weights``: a file from ``mfif train wavelet-cnn``, None: shipped)."""

    def __init__(self, weights: str | None = None):
        super().__init__("wavelet-cnn", weights)

    def pixel_weights(self, net, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        low = net.weights(a, b)[:, 0]  # [B, ceil(H/2), ceil(W/2)]
        H, W = a.shape[-2:]
        return low.repeat_interleave(2, -2).repeat_interleave(2, -1)[:, :H, :W]


METHOD = WaveletCNNMethod()
