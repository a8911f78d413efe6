"""The parameters of the ``pyramid`` stack method, importable without torch.

:class:`PyramidParams` holds what the torch form (:class:`mfif.methods.pyramid.PyramidStack`)
and the OpenCV form (:class:`mfif.methods.pyramid_cpu.CpuPyramid`) share: the
number of levels, the selection rule and the depth map's windows, with the
size rules the stack driver needs for exact tiling. The CLI fuses CPU stacks
from these parameters alone, without loading torch.

Defaults: every level keeps, per coefficient, the frame whose grey Laplacian
coefficient has the largest local energy (``coarse_by_focus=False``): over a
3x3 box at the coarse levels and, at the finest level, under a 3x3 Gaussian of
sigma 0.4 (weights 0.04 / 0.92 / 0.04), nearly the coefficient alone. Measured
on the pcb stacks of ../shared/data (scripts/bench_stacks.py, mean squared
gradient of the crops) and on generated pairs of known truth (tests/test_fusion.py):

| selection | stack7 barcode | depthmap10 "36" | generated pairs, PSNR dB (seeds 0-2) |
|---|---|---|---|
| pooled focus at levels >= 1, box r=1 (the former default) | 189.0 | 47.2 | 36.3 / 37.5 / 36.6 |
| box r=1 at every level | 192.4 | 57.4 | 37.3 / 37.3 / 37.0 |
| the coefficient alone at every level | 203.0 | 70.0 | 33.1 / 33.3 / 31.2 |
| Gaussian sigma 0.4 at level 0, box r=1 above (default) | 201.6 | 68.7 | 37.9 / 38.3 / 36.9 |

A pooled focus measure at the coarse levels takes the mid-scale edges of the
barcode and of the printed "36" from the frame focused on the connector
beside them, which blurs them; the finest level decides most of the
sharpness, and a window there as wide as 3x3 loses fine detail, while the
coefficient alone picks the blurred frame where the sharp one crosses zero.
focus-stack's barcode crop measures 198.5.

Examples:
    >>> p = PyramidParams().for_size(1536, 2048)
    >>> p.levels, p.tile_align
    (6, 64)
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace


def levels_for(height: int, width: int, coarsest: int = 16) -> int:
    """Number of Laplacian levels: halve until the smaller side would drop below ``coarsest``."""
    return max(0, int(math.floor(math.log2(max(min(height, width), 1) / coarsest))))


@dataclass
class PyramidParams:
    """Parameters of the one-pass Laplacian-pyramid fusion with a focus-measure depth map."""

    levels: int | None = None   # None: from the image size (coarsest level 16-32 px, at most max_levels)
    energy_radius: int = 1      # window of the coefficients' local energy: (2r+1)^2 (0: the coefficient alone)
    fine_sigma: float | None = 0.4  # finest level: 3x3 Gaussian of this sigma instead (0: alone; None: the box)
    depth_radius: int = 8       # window of the depth map's focus measure
    depth_smooth: int = 16      # radius of the confidence-weighted smoothing of the depth map (0: none)
    coarse_by_focus: bool = False  # True: levels >= 1 and the top follow the pooled focus measure
    name: str = "pyramid"
    passes: int = 1

    max_levels: int = 6         # caps the pyramid's reach (and so the tiles' overlap)

    def for_size(self, height: int, width: int):
        """These parameters with the number of levels fixed for frames of this size (so tiles agree)."""
        return replace(self, levels=self._levels(height, width))

    @property
    def tile_align(self) -> int:
        """Tiles must start on multiples of this, so that every level samples the same grid."""
        return 2 ** (self.levels or 0)

    @property
    def halo(self) -> int | None:
        """Reach of a pixel's result, for exact tiling; None until the levels are fixed (for_size)."""
        if self.levels is None:
            return None
        # level l: Laplacian 3*2^(l+1), pooled focus 2^(l+1) + r, expansion back 2^(l+1), sampling 2^l
        unit = 2 ** self.levels
        reach = 6 * unit + 1 + max(self.depth_radius, self.energy_radius) + self.depth_smooth
        return -(-reach // unit) * unit

    def _levels(self, h: int, w: int) -> int:
        return self.levels if self.levels is not None else min(levels_for(h, w), self.max_levels)
