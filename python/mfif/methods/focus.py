"""A fast focus-measure stack fusion: the default for macro and microscopy stacks.

Pass 1 streams the frames once and keeps, per pixel, the running maximum of a
focus measure (the local energy of the Laplacian of the grey image, averaged
over a small window) and the frame where it was reached: the raw depth map.
Pass 2 streams the frames again; each frame's binary map (pixels whose
sharpest frame it is) is refined by an edge-preserving guided filter whose
guide is the frame's own grey image, and the frames are blended with these
weights, normalised by their running sum. The refined weights follow object
edges, so selection boundaries do not cut across them, and the blend keeps
the sharpest frame's detail everywhere else: each output pixel comes almost
entirely from one frame. The depth map returned is the frame of largest
refined weight.

Memory: a few full-size running buffers (best focus, index, weighted sum,
weight sum), never more than one frame, whatever the number of frames.

Examples:
    >>> import torch, mfif
    >>> frames = [torch.rand(1, 3, 64, 64) for _ in range(4)]
    >>> r = mfif.methods.get("focus").fuse_stack(frames)
    >>> r.fused.shape, r.index.shape
    (torch.Size([1, 3, 64, 64]), torch.Size([1, 64, 64]))
"""
from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import torch

from .. import ops
from .base import FusionResult
from .streaming import (StackResult, abs_laplacian_replicate, box_mean_replicate, fuse_frames, grey_of,
                        running_argmax, update_running_argmax)


@dataclass
class FocusStack:
    """Laplacian-energy argmax with guided-filter blending (two passes)."""

    focus_radius: int = 4      # window of the focus measure: (2r+1)^2
    radius: int = 8            # guided filter of the selection maps
    eps: float = 1e-4          # small: weights follow the guide's edges
    name: str = "focus"
    passes: int = 2

    @property
    def halo(self) -> int:
        return 1 + self.focus_radius + 2 * self.radius

    def focus_measure(self, grey: torch.Tensor) -> torch.Tensor:
        """``[B, 1, H, W]`` local mean of the squared Laplacian."""
        lap = abs_laplacian_replicate(grey)
        return box_mean_replicate(lap * lap, self.focus_radius)

    # --- streaming protocol -------------------------------------------------
    def start(self, n_frames: int) -> SimpleNamespace:
        return SimpleNamespace(n=n_frames, best=None, index=None, acc=None, wsum=None, wbest=None, final=None)

    def add(self, state, pass_index: int, frame_index: int, frame: torch.Tensor) -> None:
        grey = grey_of(frame)
        if pass_index == 0:
            state.best, state.index = running_argmax(state.best, state.index, self.focus_measure(grey), frame_index,
                                                     state.n)
            return
        if frame_index == 0:
            state.best = None
        mask = (state.index == frame_index).to(frame.dtype)
        w = ops.guided_filter(grey, mask, self.radius, self.eps).clamp_(0, 1) + 1e-6
        if state.acc is None:
            state.acc, state.wsum, state.wbest = w * frame, w, w.clone()
            state.final = torch.zeros_like(state.index)
        else:
            state.acc.addcmul_(w, frame)  # in place: no frame-sized temporary
            state.wsum += w
            update_running_argmax(state.wbest, state.final, w, frame_index)

    def finish(self, state) -> StackResult:
        fused = (state.acc / state.wsum).clamp_(0, 1)
        return StackResult(fused=fused, index=state.final[:, 0].long(), weights=(state.wbest / state.wsum)[:, 0])

    # --- in-memory interfaces -------------------------------------------------
    def fuse_stack(self, frames: list[torch.Tensor]) -> StackResult:
        """Fuse N frames held in memory (the stack driver streams them instead)."""
        return fuse_frames(self, frames)

    def fuse_pair(self, a: torch.Tensor, b: torch.Tensor) -> FusionResult:
        """Fuse two sources; ``weights`` is the normalised weight of ``a``."""
        state = self.start(2)
        for p in range(self.passes):
            self.add(state, p, 0, a)
            if p == 1:
                w_a = state.wsum.clone()
            self.add(state, p, 1, b)
        res = self.finish(state)
        return FusionResult(fused=res.fused, weights=(w_a / state.wsum)[:, 0], decision=res.index == 0)


METHOD = FocusStack()
