"""``mfif.fuse``: fuse two images or a stack of N frames with any mfif method.

Importing this package loads no torch: a stack fused with the ``pyramid``
method on the CPU (tiled or not) runs on OpenCV and numpy alone
(:mod:`mfif.fusion.cpu_files`); everything else goes to the torch driver
(:mod:`mfif.fusion.api`), loaded on first use.

Examples:
    >>> import mfif, numpy as np, torch
    >>> frames = [np.random.default_rng(i).random((32, 40, 3), dtype=np.float32) for i in range(3)]
    >>> r = mfif.fuse(frames, align="off")                     # paths, arrays or tensors, a folder, a glob
    >>> r.fused.shape, r.index.shape, r.method                  # image like the inputs, depth map
    ((32, 40, 3), (32, 40), 'pyramid')
    >>> r = mfif.fuse(["near.png", "far.png"], method="focus", device="cuda")  # doctest: +SKIP
    >>> batch = torch.rand(2, 3, 1, 32, 40)                     # tensor [B, N, C, H, W] -> r.fused [B, C, H, W]
    >>> mfif.fuse(batch, method="focus", align="off").fused.shape
    torch.Size([2, 1, 32, 40])
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Callable, Literal, Sequence, Union

import numpy as np

from .plan import AUTO_TILE_PIXELS, AUTO_TILE_SIZE, default_method, resolve_method, tile_grid
from .result import FuseResult
from .sources import FrameSource, StackError, StackWarning, bit_depth, expand_inputs, natural_key, open_sources


if TYPE_CHECKING:
    import torch

# What mfif.fuse takes: a folder or glob, a list of frames, or a stack tensor
Frame = Union[str, "os.PathLike[str]", np.ndarray, "torch.Tensor", Callable[[], np.ndarray], FrameSource]
Images = Union[str, "os.PathLike[str]", Sequence[Frame], "torch.Tensor"]
AlignMode = Union[bool, None, Literal["auto", "on", "off"]]


def fuse(images: Images, method: str | Any | None = None, device: str | "torch.device" | None = None, *,
         transform: Callable[["torch.Tensor", int], "torch.Tensor"] | None = None,
         tile: int | Literal["auto"] | None = "auto", dtype: "torch.dtype | None" = None,
         progress: Callable[[int], object] | None = None, spill_dir: str | None = None, align: AlignMode = "auto",
         crop: bool = False, align_options: dict[str, Any] | None = None) -> FuseResult:
    """Fuse two images or a focus stack.

    Frames are read one at a time (twice for two-pass methods) and never all
    held in memory, so stacks of hundreds of frames need the memory of a few.

    Args:
        images: a list of frames (paths, numpy arrays ``[H, W]``/``[H, W, C]``
            uint8/uint16/float in [0, 1], tensors ``[C, H, W]``, or callables
            returning an array), a folder or glob pattern; or a float tensor
            ``[N, C, H, W]`` (one stack) or ``[B, N, C, H, W]`` (a batch of
            stacks, fused at once on the tensor's device). Float frames with
            NaN or Inf, or with values beyond [-0.5, 1.5] (another scale, e.g.
            0..255), are refused; smaller excursions from [0, 1] are clipped
            with a :class:`~mfif.fusion.sources.FloatRangeWarning`.
        method: a name from ``mfif.methods.available()`` (``"liu2017"``,
            ``"gff"``, ``"pyramid"``, ``"focus"``, ...) or a method object;
            None picks Liu 2017 (GFF when it is not installed) for pairs and
            ``"pyramid"`` for stacks of three or more.
        device: ``"cpu"``, ``"cuda"``, or None (the tensors' device; for files,
            CUDA when available).
        transform: ``transform(frame, i) -> frame``, applied to each frame
            ``[1, C, H, W]`` (a torch tensor) as it is loaded (before tiling),
            e.g. a warp that aligns frame ``i``; all transformed frames must
            share one size.
        tile: tile side in pixels, None for no tiling, or ``"auto"`` (tiles of
            2048 for frames above 24 MP, when the method is local).
        dtype: compute dtype, ``torch.float32`` (None: the default) or ``torch.float64``.
        progress: called with the number of frames done since the last call.
        spill_dir: folder for the decoded frames when tiling file frames
            (default: the system's temporary folder); they are removed after.
        align: ``"auto"`` (default: file and array stacks of three or more frames
            are registered to their middle frame when a frame moves by more than
            1 px, a pair when it moves by more than 0.5 % of the diagonal; tensor
            inputs are taken as registered; frames without texture stay as they
            are), True/``"on"`` or False/``"off"``; see :mod:`mfif.align`.
            Applied before ``transform``; the result's ``alignment`` holds the transforms.
        crop: crop the result to the area every aligned frame covers.
        align_options: keyword arguments of :func:`mfif.align.estimate`
            (``model``, ``reference``, ``strategy``, ``exposure``, ...).

    Returns:
        A :class:`mfif.FusionResult`: ``fused`` and ``index`` as numpy arrays for
        paths and arrays, as tensors on the compute device for tensor inputs.

    Examples:
        >>> import mfif
        >>> r = mfif.fuse(["samples/coffee-near.jpg", "samples/coffee-far.jpg"], method="gff")  # doctest: +SKIP
        >>> r.fused.shape, r.index.dtype                                                          # doctest: +SKIP
        ((520, 520, 3), dtype('int32'))

    Raises:
        StackError: fewer than two frames, missing, unreadable or truncated files,
            frames of different sizes, channel counts or bit depths, float frames
            with NaN/Inf or off scale, meta or empty tensors, unknown method,
            device or tile size.
    """
    from . import cpu_files

    job, images = cpu_files.plan(images, method, device, transform=transform, tile=tile, dtype=dtype)
    if job is not None:
        return cpu_files.fuse_files(job, progress=progress, align=align, crop=crop, align_options=align_options,
                                    spill_dir=spill_dir)
    from .api import fuse as fuse_torch

    return fuse_torch(images, method, device, transform=transform, tile=tile, dtype=dtype, progress=progress,
                      spill_dir=spill_dir, align=align, crop=crop, align_options=align_options)


def __getattr__(name):
    # the torch driver's names (resolve_device, run_stack, ...), loaded on first use
    if name in ("resolve_device", "run_stack", "SequentialPairs", "_to_tensor"):
        from . import api, stack

        return getattr(api, name, None) or getattr(stack, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Frame", "Images", "AlignMode", "fuse", "FuseResult", "StackError", "StackWarning", "natural_key",
           "FrameSource", "open_sources", "expand_inputs",
           "SequentialPairs", "run_stack", "default_method", "resolve_method", "bit_depth", "tile_grid",
           "AUTO_TILE_PIXELS", "AUTO_TILE_SIZE"]
