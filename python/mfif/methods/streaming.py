"""The streaming interface of N-frame fusion methods, and helpers they share.

A pairwise method (:class:`mfif.methods.base.FusionMethod`) sees two images.
A *streaming* method sees a stack of N frames one frame at a time, in one or
more passes over the stack, and keeps only running sums or running maxima
between frames, so its memory does not grow with N. The stack driver
(:mod:`mfif.fusion`) owns the loading of the frames; a method only gets
tensors.

The protocol::

    state = method.start(n_frames)
    for p in range(method.passes):
        for i, frame in enumerate(frames):        # [B, C, H, W] float in [0, 1]
            method.add(state, p, i, frame)
    result = method.finish(state)                  # StackResult

``halo`` is the radius in pixels beyond which a pixel's result does not depend
on the input (its receptive field); the driver uses it for exact tiling.
``None`` means the method is global (a pixel can depend on the whole image)
and cannot be tiled exactly.
"""
from __future__ import annotations

from typing import Any, Protocol

import torch
import torch.nn.functional as F

from .. import ops
from .._result import FusionResult
from ..colour import RGB_TO_GREY


StackResult = FusionResult  # one result class: methods and mfif.fuse return the same


class StreamingMethod(Protocol):
    """A fusion method that streams over the N frames of a stack."""

    name: str
    passes: int
    halo: int | None

    def start(self, n_frames: int) -> Any: ...

    def add(self, state: Any, pass_index: int, frame_index: int, frame: torch.Tensor) -> None: ...

    def finish(self, state: Any) -> StackResult: ...


def fuse_frames(method: StreamingMethod, frames: list[torch.Tensor]) -> StackResult:
    """Run a streaming method over frames already in memory (pairs, tests)."""
    state = method.start(len(frames))
    for p in range(method.passes):
        for i, frame in enumerate(frames):
            method.add(state, p, i, frame)
    return method.finish(state)


def index_dtype(n_frames: int) -> torch.dtype:
    """The smallest integer dtype for running frame indices (int16 up to 32767 frames)."""
    return torch.int16 if n_frames < 2**15 else torch.int32


def update_running_argmax(best: torch.Tensor, index: torch.Tensor, value: torch.Tensor, frame_index: int) -> None:
    """In place: where ``value`` beats ``best`` strictly, ``index`` becomes ``frame_index``
    and ``best`` the value (ties stay with the earlier frame, as MATLAB's max)."""
    index.masked_fill_(value > best, frame_index)
    torch.maximum(best, value, out=best)


def running_argmax(best: torch.Tensor | None, index: torch.Tensor | None, value: torch.Tensor, frame_index: int,
                   n_frames: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(best, index)`` after frame ``frame_index``: started from ``value`` (index 0) when ``best``
    is None, else updated in place by :func:`update_running_argmax`."""
    if best is None:
        return value, torch.zeros(value.shape, dtype=index_dtype(n_frames), device=value.device)
    update_running_argmax(best, index, value, frame_index)
    return best, index


# --- filters with MATLAB's 'replicate' border, built on mfif's box filter ----

def box_mean_replicate(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean over a ``(2r+1)^2`` window, borders replicated (MATLAB ``imfilter(..., 'replicate')``).

    The replicated frame makes every window full, so mfif's box filter on the
    padded image gives plain window means; cost does not depend on ``radius``.
    """
    if radius == 0:
        return x
    padded = F.pad(x, (radius,) * 4, mode="replicate")
    return ops.box_filter(padded, radius)[..., radius:-radius, radius:-radius]


def gaussian_replicate(x: torch.Tensor, size: int, sigma: float) -> torch.Tensor:
    """Separable Gaussian (MATLAB ``fspecial('gaussian', size, sigma)``) with replicated borders.

    Written as sums of shifted views (``size`` fused multiply-adds per axis):
    on the CPU this is several times faster than ``conv2d`` with one channel.
    """
    t = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    k = torch.exp(-t * t / (2 * sigma * sigma))
    k = (k / k.sum()).tolist()
    lo, hi = size // 2, (size - 1) // 2  # MATLAB's centre for even sizes
    H, W = x.shape[-2:]
    p = F.pad(x, (lo, hi, 0, 0), mode="replicate")
    y = p[..., 0:W] * k[0]
    for i in range(1, size):
        y.add_(p[..., i:i + W], alpha=k[i])
    p = F.pad(y, (0, 0, lo, hi), mode="replicate")
    y = p[..., 0:H, :] * k[0]
    for i in range(1, size):
        y.add_(p[..., i:i + H, :], alpha=k[i])
    return y


def abs_laplacian_replicate(x: torch.Tensor) -> torch.Tensor:
    """``|x * [0 1 0; 1 -4 1; 0 1 0]|`` with replicated borders, per channel."""
    p = F.pad(x, (1, 1, 1, 1), mode="replicate")
    lap = p[..., :-2, 1:-1] + p[..., 2:, 1:-1]
    lap.add_(p[..., 1:-1, :-2]).add_(p[..., 1:-1, 2:]).add_(x, alpha=-4)
    return lap.abs_()


def grey_of(x: torch.Tensor) -> torch.Tensor:
    """``[B, 3, H, W]`` -> ``[B, 1, H, W]`` with MATLAB's rgb2gray weights.

    Two fused multiply-adds into one output plane: ``conv2d`` would be as fast but
    takes a workspace of several frames on multi-threaded CPUs.
    """
    if x.shape[1] == 1:
        return x
    r, g, b = RGB_TO_GREY
    return (x[:, 0:1] * r).add_(x[:, 1:2], alpha=g).add_(x[:, 2:3], alpha=b)
