"""Guided filtering fusion (GFF) of Li, Kang and Hu, IEEE TIP 22(7), 2013.

"Image fusion with guided filtering": each source is split into a base layer
(31x31 mean) and a detail layer (the rest); the saliency of a source is the
Gaussian-smoothed (11x11, sigma 5) absolute 3x3 Laplacian of its grey image;
the binary weight map of a source is 1 where its saliency is the largest of
all sources; the weight maps are refined by guided filters whose guide is the
source's own grey image (base: r1=45, eps1=0.3; detail: r2=7, eps2=1e-6),
normalised over the sources, and the layers are fused with them.

Conventions of the authors' published MATLAB code followed here (they decide
the last few hundredths of the published metric values): replicated borders
for the Laplacian, the Gaussian and the 31x31 mean; ties in saliency go to the
first source; the grey image of a colour source is rounded to 8 bits (MATLAB's
rgb2gray of a uint8 image; 16-bit sources keep 16 bits); the refined weights are clipped to [0, 1] and rounded to
multiples of 1/255 (the code stores them as uint8), then 1e-12 is added before
the normalisation.

GFF works on N sources natively; it is implemented here as a two-pass
streaming method (:mod:`mfif.methods.streaming`) so that an N-frame stack
needs memory for running sums only: pass 1 keeps the running maximum of the
saliency and its argmax, pass 2 accumulates the weighted layers and the sums
of the weights.

Examples:
    >>> import torch, mfif
    >>> a, b = torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64)
    >>> r = mfif.methods.get("gff").fuse_pair(a, b)
    >>> r.fused.shape, r.decision.shape
    (torch.Size([1, 3, 64, 64]), torch.Size([1, 64, 64]))
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from types import SimpleNamespace

import torch

from .. import ops
from .base import FusionResult
from .streaming import (StackResult, abs_laplacian_replicate, box_mean_replicate, fuse_frames, gaussian_replicate,
                        grey_of, running_argmax)


@dataclass
class GFF:
    """GFF with the paper's parameters (Li et al. 2013, section III)."""

    base_radius: int = 15           # 31x31 average filter
    saliency_size: int = 11         # Gaussian window (2 r_g + 1), r_g = 5
    saliency_sigma: float = 5.0
    r1: int = 45
    eps1: float = 0.3
    r2: int = 7
    eps2: float = 1e-6
    quantize_weights: bool = True   # the published code's uint8 weight maps
    grey_levels: int | None = 255   # colour -> grey rounded as rgb2gray of uint8 images
    name: str = "gff"
    passes: int = 2

    @property
    def halo(self) -> int:
        # saliency reaches 1 + r_g pixels, a guided filter of radius r reaches 2r further
        weights = 1 + self.saliency_size // 2 + 2 * max(self.r1, self.r2)
        return max(weights, self.base_radius)

    def for_bit_depth(self, bits: int) -> "GFF":
        """This method for sources of ``bits`` per channel (the grey guide keeps their precision)."""
        return replace(self, grey_levels=(1 << bits) - 1)

    def grey(self, frame: torch.Tensor) -> torch.Tensor:
        """The grey guide of a frame: rgb2gray weights, rounded to ``grey_levels`` like the published code."""
        if frame.shape[1] == 1:
            return frame
        g = grey_of(frame)
        if self.grey_levels:
            g = torch.floor(g * self.grey_levels + 0.5) / self.grey_levels
        return g

    def saliency(self, grey: torch.Tensor) -> torch.Tensor:
        """``[B, 1, H, W]`` saliency of a grey image (eq. 10-11)."""
        return gaussian_replicate(abs_laplacian_replicate(grey), self.saliency_size, self.saliency_sigma)

    def _refine(self, grey: torch.Tensor, mask: torch.Tensor, radius: int, eps: float) -> torch.Tensor:
        w = ops.guided_filter(grey, mask, radius, eps)
        if self.quantize_weights:
            w = torch.floor(w * 255 + 0.5) / 255
        return w.clamp_(0, 1) + 1e-12

    # --- streaming protocol -------------------------------------------------
    def start(self, n_frames: int) -> SimpleNamespace:
        return SimpleNamespace(n=n_frames, best=None, index=None, fb=None, fd=None, swb=None, swd=None)

    def add(self, state, pass_index: int, frame_index: int, frame: torch.Tensor) -> None:
        grey = self.grey(frame)
        if pass_index == 0:
            state.best, state.index = running_argmax(state.best, state.index, self.saliency(grey), frame_index,
                                                     state.n)
            return
        if frame_index == 0:
            state.best = None  # pass 1 scratch no longer needed
        mask = (state.index == frame_index).to(frame.dtype)
        wb = self._refine(grey, mask, self.r1, self.eps1)
        wd = self._refine(grey, mask, self.r2, self.eps2)
        base = box_mean_replicate(frame, self.base_radius)
        detail = frame - base
        if state.fb is None:
            state.fb, state.fd, state.swb, state.swd = wb * base, wd * detail, wb, wd
        else:
            state.fb.addcmul_(wb, base)
            state.fd.addcmul_(wd, detail)
            state.swb += wb
            state.swd += wd

    def finish(self, state) -> StackResult:
        fused = state.fb / state.swb + state.fd / state.swd
        return StackResult(fused=fused.clamp_(0, 1), index=state.index[:, 0].long(), weights=None)

    # --- pairwise interface ---------------------------------------------------
    def fuse_pair(self, a: torch.Tensor, b: torch.Tensor) -> FusionResult:
        """Fuse two sources ``[B, C, H, W]``; ``weights`` is the normalised detail weight of ``a``."""
        state = self.start(2)
        for p in range(self.passes):
            self.add(state, p, 0, a)
            if p == 1:
                wd_a = state.swd.clone()
            self.add(state, p, 1, b)
        wd_a = (wd_a / state.swd)[:, 0]
        res = self.finish(state)
        return FusionResult(fused=res.fused, weights=wd_a, decision=res.index == 0)

    def fuse_stack(self, frames: list[torch.Tensor]) -> StackResult:
        """Fuse N frames held in memory (the stack driver streams them instead)."""
        return fuse_frames(self, frames)


METHOD = GFF()
