"""``mscnn``: the unsupervised multi-scale CNN of Mustafa, Yang and Zareapoor 2019 (paper 003).

A siamese multi-scale extractor, feature fusion and a multi-scale reconstruction give a weight of
``a`` per pixel (see :mod:`mfif.models.mscnn`); trained with no ground truth by an SSIM loss
against the sources (``mfif train mscnn``). Weights: ``mfif/weights/mscnn.pt``.

Examples:
    >>> import torch, mfif
    >>> a, b = torch.rand(1, 3, 41, 50), torch.rand(1, 3, 41, 50)
    >>> mfif.methods.get("mscnn").fuse_pair(a, b).fused.shape
    torch.Size([1, 3, 41, 50])
"""
from __future__ import annotations

import torch

from .pair_network import PairNetworkMethod

__all__ = ["MSCNNMethod", "METHOD"]


class MSCNNMethod(PairNetworkMethod):
    """The ``mscnn`` method (``weights``: a file from ``mfif train mscnn``, None: shipped)."""

    def __init__(self, weights: str | None = None):
        super().__init__("mscnn", weights)

    def pixel_weights(self, net, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return net.weights(a, b)[:, 0]


METHOD = MSCNNMethod()
