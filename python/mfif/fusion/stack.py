"""The stack driver: N frames streamed through a fusion method, optionally in tiles.

The driver never holds more than one input frame: it asks a frame getter for
frame ``i`` (optionally only a region of it), hands it to a streaming method
(:mod:`mfif.methods.streaming`) and drops it. Pairwise methods run on the
running result (``fused = pair(fused, frame_i)``), one pass.

Very large frames are processed in tiles: each tile is fused on its own with a
margin of ``method.halo`` pixels around it (the reach of the method's
filters), and only the tile's core is kept, so the result equals the untiled
one while the working memory is that of one tile.
"""
from __future__ import annotations

from types import SimpleNamespace
from typing import Callable

import torch

from ..methods.streaming import StackResult, StreamingMethod
from .plan import Region, tile_regions
from .planes import quantize_planes
FrameGetter = Callable[[int, "Region | None"], torch.Tensor]


class SequentialPairs:
    """A pairwise method applied along a stack: ``fused_k = fuse_pair(fused_{k-1}, frame_k)``.

    The index map keeps, per pixel, the frame whose content won the last
    comparison (the running result keeps its index where the method chose it).
    Pairwise methods can be global (region removal), so they are never tiled.
    """

    passes = 1
    halo = None

    def __init__(self, method):
        self.method = method
        self.name = method.name

    def start(self, n_frames: int):
        return SimpleNamespace(fused=None, index=None, weights=None)

    def add(self, state, pass_index: int, frame_index: int, frame: torch.Tensor) -> None:
        if state.fused is None:
            state.fused = frame.clone()  # a copy, so the driver's frame buffer can go
            state.index = torch.zeros((frame.shape[0],) + frame.shape[2:], dtype=torch.int64, device=frame.device)
            return
        r = self.method.fuse_pair(state.fused, frame)
        keep = r.decision if r.decision is not None else r.weights >= 0.5
        state.index = torch.where(keep, state.index, torch.full_like(state.index, frame_index))
        state.fused, state.weights = r.fused, r.weights

    def finish(self, state) -> StackResult:
        return StackResult(fused=state.fused.clamp(0, 1), index=state.index, weights=None)


def as_streaming(method) -> StreamingMethod:
    """The streaming form of a method object (streaming methods pass through)."""
    if all(hasattr(method, k) for k in ("passes", "start", "add", "finish")):
        return method
    if hasattr(method, "fuse_pair"):
        return SequentialPairs(method)
    raise TypeError(f"{method!r} is neither a streaming method (passes/start/add/finish) nor a pairwise one (fuse_pair)")


def quantize(x: torch.Tensor, bits: int, rows: int = 256) -> torch.Tensor:
    """Float in [0, 1] -> rounded integers of ``bits`` (uint8, or int32 holding 16-bit values).

    Rounded in float64 (as :func:`mfif.io.from_float`: a float32 product can land
    on the wrong side of a .5), a band of ``rows`` rows at a time, so the
    temporary stays small next to the result.
    """
    top = float((1 << bits) - 1)
    if x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64) and not x.requires_grad:
        # bands small enough to stay in the cache: several times faster than torch's threaded ops here
        return torch.from_numpy(quantize_planes(x.numpy(), bits))
    out = torch.empty(x.shape, dtype=torch.uint8 if bits == 8 else torch.int32, device=x.device)
    for r in range(0, x.shape[-2], rows):
        band = x[..., r:r + rows, :].double().mul_(top).round_().clamp_(0, top)
        out[..., r:r + rows, :] = band.to(out.dtype)
    return out


def bind_size(method, height: int, width: int):
    """Fix the size-dependent parameters of a method (e.g. pyramid levels) so all tiles share them."""
    return method.for_size(height, width) if hasattr(method, "for_size") else method


def run_stack(get_frame: FrameGetter, n_frames: int, size: tuple[int, int], method: StreamingMethod,
              tile: int | None = None, assemble: torch.dtype = torch.float32,
              progress: Callable[[int], object] | None = None) -> StackResult:
    """Fuse ``n_frames`` frames obtained one at a time from ``get_frame``.

    Args:
        get_frame: ``get_frame(i, region)`` returns frame ``i`` as ``[B, C, h, w]``
            float in [0, 1] on the compute device, cut to ``region``
            ``(y0, y1, x0, x1)`` (the whole frame when ``region`` is None).
        n_frames: N >= 2.
        size: ``(H, W)`` of the frames.
        method: a streaming method (see :func:`as_streaming`).
        tile: side of the tiles' cores in pixels, or None for one piece. A tile
            overlaps its neighbours by ``method.halo`` pixels.
        assemble: dtype of the tiled result on the CPU: float32, or uint8/uint16
            to store the rounded result directly (a quarter or half the memory).
        progress: called with 1 after each frame processed (``tqdm.update`` fits).

    Returns:
        A :class:`StackResult`; untiled on the compute device, tiled on the CPU.

    Raises:
        ValueError: tiling asked of a method whose reach is global (``halo`` None).
    """
    H, W = size
    method = bind_size(method, H, W)
    if tile is None or (tile >= H and tile >= W):
        return _run(get_frame, n_frames, None, method, progress)
    if method.halo is None:
        raise ValueError(f"method {method.name!r} depends on the whole image (it has no finite halo), so it "
                         "cannot be fused in tiles; fuse untiled (no tile size) or choose a local method")
    if tile < 1:
        raise ValueError(f"tile must be a positive number of pixels, got {tile}")
    fused = index = None
    for (y0, y1, x0, x1), region in tile_regions(H, W, tile, method):  # on the method's grid (2^levels)
        part = _run(get_frame, n_frames, region, method, progress)
        core = (slice(y0 - region[0], y1 - region[0]), slice(x0 - region[2], x1 - region[2]))
        if fused is None:
            B, C = part.fused.shape[:2]
            fused = torch.empty((B, C, H, W), dtype=assemble)
            index = torch.empty((B, H, W), dtype=torch.int64)
        f = part.fused[(...,) + core].cpu()
        if not assemble.is_floating_point:
            f = quantize(f, 8 if assemble == torch.uint8 else 16)
        fused[..., y0:y1, x0:x1] = f.to(assemble)
        index[..., y0:y1, x0:x1] = part.index[(...,) + core].cpu()
        del part
    return StackResult(fused=fused, index=index, weights=None)


def _run(get_frame, n_frames, region, method, progress) -> StackResult:
    state = method.start(n_frames)
    for p in range(method.passes):
        for i in range(n_frames):
            frame = get_frame(i, region)
            method.add(state, p, i, frame)
            del frame  # the next frame may reuse the memory
            if progress is not None:
                progress(1)
    return method.finish(state)
