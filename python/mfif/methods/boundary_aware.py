"""``boundary-aware``: the two-stage boundary-aware network of paper 000 (after Ma et al. 2019).

Stage one (HF-Seg) gives a dense weight map of source A; stage two (a reduced Inception-ResNet-v2)
re-decides the pixels within ``band`` pixels of that map's focus border from patches of both sources
(see :mod:`mfif.models.boundary_aware`). The merged map is then, with ``postprocess=True``,
thresholded at 0.5, cleared of regions smaller than ``area_ratio`` of the image and smoothed by
the guided filter (:func:`mfif.pipeline.decision_fusion`, as ``liu2017`` and ``hf-seg-pp``), or, with
``postprocess=False``, used as it is in the weighted average (eq. 2 of paper 002).

Grey pairs go through the colour network with the grey plane repeated; stacks of N frames are fused
pairwise (``f(f(x0, x1), x2)``), as with ``hf-seg``.
"""
from __future__ import annotations

import torch

from ..models.boundary_aware import load_boundary_aware
from ..pipeline import decision_fusion
from .base import FusionResult
from .hourglass import matched_sources
from .liu2017 import _check_sources

__all__ = ["BoundaryAwareMethod"]


class BoundaryAwareMethod:
    """Boundary-aware two-stage fusion.

    Args:
        weights: a weights file from ``mfif train boundary-aware`` (the shipped one when None).
        postprocess: binarise the merged map, remove small regions, guided filter (see the module
            docstring); False: the soft merged map.
        band: half-width in pixels of the band stage two decides (None: the one it was trained with).
        uncertain: also give stage two the pixels whose stage-one weight is within this of 0.5 (0: none).
        symmetric: average stage two's decision over both source orders (exactly swap-symmetric
            near the border; twice stage two's cost).
        area_ratio, radius, eps: the post-processing's settings (as ``liu2017``).
        equalize: first bring the sources to a common exposure (as ``hf-seg``,
            :func:`mfif.pipeline.equalize_exposure`).

    Examples:
        >>> import mfif.methods as M
        >>> a, b = torch.rand(1, 3, 40, 56), torch.rand(1, 3, 40, 56)
        >>> M.get("boundary-aware").fuse_pair(a, b).fused.shape
        torch.Size([1, 3, 40, 56])
    """

    name = "boundary-aware"

    def __init__(self, weights: str | None = None, postprocess: bool = False, band: int | None = None,
                 uncertain: float = 0.0, symmetric: bool = False, area_ratio: float = 0.01, radius: int = 8,
                 eps: float = 0.1, equalize: bool = True):
        self.weights, self.postprocess, self.band, self.equalize = weights, postprocess, band, equalize
        self.uncertain, self.symmetric = uncertain, symmetric
        self.area_ratio, self.radius, self.eps = area_ratio, radius, eps

    def network(self, device: torch.device | str = "cpu"):
        """Both stages on ``device`` (loaded once per weights file and device)."""
        return load_boundary_aware(device, self.weights)

    @torch.no_grad()
    def maps(self, a: torch.Tensor, b: torch.Tensor) -> dict[str, torch.Tensor]:
        """Stage one's weight of ``a`` (``stage1``), the band (``band``) and the merged map (``merged``),
        all ``[B, H, W]``, before any post-processing."""
        _check_sources(a, b)
        net = self.network(a.device)
        dtype = next(net.parameters()).dtype
        xa, xb = (x.expand(-1, 3, -1, -1).to(dtype) for x in (a, b))
        w1 = net.stage_one(xa, xb)
        merged, band = net.refine(xa, xb, w1, band=self.band, uncertain=self.uncertain, symmetric=self.symmetric)
        return {"stage1": w1.to(a.dtype), "band": band, "merged": merged.to(a.dtype)}

    @torch.no_grad()
    def weight_map(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """The merged weight of ``a`` ``[B, H, W]`` before any post-processing."""
        return self.maps(a, b)["merged"]

    @torch.no_grad()
    def fuse_pair(self, a: torch.Tensor, b: torch.Tensor) -> FusionResult:
        """Fuse two registered sources ``[B, C, H, W]`` (C = 1 or 3, float in [0, 1], one device)."""
        a, b = matched_sources(a, b, self.equalize)
        w = self.weight_map(a, b)
        if not self.postprocess:
            return FusionResult(fused=torch.lerp(b, a, w[:, None]), weights=w, decision=w >= 0.5)
        fused, decision, weights = decision_fusion(w >= 0.5, a, b, self.area_ratio, self.radius, self.eps)
        return FusionResult(fused=fused, weights=weights, decision=decision)


METHOD = BoundaryAwareMethod()
