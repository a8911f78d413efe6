"""Quadtree fusion with a weighted focus measure (Bai, Zhang, Zhou, Xue, Information Fusion 22, 2015).

"Quadtree-based multi-focus image fusion using a weighted focus-measure":

1. Focus measure: the modified Laplacian ``|2I - I_up - I_down| + |2I - I_left - I_right|``
   (sample distance ``step``), set to 0 below ``threshold`` grey levels, then
   summed over a ``window x window`` neighbourhood with weights ``1 / (d + 1)``
   (``d`` the distance to the centre): the weighted modified Laplacian (WML).
2. Quadtree: the WML maps are centred in a square of side ``2^k`` (the
   smallest power of two holding the image; zeros around). Starting from the
   whole square, a block is split in four while the difference of the two
   sources' WML sums over it is positive but below ``split_ratio`` times the
   sum over it of the per-pixel WML differences (neither source is clearly
   sharper across the whole block), down to 2x2 blocks.
3. Each leaf block goes to the source of larger WML sum (equal sums: undecided).
4. The decision map is cleaned: per source, a morphological opening then
   closing with MATLAB's ``strel('disk', 3)`` (which MATLAB decomposes into a
   5x5 square); then regions and holes smaller than ``H W / 40`` pixels
   (8-connected) are removed; pixels claimed by both or neither source stay undecided.
5. Decided pixels are copied from their source; undecided ones from the
   source of larger per-pixel WML (equal: the mean of the two).

Conventions of the published MATLAB code followed here, all checked against
the outputs the Liu et al. 2020 survey made with it: symmetric borders for the
modified Laplacian and the weighting window; the image centred in the square
(offset ``ceil((2^k - H) / 2)``); a colour image fused channel by channel,
each channel with its own decision map; values on the 0..255 scale (16-bit
sources scaled to it); the result rounded half up.

Stacks of N frames are fused pairwise along the stack (``fused = pair(fused,
frame_k)``) by the stack driver.

Examples:
    >>> import torch, mfif
    >>> a, b = torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64)
    >>> r = mfif.methods.get("quadtree").fuse_pair(a, b)
    >>> r.fused.shape, r.decision.shape
    (torch.Size([1, 3, 64, 64]), torch.Size([1, 64, 64]))
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from scipy.fft import next_fast_len

from .. import ops
from .base import FusionResult
from .classic import blend, max_filter, open_close, symmetric_pad, to_levels

UNDECIDED, FROM_A, FROM_B = 0, 1, 2


@dataclass
class Quadtree:
    """Quadtree fusion with the parameters of the published code (Bai et al. 2015)."""

    step: int = 1                 # sample distance of the modified Laplacian
    threshold: float = 5.0        # ML values below this (grey levels of 8 bits) are set to 0
    window: int = 17              # side of the weighting window of the WML
    split_ratio: float = 0.98     # split while |sum WML_a - sum WML_b| < ratio * sum |WML_a - WML_b|
    morph_size: int = 5           # strel('disk', 3) as MATLAB decomposes it: a 5x5 square
    small_fraction: float = 1 / 40  # regions smaller than this share of the image are removed
    levels: int | None = 255      # grey levels of the sources (8-bit); None: no rounding
    name: str = "quadtree"

    def __post_init__(self):
        if self.step < 1 or self.window < 1 or self.window % 2 == 0:
            raise ValueError(f"quadtree: step must be >= 1 and window odd, got step={self.step}, window={self.window}")
        if self.morph_size < 1 or self.morph_size % 2 == 0:
            raise ValueError(f"quadtree: morph_size must be odd, got {self.morph_size}")

    def for_bit_depth(self, bits: int) -> "Quadtree":
        """This method for sources of ``bits`` per channel."""
        return replace(self, levels=(1 << bits) - 1)

    # --- focus measure --------------------------------------------------------
    def modified_laplacian(self, v: torch.Tensor) -> torch.Tensor:
        """``[P, H, W]`` (0..255 scale) -> thresholded modified Laplacian."""
        s = self.step
        p = symmetric_pad(v, s)
        c = p[:, s:-s, s:-s]
        ml = (2 * c - p[:, :-2 * s, s:-s] - p[:, 2 * s:, s:-s]).abs_()
        ml += (2 * c - p[:, s:-s, :-2 * s] - p[:, s:-s, 2 * s:]).abs_()
        return ml.masked_fill_(ml < self.threshold, 0.0)

    def weights(self, device) -> torch.Tensor:
        """The ``window x window`` weights ``1 / (d + 1)``."""
        c = self.window // 2
        t = torch.arange(-c, c + 1, dtype=torch.float64, device=device)
        return 1.0 / (torch.sqrt(t[:, None] ** 2 + t[None, :] ** 2) + 1.0)

    def focus_measure(self, v: torch.Tensor) -> torch.Tensor:
        """The WML of planes ``[P, H, W]`` on the 0..255 scale (float64).

        The window sum is a product of Fourier transforms (a 17x17 direct sum is
        ~10x slower here); pixels whose window holds no nonzero ML are set to
        exactly 0, as a direct sum gives, so that ties between flat areas stay ties.
        """
        ml = self.modified_laplacian(v)
        r = self.window // 2
        p = symmetric_pad(ml, r)
        H, W = ml.shape[-2:]
        # transform sizes with small prime factors; the zeros after the image never reach the kept part
        size = (next_fast_len(p.shape[-2], real=True), next_fast_len(p.shape[-1], real=True))
        kernel = torch.zeros(size, dtype=torch.float64, device=p.device)
        kernel[:self.window, :self.window] = self.weights(p.device)
        spec = torch.fft.rfft2(p, s=size) * torch.fft.rfft2(kernel)
        out = torch.fft.irfft2(spec, s=size)[:, 2 * r:2 * r + H, 2 * r:2 * r + W]
        any_edge = max_filter(p > 0, self.window)
        return out.clamp_(min=0).mul_(any_edge)

    # --- quadtree -------------------------------------------------------------
    def decision(self, ga: torch.Tensor, gb: torch.Tensor) -> torch.Tensor:
        """Leaf decisions of the quadtree of WML maps ``[P, H, W]``: 1 (a), 2 (b), -1 (equal sums)."""
        P, H, W = ga.shape
        side = 2
        while side < max(H, W):
            side *= 2
        oy, ox = -(-(side - H) // 2), -(-(side - W) // 2)  # the image is centred in the square
        g = torch.stack([ga, gb, (ga - gb).abs()], 1)      # [P, 3, H, W]
        # block sums for block sides 2, 4, ..., side; each level as (sums, first block row, first block col)
        pyramid = {}
        sums, r0, c0, s = g, oy, ox, 1
        while s < side:
            pad_t, pad_l = r0 % 2, c0 % 2
            h, w = sums.shape[-2:]
            pad_b, pad_r = (pad_t + h) % 2, (pad_l + w) % 2
            sums = F.pad(sums, (pad_l, pad_r, pad_t, pad_b))
            sums = F.avg_pool2d(sums, 2, divisor_override=1)  # 2x2 block sums
            r0, c0, s = r0 // 2, c0 // 2, s * 2
            pyramid[s] = (sums, r0, c0)
        label = None
        active = torch.ones((P, 1, 1), dtype=torch.bool, device=ga.device)
        s = side
        while True:
            sums, r0, c0 = pyramid[s]
            fa, fb, diff = sums[:, 0], sums[:, 1], sums[:, 2]
            mdfm = (fa - fb).abs()
            split = active & (mdfm > 0) & (mdfm < diff * self.split_ratio) if s > 2 else torch.zeros_like(active)
            leaf = active & ~split
            lab = torch.where(fa > fb, FROM_A, torch.where(fb > fa, FROM_B, -1)).to(torch.int8)
            label = lab.masked_fill(~leaf, 0) if label is None else torch.where(leaf, lab, label)
            if s == 2:
                break
            nr0, nc0 = pyramid[s // 2][1:]
            h, w = pyramid[s // 2][0].shape[-2:]
            up = lambda x: x.repeat_interleave(2, -2).repeat_interleave(2, -1)[  # noqa: E731
                :, nr0 - 2 * r0:nr0 - 2 * r0 + h, nc0 - 2 * c0:nc0 - 2 * c0 + w]
            active, label = up(split), up(label)
            s //= 2
        full = label.repeat_interleave(2, -2).repeat_interleave(2, -1)
        y, x = oy - 2 * r0, ox - 2 * c0
        return full[:, y:y + H, x:x + W]

    def clean(self, labels: torch.Tensor) -> torch.Tensor:
        """Morphological filter then small-region filter of a label map ``[P, H, W]`` (0: undecided)."""
        H, W = labels.shape[-2:]
        ma = open_close(labels == FROM_A, self.morph_size)
        mb = open_close(labels == FROM_B, self.morph_size)
        labels = torch.where(ma & ~mb, FROM_A, torch.where(mb & ~ma, FROM_B, UNDECIDED))
        area = math.ceil(H * W * self.small_fraction)
        ma = ops.remove_small_regions(labels == FROM_A, area, 8)
        mb = ops.remove_small_regions(labels == FROM_B, area, 8)
        return torch.where(ma & ~mb, FROM_A, torch.where(mb & ~ma, FROM_B, UNDECIDED)).to(torch.int8)

    def plane_weights(self, va: torch.Tensor, vb: torch.Tensor) -> torch.Tensor:
        """Weight of ``a`` (1, 0 or 0.5) for planes ``[P, H, W]`` on the 0..255 scale."""
        ga, gb = self.focus_measure(va), self.focus_measure(vb)
        labels = self.clean(self.decision(ga, gb))
        by_focus = torch.where(ga > gb, 1.0, torch.where(gb > ga, 0.0, 0.5)).to(torch.float64)
        return torch.where(labels == FROM_A, 1.0, torch.where(labels == FROM_B, 0.0, by_focus))

    def fuse_pair(self, a: torch.Tensor, b: torch.Tensor) -> FusionResult:
        """Fuse two sources ``[B, C, H, W]`` in [0, 1], each channel with its own decision map.

        ``weights`` is the weight of ``a`` averaged over the channels; ``decision``
        is True where it is above 0.5.
        """
        if a.shape != b.shape:
            raise ValueError(f"quadtree: sources of different shapes {tuple(a.shape)} and {tuple(b.shape)}; "
                             "give two registered images of one size and channel count")
        B, C, H, W = a.shape
        va = to_levels(a.reshape(B * C, H, W), self.levels)
        vb = to_levels(b.reshape(B * C, H, W), self.levels)
        w = self.plane_weights(va, vb).reshape(B, C, H, W)
        fused = blend(a, b, w, self.levels)
        weights = w.mean(1).to(a.dtype)
        return FusionResult(fused=fused, weights=weights, decision=weights > 0.5)


METHOD = Quadtree()
