"""Multi-focus fusion with dense SIFT (Liu, Liu, Wang, Information Fusion 23, 2015).

"Multi-focus image fusion with dense SIFT":

1. Activity: a SIFT descriptor (4x4 cells of 8 orientations, a 24x24 patch,
   Ce Liu's dense formulation: orientation channels ``max(cos(theta - a), 0)^9 |grad|``
   of a Gaussian-derivative gradient, pooled by bilinear (triangle) cell
   weights) at every pixel of each grey source, without keypoints; the
   activity of a pixel is the sum of its descriptor's 128 values.
2. Initial decision: the activities summed over every 8x8 window are compared;
   a pixel goes to a source when that source wins every window covering it.
3. Consistency: per source, regions and holes smaller than 3600 pixels
   (8-connected) are removed; pixels claimed by both or neither stay undecided.
4. Matching-based refinement of the undecided pixels (at least 3 pixels from
   the border): the normalised descriptor of source A at the pixel is matched
   in a 7x7 neighbourhood of source B (nearest in Euclidean distance) and
   vice versa; the pixel goes to A when A's 7x7 spatial frequency beats that
   of its match in B while B's loses to its match in A, to B in the opposite
   case; otherwise it stays undecided.
5. Fusion: decided pixels are copied from their source, undecided ones are
   the mean of the two (rounded half up).

Conventions of the published MATLAB code followed here, all checked against
the outputs the Liu et al. 2020 survey made with it: the grey image of a
colour source is MATLAB's 8-bit ``rgb2gray``; each grey image is zero-padded
by 11 pixels and divided by its maximum before the gradients (zero borders for
the 5x5 Gaussian-derivative filters and for the cell pooling, whose 'same'
window is offset as MATLAB's ``conv2`` does for even lengths); orientation
maps and descriptors in single precision; Lowe's normalisation only of
descriptors of norm above 1 (clipped at 0.2, renormalised); among equally near
matches the first in MATLAB's column-major order; one decision map for all channels.

Stacks of N frames are fused pairwise along the stack, as the authors advise
for three or more sources (``fused = pair(fused, frame_k)``).

Examples:
    >>> import torch, mfif
    >>> a, b = torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64)
    >>> r = mfif.methods.get("dsift").fuse_pair(a, b)
    >>> r.fused.shape, r.decision.shape
    (torch.Size([1, 3, 64, 64]), torch.Size([1, 64, 64]))
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .. import ops
from .base import FusionResult
from . import classic
from .classic import blend, dilate, grey_levels, max_filter, window_sum

ORIENTATIONS = 8
CELLS = 4


def _correlate5(x: torch.Tensor, kernels) -> list[torch.Tensor]:
    """Correlations of ``[B, H, W]`` float64 with small float64 kernels, zero borders (OpenCV on the CPU)."""
    if x.device.type == "cpu" and classic.USE_OPENCV:
        src = x.numpy()
        return [torch.from_numpy(np.stack([cv2.filter2D(p, cv2.CV_64F, k, borderType=cv2.BORDER_CONSTANT)
                                           for p in src])) for k in kernels]
    return [F.conv2d(x[:, None], torch.from_numpy(k).to(x)[None, None], padding=k.shape[0] // 2)[:, 0]
            for k in kernels]


def _gaussian_derivatives(sigma: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """The x and y derivative filters: MATLAB's ``gradient`` of a ``fspecial('gaussian')``, sum |.| = 2."""
    n = 4 * math.ceil(sigma) + 1
    t = np.arange(n) - (n - 1) / 2
    g = np.exp(-(t[:, None] ** 2 + t[None, :] ** 2) / (2 * sigma * sigma))
    g /= g.sum()
    gy, gx = np.gradient(g)  # central differences inside, one-sided at the ends, as MATLAB's gradient
    return gx * 2 / np.abs(gx).sum(), gy * 2 / np.abs(gy).sum()


@dataclass
class DSIFT:
    """Dense-SIFT fusion with the parameters of the published code (Liu, Liu, Wang 2015)."""

    scale: int = 48            # descriptor patch scale / 2 = 24 (cells of 6), zero padding scale / 4 - 1
    block_size: int = 8        # windows of the initial decision
    min_area: int = 3600       # consistency: regions and holes smaller than this are removed
    match_radius: int = 3      # 7x7 search window of the matching
    sf_radius: int = 3         # 7x7 window of the spatial frequency
    matching: bool = True      # False: undecided pixels go to the larger spatial frequency
    levels: int | None = 255   # grey levels of the sources (8-bit); None: no rounding
    name: str = "dsift"

    def __post_init__(self):
        if self.scale < 8 or self.scale % 8:
            raise ValueError(f"dsift: scale must be a positive multiple of 8 (cells of scale/8 pixels), got {self.scale}")
        if self.block_size < 1 or self.min_area < 0:
            raise ValueError("dsift: block_size must be >= 1 and min_area >= 0")
        if not 1 <= self.sf_radius <= self.match_radius:
            raise ValueError(f"dsift: need 1 <= sf_radius <= match_radius, got {self.sf_radius} and {self.match_radius}")

    def for_bit_depth(self, bits: int) -> "DSIFT":
        """This method for sources of ``bits`` per channel."""
        return replace(self, levels=(1 << bits) - 1)

    @property
    def patch(self) -> int:
        return self.scale // 2

    # --- dense SIFT -------------------------------------------------------------
    def orientation_maps(self, grey: torch.Tensor) -> torch.Tensor:
        """``[B, H, W]`` grey -> ``[B, 8, H + 2e, W + 2e]`` float32 cell-pooled orientation channels."""
        e = self.scale // 4 - 1
        x = F.pad(grey.double(), (e, e, e, e))
        top = x.amax((-2, -1), keepdim=True)
        x = x / torch.where(top > 0, top, torch.ones_like(top))
        vert, horiz = _correlate5(x, _gaussian_derivatives())  # zero borders, as filter2
        mag = torch.sqrt(vert * vert + horiz * horiz)
        theta = torch.atan2(horiz, vert)
        c, s = torch.cos(theta).float(), torch.sin(theta).float()
        mag = mag.float()
        maps = []
        for k in range(ORIENTATIONS):  # in float32: MATLAB's double here is stored as single anyway
            a = 2 * math.pi * k / ORIENTATIONS
            t = torch.mul(c, math.cos(a)).add_(s, alpha=math.sin(a)).clamp_(min=0)
            t9 = t * t
            t9.mul_(t9).mul_(t9).mul_(t)  # t^9 by multiplications (pow is ~10x slower here)
            maps.append(t9.mul_(mag))
        maps = torch.stack(maps, 1)
        return self._pool_cells(maps)

    def _pool_cells(self, maps: torch.Tensor) -> torch.Tensor:
        """Separable triangle (bilinear cell) weights, MATLAB ``conv2(w, w', x, 'same')`` with zero borders."""
        n = self.patch
        k = np.arange(1, n + 1)
        w = np.abs(k - (n / 2 - 0.5)) / (n / CELLS)
        w = (1 - w) * (w <= 1)
        # 'same' of an even-length kernel keeps full-convolution samples n/2 .. : as a correlation, the
        # reversed kernel with n/2 - 1 zeros before and n/2 after; the zero taps are dropped
        taps = w[::-1].copy()
        nz = np.nonzero(taps)[0]
        lo, hi = nz[0], nz[-1]
        before, after = n // 2 - 1 - lo, n // 2 - (n - 1 - hi)
        taps = taps[lo:hi + 1].copy()
        B, C, H, W = maps.shape
        if maps.device.type == "cpu" and classic.USE_OPENCV:  # OpenCV's separable filter: ~5x torch's conv2d here
            src = F.pad(maps, (before, after, before, after)).numpy()
            out = np.empty((B, C, H, W), np.float32)
            k32 = taps.astype(np.float32)
            for i in range(B):
                for j in range(C):
                    full = cv2.sepFilter2D(src[i, j], cv2.CV_32F, k32, k32, anchor=(0, 0),
                                           borderType=cv2.BORDER_CONSTANT)
                    out[i, j] = full[:H, :W]
            return torch.from_numpy(out)
        kern = torch.from_numpy(taps).to(maps.device, torch.float32)
        x = maps.reshape(B * C, 1, H, W)
        x = F.conv2d(F.pad(x, (0, 0, before, after)), kern.view(1, 1, -1, 1))
        x = F.conv2d(F.pad(x, (before, after, 0, 0)), kern.view(1, 1, 1, -1))
        return x.reshape(B, C, H, W)

    def sample_offsets(self) -> list[int]:
        """Offsets of the 4 cell samples from a pixel, in the padded maps (0, 6, 12, 18 for scale 48)."""
        n = self.patch
        first = n // 2 - 1
        return [first + int(v - n / 2) for v in np.linspace(1, n + 1, CELLS + 1)[:CELLS]]

    def activity(self, maps: torch.Tensor, H: int, W: int) -> torch.Tensor:
        """``[B, H, W]`` sum of every pixel's 128 descriptor values (float64)."""
        total = maps.double().sum(1)
        offs = self.sample_offsets()
        cols = total[:, :, offs[0]:offs[0] + W].clone()  # the 16 samples, separably: 4 columns, then 4 rows
        for ox in offs[1:]:
            cols.add_(total[:, :, ox:ox + W])
        out = cols[:, offs[0]:offs[0] + H].clone()
        for oy in offs[1:]:
            out.add_(cols[:, oy:oy + H])
        return out

    def descriptors(self, maps: torch.Tensor, ys: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
        """Lowe-normalised descriptors ``[n, 128]`` (float32) of the pixels ``(ys, xs)`` of one image ``[8, ., .]``."""
        C, He, We = maps.shape
        offs = torch.tensor([oy * We + ox for ox in self.sample_offsets() for oy in self.sample_offsets()],
                            device=maps.device)
        flat = (ys * We + xs)[:, None] + offs  # [n, 16] positions of the cell samples
        d = maps.reshape(C, -1)[:, flat.reshape(-1)].reshape(C, -1, offs.numel()).permute(1, 2, 0).reshape(flat.shape[0], -1)
        norm = d.pow(2).sum(1, keepdim=True).sqrt_()
        big = norm > 1  # weak descriptors are left as they are (Ce Liu's convention)
        n = torch.where(big, d / norm, d).clamp_(max=0.2)
        n = n / n.pow(2).sum(1, keepdim=True).sqrt_().clamp_(min=1e-30)
        return torch.where(big, n, d)

    # --- decision ---------------------------------------------------------------
    def initial_maps(self, sa: torch.Tensor, sb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Pixels every covering ``block x block`` window gives to a (resp. b), after the consistency step."""
        k = self.block_size
        B, H, W = sa.shape
        if H < k or W < k:
            none = torch.zeros((B, H, W), dtype=torch.bool, device=sa.device)
            ma, mb = none, none.clone()
        else:
            wa, wb = window_sum(sa, k, k), window_sum(sb, k, k)
            covered = lambda win: ~max_filter(~F.pad(win, (k - 1,) * 4, value=True), k)  # noqa: E731
            ma, mb = covered(wa > wb), covered(wb > wa)
        ma = ops.remove_small_regions(ma.contiguous(), self.min_area, 8)
        mb = ops.remove_small_regions(mb.contiguous(), self.min_area, 8)
        return ma, mb

    def spatial_frequency(self, grey: torch.Tensor) -> torch.Tensor:
        """``[B, H - 2r, W - 2r]`` spatial frequency of the ``(2r+1)^2`` patch centred on every inner pixel."""
        k = 2 * self.sf_radius + 1
        dc = (grey[:, 1:, :] - grey[:, :-1, :]).pow(2)
        dr = (grey[:, :, 1:] - grey[:, :, :-1]).pow(2)
        return torch.sqrt(window_sum(dc, k - 1, k) / (k * k) + window_sum(dr, k, k - 1) / (k * k))

    def refine(self, fmap, ga, gb, maps_a, maps_b) -> None:
        """Decide the undecided pixels of ``fmap`` ``[H, W]`` (one image) in place."""
        r, H, W = self.match_radius, fmap.shape[-2], fmap.shape[-1]
        q = self.sf_radius
        inner = torch.zeros_like(fmap, dtype=torch.bool)
        inner[r:H - r, r:W - r] = True
        todo = (fmap == 0.5) & inner
        if not bool(todo.any()):
            return
        uy, ux = torch.nonzero(todo, as_tuple=True)
        sf_a, sf_b = self.spatial_frequency(ga[None])[0], self.spatial_frequency(gb[None])[0]
        if self.matching:
            need = dilate(todo[None], 2 * r + 1)[0]
            ny, nx = torch.nonzero(need, as_tuple=True)
            index = torch.full((H, W), -1, dtype=torch.long, device=fmap.device)
            index[ny, nx] = torch.arange(ny.numel(), device=fmap.device)
            da, db = self.descriptors(maps_a, ny, nx), self.descriptors(maps_b, ny, nx)
            here = index[uy, ux]
            side = 2 * r + 1
            k = torch.arange(side * side, device=fmap.device)
            dy, dx = k % side - r, torch.div(k, side, rounding_mode="floor") - r  # column-major, as MATLAB's find
            around = index[uy[:, None] + dy, ux[:, None] + dx]
            ab = ops.window_argmin(da[here], db, around)  # a's descriptor matched in b's window
            ba = ops.window_argmin(db[here], da, around)
            ab_y, ab_x = uy + dy[ab], ux + dx[ab]
            ba_y, ba_x = uy + dy[ba], ux + dx[ba]
            ok = self._inner(ab_y, ab_x, H, W, q) & self._inner(ba_y, ba_x, H, W, q)
            fa, fb = sf_a[uy - q, ux - q], sf_b[uy - q, ux - q]
            fab = sf_b[(ab_y - q).clamp(0, H - 2 * q - 1), (ab_x - q).clamp(0, W - 2 * q - 1)]
            fba = sf_a[(ba_y - q).clamp(0, H - 2 * q - 1), (ba_x - q).clamp(0, W - 2 * q - 1)]
            to_a = ok & (fa > fab) & (fb < fba)
            to_b = ok & (fa < fab) & (fb > fba)
            fmap[uy[to_a], ux[to_a]] = 1.0
            fmap[uy[to_b], ux[to_b]] = 0.0
        else:
            fa, fb = sf_a[uy - q, ux - q], sf_b[uy - q, ux - q]
            fmap[uy, ux] = (fa > fb).to(fmap.dtype)

    @staticmethod
    def _inner(y, x, H, W, q):
        return (y >= q) & (y < H - q) & (x >= q) & (x < W - q)

    def decision_map(self, ga: torch.Tensor, gb: torch.Tensor) -> torch.Tensor:
        """``[B, H, W]`` weight of ``a``: 1, 0 or 0.5 (undecided), from grey images on the 0..255 scale."""
        B, H, W = ga.shape
        maps_a, maps_b = self.orientation_maps(ga), self.orientation_maps(gb)
        ma, mb = self.initial_maps(self.activity(maps_a, H, W), self.activity(maps_b, H, W))
        fmap = torch.where(ma & ~mb, 1.0, torch.where(mb & ~ma, 0.0, 0.5)).to(torch.float64)
        for i in range(B):
            self.refine(fmap[i], ga[i], gb[i], maps_a[i], maps_b[i])
        return fmap

    def fuse_pair(self, a: torch.Tensor, b: torch.Tensor) -> FusionResult:
        """Fuse two sources ``[B, C, H, W]`` in [0, 1]; ``weights`` is the decision map (0.5: undecided)."""
        if a.shape != b.shape:
            raise ValueError(f"dsift: sources of different shapes {tuple(a.shape)} and {tuple(b.shape)}; "
                             "give two registered images of one size and channel count")
        fmap = self.decision_map(grey_levels(a, self.levels), grey_levels(b, self.levels))
        fused = blend(a, b, fmap[:, None], self.levels)
        weights = fmap.to(a.dtype)
        return FusionResult(fused=fused, weights=weights, decision=fmap > 0.5)


METHOD = DSIFT()
