"""Liu et al. 2017 CNN fusion (paper 001, section II) on mfif's network and ops.

Exactly the official pipeline: sources in [0, 1] (the official code divides the
8-bit images by 255), grey with MATLAB's rgb2gray weights (no rounding, as on
double images), the siamese network densely over the whole grey pair, the
folded head + softmax in :func:`mfif.ops.score_map`, then
:func:`mfif.pipeline.decision_postprocess`: patch mean (patch 16, stride 2) ->
threshold 0.5 -> small-region removal (area ceil(0.01 H W), 8-connectivity,
both polarities) -> guided filter (r 8, eps 0.1, guide the grey initial
fusion) -> weighted fusion of the colour sources.

The score map is computed in tiles with a halo of real pixels, so large images
need bounded memory; every score sees exactly the pixels it sees in one pass.
"""
from __future__ import annotations

import math
from contextvars import ContextVar
from typing import Callable

import torch

from .. import ops, reference
from ..models.liu2017 import HEAD, PATCH, STRIDE, LiuNet, load_liu2017
from ..pipeline import decision_postprocess, to_grey
from .base import FusionResult

__all__ = ["Liu2017", "METHOD", "dense_scores", "score_progress", "score_tiles"]

# Pixels outside a tile that its scores depend on: conv1 and conv2 (1 px each)
# at full resolution, conv3 (1 feature = 2 px) after the pool; even, so tiles
# stay aligned with the 2x2 pooling grid.
HALO = 6
# Score rows/columns per tile (about 1 Mpx of image per tile)
TILE_SCORES = 504


# Called as ``progress(tiles_done, tiles_total)`` after each tile of a score map (the network's time is
# nearly all in them); the CLI sets it for a progress bar on large pairs. A context variable, so that a
# caller sets it around a call without threading a callback through the fusion drivers.
score_progress: ContextVar[Callable[[int, int], object] | None] = ContextVar("mfif_liu2017_score_progress",
                                                                             default=None)


def score_tiles(height: int, width: int, tile: int = TILE_SCORES) -> int:
    """How many tiles :func:`dense_scores` cuts a ``height x width`` pair into.

    Examples:
        >>> score_tiles(520, 520), score_tiles(1080, 1920)
        (1, 4)
    """
    h, w = math.ceil(height / STRIDE) - HEAD + 1, math.ceil(width / STRIDE) - HEAD + 1
    return math.ceil(h / tile) * math.ceil(w / tile)


def _span(i0: int, i1: int, n_pixels: int) -> tuple[int, int]:
    """Pixel range [p0, p1) whose features give score indices [i0, i1) (+ halo, cut at the image)."""
    p0 = max(0, STRIDE * i0 - HALO)
    p1 = min(n_pixels, STRIDE * (i1 + HEAD - 1) + HALO)
    return p0, p1


def dense_scores(net: LiuNet, a: torch.Tensor, b: torch.Tensor, tile: int = TILE_SCORES) -> torch.Tensor:
    """Probability that ``a`` is in focus for every 16x16 patch at stride 2: ``[B, ceil(H/2)-7, ceil(W/2)-7]``.

    Args:
        net: the network (its dtype and device are used).
        a, b: grey sources ``[B, 1, H, W]`` in [0, 1], ``H, W >= 16``.
        tile: score rows/columns per tile (memory bound; the result does not depend on it).

    Returns:
        the score map, float32 (the network's dtype), on the device of ``a``.

    Examples:
        >>> net = load_liu2017()
        >>> dense_scores(net, torch.rand(1, 1, 37, 40), torch.rand(1, 1, 37, 40)).shape
        torch.Size([1, 12, 13])
    """
    p = next(net.parameters())
    a, b = a.to(p.dtype), b.to(p.dtype)
    B, _, H, W = a.shape
    if H < PATCH or W < PATCH:
        raise ValueError(f"the Liu 2017 network needs images of at least {PATCH}x{PATCH} pixels, got {H}x{W}")
    h, w = math.ceil(H / STRIDE) - HEAD + 1, math.ceil(W / STRIDE) - HEAD + 1
    use_op = a.device.type == "cpu" or torch._C._dispatch_has_kernel_for_dispatch_key("mfif::score_map", "CUDA")
    head = ops.score_map if use_op else reference.score_map
    channels_last = a.device.type == "cpu"  # oneDNN convolutions are faster so; score_map reads it in place
    out = torch.empty(B, h, w, dtype=p.dtype, device=a.device)
    progress, done, total = score_progress.get(), 0, math.ceil(h / tile) * math.ceil(w / tile)
    for i0 in range(0, h, tile):
        i1 = min(h, i0 + tile)
        y0, y1 = _span(i0, i1, H)
        for j0 in range(0, w, tile):
            j1 = min(w, j0 + tile)
            x0, x1 = _span(j0, j1, W)
            ta, tb = a[:, :, y0:y1, x0:x1], b[:, :, y0:y1, x0:x1]
            if channels_last:
                ta = ta.contiguous(memory_format=torch.channels_last)
                tb = tb.contiguous(memory_format=torch.channels_last)
            fa, fb = net.features(ta, tb)
            fy, fx = i0 - y0 // STRIDE, j0 - x0 // STRIDE  # first needed feature row/column in the tile
            fa = fa[:, :, fy:fy + i1 - i0 + HEAD - 1, fx:fx + j1 - j0 + HEAD - 1]
            fb = fb[:, :, fy:fy + i1 - i0 + HEAD - 1, fx:fx + j1 - j0 + HEAD - 1]
            out[:, i0:i1, j0:j1] = head(fa, fb, net.head.weight, net.head.bias)
            done += 1
            if progress is not None:
                progress(done, total)
    return out


class Liu2017:
    """The Liu et al. 2017 CNN method with mfif's shipped weights.

    Examples:
        >>> import mfif.methods as M
        >>> a, b = torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64)
        >>> M.get("liu2017").fuse_pair(a, b).fused.shape
        torch.Size([1, 3, 64, 64])
    """

    name = "liu2017"

    def __init__(self, weights: str | None = None, area_ratio: float = 0.01, radius: int = 8, eps: float = 0.1):
        self.weights = weights
        self.area_ratio, self.radius, self.eps = area_ratio, radius, eps
        # A network of the caller's (e.g. a FusionModule's, moved with .to()); None: the shared cached one
        self.net: LiuNet | None = None

    def network(self, device: torch.device | str = "cpu") -> LiuNet:
        """The network on ``device``: the own ``net`` when set, else loaded once per device and cached."""
        if self.net is not None:
            return self.net
        return load_liu2017(device, path=self.weights)

    @torch.no_grad()
    def scores(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Score map ``[B, ceil(H/2)-7, ceil(W/2)-7]`` of sources ``[B, C, H, W]`` (colour or grey)."""
        _check_sources(a, b)
        return dense_scores(self.network(a.device), to_grey(a), to_grey(b))

    @torch.no_grad()
    def fuse_pair(self, a: torch.Tensor, b: torch.Tensor) -> FusionResult:
        """Fuse two registered sources ``[B, C, H, W]`` (C = 1 or 3, float in [0, 1], one device)."""
        scores = self.scores(a, b).to(a.dtype)
        fused, decision, weights = decision_postprocess(scores, a, b, patch=PATCH, stride=STRIDE,
                                                        area_ratio=self.area_ratio, radius=self.radius,
                                                        eps=self.eps)
        return FusionResult(fused=fused, weights=weights, decision=decision)


def _check_sources(a: torch.Tensor, b: torch.Tensor) -> None:
    for name, x in (("a", a), ("b", b)):
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
        if x.dim() != 4 or x.shape[1] not in (1, 3):
            raise ValueError(f"{name} must have shape [B, C, H, W] with C = 1 or 3, got {tuple(x.shape)}")
        if not x.is_floating_point():
            raise TypeError(f"{name} must be a float tensor in [0, 1], got {x.dtype}; use mfif.io.to_float")
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    if a.device != b.device:
        raise ValueError(f"a is on {a.device} but b is on {b.device}; put both on one device")


METHOD = Liu2017()
