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
``i`` is added to the running pyramid (OpenCV releases the GIL), unless the
process is limited to one thread (:mod:`mfif._threads`).

:func:`plan` says whether a job qualifies: files or arrays (no tensors), the
``pyramid`` method (by name, by default for stacks, or a
:class:`~mfif.methods.pyramid_params.PyramidParams` object), the CPU, no
``transform`` and float32 compute. :func:`mfif.fuse` asks it first. Frames
above 24 MP (or with ``tile``) are fused in overlapping tiles, as by the torch
driver: each aligned frame is decoded once into an uncompressed file, and two
tiles are fused at a time, one per core.

Examples:
    >>> import numpy as np
    >>> frames = [np.random.default_rng(i).random((40, 48, 3), dtype=np.float32) for i in range(3)]
    >>> job, _ = plan(frames, None, "cpu")
    >>> r = fuse_files(job, align="off")
    >>> r.fused.shape, r.index.shape, r.method
    ((40, 48, 3), (40, 48), 'pyramid')
"""
from __future__ import annotations

import glob
import logging
import os
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .. import _threads
from ..methods.pyramid_params import PyramidParams
from .plan import method_name, n_tiles, tile_regions, tile_size
from .planes import quantize_planes, to_planes
from .result import FuseResult
from .sources import FrameSource, bit_depth, is_tensor, open_sources, source_metadata

_log = logging.getLogger(__name__)


@dataclass
class Job:
    """A fusion :func:`plan` accepted: the opened sources and the pyramid's parameters."""

    sources: list[FrameSource]
    params: PyramidParams
    start: float
    tile: object = "auto"  # as mfif.fuse's: "auto", None or pixels

    @property
    def n_tiles(self) -> int:
        H, W = self.sources[0].shape[:2]
        return n_tiles(self.tile, H, W, self.params.for_size(H, W))


def _cpu_requested(device) -> bool:
    if device is not None:
        return str(device) == "cpu"
    # "CUDA when available": a build without CUDA kernels always fuses on the CPU, and so
    # does a CUDA build on a machine without an NVIDIA device (asked without loading torch)
    from .. import _build_info

    if not _build_info.WITH_CUDA:
        return True
    torch = sys.modules.get("torch")
    if torch is not None:
        return not torch.cuda.is_available()
    return not glob.glob("/dev/nvidia[0-9]*")


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
        if method_name(method, len(sources), sources[0].shape[:2]) != "pyramid":
            return None, sources
        params = PyramidParams()  # the registry's "pyramid" object has these defaults
    H, W = sources[0].shape[:2]
    tile_size(tile, H, W, params.for_size(H, W))  # a bad tile size: the driver's clear error, now
    return Job(sources, params, start, tile), sources


class _Stopped(Exception):
    """A tile's thread stops because the fusion was abandoned (its caller's error is what is raised)."""


def _stream(loads: list[Callable[[], np.ndarray]], consume: Callable[[int, np.ndarray], None]) -> None:
    """``consume(i, loads[i]())`` for every frame, loading frame ``i + 1`` on a second thread meanwhile
    (one after the other when helper threads are off: :mod:`mfif._threads`)."""
    with _threads.executor(1, "mfif-load") as loader:
        pending = loader.submit(loads[0])
        for i in range(len(loads)):
            frame = pending.result()
            if i + 1 < len(loads):
                pending = loader.submit(loads[i + 1])
            consume(i, frame)
            del frame


def _fuse_planes(params, loads, progress) -> tuple[np.ndarray, np.ndarray]:
    """The running pyramid over frames given as ``[H, W, C]`` loaders: float planes ``[C, H, W]``, index ``[H, W]``."""
    from ..methods.pyramid_cpu import CpuPyramid

    state = CpuPyramid(params, len(loads))

    def add(i, planes):
        state.add(i, planes)
        if progress is not None:
            progress(1)

    # the float conversion on the loading thread too: it balances the two threads' work
    _stream([lambda f=f: to_planes(f())[None] for f in loads], add)
    fused, index = state.finish()
    return fused[0], index[0]


def _interleaved(planes: np.ndarray, bits: int | None) -> np.ndarray:
    """Float planes ``[C, h, w]`` -> the stored form ``[h, w, C]`` (rounded for 8/16-bit frames)."""
    if bits is None:
        return np.ascontiguousarray(np.moveaxis(planes, 0, -1))
    return quantize_planes(planes, bits, channels_last=True)


def _spill(sources: list[FrameSource], folder: str) -> list[str]:
    """Each aligned frame decoded once into an uncompressed ``.npy`` file, so that tiles read only their part."""
    paths = [os.path.join(folder, f"frame{i:05d}.npy") for i in range(len(sources))]

    def write(i, frame):
        mm = np.lib.format.open_memmap(paths[i], mode="w+", dtype=frame.dtype, shape=frame.shape)
        mm[...] = frame
        del mm

    _stream([s.load for s in sources], write)
    return paths


def _fuse_tiles(sources, params, tile: int, bits, progress, spill_dir) -> tuple[np.ndarray, np.ndarray, int]:
    """Tiles with overlap (see :func:`mfif.fusion.plan.tile_regions`), two at a time on two threads."""
    H, W, C = sources[0].shape
    regions = tile_regions(H, W, tile, params)
    out = np.empty((H, W, C), {8: np.uint8, 16: np.uint16}.get(bits, np.float32))
    index = np.empty((H, W), np.int32)
    lock = threading.Lock()
    stop = threading.Event()  # set when the caller fails or is interrupted: the tiles stop at their next frame

    def report(k):  # the bar is shared by both tiles' threads
        if stop.is_set():
            raise _Stopped()
        if progress is not None:
            with lock:
                progress(k)

    with tempfile.TemporaryDirectory(prefix="mfif-spill-", dir=spill_dir) as folder:
        paths = _spill(sources, folder)

        def one(core, region):
            ry0, ry1, rx0, rx1 = region
            loads = [lambda p=p: np.load(p, mmap_mode="r")[ry0:ry1, rx0:rx1] for p in paths]
            fused, idx = _fuse_planes(params, loads, report)
            y0, y1, x0, x1 = core
            inner = (slice(y0 - ry0, y1 - ry0), slice(x0 - rx0, x1 - rx0))
            out[y0:y1, x0:x1] = _interleaved(fused[(slice(None),) + inner], bits)
            index[y0:y1, x0:x1] = idx[inner]

        with _threads.executor(2, "mfif-tile") as pool:
            jobs = [pool.submit(one, core, region) for core, region in regions]
            try:
                for job in jobs:
                    job.result()
            except BaseException:  # an error or an interrupt: the running tiles stop, the others never start
                stop.set()
                for job in jobs:
                    job.cancel()
                raise
    return out, index, len(regions)


def fuse_files(job: Job, *, progress: Callable[[int], object] | None = None, align="auto", crop: bool = False,
               align_options: dict | None = None, spill_dir: str | None = None) -> FuseResult:
    """Fuse a :func:`plan`'s job; the arguments are those of :func:`mfif.fuse`."""
    from ..align._fusion import align_sources

    sources, alignment, note = align_sources(job.sources, align, crop, align_options)
    _log.info("%s", note)
    n = len(sources)
    H, W, C = sources[0].shape
    params = job.params.for_size(H, W)
    bits = bit_depth(sources[0].dtype)
    ts = tile_size(job.tile, H, W, params)
    if ts is None:
        fused, index = _fuse_planes(params, [s.load for s in sources], progress)
        out, index, tiles = _interleaved(fused, bits), index.astype(np.int32), 1
        del fused
    else:
        out, index, tiles = _fuse_tiles(sources, params, ts, bits, progress, spill_dir)
    return FuseResult(fused=out[..., 0] if C == 1 else out, index=index, method=params.name,
                      n_frames=n, size=(H, W), channels=C, device="cpu", seconds=time.perf_counter() - job.start,
                      tiles=tiles, frame_names=[s.name for s in sources], alignment=alignment, align_note=note,
                      metadata=source_metadata(sources[0]))
