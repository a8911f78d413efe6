"""``mscnn``: the unsupervised multi-scale CNN of Mustafa, Yang and Zareapoor 2019 (paper 003).

A siamese multi-scale extractor, feature fusion and a multi-scale reconstruction give a weight of
``a`` per pixel (see :mod:`mfif.models.mscnn`); trained with no ground truth by an SSIM loss
against the sources (``mfif train mscnn``). Weights: ``mfif/weights/mscnn.pt``.

``mscnn-pp`` (``MSCNNMethod(postprocess=True)``) puts the network's map through the library's
decision post-processing, as ``hf-seg-pp`` and ``liu2017`` do (threshold 0.5, small-region removal,
guided filter): the unsupervised map decides well at edges but is not consistent inside flat
regions, where the SSIM loss sees two near-equal sources and gives no signal.

Examples:
    >>> import torch, mfif
    >>> a, b = torch.rand(1, 3, 41, 50), torch.rand(1, 3, 41, 50)
    >>> mfif.methods.get("mscnn").fuse_pair(a, b).fused.shape
    torch.Size([1, 3, 41, 50])
"""
from __future__ import annotations

import torch

from ..pipeline import decision_fusion
from .base import FusionResult
from .pair_network import PairNetworkMethod

__all__ = ["METHOD", "MSCNNMethod"]


class MSCNNMethod(PairNetworkMethod):
    """The ``mscnn`` method (``weights``: a file from ``mfif train mscnn``, None: shipped).

    Args:
        weights: the network's weights file (None: the shipped one).
        postprocess: threshold the map at 0.5, remove regions smaller than ``area_ratio`` of the
            image and smooth the decision with the guided filter (``radius``, ``eps``): ``mscnn-pp``.
    """

    def __init__(self, weights: str | None = None, postprocess: bool = False, area_ratio: float = 0.01,
                 radius: int = 8, eps: float = 0.1):
        super().__init__("mscnn", weights)
        self.postprocess, self.area_ratio, self.radius, self.eps = postprocess, area_ratio, radius, eps
        self.name = "mscnn-pp" if postprocess else "mscnn"

    def pixel_weights(self, net, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return net.weights(a, b)[:, 0]

    @torch.no_grad()
    def fuse_pair(self, a: torch.Tensor, b: torch.Tensor) -> FusionResult:
        """Fuse two registered sources ``[B, C, H, W]`` (C = 1 or 3, float in [0, 1], one device)."""
        net, xa, xb = self._prepare(a, b)
        w = self.pixel_weights(net, xa, xb)  # the network runs once: the fused image is this blend
        if self.postprocess:
            fused, decision, weights = decision_fusion(w >= 0.5, xa, xb, self.area_ratio, self.radius, self.eps)
            return FusionResult(fused=fused.clamp_(0, 1).to(a.dtype), weights=weights.to(a.dtype),
                                decision=decision)
        fused = torch.lerp(xb, xa, w[:, None]).clamp_(0, 1).to(a.dtype)
        w = w.to(a.dtype)
        return FusionResult(fused=fused, weights=w, decision=w >= 0.5)


METHOD = MSCNNMethod()
