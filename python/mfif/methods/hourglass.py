"""HF-Seg and HF-Reg fusion (paper 002) with mfif's shipped hourglass weights.

HF-Seg: the network's softmax gives the weight of ``a`` per pixel, fused by the weighted average of
eq. 2; with ``postprocess=True`` its map goes through the library's decision post-processing as in
``liu2017`` (threshold 0.5, small-region removal, guided filter guided by the grey initial fusion).
HF-Reg: the network's image, clipped to [0, 1]; with ``nearest=True`` each pixel is taken from the
source nearer to it (eq. 6). HF-Seg first matches the sources' exposure (``equalize``, on by default;
one gain each, from the whole frames: these methods are never fused in tiles); HF-Reg can
(``equalize=True``; off by default, so that eq. 6 selects pixels of the sources as given).

Grey pairs are fused by the colour networks with the grey plane repeated in the three channels.
Stacks of N frames go through the functional power of section IV (``f(f(x0, x1), x2)``, the
stack driver's pairwise mode).
"""
from __future__ import annotations

import torch

from ..models.hourglass import load_hourglass
from ..pipeline import decision_fusion, equalize_exposure, to_grey
from .base import FusionResult
from .liu2017 import _check_sources

__all__ = ["HFRegMethod", "HFSegMethod"]


def matched_sources(a: torch.Tensor, b: torch.Tensor, equalize: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The sources checked, and brought to a common exposure when ``equalize``
    (:func:`mfif.pipeline.equalize_exposure`): the first step of the network methods' ``fuse_pair``."""
    _check_sources(a, b)
    return equalize_exposure(a, b) if equalize else (a, b)


def _as_colour(x: torch.Tensor) -> torch.Tensor:
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


class _HourglassMethod:
    kind = ""

    def __init__(self, weights: str | None = None):
        self.weights = weights

    def network(self, device: torch.device | str = "cpu") -> torch.nn.Module:
        """The network on ``device`` (loaded once per weights file and device)."""
        return load_hourglass(self.kind, device, path=self.weights)

    def _inputs(self, a: torch.Tensor, b: torch.Tensor):
        _check_sources(a, b)
        net = self.network(a.device)
        dtype = next(net.parameters()).dtype
        if net.channels == 3:
            return net, _as_colour(a).to(dtype), _as_colour(b).to(dtype)
        return net, to_grey(a).to(dtype), to_grey(b).to(dtype)


class HFSegMethod(_HourglassMethod):
    """HF-Seg fusion (eq. 2), optionally with liu2017's decision post-processing.

    Args:
        weights: a weights file from ``mfif train hf-seg`` (the shipped one when None).
        postprocess: threshold the map at 0.5, remove regions smaller than ``area_ratio`` of the
            image and smooth the decision with the guided filter (``radius``, ``eps``). The defaults,
            radius 1 and eps 0.01 (``liu2017`` uses 8 and 0.1 on its 16x16-patch map, whose border is
            uncertain by several pixels; HF-Seg's map is per pixel), had the best mean PSNR of a grid
            of radius 1..8 and eps 0.001..0.1 on synthetic validation photos 20..39 (not those the
            results are reported on, and not Lytro).
        equalize: first bring the two sources to a common exposure
            (:func:`mfif.pipeline.equalize_exposure`), for stacks whose exposure flickers: without
            it the switch between sources at the focus border shows the difference as a step.

    Examples:
        >>> import mfif.methods as M
        >>> a, b = torch.rand(1, 3, 40, 56), torch.rand(1, 3, 40, 56)
        >>> M.get("hf-seg").fuse_pair(a, b).fused.shape
        torch.Size([1, 3, 40, 56])
    """

    kind = "hf-seg"

    def __init__(self, weights: str | None = None, postprocess: bool = False, area_ratio: float = 0.01,
                 radius: int = 1, eps: float = 0.01, equalize: bool = True):
        super().__init__(weights)
        self.postprocess, self.area_ratio, self.radius, self.eps = postprocess, area_ratio, radius, eps
        self.equalize = equalize
        self.name = "hf-seg-pp" if postprocess else "hf-seg"

    @torch.no_grad()
    def weight_map(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """The network's weight of ``a`` ``[B, H, W]`` (softmax class 0), before any post-processing."""
        net, xa, xb = self._inputs(a, b)
        return net.weights(xa, xb).to(a.dtype)

    @torch.no_grad()
    def fuse_pair(self, a: torch.Tensor, b: torch.Tensor) -> FusionResult:
        """Fuse two registered sources ``[B, C, H, W]`` (C = 1 or 3, float in [0, 1], one device)."""
        a, b = matched_sources(a, b, self.equalize)
        w = self.weight_map(a, b)
        if not self.postprocess:
            fused = torch.lerp(b, a, w[:, None])
            return FusionResult(fused=fused, weights=w, decision=w >= 0.5)
        fused, decision, weights = decision_fusion(w >= 0.5, a, b, self.area_ratio, self.radius, self.eps)
        return FusionResult(fused=fused, weights=weights, decision=decision)


class HFRegMethod(_HourglassMethod):
    """HF-Reg fusion: the regressed image, or with ``nearest=True`` the nearest source per pixel (eq. 6).

    Examples:
        >>> import mfif.methods as M
        >>> a, b = torch.rand(1, 1, 33, 20), torch.rand(1, 1, 33, 20)
        >>> M.get("hf-reg").fuse_pair(a, b).fused.shape
        torch.Size([1, 1, 33, 20])
    """

    kind = "hf-reg"

    def __init__(self, weights: str | None = None, nearest: bool = False, equalize: bool = False):
        super().__init__(weights)
        self.nearest, self.equalize = nearest, equalize
        self.name = "hf-reg-near" if nearest else "hf-reg"

    @torch.no_grad()
    def fuse_pair(self, a: torch.Tensor, b: torch.Tensor) -> FusionResult:
        """Fuse two registered sources ``[B, C, H, W]`` (C = 1 or 3, float in [0, 1], one device)."""
        a, b = matched_sources(a, b, self.equalize)
        net, xa, xb = self._inputs(a, b)
        y = net(xa, xb).clamp(0, 1).to(a.dtype)
        if net.channels == 3 and a.shape[1] == 1:
            y = to_grey(y)
        elif net.channels == 1 and a.shape[1] == 3:  # a grey network on colour: its grey estimate, by selection
            a_g, b_g = to_grey(a), to_grey(b)
            take_a = ((a_g - y) ** 2 < (b_g - y) ** 2)
            return FusionResult(fused=torch.where(take_a, a, b), weights=take_a[:, 0].to(a.dtype),
                                decision=take_a[:, 0])
        da, db = ((y - a) ** 2).sum(1), ((y - b) ** 2).sum(1)
        take_a = da < db
        if self.nearest:  # eq. 6
            return FusionResult(fused=torch.where(take_a[:, None], a, b), weights=take_a.to(a.dtype),
                                decision=take_a)
        # the weight of a that best explains y (least squares over the channels), for the stack driver
        diff = a - b
        w = ((y - b) * diff).sum(1) / (diff * diff).sum(1).clamp_min(1e-12)
        return FusionResult(fused=y, weights=w.clamp(0, 1), decision=None)
