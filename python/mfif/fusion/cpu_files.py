"""Stacks fused with ``pyramid`` on the CPU, on OpenCV and numpy alone (no torch).

The common job of the ``mfif`` command, a focus stack of photographs fused on
a machine without a GPU, needs none of torch: alignment is OpenCV's ECC, the
``pyramid`` method has an OpenCV form (:class:`~mfif.methods.pyramid_cpu.CpuPyramid`)
and the frames stay numpy arrays from the decoder to the writer. Leaving
torch unloaded saves about 1.4 s of start-up and 220 MB of memory, more than
the whole fusion of a 7-frame 3 MP stack costs on two cores.

It computes exactly what the torch driver computes for the same job (the same
CPU pyramid, the same conversions and rounding), and it overlaps the work of
two frames: a second thread decodes and warps frame ``i + 1`` while frame
``i`` is added to the running pyramid (OpenCV releases the GIL).

:func:`plan` says whether a job qualifies: files or arrays (no tensors), the
``pyramid`` method (by name, by default for stacks, or a
:class:`~mfif.methods.pyramid_params.PyramidParams` object), the CPU, no
``transform``, float32 compute and no tiling. :func:`mfif.fuse` asks it first.

Examples:
    >>> import numpy as np
    >>> frames = [np.random.default_rng(i).random((40, 48, 3), dtype=np.float32) for i in range(3)]
    >>> job, _ = plan(frames, None, "cpu")
    >>> r = fuse_files(job, align="off")
    >>> r.fused.shape, r.index.shape, r.method
    ((40, 48, 3), (40, 48), 'pyramid')
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..methods.pyramid_params import PyramidParams
from .plan import method_name, tile_size
from .planes import quantize_planes, to_planes
from .result import FuseResult
from .sources import FrameSource, bit_depth, is_tensor, open_sources


@dataclass
class Job:
    """A fusion :func:`plan` accepted: the opened sources and the pyramid's parameters."""

    sources: list[FrameSource]
    params: PyramidParams
    start: float


def _cpu_requested(device) -> bool:
    if device is None:
        # "CUDA when available": a build without CUDA kernels always fuses on the CPU
        from .. import _build_info

        return not _build_info.WITH_CUDA
    return str(device) == "cpu"


def plan(images, method, device, *, transform=None, tile="auto", dtype=None) -> tuple[Job | None, object]:
    """Whether the torch-free CPU path can run this fusion.

    Returns:
        ``(job, images)``: the :class:`Job` (None to leave the fusion to the torch
        driver) and the frames to hand on, opened as sources when this function
        had to open them (so nothing is probed twice).

    Raises:
        StackError: the frames cannot be fused (as :func:`mfif.fusion.open_sources`).
    """
    start = time.perf_counter()
    if transform is not None or (dtype is not None and str(dtype) != "torch.float32"):
        return None, images
    if is_tensor(images) or not _cpu_requested(device):
        return None, images
    items = [images] if isinstance(images, str) else images
    if not isinstance(items, (list, tuple)) or any(is_tensor(x) for x in items):
        return None, images  # tensors keep the torch driver's device rules
    if isinstance(method, PyramidParams):
        params = method
    elif method is None or isinstance(method, str):
        params = None
    else:
        return None, images
    sources = open_sources(images)
    if params is None:
        if method_name(method, len(sources)) != "pyramid":
            return None, sources
        params = PyramidParams()  # the registry's "pyramid" object has these defaults
    H, W = sources[0].shape[:2]
    if tile_size(tile, H, W, params.for_size(H, W)) is not None:
        return None, sources  # tiles (frames above 24 MP): the torch driver cuts and spills them
    return Job(sources, params, start), sources


def _load_planes(src: FrameSource) -> np.ndarray:
    """Frame ``[1, C, H, W]`` float32 in [0, 1], decoded (and aligned, for wrapped sources)."""
    return to_planes(src.load())[None]


def fuse_files(job: Job, *, progress: Callable[[int], object] | None = None, align="auto", crop: bool = False,
               align_options: dict | None = None) -> FuseResult:
    """Fuse a :func:`plan`'s job; the arguments are those of :func:`mfif.fuse`."""
    from ..align._fusion import align_sources
    from ..methods.pyramid_cpu import CpuPyramid

    sources, alignment, note = align_sources(job.sources, align, crop, align_options)
    n = len(sources)
    H, W, C = sources[0].shape
    params = job.params.for_size(H, W)
    state = CpuPyramid(params, n)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mfif-load") as loader:
        pending = loader.submit(_load_planes, sources[0])
        for i in range(n):
            frame = pending.result()
            if i + 1 < n:
                pending = loader.submit(_load_planes, sources[i + 1])
            state.add(i, frame)
            del frame
            if progress is not None:
                progress(1)
    fused, index = state.finish()
    del state
    bits = bit_depth(sources[0].dtype)
    fused = fused[0]
    out = (quantize_planes(fused, bits, channels_last=True) if bits is not None
           else np.ascontiguousarray(np.moveaxis(fused, 0, -1)))
    del fused
    return FuseResult(fused=out[..., 0] if C == 1 else out, index=index[0].astype(np.int32), method=params.name,
                      n_frames=n, size=(H, W), channels=C, device="cpu", seconds=time.perf_counter() - job.start,
                      tiles=1, frame_names=[s.name for s in sources], alignment=alignment, align_note=note)
