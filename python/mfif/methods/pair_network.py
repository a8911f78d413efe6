"""A fusion method around a trained pair network that returns a per-pixel weight of ``a``.

Shared by ``wavelet-cnn`` and ``mscnn``: input checks, the network on the sources' device and
dtype (weights loaded once per file), the fused image, the weight map and its 0.5 decision.
Stacks of N frames go through the stack driver's pairwise mode (``f(f(x0, x1), x2)``).
"""
from __future__ import annotations

import torch

from ..models.pair_weights import load_pair_net
from .base import FusionResult
from .liu2017 import _check_sources


class PairNetworkMethod:
    """Fusion by a pair network (``kind``: ``"wavelet-cnn"`` or ``"mscnn"``).

    Args:
        kind: the network.
        weights: a weights file from ``mfif train KIND`` (the shipped one when None).
    """

    def __init__(self, kind: str, weights: str | None = None):
        self.kind = self.name = kind
        self.weights = weights

    def network(self, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> torch.nn.Module:
        """The network on ``device`` (loaded once per weights file, device and dtype)."""
        return load_pair_net(self.kind, device, dtype, path=self.weights)

    def pixel_weights(self, net: torch.nn.Module, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """``[B, H, W]`` weight of ``a`` per pixel."""
        raise NotImplementedError

    def _prepare(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
        """Checked sources in the network's dtype (float64 stays float64, else float32) and the network."""
        _check_sources(a, b)
        dtype = torch.float64 if a.dtype == torch.float64 else torch.float32
        return self.network(a.device, dtype), a.to(dtype), b.to(dtype)

    @torch.no_grad()
    def fuse_pair(self, a: torch.Tensor, b: torch.Tensor) -> FusionResult:
        """Fuse two registered sources ``[B, C, H, W]`` (C = 1 or 3, float in [0, 1], one device)."""
        net, xa, xb = self._prepare(a, b)
        fused = net(xa, xb).clamp_(0, 1).to(a.dtype)
        w = self.pixel_weights(net, xa, xb).to(a.dtype)
        return FusionResult(fused=fused, weights=w, decision=w >= 0.5)
